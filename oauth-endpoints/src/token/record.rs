//! [`TokenRecord`]: what a store keeps of an issued token.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::scope::Scope;
use crate::secret::{Id, TokenHash};
use crate::token::{Delegation, Jkt};

/// Whether a token is an access token or a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// An access token (RFC 6749 §1.4).
    Access,
    /// A refresh token (RFC 6749 §1.5).
    Refresh,
}

impl TokenKind {
    /// The `token_type_hint` value naming this kind (RFC 7009 §2.1, RFC 7662 §2.1).
    pub const fn hint(self) -> &'static str {
        match self {
            TokenKind::Access => "access_token",
            TokenKind::Refresh => "refresh_token",
        }
    }

    /// Parses a `token_type_hint`; unknown values are `None` (a hint is only a hint,
    /// RFC 7009 §2.2).
    pub fn from_hint(hint: &str) -> Option<Self> {
        match hint {
            "access_token" => Some(TokenKind::Access),
            "refresh_token" => Some(TokenKind::Refresh),
            _ => None,
        }
    }

    /// The `token_type` member of an introspection answer (RFC 7662 §2.2): `Bearer` for access
    /// tokens (RFC 6750), `refresh_token` for refresh tokens. A bound access token's is `DPoP`
    /// ([`TokenRecord::token_type`]).
    pub const fn introspection_type(self) -> &'static str {
        match self {
            TokenKind::Access => "Bearer",
            TokenKind::Refresh => "refresh_token",
        }
    }
}

/// An issued token as a store keeps it: never the token value, only its SHA-256.
///
/// The `grant_id` ties together every token issued under one grant (the first access token, its
/// refresh token, and every token a rotation produces), so a grant can be revoked at once.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The record's identifier, published as `jti` (RFC 7662 §2.2); never the token value.
    pub id: Id,
    /// SHA-256 of the token value.
    pub hash: TokenHash,
    /// Access or refresh.
    pub kind: TokenKind,
    /// The client the token was issued to.
    pub client_id: Arc<str>,
    /// The granted scope.
    pub scope: Scope,
    /// The resource owner, if any (absent for `client_credentials`).
    pub subject: Option<Arc<str>>,
    /// The intended audiences (resource servers), if any.
    pub audience: Arc<[String]>,
    /// The grant the token belongs to.
    pub grant_id: Id,
    /// When it was issued.
    pub issued_at: UnixTime,
    /// When it expires.
    pub expires_at: UnixTime,
    /// Not valid before, if set.
    pub not_before: Option<UnixTime>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixTime>,
    /// When a refresh token was exchanged for a new one (rotation, RFC 9700 §4.14.2).
    pub rotated_at: Option<UnixTime>,
    /// The key a sender-constrained token is bound to: the JWK SHA-256 thumbprint of the
    /// client's DPoP key, `cnf.jkt` (RFC 9449 §6); `None` for a bearer token. The replacements
    /// of a bound refresh token are bound to the same key (RFC 9449 §5).
    pub confirmation: Option<Jkt>,
    /// Delegation: the party acting for the subject (`act`, RFC 8693 §4.1) when the token came
    /// from a token exchange with an actor, and the party allowed to act for it (`may_act`,
    /// §4.4); `None` for a plain token.
    pub delegation: Option<Arc<Delegation>>,
}

impl TokenRecord {
    /// Whether the token is usable at `now`: not revoked, not rotated, not expired, and past
    /// `not_before`.
    pub fn is_active(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none()
            && self.rotated_at.is_none()
            && now < self.expires_at
            && self.not_before.is_none_or(|nbf| nbf <= now)
    }

    /// The `token_type` of the token's introspection answer (RFC 7662 §2.2): `DPoP` for an
    /// access token bound to a key (RFC 9449 §6.2), else the kind's
    /// ([`TokenKind::introspection_type`]: `Bearer`, or `refresh_token` for refresh tokens,
    /// bound or not).
    pub fn token_type(&self) -> &'static str {
        match (self.kind, self.confirmation) {
            (TokenKind::Access, Some(_)) => "DPoP",
            (kind, _) => kind.introspection_type(),
        }
    }

    /// The acting party (`act`, RFC 8693 §4.1), if the token records one.
    pub fn act(&self) -> Option<&crate::token::Actor> {
        self.delegation.as_ref().and_then(|d| d.act.as_ref())
    }

    /// The party allowed to act for the subject (`may_act`, RFC 8693 §4.4), if any.
    pub fn may_act(&self) -> Option<&crate::token::Actor> {
        self.delegation.as_ref().and_then(|d| d.may_act.as_ref())
    }

    /// Whether the token was obtained by a token exchange (RFC 8693), into the grant of the
    /// token it was exchanged for.
    pub fn is_exchanged(&self) -> bool {
        self.delegation.as_ref().is_some_and(|d| d.exchanged)
    }

    /// Whether `audience` lists `name`.
    pub fn has_audience(&self, name: &str) -> bool {
        self.audience.iter().any(|a| a == name)
    }
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("hash", &self.hash)
            .field("kind", &self.kind)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("subject", &self.subject)
            .field("grant_id", &self.grant_id)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("rotated_at", &self.rotated_at)
            // Not secret: the thumbprint of a public key.
            .field("confirmation", &self.confirmation)
            // Identifiers of parties, not secrets.
            .field("delegation", &self.delegation)
            .finish_non_exhaustive()
    }
}
