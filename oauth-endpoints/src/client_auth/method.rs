//! [`ClientAuthMethod`]: the client authentication methods of RFC 6749 §2.3.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A client authentication method, named as in RFC 7591 §2 (`token_endpoint_auth_method`) and
/// RFC 8414 §2 (`*_auth_methods_supported`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// `client_secret_basic`: HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_secret_post`: `client_id` and `client_secret` in the request body (RFC 6749 §2.3.1).
    ClientSecretPost,
    /// `none`: a public client that sends only its `client_id` (RFC 7591 §2).
    None,
    /// `private_key_jwt`: a JWT the client signed with one of its registered public keys
    /// (`jwks`), sent as `client_assertion` (RFC 7523 §2.2, RFC 7521 §4.2). The client has no
    /// secret.
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    /// Every method, in the order they are documented.
    pub const ALL: &'static [ClientAuthMethod] = &[
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::None,
        ClientAuthMethod::PrivateKeyJwt,
    ];

    /// The default when an endpoint declares none: `client_secret_basic`, as RFC 8414 §2
    /// defaults `token_endpoint_auth_methods_supported`.
    pub const DEFAULT: &'static [ClientAuthMethod] = &[ClientAuthMethod::ClientSecretBasic];

    /// The registered name, e.g. `client_secret_basic`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => oauth_endpoints_rules::CLIENT_SECRET_BASIC,
            ClientAuthMethod::ClientSecretPost => oauth_endpoints_rules::CLIENT_SECRET_POST,
            ClientAuthMethod::None => oauth_endpoints_rules::NONE,
            ClientAuthMethod::PrivateKeyJwt => oauth_endpoints_rules::PRIVATE_KEY_JWT,
        }
    }
}

impl fmt::Display for ClientAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown client authentication method name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown client authentication method `{0}`")]
pub struct UnknownAuthMethod(pub String);

impl FromStr for ClientAuthMethod {
    type Err = UnknownAuthMethod;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|method| method.as_str() == name)
            .ok_or_else(|| UnknownAuthMethod(name.to_owned()))
    }
}
