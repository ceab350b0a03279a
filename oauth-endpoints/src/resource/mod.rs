//! Protecting your application's own routes with the server's access tokens (RFC 6750), as
//! Authlib's `ResourceProtector` does.
//!
//! A [`ResourceProtector`] is made from the [`AuthorizationServer`] of the same process: it
//! checks tokens against that server's stores, clock and signing keys, with the requirements
//! you give it (every scope of [`require_scope`](ResourceProtector::require_scope), an
//! [audience](ResourceProtector::require_audience)). [`protect`](ResourceProtector::protect)
//! reads the request's headers and answers the [`Principal`] the token speaks for, or the
//! [`BearerError`] to send back (RFC 6750 §3):
//!
//! | the request | the answer |
//! | --- | --- |
//! | no `Authorization: Bearer` credentials | 401, `WWW-Authenticate: Bearer realm="..."`, no error code |
//! | two `Authorization` headers, or `Bearer` not followed by a b64token | 400 `invalid_request` |
//! | an unknown, expired, revoked, forged or refresh token; its client deleted; another audience | 401 `invalid_token` |
//! | a valid token without every required scope | 403 `insufficient_scope`, `scope="..."` |
//! | the store fails | 503 `temporarily_unavailable`, `Retry-After` |
//! | a DPoP-bound token as `Bearer`; `DPoP` credentials with a token not bound to the proof's key | 401 `invalid_token`, a `DPoP` challenge |
//! | `DPoP` credentials with no, several or a failing `DPoP` proof | 401 `invalid_dpop_proof`, `WWW-Authenticate: DPoP error="invalid_dpop_proof", algs="..."` |
//! | the server requires DPoP nonces and the proof has none, or a stale one | 401 `use_dpop_nonce`, `DPoP-Nonce` |
//!
//! # DPoP-bound tokens (RFC 9449 §7)
//!
//! [`protect_request`](ResourceProtector::protect_request) (what the axum extractor and the
//! `tower` layer call) also accepts `Authorization: DPoP <token>` (§7.1: the scheme
//! case-insensitive, the token a token68) with exactly one `DPoP` proof header. The proof is
//! checked by the shared step of [`crate::dpop`] (every check of §4.3): `htm` must be the
//! request's method, `htu` the request's absolute URI — the protector's
//! [public origin](ResourceProtector::public_origin) (default: the server's issuer's) followed
//! by the request's path; **the `Host` header is never trusted** to build it, so a proof made
//! for another host is refused — `ath` the hash of the token (item 12), a nonce when the server
//! requires them (§9), and each proof is accepted once (§11.1). Then the token is checked as a
//! Bearer token is, and it must be bound to the proof's key: its `cnf.jkt` (the record's
//! [`confirmation`](crate::token::TokenRecord::confirmation), or a signature-only JWT's `cnf`
//! claim) must be the key's thumbprint, compared in constant time, else `invalid_token` — a
//! token not bound to any key is refused too (§7.1: the resource server MUST check the binding).
//! A bound token presented as a Bearer token is refused (§7.2). The [`Principal`] tells the
//! binding ([`is_dpop_bound`](Principal::is_dpop_bound)).
//!
//! Missing credentials are answered with both challenges, `Bearer realm="..."` and
//! `DPoP algs="..."` (two `WWW-Authenticate` fields), when the protector can check proofs: the
//! server has an [assertion store](crate::AuthorizationServerBuilder::assertion_store) (the
//! replay store) and the protector knows its public origin. [`protect`](ResourceProtector::protect),
//! given headers only, checks Bearer tokens only (`DPoP` credentials read as none there).
//!
//! What is checked:
//! - The token comes from `Authorization: Bearer <token>` only (RFC 6750 §2.1: the scheme is
//!   case-insensitive, then spaces, then a b64token). A token in the query string or a form body
//!   (RFC 6750 §2.2, §2.3) is never read: URLs end up in logs, browser history and `Referer`
//!   headers (RFC 6750 §5.3 asks not to pass tokens in page URLs; RFC 9700 §2.5 says access
//!   tokens must not be sent in the query), and a body-borne token turns every protected route
//!   into a form endpoint. A request that sends one anyway is answered as one without
//!   credentials.
//! - An opaque token is looked up in the token store: it must be an access token (a refresh
//!   token presented as a Bearer token is refused), not expired, revoked, rotated, nor before
//!   its `nbf`, and its client must still exist (as introspection decides).
//! - A JWT access token (RFC 9068), when the server has signing keys, by [`JwtValidation`]:
//!   - [`Store`](JwtValidation::Store) (the default): its header must
//!     name a key of the server's [`KeySet`](crate::keys::KeySet) with that key's `alg`, typed
//!     `at+jwt`; then its stored record decides, as for an opaque token, so a revoked JWT is
//!     refused at once. The store keeps the SHA-256 of every value the server issued, so a
//!     record authenticates the exact bytes it signed: a forged or altered JWT has none, and
//!     the signature needs no second check (an ES256 verification would cost 50 times the
//!     rest: BENCHMARKS.md).
//!   - [`SignatureOnly`](JwtValidation::SignatureOnly): its signature (a `kid` of the set, that
//!     key's `alg`), `typ` `at+jwt`, `exp` by the server's clock and `iss` are verified, and
//!     the claims are trusted as signed, with no store lookup at all. **A revoked JWT stays usable here until it expires** (so does one
//!     whose client was deleted): keep access tokens short-lived if you choose this.
//!
//! Then the requirements: the audience (the JWT's `aud`, an opaque token's stored audience)
//! must list the required one, else `invalid_token`; the scope must hold every required scope
//! token, else `insufficient_scope`.
//!
//! ```
//! use oauth_endpoints::resource::ResourceProtector;
//! use oauth_endpoints::token::TokenRequest;
//! use oauth_endpoints::{AuthorizationServer, Client};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = AuthorizationServer::builder().build().unwrap();
//! let client = Client::confidential("app", "kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1").build().unwrap();
//! server.clients().save(&client).await.unwrap();
//! let issued = server
//!     .issuer()
//!     .issue(&TokenRequest::new(&client, "profile".parse().unwrap()).with_subject("alice"))
//!     .await
//!     .unwrap();
//!
//! let protector = ResourceProtector::new(&server).require_scope("profile");
//! let mut headers = http::HeaderMap::new();
//! let bearer = format!("Bearer {}", issued.access_token());
//! headers.insert("authorization", bearer.parse().unwrap());
//! let principal = protector.protect(&headers).await.unwrap();
//! assert_eq!(principal.subject(), Some("alice"));
//! assert_eq!(principal.client_id(), "app");
//!
//! // Another route needing more: 403 insufficient_scope, naming what it needs.
//! let admin = protector.clone().require_scope("admin");
//! let refused = admin.protect(&headers).await.unwrap_err();
//! let response = refused.into_response();
//! assert_eq!(response.status(), 403);
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     r#"Bearer realm="api", error="insufficient_scope", scope="admin profile""#
//! );
//! # }
//! ```
//!
//! In a framework: with feature `axum`, [`Principal`] is an extractor (the protector in the
//! router's state); with feature `tower`, `ProtectLayer` protects every request of a service
//! and puts the [`Principal`] in the request's extensions. Anything else: call
//! [`protect_request`](ResourceProtector::protect_request) with the request's method, URI and
//! headers and send the [`BearerError`]'s [response](BearerError::into_response).
#![cfg_attr(
    feature = "axum",
    doc = r#"
With axum, put the protector in the state (directly, or in yours through `FromRef`) and take a
`Principal` (or an `Option<Principal>`, for routes that also serve anonymous callers) in the
handlers. A route that needs more takes a stricter protector's layer, or checks in the handler:

```
use axum::routing::get;
use oauth_endpoints::AuthorizationServer;
use oauth_endpoints::resource::{BearerError, Principal, ResourceProtector};

async fn me(principal: Principal) -> String {
    // `Principal` serializes as {"sub":..,"client_id":..,"scope":..,"jti":..,"iat":..,"exp":..}
    serde_json::to_string(&principal).unwrap()
}

async fn delete_account(principal: Principal) -> Result<&'static str, BearerError> {
    principal.require_scope("account:delete")?; // 403 insufficient_scope otherwise
    Ok("deleted")
}

let server = AuthorizationServer::builder().build().unwrap();
let protector = ResourceProtector::new(&server).require_scope("profile");
let app: axum::Router = axum::Router::new()
    .route("/api/me", get(me))
    .route("/api/account", axum::routing::delete(delete_account))
    .route(
        "/api/admin",
        get(|principal: Principal| async move { principal.client_id().to_owned() })
            .route_layer(protector.clone().require_scope("admin").layer()),
    )
    .with_state(protector)
    .merge(server.into_router());
```
"#
)]

mod bearer;
mod error;
mod principal;

use std::sync::Arc;

use http::{HeaderMap, Method, Uri};
use serde::Deserialize;

use crate::dpop::{DpopError, DpopProblem, DpopVerifier, ProofRequest, VerifiedProof};
use crate::scope::Scope;
use crate::secret::{Id, TokenHash};
use crate::server::AuthorizationServer;
use crate::token::{ACCESS_TOKEN_TYP, AccessTokenFormat, Jkt, TokenKind};
use bearer::{Credentials, Scheme};
use error::Challenge;

#[cfg(feature = "tower")]
pub use crate::integration::{Protect, ProtectLayer};
pub use error::{BearerError, BearerErrorKind};
pub use principal::Principal;

#[cfg(feature = "axum")]
pub(crate) use bearer::has_credentials;

/// How a JWT access token (RFC 9068) is checked. Opaque tokens are always looked up in the
/// store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtValidation {
    /// The default: the header names a key of the server's set, and the token's stored record
    /// decides, as for an opaque token (it authenticates the bytes), so a revoked JWT (or one
    /// whose client was deleted) is refused at once. One store lookup per request, as for
    /// opaque tokens.
    #[default]
    Store,
    /// The signature, `typ`, `iss` and `exp` are verified and the signed claims trusted with no
    /// store lookup: no round trip to the store, at the
    /// price of revocation. **A revoked JWT stays usable until it expires**, and so does one
    /// whose client was deleted. Pair it with short access token lifetimes.
    SignatureOnly,
}

/// Checks the Bearer access tokens of your own routes against an [`AuthorizationServer`] of the
/// same process (its token and client stores, clock and signing keys). See the
/// [module](crate::resource) for what is checked and what each refusal looks like.
///
/// Cloning is cheap (two `Arc`s); each requirement method returns a protector with one more
/// requirement, so a stricter protector for some routes is `protector.clone().require_scope(..)`.
#[derive(Clone)]
pub struct ResourceProtector {
    server: AuthorizationServer,
    rules: Arc<Rules>,
}

#[derive(Clone)]
struct Rules {
    scope: Scope,
    audience: Option<String>,
    jwt: JwtValidation,
    realm: Arc<str>,
    /// `scheme://host[:port]` of the API as clients call it: the start of a proof's `htu`.
    public_origin: Option<Arc<str>>,
}

/// The realm of the challenge unless [`ResourceProtector::realm`] says otherwise.
pub const DEFAULT_REALM: &str = "api";

impl ResourceProtector {
    /// A protector over `server`'s tokens, requiring no scope and no audience, checking JWTs
    /// against the store too, with realm [`DEFAULT_REALM`] and the server's issuer's origin as
    /// its [public origin](Self::public_origin).
    pub fn new(server: &AuthorizationServer) -> Self {
        let public_origin = server
            .config()
            .issuer
            .as_deref()
            .and_then(|issuer| crate::metadata::parse_issuer(issuer).ok())
            .map(|issuer| Arc::from(issuer.origin));
        Self {
            server: server.clone(),
            rules: Arc::new(Rules {
                scope: Scope::empty(),
                audience: None,
                jwt: JwtValidation::default(),
                realm: Arc::from(DEFAULT_REALM),
                public_origin,
            }),
        }
    }

    /// The origin (`https://api.example.com`, or with a port) clients call this API at: a DPoP
    /// proof's `htu` must be it followed by the request's path (RFC 9449 §4.3 item 9; query
    /// and fragment ignored). Default: the origin of the server's issuer; without an issuer and
    /// without this, no DPoP proof is accepted (`invalid_dpop_proof`) and missing credentials
    /// are answered with the Bearer challenge only.
    ///
    /// The request's `Host` header (or `X-Forwarded-Host`) is never used: a client could name
    /// any host there, and a proof made for another server would pass.
    ///
    /// # Panics
    ///
    /// If `origin` is not an `https` origin (`http` on a loopback host) without path, query or
    /// user information: a programming mistake, found at start-up.
    #[must_use]
    pub fn public_origin(mut self, origin: &str) -> Self {
        let parsed = crate::metadata::parse_issuer(origin)
            .ok()
            .filter(|parsed| parsed.path.is_empty());
        assert!(
            parsed.is_some(),
            "public_origin: {origin:?} is not an https origin (http on a loopback host) without \
             a path"
        );
        let origin = parsed.map(|parsed| Arc::from(parsed.origin));
        Arc::make_mut(&mut self.rules).public_origin = origin;
        self
    }

    /// Also requires every token of `scope` (space separated, RFC 6749 §3.3): a valid token
    /// missing one is answered 403 `insufficient_scope` with `scope="..."` naming all the
    /// required ones (RFC 6750 §3.1).
    ///
    /// # Panics
    ///
    /// If `scope` has a character a scope token may not have (outside `%x21 / %x23-5B /
    /// %x5D-7E`): a programming mistake, found at start-up.
    #[must_use]
    pub fn require_scope(mut self, scope: &str) -> Self {
        let added = scope.parse::<Scope>();
        assert!(
            added.is_ok(),
            "require_scope: {scope:?} is not a valid scope (RFC 6749 §3.3)"
        );
        let rules = Arc::make_mut(&mut self.rules);
        let both = format!("{} {}", rules.scope, added.unwrap_or_default());
        rules.scope = both.parse().unwrap_or_default();
        self
    }

    /// Requires the token to be meant for `audience` (RFC 9068 §4; RFC 8707): a JWT's `aud`, or
    /// an opaque token's stored audience
    /// ([`TokenRequest::with_audience`](crate::token::TokenRequest::with_audience)), must list
    /// it, else `invalid_token`. JWTs issued without an audience carry the server's default one
    /// (its [`access_token_audience`](crate::AuthorizationServerBuilder::access_token_audience),
    /// else its issuer); an opaque token issued without one has none and is refused.
    #[must_use]
    pub fn require_audience(mut self, audience: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.rules).audience = Some(audience.into());
        self
    }

    /// How JWT access tokens are checked: [`JwtValidation::Store`] (the default)
    /// or [`JwtValidation::SignatureOnly`], which does not see revocations.
    #[must_use]
    pub fn jwt_validation(mut self, validation: JwtValidation) -> Self {
        Arc::make_mut(&mut self.rules).jwt = validation;
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenges (RFC 6750 §3). Default
    /// [`DEFAULT_REALM`]. Characters a quoted-string cannot hold as they are (`"`, `\`,
    /// controls, non-ASCII) are replaced by `?`.
    #[must_use]
    pub fn realm(mut self, realm: &str) -> Self {
        let sanitized: String = realm
            .chars()
            .map(|c| match c {
                ' ' | '!' | '#'..='[' | ']'..='~' => c,
                _ => '?',
            })
            .collect();
        Arc::make_mut(&mut self.rules).realm = Arc::from(sanitized);
        self
    }

    /// The scope every token must hold.
    pub fn required_scope(&self) -> &Scope {
        &self.rules.scope
    }

    /// The audience every token must be meant for, if any.
    pub fn required_audience(&self) -> Option<&str> {
        self.rules.audience.as_deref()
    }

    /// The server whose tokens are checked.
    pub fn server(&self) -> &AuthorizationServer {
        &self.server
    }

    /// Checks the request's `Authorization: Bearer` token and the requirements: the caller's
    /// [`Principal`], or the RFC 6750 answer to send. Reads nothing but the `Authorization`
    /// header, so it cannot check DPoP proofs: `DPoP` credentials are read as none (401 with
    /// the Bearer challenge), and a DPoP-bound token sent as `Bearer` is refused. Use
    /// [`protect_request`](Self::protect_request) to accept DPoP-bound tokens too.
    pub async fn protect(&self, headers: &HeaderMap) -> Result<Principal, BearerError> {
        let token = bearer::bearer_token(headers)
            .map_err(|(_, reason)| self.refuse(BearerErrorKind::InvalidRequest, reason))?
            .ok_or_else(|| {
                BearerError::new(
                    BearerErrorKind::MissingToken,
                    &self.rules.realm,
                    "no Bearer credentials",
                )
            })?;
        self.validate_token(token).await
    }

    /// Checks the request's `Authorization: Bearer` token, or its `Authorization: DPoP` token
    /// and `DPoP` proof (RFC 9449 §7: see the [module](crate::resource)), and the
    /// requirements: the caller's [`Principal`], or the answer to send. `method` and `uri` are
    /// the request's (only `uri`'s path is used: a proof's `htu` must be the
    /// [public origin](Self::public_origin) followed by it). What the axum extractor and the
    /// `tower` layer call.
    ///
    /// Behind a router that strips a prefix before the protected service sees the request
    /// (axum's `nest`), give the URI the client called (axum's `OriginalUri`).
    pub async fn protect_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Principal, BearerError> {
        let credentials = bearer::credentials(headers).map_err(|(scheme, reason)| {
            self.refuse(BearerErrorKind::InvalidRequest, reason)
                .with_challenge(scheme.unwrap_or(Scheme::Bearer))
        })?;
        match credentials {
            None => Err(BearerError::new(
                BearerErrorKind::MissingToken,
                &self.rules.realm,
                "no Bearer or DPoP credentials",
            )
            .with_challenge(if self.accepts_dpop() {
                Challenge::Both
            } else {
                Challenge::Bearer
            })),
            Some(Credentials {
                scheme: Scheme::Bearer,
                token,
            }) => self.validate_token(token).await,
            Some(Credentials {
                scheme: Scheme::Dpop,
                token,
            }) => self.validate_dpop(method, uri, headers, token).await,
        }
    }

    /// Whether this protector can check DPoP proofs: the server has a replay store and the
    /// public origin is known.
    fn accepts_dpop(&self) -> bool {
        self.server.assertions().is_some() && self.rules.public_origin.is_some()
    }

    /// `Authorization: DPoP <token>` with its proof (RFC 9449 §7.1).
    async fn validate_dpop(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        token: &str,
    ) -> Result<Principal, BearerError> {
        let proof = self.verify_proof(method, uri, headers, token).await?;
        let invalid = |reason| {
            self.refuse(BearerErrorKind::InvalidToken, reason)
                .with_challenge(Challenge::Dpop)
        };
        let mut principal = self
            .principal(token)
            .await
            .map_err(|error| error.with_challenge(Challenge::Dpop))?;
        // §7.1: the token must be bound to the proof's key; constant-time comparison.
        match principal.confirmation {
            Some(jkt) if proof.matches_thumbprint(&jkt.to_string()) => {}
            Some(_) => {
                return Err(invalid(
                    "the token is bound to another key than the proof's",
                ));
            }
            None => return Err(invalid("a token not bound to a key sent as a DPoP token")),
        }
        principal.dpop_nonce = proof.fresh_nonce().map(Arc::from);
        self.authorize(&principal)?;
        Ok(principal)
    }

    /// The shared proof check (RFC 9449 §4.3), with `htu` built from the public origin.
    async fn verify_proof(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        token: &str,
    ) -> Result<VerifiedProof, BearerError> {
        let refuse = |error: DpopError| {
            tracing::debug!(reason = error.reason(), "DPoP proof refused");
            BearerError::dpop_proof(&self.rules.realm, error)
        };
        let Some(verifier) = DpopVerifier::from_server(&self.server) else {
            return Err(refuse(DpopError::new(DpopProblem::NoReplayStore)));
        };
        let Some(origin) = self.rules.public_origin.as_deref() else {
            return Err(refuse(DpopError::new(DpopProblem::UnknownTargetUri)));
        };
        let path = match uri.path() {
            "" => "/",
            path => path,
        };
        let htu = format!("{origin}{path}");
        verifier
            .verify(ProofRequest::new(method, &htu, headers).access_token(token))
            .await
            .map_err(refuse)
    }

    /// Checks a token value obtained some other way (a WebSocket message, a gRPC metadata
    /// entry) and the requirements, as [`protect`](Self::protect) does after reading the
    /// header: as a Bearer token, so a DPoP-bound token is refused (RFC 9449 §7.2: it needs its
    /// proof). Do not feed it tokens from URLs (see the [module](crate::resource)).
    pub async fn validate_token(&self, token: &str) -> Result<Principal, BearerError> {
        let principal = self.principal(token).await?;
        if principal.confirmation.is_some() {
            // §7.2: a bound token is not a Bearer token; the challenge tells the client to
            // present it with DPoP.
            return Err(self
                .refuse(
                    BearerErrorKind::InvalidToken,
                    "a DPoP-bound token sent as a Bearer token",
                )
                .with_challenge(Challenge::Dpop));
        }
        self.authorize(&principal)?;
        Ok(principal)
    }

    /// Checks this protector's requirements (audience, then scope) against a principal another
    /// check produced (a layer with other requirements), without looking at the token again.
    pub fn authorize(&self, principal: &Principal) -> Result<(), BearerError> {
        if let Some(audience) = &self.rules.audience
            && !principal.audience.iter().any(|listed| listed == audience)
        {
            return Err(self
                .refuse(
                    BearerErrorKind::InvalidToken,
                    "the token is not meant for this audience",
                )
                .with_challenge(principal.scheme()));
        }
        if !self.rules.scope.is_subset(&principal.scope) {
            let error = BearerError::insufficient_scope(&self.rules.realm, &self.rules.scope)
                .with_challenge(principal.scheme());
            tracing::debug!(
                client_id = principal.client_id(),
                reason = error.reason(),
                "bearer token refused"
            );
            return Err(error);
        }
        Ok(())
    }

    /// The token's principal, before the requirements.
    async fn principal(&self, token: &str) -> Result<Principal, BearerError> {
        let server = &self.server;
        let config = server.config();
        let now = server.now();
        let invalid = |reason| self.refuse(BearerErrorKind::InvalidToken, reason);
        let keys = config
            .signing_keys
            .as_ref()
            .filter(|_| token.bytes().filter(|&b| b == b'.').count() == 2);
        if let Some(keys) = keys {
            if self.rules.jwt == JwtValidation::SignatureOnly {
                // RFC 9068 §4: signature, kid and alg, typ, exp, then iss; the claims are
                // trusted as signed. A forged or foreign JWT is refused without a store lookup.
                let claims: JwtClaims = keys
                    .verify(token, ACCESS_TOKEN_TYP, now)
                    .map_err(|error| invalid(error.0))?;
                if config.issuer.as_deref() != Some(claims.iss.as_str()) {
                    return Err(invalid("the JWT's issuer is not this server"));
                }
                return self
                    .claims_principal(&claims)
                    .ok_or_else(|| invalid("the JWT's claims are not this server's"));
            }
            // With the store: the header must name a key of the set (so a dropped key's tokens
            // are refused) with its `alg`, typed `at+jwt`; the stored SHA-256 of every issued
            // value then authenticates the bytes (a forged or altered JWT has no record), so
            // the signature needs no second check (BENCHMARKS.md, "JWT access tokens").
            if !keys.names_signer(token, ACCESS_TOKEN_TYP) {
                return Err(invalid("the JWT names no signing key of this server"));
            }
        }
        let unavailable = |error: crate::store::StoreError| {
            tracing::error!(
                error = %error.report(),
                "bearer token check: the store failed"
            );
            BearerError::unavailable(&self.rules.realm, error)
        };
        let record = server
            .tokens()
            .find(&TokenHash::of(token), Some(TokenKind::Access))
            .await
            .map_err(unavailable)?
            .ok_or_else(|| invalid("unknown token"))?;
        if record.kind != TokenKind::Access {
            return Err(invalid("not an access token"));
        }
        if !record.is_active(now) {
            return Err(invalid("revoked, expired or not yet valid"));
        }
        // Deleting a client revokes its tokens, but a request authenticated just before the
        // deletion may still store one (as introspection decides).
        if server
            .clients()
            .find(&record.client_id)
            .await
            .map_err(unavailable)?
            .is_none()
        {
            return Err(invalid("the token's client no longer exists"));
        }
        // A JWT's `aud` is its record's audience, or the server's default audience when the
        // record has none (RFC 9068 §3), as the issuer signed it.
        let (audience, format) = match keys {
            Some(_) if record.audience.is_empty() => (
                config
                    .access_token_audience
                    .as_deref()
                    .or(config.issuer.as_deref())
                    .map(|audience| vec![audience.to_owned()])
                    .unwrap_or_default()
                    .into(),
                AccessTokenFormat::Jwt,
            ),
            Some(_) => (Arc::clone(&record.audience), AccessTokenFormat::Jwt),
            None => (Arc::clone(&record.audience), AccessTokenFormat::Opaque),
        };
        let act = record.act().cloned().map(Arc::new);
        Ok(Principal {
            subject: record.subject,
            client_id: record.client_id,
            scope: record.scope,
            audience,
            id: record.id,
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            format,
            store_checked: true,
            realm: Arc::clone(&self.rules.realm),
            confirmation: record.confirmation,
            act,
            dpop_nonce: None,
        })
    }

    /// The principal of a verified JWT, from its claims alone.
    fn claims_principal(&self, claims: &JwtClaims) -> Option<Principal> {
        let id = parse_id(&claims.jti)?;
        // RFC 9449 §6.1: a bound JWT says so in `cnf.jkt`; a `cnf` without a thumbprint is
        // not one of this server's.
        let confirmation = match &claims.cnf {
            Some(cnf) => Some(Jkt::from_thumbprint(cnf.jkt.as_deref()?).ok()?),
            None => None,
        };
        let scope = claims.scope.parse().ok()?;
        // RFC 9068 §2.2: `sub` is the client when no user is involved.
        let subject = claims
            .sub
            .as_deref()
            .filter(|sub| *sub != claims.client_id)
            .map(Arc::from);
        Some(Principal {
            subject,
            client_id: Arc::from(claims.client_id.as_str()),
            scope,
            audience: claims.aud.clone().into_vec().into(),
            id,
            issued_at: claims.iat,
            expires_at: claims.exp,
            format: AccessTokenFormat::Jwt,
            store_checked: false,
            realm: Arc::clone(&self.rules.realm),
            confirmation,
            act: claims.act.clone().map(Arc::new),
            dpop_nonce: None,
        })
    }

    fn refuse(&self, kind: BearerErrorKind, reason: &'static str) -> BearerError {
        tracing::debug!(reason, "bearer token refused");
        BearerError::new(kind, &self.rules.realm, reason)
    }
}

impl std::fmt::Debug for ResourceProtector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceProtector")
            .field("scope", &self.rules.scope)
            .field("audience", &self.rules.audience)
            .field("jwt", &self.rules.jwt)
            .field("realm", &self.rules.realm)
            .field("public_origin", &self.rules.public_origin)
            .finish_non_exhaustive()
    }
}

/// The claims of the server's JWT access tokens (RFC 9068 §2.2).
#[derive(Deserialize)]
struct JwtClaims {
    iss: String,
    exp: u64,
    #[serde(default)]
    aud: Audience,
    sub: Option<String>,
    client_id: String,
    iat: u64,
    jti: String,
    #[serde(default)]
    scope: String,
    /// The confirmation of a DPoP-bound token (RFC 9449 §6.1).
    cnf: Option<JwtConfirmation>,
    /// The acting party of a delegated token (RFC 8693 §4.1).
    act: Option<crate::token::Actor>,
}

/// `cnf` (RFC 7800 §3.1): `jkt` for a DPoP-bound token.
#[derive(Deserialize)]
struct JwtConfirmation {
    jkt: Option<String>,
}

/// `aud`: one string, or an array (RFC 7519 §4.1.3).
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Default for Audience {
    fn default() -> Self {
        Self::Many(Vec::new())
    }
}

impl Audience {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        }
    }
}

/// A record id from its base64url rendering (a JWT's `jti`).
fn parse_id(text: &str) -> Option<Id> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    Some(Id::from_bytes(bytes.try_into().ok()?))
}
