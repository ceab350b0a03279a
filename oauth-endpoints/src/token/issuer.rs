//! [`TokenIssuer`]: the public API that mints and stores tokens, for built-in and users' grants.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::store::{StoreError, Tokens};
use crate::token::{IssuedTokens, TokenRequest};

/// Mints tokens with the server's lifetimes and clock, and stores them.
///
/// Reach it with [`Context::issuer`](crate::Context::issuer) inside an endpoint or grant, or
/// [`AuthorizationServer::issuer`](crate::AuthorizationServer::issuer) from your own code (e.g.
/// an authorization-code flow served elsewhere).
#[derive(Clone)]
pub struct TokenIssuer {
    pub(crate) tokens: Tokens,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) access_ttl: u64,
    pub(crate) refresh_ttl: u64,
}

impl TokenIssuer {
    pub(crate) fn new(tokens: Tokens, clock: Arc<dyn Clock>, config: &ServerConfig) -> Self {
        Self {
            tokens,
            clock,
            access_ttl: config.access_token_ttl.as_secs(),
            refresh_ttl: config.refresh_token_ttl.as_secs(),
        }
    }

    /// Mints tokens without storing them (store them yourself, e.g. with
    /// [`Tokens::rotate_refresh_token`](crate::store::Tokens::rotate_refresh_token)).
    pub fn mint(&self, request: &TokenRequest) -> IssuedTokens {
        IssuedTokens::mint(request, self.clock.now(), self.access_ttl, self.refresh_ttl)
    }

    /// Mints tokens and stores their records in one store call. Fails with
    /// [`StoreError::GrantRevoked`] if the request continues a revoked grant (endpoints answer
    /// `invalid_grant`).
    pub async fn issue(&self, request: &TokenRequest) -> Result<IssuedTokens, StoreError> {
        let issued = self.mint(request);
        self.tokens.insert(&issued.records()).await?;
        Ok(issued)
    }
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish_non_exhaustive()
    }
}
