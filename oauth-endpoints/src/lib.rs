//! The token-endpoint side of an OAuth 2.0 authorization server, with the authorization code
//! grant for applications that sign users in, JWT and DPoP-bound tokens, token exchange and
//! resource indicators, built around a declarative endpoint registry.
//!
//! Annotate an endpoint type with [`oauth_endpoint`] (a grant type with [`oauth_grant`]);
//! [`AuthorizationServer::builder`] collects every annotated type linked into the program,
//! validates them and builds a dispatch table. [`routes`](AuthorizationServer::routes) hands
//! the routes to any web framework, [`dispatch`](AuthorizationServer::dispatch) answers by path
//! and method, [`create_endpoint_response`](AuthorizationServer::create_endpoint_response)
//! through one named endpoint. Endpoints take and return [`http`] types with [`bytes::Bytes`]
//! bodies; no runtime or framework is forced on you.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`server`] | the server, its builder, routes, configuration, `OAuthService` (feature `tower`) |
//! | [`endpoint`], [`endpoints`] | writing an endpoint; the built-in token, revocation, introspection (signed answers, RFC 9701), metadata and JWKS endpoints |
//! | [`grant`] | writing a grant type; the built-in `authorization_code`, `client_credentials` and `refresh_token` |
//! | [`authorization`] | the authorization code grant (RFC 6749 §4.1): the sign-in hook, the authorization and pushed request endpoints, PKCE (RFC 7636), redirect URIs |
//! | [`client`], [`client_auth`] | registered clients; client authentication (RFC 6749 §2.3, `private_key_jwt` RFC 7523) |
//! | [`keys`] | signing keys and the JWKS (RFC 7517): JWT access tokens (RFC 9068) and signed answers |
//! | [`exchange`], [`target`] | token exchange (RFC 8693): the grant, its policy, validators of foreign tokens; `resource` and `audience` targets (RFC 8707) |
//! | [`dpop`] | DPoP proofs (RFC 9449): the §4.3 checks shared by the token endpoint and resource servers, stateless nonces, each proof once across instances |
//! | [`store`] | the store traits, [`MemoryStore`](store::MemoryStore), `SqliteStore` (feature `sqlite`), `PgStore` (feature `postgres`) |
//! | [`token`], [`secret`], [`scope`] | token records and issuing; hashes and random values; scopes |
//! | [`resource`] | protecting your own routes with the server's access tokens (RFC 6750): `ResourceProtector`, `Principal`, the axum extractor and the tower layer |
//! | [`hooks`], [`purge`], [`clock`], [`form`], [`syntax`] | policies and events; purging expired tokens; time; form parsing; value syntax |
//!
//! Features: `axum` (`server.into_router()`), `tower`, `tokio` (the background purger),
//! `sqlite`, `postgres`, `throttle` (a per-client limit), `test-kit` (the store contract).
//! Annotated types register at link time: name a crate of endpoints once (`use my_endpoints as
//! _;`) and let [`require_endpoint`](AuthorizationServerBuilder::require_endpoint) catch a
//! missing one.
//!
//! ```
//! use bytes::Bytes;
//! use http::Request;
//! use oauth_endpoints::{AuthorizationServer, Client};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = AuthorizationServer::builder().build().unwrap();
//! let client = Client::confidential("svc", "kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1").build().unwrap();
//! server.clients().save(&client).await.unwrap();
//!
//! let request = Request::post("/oauth/token")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     // client_secret_basic for svc and its secret (RFC 6749 §2.3.1)
//!     .header("authorization", "Basic c3ZjOmtSOHZOMnFYNXRMdzlacEIzbVljN0hkRjRqR3M2VWUx")
//!     .body(Bytes::from("grant_type=client_credentials"))
//!     .unwrap();
//! let response = server.dispatch(request).await;
//! assert_eq!(response.status(), 200);
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

// The built-in endpoints use the same attribute as users' endpoints.
#[allow(unused_extern_crates)]
extern crate self as oauth_endpoints;

pub mod authorization;
mod boxed;
pub mod client;
pub mod client_auth;
pub mod clock;
mod config;
mod context;
mod cors;
mod description;
pub mod dpop;
pub mod endpoint;
pub mod endpoints;
mod error;
pub mod exchange;
pub mod form;
pub mod grant;
pub mod hooks;
mod integration;
mod jws;
pub mod keys;
mod metadata;
pub mod purge;
#[cfg(feature = "throttle")]
mod quota;
mod registration;
pub mod resource;
mod response;
mod route;
pub mod scope;
pub mod secret;
pub mod server;
mod state;
pub mod store;
pub mod syntax;
pub mod target;
#[cfg(feature = "test-kit")]
pub mod test_kit;
#[cfg(feature = "throttle")]
pub mod throttle;
pub mod token;
mod yield_now;

pub use client::Client;
pub use context::Context;
pub use endpoint::{Endpoint, EndpointResult};
pub use error::OAuthError;
pub use grant::Grant;
pub use server::{AuthorizationServer, AuthorizationServerBuilder, BuildError};

/// Declares an OAuth endpoint type and registers it with every [`AuthorizationServer`] built in
/// a program that links the defining crate.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, StatusCode};
/// use oauth_endpoints::endpoint::json_response;
/// use oauth_endpoints::{Context, Endpoint, EndpointResult, oauth_endpoint};
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
///   (`client_secret_basic`, `client_secret_post`, `none`; RFC 6749 §2.3; `private_key_jwt`,
///   RFC 7523 §2.2). Default `client_secret_basic`.
/// - `metadata`: the RFC 8414 metadata name under which the endpoint's URL is published.
/// - `cors`: `true` to answer CORS preflights on the endpoint's path and accept cross-origin
///   requests from the origins each client allows (RFC 7009 §2.3): client authentication checks
///   the origin ([`Context::check_origin`]) and the server lets the browser read the answer.
///   Default `false`.
///
/// The type must be a non-generic struct implementing [`Endpoint`] and [`Default`]. The attribute
/// implements [`DescribedEndpoint`](endpoint::DescribedEndpoint) for it.
///
/// Registrations live in the crate that defines the type: if that crate is a dependency that no
/// code names, the linker drops it and its endpoints vanish. Name it once with
/// `use that_crate as _;`.
pub use oauth_endpoints_macros::oauth_endpoint;

/// Declares a grant type and registers it with the token endpoint of every
/// [`AuthorizationServer`] built in a program that links the defining crate.
///
/// ```
/// use oauth_endpoints::form::Form;
/// use oauth_endpoints::{Client, Context, EndpointResult, Grant, OAuthError, oauth_grant};
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
    pub use crate::client_auth::ClientAuthMethod;
    pub use crate::description::{DescribedEndpoint, EndpointDescription, Source};
    pub use crate::grant::{DescribedGrant, GrantDescription, GrantRegistration};
    pub use crate::registration::Registration;
    pub use inventory;
}
