//! The token-endpoint side of an OAuth 2.0 authorization server, built around a declarative
//! endpoint registry.
//!
//! Annotate an endpoint type with [`oauth_endpoint`]; at startup [`AuthorizationServer::builder`]
//! collects every annotated endpoint linked into the program, validates them, and builds a
//! dispatch table and a route list. [`AuthorizationServer::routes`] hands the routes to any web
//! framework; [`AuthorizationServer::dispatch`] routes a request by path and method, and
//! [`AuthorizationServer::create_endpoint_response`] answers through one named endpoint.
//!
//! The crate is runtime- and framework-agnostic: endpoints take and return [`http`] types with
//! [`bytes::Bytes`] bodies. Integrations are cargo features: `axum` (`server.into_router()`),
//! `tower` (`OAuthService`, a service that bounds bodies while reading them), `tokio` (a
//! background purge of expired tokens; `axum`, `sqlite` and `postgres` enable it), `sqlite` (an
//! embedded store) and `postgres` (a store shared by several instances).
//!
//! # Stores, and endpoints from other crates
//!
//! Clients and tokens live in a [`ClientStore`] and a [`TokenStore`]: [`MemoryStore`] (the
//! default), `SqliteStore` (feature `sqlite`: one file, durable, one writer thread) and `PgStore`
//! (feature `postgres`: several instances on one database), or your own, checked against the
//! contract by `test_kit` (feature `test-kit`). Hand them to the builder with `.store(...)`.
//!
//! Annotated endpoints and grants register at link time: a crate that nothing in the program
//! names is not linked, and its registrations vanish silently. Name it once
//! (`use my_endpoints as _;`) and let [`AuthorizationServerBuilder::require_endpoint`] and
//! [`require_grant`](AuthorizationServerBuilder::require_grant) turn a missing one into a
//! [`BuildError`].
//!
//! # Issue, introspect, revoke
//!
//! ```
//! use bytes::Bytes;
//! use http::Request;
//! use oauth_endpoints::{AuthorizationServer, Client};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = AuthorizationServer::builder().build().unwrap();
//! server
//!     .clients()
//!     .save(
//!         &Client::confidential("svc", "kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1")
//!             .with_scope("read".parse().unwrap())
//!             .build()
//!             .unwrap(),
//!     )
//!     .await
//!     .unwrap();
//! let post = |path: &str, body: String| {
//!     Request::post(path)
//!         .header("content-type", "application/x-www-form-urlencoded")
//!         // client_secret_basic for svc and its secret (RFC 6749 §2.3.1)
//!         .header("authorization", "Basic c3ZjOmtSOHZOMnFYNXRMdzlacEIzbVljN0hkRjRqR3M2VWUx")
//!         .body(Bytes::from(body))
//!         .unwrap()
//! };
//!
//! // A token (RFC 6749 §4.4).
//! let response = server.dispatch(post("/oauth/token", "grant_type=client_credentials".into())).await;
//! let json: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
//! let token = json["access_token"].as_str().unwrap().to_owned();
//!
//! // Introspection (RFC 7662): active.
//! let response = server.dispatch(post("/oauth/introspect", format!("token={token}"))).await;
//! let json: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
//! assert_eq!(json["active"], true);
//!
//! // Revocation (RFC 7009): 200 with `{}`.
//! let response = server.dispatch(post("/oauth/revoke", format!("token={token}"))).await;
//! assert_eq!(response.body().as_ref(), b"{}");
//!
//! // Introspection again: inactive, exactly `{"active":false}`.
//! let response = server.dispatch(post("/oauth/introspect", format!("token={token}"))).await;
//! assert_eq!(response.body().as_ref(), oauth_endpoints::INACTIVE);
//! # }
//! ```
//!
//! # Purging expired tokens
//!
//! Stores keep expired tokens until they are purged; the server purges them, in bounded
//! batches, when told to. With feature `tokio` (enabled by `axum`, `sqlite` and `postgres`),
//! one line beside the router does it for the server's whole life:
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use oauth_endpoints::{AuthorizationServer, PurgeOptions};
//!
//! let server = AuthorizationServer::builder().build().unwrap();
//! // A pass now and every minute: up to 100 batches of 1,000 records expired over an hour ago.
//! // Dropping `purger` stops it.
//! let purger = server.spawn_purger(PurgeOptions::default());
//! let app: axum::Router = server.into_router();
//! // axum::serve(listener, app).await ...
//! # drop(app);
//! purger.stop().await;
//! # }
//! # #[cfg(not(feature = "axum"))]
//! # fn main() {}
//! ```
//!
//! Without Tokio, call [`AuthorizationServer::purge_expired`] (one bounded pass) from your own
//! scheduler. The grace period ([`PurgeOptions::with_grace`], an hour by default) keeps a token
//! for a while after it expires, so every instance still finds it and answers for it
//! consistently (`{"active":false}`); a token that has not expired, or expired within the
//! grace, is never purged. A pass repeats batches while they come back full, up to
//! [`PurgeOptions::with_max_batches`], so the work of one pass is bounded however far behind
//! the store is.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The built-in endpoints use the same attribute as users' endpoints.
#[allow(unused_extern_crates)]
extern crate self as oauth_endpoints;

mod boxed;
mod client;
mod client_auth;
mod clock;
mod config;
mod context;
mod cors;
mod description;
mod endpoint;
mod endpoints;
mod error;
mod form;
mod grant;
mod hooks;
mod integration;
mod metadata;
mod purge;
#[cfg(feature = "throttle")]
mod quota;
mod registration;
mod response;
mod route;
mod scope;
mod secret;
mod server;
mod state;
mod store;
pub mod syntax;
#[cfg(feature = "test-kit")]
pub mod test_kit;
#[cfg(feature = "throttle")]
mod throttle;
mod token;

pub use client::{
    CLIENT_CREDENTIALS, Client, ClientBuilder, ClientMetadata, InvalidClient, PreviousSecret,
    REFRESH_TOKEN, SecretPolicy,
};
pub use client_auth::{
    AuthenticatedClient, BasicCredentials, BasicError, ClientAuthMethod, UnknownAuthMethod,
    authenticate_client, parse_basic,
};
pub use clock::{Clock, ManualClock, SystemClock, UnixTime};
pub use config::{DEFAULT_INTROSPECTION_SCOPE, ServerConfig};
pub use context::Context;
pub use cors::{allowed_origin, expose};
pub use description::{DescribedEndpoint, EndpointDescription, Source};
pub use endpoint::{Endpoint, EndpointResult};
pub use endpoints::{
    INACTIVE, IntrospectionEndpoint, MetadataEndpoint, RevocationEndpoint, TokenEndpoint,
};
pub use error::OAuthError;
pub use form::{Form, FormError};
pub use grant::{
    ClientCredentialsGrant, DescribedGrant, Grant, GrantDescription, Grants, RefreshTokenGrant,
};
pub use hooks::{
    AuthFailure, ClientAuthenticationFailed, DefaultIntrospectionPolicy, EventListener, Hooks,
    IntrospectionClaims, IntrospectionPolicy, RefreshGraceRedeemed, RefreshTokenReused,
    TokenIntrospected, TokenRevoked,
};
#[cfg(feature = "tower")]
pub use integration::OAuthService;
#[cfg(feature = "tokio")]
pub use integration::Purger;
pub use metadata::WELL_KNOWN_PATH;
pub use purge::{PurgeOptions, PurgeReport};
#[cfg(feature = "throttle")]
pub use quota::Quota;
pub use response::{json_bytes_response, json_response};
pub use route::Route;
pub use scope::{InvalidScope, Scope};
pub use secret::{Id, SecretHash, TokenHash, generate_secret, generate_token};
pub use server::{
    AuthorizationServer, AuthorizationServerBuilder, BuildError, EndpointSpec, UnknownEndpoint,
};
pub use state::StateMap;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{
    ClientCacheOptions, ClientError, ClientStore, ClientWatcher, Clients, MemoryStore, Rotation,
    StoreError, TokenStore, Tokens,
};
#[cfg(feature = "postgres")]
pub use store::{PgStore, PgStoreOptions};
#[cfg(feature = "throttle")]
pub use throttle::Throttle;
pub use token::{IssuedTokens, TokenIssuer, TokenKind, TokenRecord, TokenRequest};

/// Declares an OAuth endpoint type and registers it with every [`AuthorizationServer`] built in
/// a program that links the defining crate.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, StatusCode};
/// use oauth_endpoints::{Context, Endpoint, EndpointResult, json_response, oauth_endpoint};
///
/// #[derive(Default)]
/// #[oauth_endpoint(
///     name = "ping-any",
///     path = "/ping-any",
///     methods = "GET, POST",
///     auth_methods = "client_secret_basic client_secret_post",
/// )]
/// struct Ping;
///
/// impl Endpoint for Ping {
///     async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
///         Ok(json_response(StatusCode::OK, &serde_json::json!({})))
///     }
/// }
/// ```
///
/// Keys (string literals):
/// - `name` (required): unique in a server; what `create_endpoint_response` takes.
/// - `path` (required): starts with `/`; no whitespace, query or fragment.
/// - `methods`: one method or a list of `GET`, `HEAD`, `POST`, `PUT`, `DELETE`, `PATCH`,
///   `OPTIONS`. Default `POST`. Both lists separate their entries with commas, spaces or both
///   (`"GET, POST"`, `"GET POST"`).
/// - `auth_methods`: the client authentication methods the endpoint accepts
///   (`client_secret_basic`, `client_secret_post`, `none`; RFC 6749 §2.3). Default
///   `client_secret_basic`.
/// - `metadata`: the RFC 8414 metadata name under which the endpoint's URL is published.
/// - `cors`: `true` to answer CORS preflights on the endpoint's path and accept cross-origin
///   requests from the origins each client allows (RFC 7009 §2.3); check them in the handler
///   with [`allowed_origin`] and [`expose`]. Default `false`.
///
/// The type must be a non-generic struct implementing [`Endpoint`] and [`Default`]. The attribute
/// implements [`DescribedEndpoint`] for it.
///
/// Registrations live in the crate that defines the type: if that crate is a dependency that no
/// code names, the linker drops it and its endpoints vanish. Name it once with
/// `use that_crate as _;`.
pub use oauth_endpoints_macros::oauth_endpoint;

/// Declares a grant type and registers it with the token endpoint of every
/// [`AuthorizationServer`] built in a program that links the defining crate.
///
/// ```
/// use oauth_endpoints::{Client, Context, EndpointResult, Form, Grant, OAuthError, oauth_grant};
///
/// #[derive(Default)]
/// #[oauth_grant(grant_type = "urn:example:params:oauth:grant-type:demo")]
/// struct DemoGrant;
///
/// impl Grant for DemoGrant {
///     async fn exchange(&self, _cx: &Context, _client: &Client, _form: &Form) -> EndpointResult {
///         Err(OAuthError::invalid_grant("demo grants are never valid"))
///     }
/// }
/// ```
///
/// The type must be a non-generic struct implementing [`Grant`] and [`Default`]. The client's
/// `grant_types` must list the grant type for the token endpoint to call it.
pub use oauth_endpoints_macros::oauth_grant;

/// Items the attribute's generated code uses. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::grant::GrantRegistration;
    pub use crate::registration::Registration;
    pub use inventory;
}
