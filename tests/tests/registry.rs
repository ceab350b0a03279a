//! Collection of annotated endpoints, the route list, and the builder's selections (`exclude`,
//! `only`, `mount`) and state, as a downstream crate uses them.
//!
//! Every annotated endpoint in this file is collected by every builder in this test binary, as
//! are the core's built-in endpoints ([`BUILT_INS`]). The endpoints here use their own names and
//! paths so they do not clash with the built-ins.

// The request and response helpers below unwrap; they run only inside tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::any::type_name;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use oauth_endpoints::client_auth::ClientAuthMethod;
use oauth_endpoints::endpoint::json_response;
use oauth_endpoints::endpoints::{
    IntrospectionEndpoint, MetadataEndpoint, RevocationEndpoint, TokenEndpoint,
};
use oauth_endpoints::{
    AuthorizationServer, Context, Endpoint, EndpointResult, OAuthError, oauth_endpoint,
};
use serde_json::{Value, json};

/// The names of the core's built-in endpoints, collected by every builder beside this file's.
const BUILT_INS: [&str; 4] = ["introspection", "metadata", "revocation", "token"];

/// Every endpoint here answers with what it knows about itself and the request.
fn report(cx: &Context, request: &Request<Bytes>, endpoint: &str) -> EndpointResult {
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "endpoint": endpoint,
            "route": cx.route().name(),
            "mounted_at": cx.route().path(),
            "method": request.method().as_str(),
            "path": request.uri().path(),
        }),
    ))
}

#[derive(Default)]
#[oauth_endpoint(name = "hello", path = "/hello", methods = "GET")]
struct Hello;

impl Endpoint for Hello {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        report(cx, &request, "Hello")
    }
}

#[derive(Default)]
#[oauth_endpoint(
    name = "custom-revocation",
    path = "/custom/revoke",
    methods = "POST",
    auth_methods = "client_secret_basic client_secret_post none",
    metadata = "custom_revocation_endpoint"
)]
struct Revocation;

impl Endpoint for Revocation {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        report(cx, &request, "Revocation")
    }
}

/// Two endpoints on one path with different methods; declared in the opposite order of their
/// names, so sorting is visible.
#[derive(Default)]
#[oauth_endpoint(name = "token-write", path = "/custom/token", methods = "POST")]
struct TokenWrite;

impl Endpoint for TokenWrite {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        report(cx, &request, "TokenWrite")
    }
}

#[derive(Default)]
#[oauth_endpoint(name = "token-read", path = "/custom/token", methods = "GET, HEAD")]
struct TokenRead;

impl Endpoint for TokenRead {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        report(cx, &request, "TokenRead")
    }
}

/// An endpoint declared in a nested module: its source names the module.
mod nested {
    use super::*;

    #[derive(Default)]
    #[oauth_endpoint(name = "custom-introspection", path = "/custom/introspect")]
    pub(crate) struct Introspection;

    impl Endpoint for Introspection {
        async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
            report(cx, &request, "Introspection")
        }
    }
}

/// Shared state read by [`Greeter`].
struct Greeting(&'static str);

/// A second, unrelated state type, to show values are kept by type.
struct Visits(u32);

#[derive(Default)]
#[oauth_endpoint(name = "greeting", path = "/greeting", methods = "GET")]
struct Greeter;

impl Endpoint for Greeter {
    async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        let Some(Greeting(text)) = cx.state::<Greeting>() else {
            return Err(OAuthError::temporarily_unavailable(1));
        };
        let visits = cx.state::<Visits>().map(|Visits(n)| *n);
        Ok(json_response(
            StatusCode::OK,
            &json!({ "greeting": text, "visits": visits }),
        ))
    }
}

/// An explicitly registered endpoint type (never annotated).
struct Explicit(&'static str);

impl Endpoint for Explicit {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        report(cx, &request, self.0)
    }
}

fn request(method: Method, path: &str) -> Request<Bytes> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Bytes::new())
        .unwrap()
}

async fn call(server: &AuthorizationServer, method: Method, path: &str) -> (StatusCode, Value) {
    let response = server.dispatch(request(method, path)).await;
    let body = serde_json::from_slice(response.body()).unwrap();
    (response.status(), body)
}

fn names(server: &AuthorizationServer) -> Vec<&str> {
    server.routes().iter().map(|route| route.name()).collect()
}

/// The line of this file that a source location points at.
fn source_line(line: u32) -> &'static str {
    include_str!("registry.rs")
        .lines()
        .nth(line as usize - 1)
        .unwrap()
}

#[test]
fn annotated_endpoints_are_collected_with_their_declaration() {
    let server = AuthorizationServer::builder().build().unwrap();
    let routes: Vec<(&str, &str, &[Method], &str)> = server
        .routes()
        .iter()
        .map(|route| {
            (
                route.name(),
                route.path(),
                route.methods(),
                route.source().type_name(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            // The core's metadata endpoint sorts first: `.` comes before letters.
            (
                "metadata",
                "/.well-known/oauth-authorization-server",
                &[Method::GET][..],
                type_name::<MetadataEndpoint>()
            ),
            (
                "custom-introspection",
                "/custom/introspect",
                &[Method::POST],
                type_name::<nested::Introspection>()
            ),
            (
                "custom-revocation",
                "/custom/revoke",
                &[Method::POST],
                type_name::<Revocation>()
            ),
            (
                "token-read",
                "/custom/token",
                &[Method::GET, Method::HEAD],
                type_name::<TokenRead>()
            ),
            (
                "token-write",
                "/custom/token",
                &[Method::POST],
                type_name::<TokenWrite>()
            ),
            (
                "greeting",
                "/greeting",
                &[Method::GET],
                type_name::<Greeter>()
            ),
            ("hello", "/hello", &[Method::GET], type_name::<Hello>()),
            // The core's built-ins are collected too, and sorted with the rest.
            (
                "introspection",
                "/oauth/introspect",
                &[Method::POST],
                type_name::<IntrospectionEndpoint>()
            ),
            (
                "revocation",
                "/oauth/revoke",
                &[Method::POST],
                type_name::<RevocationEndpoint>()
            ),
            (
                "token",
                "/oauth/token",
                &[Method::POST],
                type_name::<TokenEndpoint>()
            ),
        ]
    );
    assert_eq!(type_name::<Hello>(), "registry::Hello");
    assert_eq!(
        type_name::<nested::Introspection>(),
        "registry::nested::Introspection"
    );
}

#[test]
fn routes_carry_auth_methods_metadata_and_source() {
    let server = AuthorizationServer::builder().build().unwrap();

    let revocation = server.route("custom-revocation").unwrap();
    assert_eq!(
        revocation.auth_methods(),
        [
            ClientAuthMethod::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost,
            ClientAuthMethod::None
        ]
    );
    assert_eq!(revocation.metadata(), Some("custom_revocation_endpoint"));

    let hello = server.route("hello").unwrap();
    assert_eq!(hello.auth_methods(), [ClientAuthMethod::ClientSecretBasic]);
    assert_eq!(hello.metadata(), None);

    // The source of each endpoint declared here is its attribute in this file; the built-ins'
    // sources are in the core crate.
    let (built_ins, own): (Vec<_>, Vec<_>) = server
        .routes()
        .iter()
        .partition(|route| BUILT_INS.contains(&route.name()));
    assert_eq!(built_ins.len(), BUILT_INS.len());
    assert_eq!(own.len(), 6);
    for route in built_ins {
        let source = route.source();
        assert!(!source.file().ends_with("registry.rs"), "{source}");
        assert!(
            source.module_path().starts_with("oauth_endpoints::"),
            "{source}"
        );
    }
    for route in own {
        let source = route.source();
        assert!(source.file().ends_with("registry.rs"), "{source}");
        assert!(
            source_line(source.line()).contains("#[oauth_endpoint("),
            "{source} points at {:?}",
            source_line(source.line())
        );
    }
    assert_eq!(hello.source().module_path(), "registry");
    assert_eq!(
        server
            .route("custom-introspection")
            .unwrap()
            .source()
            .module_path(),
        "registry::nested"
    );
    assert!(
        hello
            .source()
            .to_string()
            .starts_with("`registry::Hello` at ")
    );
}

#[test]
fn routes_are_sorted_by_path_then_name() {
    let build = || {
        AuthorizationServer::builder()
            // Registered out of order: names and paths both descending.
            .register_endpoint("zeta", "/a", [Method::GET], Explicit("Zeta"))
            .register_endpoint("alpha", "/a", [Method::POST], Explicit("Alpha"))
            .register_endpoint("early", "/", [Method::GET], Explicit("Early"))
            .build()
            .unwrap()
    };
    let server = build();
    let keys: Vec<(&str, &str)> = server
        .routes()
        .iter()
        .map(|route| (route.path(), route.name()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    assert_eq!(
        names(&server),
        [
            "early",
            "metadata",
            "alpha",
            "zeta",
            "custom-introspection",
            "custom-revocation",
            "token-read",
            "token-write",
            "greeting",
            "hello",
            "introspection",
            "revocation",
            "token",
        ]
    );
    // The same order on every build.
    assert_eq!(build().routes(), server.routes());
}

#[tokio::test]
async fn routes_and_dispatch_agree_after_sorting() {
    // Each endpoint answers on its own route: the endpoint list follows the sorted routes.
    let server = AuthorizationServer::builder()
        .exclude("greeting")
        .build()
        .unwrap();
    assert_eq!(server.routes().len(), 5 + BUILT_INS.len());
    for route in server.routes() {
        let method = route.methods()[0].clone();
        let (status, body) = call(&server, method, route.path()).await;
        if BUILT_INS.contains(&route.name()) {
            // A built-in answers a bare request with its own OAuth error, not as one of ours.
            assert_ne!(status, StatusCode::OK, "{}", route.name());
            assert!(body["error"].is_string(), "{}: {body}", route.name());
            assert_eq!(body["route"], Value::Null, "{}", route.name());
        } else {
            assert_eq!(status, StatusCode::OK, "{}", route.name());
            assert_eq!(body["route"], route.name());
        }
    }
    let (_, body) = call(&server, Method::POST, "/custom/token").await;
    assert_eq!(body["endpoint"], "TokenWrite");
    let (_, body) = call(&server, Method::GET, "/custom/token").await;
    assert_eq!(body["endpoint"], "TokenRead");
}

#[tokio::test]
async fn exclude_leaves_out_a_collected_endpoint() {
    let server = AuthorizationServer::builder()
        .exclude("hello")
        .exclude("token-write")
        .build()
        .unwrap();
    assert!(server.route("hello").is_none());
    assert!(!names(&server).contains(&"hello"));
    assert!(!names(&server).contains(&"token-write"));
    assert_eq!(server.routes().len(), 4 + BUILT_INS.len());

    let (status, _) = call(&server, Method::GET, "/hello").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&server, Method::POST, "/custom/token").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = call(&server, Method::GET, "/custom/token").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn exclude_then_register_replaces_a_collected_endpoint() {
    // The collected endpoint replaced here is the core's built-in `revocation`.
    let server = AuthorizationServer::builder()
        .exclude("revocation")
        .register_endpoint(
            "revocation",
            "/oauth/revoke",
            [Method::POST],
            Explicit("Replacement"),
        )
        .build()
        .unwrap();
    let (status, body) = call(&server, Method::POST, "/oauth/revoke").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["endpoint"], "Replacement");
    let route = server.route("revocation").unwrap();
    assert_eq!(route.source().type_name(), type_name::<Explicit>());
    // An explicit registration accepts `client_secret_basic` unless told otherwise.
    assert_eq!(route.auth_methods(), ClientAuthMethod::DEFAULT);
    // The other collected endpoints stay.
    assert!(server.route("custom-revocation").is_some());
    assert!(server.route("token").is_some());
}

#[tokio::test]
async fn only_keeps_the_named_collected_endpoints_and_every_explicit_one() {
    let server = AuthorizationServer::builder()
        .only(["hello", "custom-introspection"])
        .register_endpoint("extra", "/extra", [Method::PUT], Explicit("Extra"))
        .build()
        .unwrap();
    assert_eq!(names(&server), ["custom-introspection", "extra", "hello"]);

    let (status, body) = call(&server, Method::PUT, "/extra").await;
    assert_eq!(
        (status, &body["endpoint"]),
        (StatusCode::OK, &json!("Extra"))
    );
    // Collected endpoints left out, built-in or not, are not mounted.
    let (status, _) = call(&server, Method::POST, "/custom/revoke").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&server, Method::POST, "/oauth/revoke").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let empty = AuthorizationServer::builder()
        .only(Vec::<String>::new())
        .build()
        .unwrap();
    assert!(empty.routes().is_empty());
}

#[tokio::test]
async fn mount_moves_an_endpoint_to_a_new_path() {
    // `revocation` is the built-in at `/oauth/revoke`, which sorts after `/hello` and before
    // `/v2/hello`.
    let server = AuthorizationServer::builder()
        .only(["hello", "revocation"])
        .mount("hello", "/v2/hello")
        .build()
        .unwrap();
    assert_eq!(server.route("hello").unwrap().path(), "/v2/hello");

    let (status, body) = call(&server, Method::GET, "/v2/hello").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["endpoint"], "Hello");
    // The endpoint's context reports where it is mounted.
    assert_eq!(body["mounted_at"], "/v2/hello");

    let (status, body) = call(&server, Method::GET, "/hello").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "invalid_request");

    // Routes stay sorted by the new path.
    assert_eq!(names(&server), ["revocation", "hello"]);
}

#[tokio::test]
async fn mount_moves_an_explicit_endpoint_too() {
    let server = AuthorizationServer::builder()
        .only(["hello"])
        .register_endpoint("moved", "/before", [Method::POST], Explicit("Moved"))
        .mount("moved", "/after")
        .build()
        .unwrap();
    let (status, body) = call(&server, Method::POST, "/after").await;
    assert_eq!(
        (status, &body["endpoint"]),
        (StatusCode::OK, &json!("Moved"))
    );
    let (status, _) = call(&server, Method::POST, "/before").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_last_mount_of_an_endpoint_wins() {
    let server = AuthorizationServer::builder()
        .only(["hello"])
        .mount("hello", "/first")
        .mount("hello", "/second")
        .build()
        .unwrap();
    assert_eq!(server.route("hello").unwrap().path(), "/second");
    let (status, _) = call(&server, Method::GET, "/second").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&server, Method::GET, "/first").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn endpoints_read_state_given_to_the_builder() {
    let server = AuthorizationServer::builder()
        .only(["greeting"])
        .with_state(Greeting("bonjour"))
        .with_state(Visits(3))
        .build()
        .unwrap();
    let (status, body) = call(&server, Method::GET, "/greeting").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "greeting": "bonjour", "visits": 3 }));

    // A later value of the same type replaces the earlier one.
    let server = AuthorizationServer::builder()
        .only(["greeting"])
        .with_state(Greeting("hello"))
        .with_state(Greeting("hallo"))
        .build()
        .unwrap();
    let (_, body) = call(&server, Method::GET, "/greeting").await;
    assert_eq!(body, json!({ "greeting": "hallo", "visits": null }));

    // Without the state, the endpoint's own error is what the client sees.
    let server = AuthorizationServer::builder()
        .only(["greeting"])
        .build()
        .unwrap();
    let (status, body) = call(&server, Method::GET, "/greeting").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn a_cloned_server_dispatches_the_same_way() {
    let server = AuthorizationServer::builder()
        .only(["hello"])
        .build()
        .unwrap();
    let clone = server.clone();
    drop(server);
    let (status, body) = call(&clone, Method::GET, "/hello").await;
    assert_eq!(
        (status, &body["endpoint"]),
        (StatusCode::OK, &json!("Hello"))
    );
}
