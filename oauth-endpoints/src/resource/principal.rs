//! [`Principal`]: who a valid access token speaks for, as a protected handler sees it.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::clock::UnixTime;
use crate::resource::bearer::Scheme;
use crate::resource::error::BearerError;
use crate::scope::Scope;
use crate::secret::Id;
use crate::token::{AccessTokenFormat, Actor, Jkt};

/// The caller of a protected request: what its access token says, once the token was checked.
///
/// Made by [`ResourceProtector::protect`](crate::resource::ResourceProtector::protect); with
/// feature `axum` it is an extractor, with feature `tower` the protecting layer puts it in the
/// request's extensions. It serializes as a JSON object with the RFC 7662 / RFC 9068 names:
/// `sub` (when there is a user), `client_id`, `scope`, `aud` (when any), `jti`, `iat`, `exp`,
/// `cnf` (`{"jkt": ...}`) for a DPoP-bound token (RFC 7800 §3.1, RFC 9449 §6), and `act` for a
/// token obtained by delegation (RFC 8693 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub(crate) subject: Option<Arc<str>>,
    pub(crate) client_id: Arc<str>,
    pub(crate) scope: Scope,
    pub(crate) audience: Arc<[String]>,
    pub(crate) id: Id,
    pub(crate) issued_at: UnixTime,
    pub(crate) expires_at: UnixTime,
    pub(crate) format: AccessTokenFormat,
    pub(crate) store_checked: bool,
    /// The key the token is bound to (`cnf.jkt`, RFC 9449 §6); the request's DPoP proof was
    /// made with it.
    pub(crate) confirmation: Option<Jkt>,
    /// The party acting for the subject (`act`, RFC 8693 §4.1), with its chain.
    pub(crate) act: Option<Arc<Actor>>,
    /// A fresh nonce for the answer's `DPoP-Nonce` (RFC 9449 §9, §8.2).
    pub(crate) dpop_nonce: Option<Arc<str>>,
    /// The protector's realm, for [`require_scope`](Self::require_scope)'s challenge.
    pub(crate) realm: Arc<str>,
}

impl Principal {
    /// The resource owner (the user) the token acts for; `None` for a token a client got for
    /// itself (`client_credentials`).
    ///
    /// A JWT checked by its signature alone
    /// ([`JwtValidation::SignatureOnly`](crate::resource::JwtValidation::SignatureOnly)) tells
    /// the user by its `sub` claim, which is the client's id when there is no user (RFC 9068
    /// §2.2): a `sub` equal to `client_id` reads as `None` there.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The party acting for the subject when the token was obtained by delegation (a token
    /// exchange with an actor, RFC 8693 §4.1), with the chain of earlier actors in its `act`;
    /// `None` when the caller acts for itself or impersonates.
    pub fn act(&self) -> Option<&Actor> {
        self.act.as_deref()
    }

    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The token's scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Whether the token's scope holds `scope` (one scope token).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.contains(scope)
    }

    /// Checks, inside a handler, that the token carries every token of `scope` (space
    /// separated): otherwise the 403 `insufficient_scope` answer naming it (RFC 6750 §3.1).
    /// For a whole route, prefer a protector that requires it. A `scope` that is not valid
    /// scope syntax (RFC 6749 §3.3) is never held.
    pub fn require_scope(&self, scope: &str) -> Result<(), BearerError> {
        match scope.parse::<Scope>() {
            Ok(required) if required.is_subset(&self.scope) => Ok(()),
            Ok(required) => Err(BearerError::insufficient_scope(&self.realm, &required)
                .with_challenge(self.scheme())),
            Err(_) => Err(
                BearerError::insufficient_scope(&self.realm, &Scope::empty())
                    .with_challenge(self.scheme()),
            ),
        }
    }

    /// The scheme the token was accepted with: `DPoP` for a bound token, else `Bearer`.
    pub(crate) fn scheme(&self) -> Scheme {
        if self.confirmation.is_some() {
            Scheme::Dpop
        } else {
            Scheme::Bearer
        }
    }

    /// The key the token is bound to (its `cnf.jkt`, RFC 9449 §6): the JWK SHA-256 thumbprint
    /// of the key the request's DPoP proof was signed with. `None` for a Bearer token.
    pub fn confirmation(&self) -> Option<Jkt> {
        self.confirmation
    }

    /// Whether the token is DPoP-bound (RFC 9449): it came as `Authorization: DPoP`, with a
    /// proof made with the key it is bound to. A bound token is never accepted as a Bearer
    /// token (§7.2).
    pub fn is_dpop_bound(&self) -> bool {
        self.confirmation.is_some()
    }

    /// A fresh nonce to send back in the answer's `DPoP-Nonce` header (RFC 9449 §9, §8.2),
    /// when the server requires nonces and the proof's is about to go stale. The `tower`
    /// layer adds it to the inner service's answer; a handler taking the axum extractor sends
    /// it itself.
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.dpop_nonce.as_deref()
    }

    /// The audiences (resource servers) the token is meant for: a JWT's `aud`, an opaque
    /// token's stored audience. Empty when none was set.
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// The token's id: its record's id, which is a JWT's `jti` and introspection's `jti`
    /// (never the token itself). Log it to tell tokens apart.
    pub fn token_id(&self) -> Id {
        self.id
    }

    /// When the token was issued.
    pub fn issued_at(&self) -> UnixTime {
        self.issued_at
    }

    /// When the token expires.
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    /// Whether the token was a JWT or opaque.
    pub fn format(&self) -> AccessTokenFormat {
        self.format
    }

    /// Whether the token's stored record was checked, so a revocation up to this request was
    /// honoured: always, except for a JWT under
    /// [`JwtValidation::SignatureOnly`](crate::resource::JwtValidation::SignatureOnly).
    pub fn revocation_checked(&self) -> bool {
        self.store_checked
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(subject) = &self.subject {
            map.serialize_entry("sub", &**subject)?;
        }
        map.serialize_entry("client_id", &*self.client_id)?;
        map.serialize_entry("scope", self.scope.as_str())?;
        match &*self.audience {
            [] => {}
            [one] => map.serialize_entry("aud", one)?,
            many => map.serialize_entry("aud", many)?,
        }
        map.serialize_entry("jti", &self.id.to_string())?;
        map.serialize_entry("iat", &self.issued_at)?;
        map.serialize_entry("exp", &self.expires_at)?;
        if let Some(jkt) = self.confirmation {
            map.serialize_entry("cnf", &crate::token::Confirmation { jkt })?;
        }
        if let Some(act) = &self.act {
            map.serialize_entry("act", &**act)?;
        }
        map.end()
    }
}
