//! [`TokenIssuer`]: the public API that mints and stores tokens, for built-in and users' grants.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::store::{StoreError, Tokens};
use crate::token::jwt::JwtAccessTokens;
use crate::token::{AccessTokenFormat, IssuedTokens, Jkt, TokenRequest};

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
    /// The server's access token format, and the signer when JWTs are possible.
    pub(crate) format: AccessTokenFormat,
    pub(crate) jwt: Option<JwtAccessTokens>,
    /// The key of the request's DPoP proof: what this issuer mints is bound to it (RFC 9449
    /// §5) unless the request says otherwise. Set only on the issuer of one request.
    pub(crate) binding: Option<Jkt>,
}

impl TokenIssuer {
    pub(crate) fn new(tokens: Tokens, clock: Arc<dyn Clock>, config: &ServerConfig) -> Self {
        let jwt = match (&config.signing_keys, &config.issuer) {
            (Some(keys), Some(issuer)) => Some(JwtAccessTokens::new(
                keys.clone(),
                issuer,
                config.access_token_audience.as_deref(),
            )),
            _ => None,
        };
        Self {
            tokens,
            clock,
            access_ttl: config.access_token_ttl.as_secs(),
            refresh_ttl: config.refresh_token_ttl.as_secs(),
            format: config.access_token_format,
            jwt,
            binding: None,
        }
    }

    /// This issuer, binding what it mints to `jkt` (a DPoP key, RFC 9449 §5).
    pub(crate) fn bound_to(&self, jkt: Jkt) -> Self {
        Self {
            binding: Some(jkt),
            ..self.clone()
        }
    }

    /// Mints tokens without storing them (store them yourself, e.g. with
    /// [`Tokens::rotate_refresh_token`](crate::store::Tokens::rotate_refresh_token)).
    ///
    /// The access token is a JWT (RFC 9068) when the request's format, else the server's, is
    /// [`AccessTokenFormat::Jwt`] and the server has signing keys and an issuer (the builder
    /// refuses JWTs without them).
    pub fn mint(&self, request: &TokenRequest) -> IssuedTokens {
        let bound;
        let request = match (self.binding, request.confirmation) {
            (Some(jkt), None) => {
                bound = request.clone().with_confirmation(jkt);
                &bound
            }
            _ => request,
        };
        let mut issued =
            IssuedTokens::mint(request, self.clock.now(), self.access_ttl, self.refresh_ttl);
        if request.format.unwrap_or(self.format) == AccessTokenFormat::Jwt
            && let Some(jwt) = &self.jwt
        {
            issued.sign_access_token(jwt);
        }
        issued
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
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}
