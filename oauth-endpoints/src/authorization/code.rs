//! What an authorization code binds (RFC 6749 §4.1.2, §4.1.3; RFC 7636 §4.4), and what a pushed
//! request's `request_uri` looks like (RFC 9126 §2.2).

use serde::{Deserialize, Serialize};

use crate::secret::TokenHash;
use crate::store::StoreError;

/// The prefix of every `request_uri` (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A code's payload in its [`AuthorizationRecord`](crate::store::AuthorizationRecord).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CodeBinding {
    /// The user who approved.
    pub(crate) subject: String,
    /// The approved scope.
    pub(crate) scope: String,
    /// The redirect URI the code was sent to.
    pub(crate) redirect_uri: String,
    /// Whether the authorization request named it (then the token request must repeat it).
    pub(crate) redirect_uri_given: bool,
    /// The PKCE challenge (S256).
    pub(crate) code_challenge: String,
    /// The DPoP key thumbprint the code is bound to (RFC 9449 §10): its exchange needs a proof
    /// by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dpop_jkt: Option<String>,
    /// The resources the authorization request named (RFC 8707 §2.1): the grant's audience,
    /// which the token request may narrow (§2.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) resources: Vec<String>,
}

impl CodeBinding {
    pub(crate) fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub(crate) fn from_payload(payload: &str) -> Result<Self, StoreError> {
        serde_json::from_str(payload)
            .map_err(|_| StoreError::backend("a stored authorization code is malformed"))
    }
}

/// The hash a pushed request is stored under, from its `request_uri`; `None` for a value that
/// is not one of ours.
pub(crate) fn request_uri_hash(request_uri: &str) -> Option<TokenHash> {
    request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .filter(|secret| !secret.is_empty())
        .map(TokenHash::of)
}
