//! [`AccessTokenFormat`]: opaque values or JWTs (RFC 9068).

use serde::{Deserialize, Serialize};

/// What access tokens look like. Either way every token is stored (by the hash of its value)
/// and revocable; refresh tokens are always opaque.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessTokenFormat {
    /// A random value (the default): resource servers introspect it.
    #[default]
    Opaque,
    /// A JWT signed with the server's active key (RFC 9068): resource servers can verify it
    /// locally with the JWKS, and still introspect it to learn of a revocation.
    Jwt,
}

impl AccessTokenFormat {
    /// `opaque` or `jwt`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Jwt => "jwt",
        }
    }
}

impl std::str::FromStr for AccessTokenFormat {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "opaque" => Ok(Self::Opaque),
            "jwt" => Ok(Self::Jwt),
            _ => Err("expected `opaque` or `jwt`"),
        }
    }
}
