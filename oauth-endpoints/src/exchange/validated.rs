//! [`ValidatedToken`]: what a subject or actor token says once it is validated.

use crate::clock::UnixTime;
use crate::scope::Scope;
use crate::token::{Actor, Delegation, TokenRecord};

/// A subject or actor token that passed validation (RFC 8693 §2.1): who it speaks for and
/// what it allows. Tokens this server issued come with their [`record`](Self::record); others
/// come from a [`TokenValidator`](crate::exchange::TokenValidator) the application registered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ValidatedToken {
    /// The token type identifier it was presented as (RFC 8693 §3).
    pub token_type: String,
    /// Whom it speaks for: its `sub`, or, for a token issued to a client for itself, the
    /// client's id.
    pub subject: String,
    /// The issuer `subject` is relative to; `None` for this server's tokens.
    pub issuer: Option<String>,
    /// The client it was issued to, when known.
    pub client_id: Option<String>,
    /// Its scope, when it has one; `None` when the token carries no scope, and then the
    /// exchanged token's scope is bounded by the requesting client's registered scope.
    pub scope: Option<Scope>,
    /// Its audience.
    pub audience: Vec<String>,
    /// When it expires, if it does: the exchanged token expires no later.
    pub expires_at: Option<UnixTime>,
    /// Its `act` and `may_act` claims.
    pub delegation: Delegation,
    /// Its record, when this server issued it: the exchanged token joins its grant.
    record: Option<TokenRecord>,
}

impl ValidatedToken {
    /// A token from another issuer, speaking for `subject` as `issuer` names it.
    pub fn foreign(
        token_type: impl Into<String>,
        subject: impl Into<String>,
        issuer: impl Into<String>,
    ) -> Self {
        Self {
            token_type: token_type.into(),
            subject: subject.into(),
            issuer: Some(issuer.into()),
            client_id: None,
            scope: None,
            audience: Vec::new(),
            expires_at: None,
            delegation: Delegation::default(),
            record: None,
        }
    }

    /// A token this server issued, from its record.
    pub(crate) fn issued_here(token_type: &str, record: TokenRecord) -> Self {
        Self {
            token_type: token_type.to_owned(),
            subject: record
                .subject
                .as_deref()
                .unwrap_or(&record.client_id)
                .to_owned(),
            issuer: None,
            client_id: Some(record.client_id.to_string()),
            scope: Some(record.scope.clone()),
            audience: record.audience.to_vec(),
            expires_at: Some(record.expires_at),
            delegation: record.delegation.as_deref().cloned().unwrap_or_default(),
            record: Some(record),
        }
    }

    /// Its record, when this server issued it.
    pub fn record(&self) -> Option<&TokenRecord> {
        self.record.as_ref()
    }

    /// With this scope.
    #[must_use]
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// With this client id.
    #[must_use]
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// With this audience.
    #[must_use]
    pub fn with_audience(mut self, audience: Vec<String>) -> Self {
        self.audience = audience;
        self
    }

    /// Expiring at `expires_at`.
    #[must_use]
    pub fn expiring_at(mut self, expires_at: UnixTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// With these `act` and `may_act` claims.
    #[must_use]
    pub fn with_delegation(mut self, delegation: Delegation) -> Self {
        self.delegation = delegation;
        self
    }

    /// The party the token speaks for, as an `act` or `may_act` claim names it (RFC 8693
    /// §4.1: `sub`, and `iss` when not this server).
    pub fn party(&self) -> Actor {
        Actor {
            sub: self.subject.clone(),
            iss: self.issuer.clone(),
            act: None,
        }
    }
}
