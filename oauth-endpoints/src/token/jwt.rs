//! JWT access tokens (RFC 9068): what the issuer signs, and what introspection checks first.

use std::sync::Arc;

use serde::Serialize;

use crate::keys::{InvalidKey, KeySet};
use crate::token::{Actor, Confirmation, TokenRecord};

/// The JWT `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The JWT claims of an access token (RFC 9068 §2.2), and `cnf` for a token bound to a key
/// (RFC 9449 §6.1).
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    exp: u64,
    aud: Audience<'a>,
    sub: &'a str,
    client_id: &'a str,
    iat: u64,
    jti: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    may_act: Option<&'a Actor>,
}

/// `aud`: one string, or an array for several (RFC 7519 §4.1.3).
#[derive(Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

/// Signs access tokens for a server: its keys, its issuer and its default audience.
#[derive(Debug, Clone)]
pub(crate) struct JwtAccessTokens {
    keys: KeySet,
    issuer: Arc<str>,
    audience: Arc<str>,
}

impl JwtAccessTokens {
    pub(crate) fn new(keys: KeySet, issuer: &str, audience: Option<&str>) -> Self {
        Self {
            keys,
            issuer: issuer.into(),
            audience: audience.unwrap_or(issuer).into(),
        }
    }

    /// The JWT of `record` (RFC 9068 §2.2): `iss`, `exp`, `aud` (the record's audiences, else
    /// the default), `sub` (the resource owner, else the client: §2.2 for grants without a
    /// user), `client_id`, `iat`, `jti` (the record's id, which introspection answers too),
    /// `scope`, `cnf` (`{"jkt": ...}`, RFC 9449 §6.1) when the token is bound to a key, and
    /// `act` and `may_act` (RFC 8693 §4.1, §4.4) when it records a delegation;
    /// header `typ: at+jwt` and the active key's `kid`.
    pub(crate) fn sign(&self, record: &TokenRecord) -> Result<String, InvalidKey> {
        let aud = match &*record.audience {
            [] => Audience::One(&self.audience),
            [one] => Audience::One(one),
            many => Audience::Many(many),
        };
        let claims = Claims {
            iss: &self.issuer,
            exp: record.expires_at,
            aud,
            sub: record.subject.as_deref().unwrap_or(&record.client_id),
            client_id: &record.client_id,
            iat: record.issued_at,
            jti: record.id.to_string(),
            scope: record.scope.as_str(),
            cnf: record.confirmation.map(|jkt| Confirmation { jkt }),
            act: record.act(),
            may_act: record.may_act(),
        };
        self.keys.sign(ACCESS_TOKEN_TYP, &claims)
    }
}
