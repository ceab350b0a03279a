//! Dispatch by path and method, `create_endpoint_response`, the body limit, form errors, and a
//! large explicit registry, as a downstream crate uses them.
//!
//! Every annotated endpoint in this file is collected by every builder in this test binary.

// The request and response helpers below unwrap; they run only inside tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, PRAGMA};
use http::{Method, Request, Response, StatusCode};
use oauth_endpoints::endpoint::json_response;
use oauth_endpoints::server::{ServerConfig, UnknownEndpoint};
use oauth_endpoints::{AuthorizationServer, Context, Endpoint, EndpointResult, oauth_endpoint};
use serde_json::{Map, Value, json};

/// Counts the requests that reached an endpoint, when given as state; the test keeps a clone.
#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

impl Calls {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Answers with what it saw, and counts the call.
fn echo(cx: &Context, request: &Request<Bytes>) -> EndpointResult {
    if let Some(Calls(calls)) = cx.state::<Calls>() {
        calls.fetch_add(1, Ordering::SeqCst);
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "endpoint": cx.route().name(),
            "method": request.method().as_str(),
            "path": request.uri().path(),
            "body_len": request.body().len(),
        }),
    ))
}

#[derive(Default)]
#[oauth_endpoint(name = "echo", path = "/echo", methods = "GET, POST")]
struct Echo;

impl Endpoint for Echo {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        echo(cx, &request)
    }
}

/// A second endpoint on `/echo`, for another method.
#[derive(Default)]
#[oauth_endpoint(name = "echo-delete", path = "/echo", methods = "DELETE")]
struct EchoDelete;

impl Endpoint for EchoDelete {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        echo(cx, &request)
    }
}

/// Parses the body as a form and answers with its parameters.
#[derive(Default)]
#[oauth_endpoint(name = "form", path = "/form", methods = "POST")]
struct FormEcho;

impl Endpoint for FormEcho {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        let form = cx.form(&request)?;
        let params: Map<String, Value> = form
            .iter()
            .map(|(name, value)| (name.to_owned(), Value::from(value)))
            .collect();
        Ok(json_response(StatusCode::OK, &params))
    }
}

/// Registered explicitly, many times; answers with its route's name.
struct Numbered;

impl Endpoint for Numbered {
    async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        Ok(json_response(
            StatusCode::OK,
            &json!({ "name": cx.route().name() }),
        ))
    }
}

fn server() -> AuthorizationServer {
    AuthorizationServer::builder().build().unwrap()
}

fn request(method: Method, path: &str, body: &'static [u8]) -> Request<Bytes> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Bytes::from_static(body))
        .unwrap()
}

fn form_request(content_type: Option<&str>, body: &'static [u8]) -> Request<Bytes> {
    let mut request = request(Method::POST, "/form", body);
    if let Some(content_type) = content_type {
        request
            .headers_mut()
            .insert(CONTENT_TYPE, content_type.parse().unwrap());
    }
    request
}

fn json(response: &Response<Bytes>) -> Value {
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    serde_json::from_slice(response.body()).unwrap()
}

/// Checks an RFC 6749 §5.2 error answer and returns its body.
fn assert_oauth_error(response: &Response<Bytes>, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(response.headers()[PRAGMA], "no-cache");
    let body = json(response);
    assert_eq!(body["error"], code, "{body}");
    body
}

fn allow(response: &Response<Bytes>) -> BTreeSet<&str> {
    let values: Vec<_> = response.headers().get_all(ALLOW).iter().collect();
    assert_eq!(values.len(), 1, "one Allow header");
    values[0].to_str().unwrap().split(", ").collect()
}

#[tokio::test]
async fn a_known_route_is_answered_by_its_endpoint() {
    let server = server();

    let response = server.dispatch(request(Method::GET, "/echo", b"")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json(&response),
        json!({ "endpoint": "echo", "method": "GET", "path": "/echo", "body_len": 0 })
    );

    let response = server
        .dispatch(request(Method::POST, "/echo", b"abc"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(&response)["body_len"], 3);

    // Another method on the same path goes to the other endpoint.
    let response = server.dispatch(request(Method::DELETE, "/echo", b"")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(&response)["endpoint"], "echo-delete");

    // The query string is not part of the path that is routed.
    let response = server
        .dispatch(request(Method::GET, "/echo?token=abc", b""))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(&response)["endpoint"], "echo");
}

#[tokio::test]
async fn an_unknown_path_is_404_with_a_json_error() {
    let server = server();
    for method in [Method::GET, Method::POST] {
        let response = server.dispatch(request(method, "/nowhere", b"")).await;
        let body = assert_oauth_error(&response, StatusCode::NOT_FOUND, "invalid_request");
        assert!(body["error_description"].is_string());
        assert!(response.headers().get(ALLOW).is_none());
    }
}

#[tokio::test]
async fn a_known_path_with_another_method_is_405_with_allow() {
    let server = server();

    for method in [Method::PUT, Method::PATCH, Method::OPTIONS] {
        let response = server.dispatch(request(method, "/echo", b"")).await;
        assert_oauth_error(&response, StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
        // Both endpoints' methods on the path are listed.
        assert_eq!(allow(&response), BTreeSet::from(["DELETE", "GET", "POST"]));
    }

    let response = server.dispatch(request(Method::GET, "/form", b"")).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(allow(&response), BTreeSet::from(["POST"]));

    // No endpoint runs for a 405.
    let calls = Calls::default();
    let server = AuthorizationServer::builder()
        .with_state(calls.clone())
        .build()
        .unwrap();
    let response = server.dispatch(request(Method::PUT, "/echo", b"")).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(calls.count(), 0);
    let response = server.dispatch(request(Method::GET, "/echo", b"")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn create_endpoint_response_answers_through_the_named_endpoint() {
    let server = server();

    // Whatever the request's path and method.
    let response = server
        .create_endpoint_response("echo", request(Method::PUT, "/somewhere/else", b"xy"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json(&response),
        json!({ "endpoint": "echo", "method": "PUT", "path": "/somewhere/else", "body_len": 2 })
    );

    let response = server
        .create_endpoint_response("echo-delete", request(Method::GET, "/echo", b""))
        .await
        .unwrap();
    assert_eq!(json(&response)["endpoint"], "echo-delete");

    let error = server
        .create_endpoint_response("nope", request(Method::GET, "/echo", b""))
        .await
        .unwrap_err();
    assert_eq!(error, UnknownEndpoint("nope".to_owned()));
    assert_eq!(error.to_string(), "no endpoint named `nope` is mounted");

    // An excluded endpoint cannot be named either.
    let server = AuthorizationServer::builder()
        .exclude("echo")
        .build()
        .unwrap();
    let error = server
        .create_endpoint_response("echo", request(Method::GET, "/echo", b""))
        .await
        .unwrap_err();
    assert_eq!(error.0, "echo");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_before_the_endpoint_runs() {
    let calls = Calls::default();
    let server = AuthorizationServer::builder()
        .body_limit(16)
        .with_state(calls.clone())
        .build()
        .unwrap();
    assert_eq!(server.config().body_limit, 16);

    let response = server
        .dispatch(request(Method::POST, "/echo", &[b'a'; 16]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = server
        .dispatch(request(Method::POST, "/echo", &[b'a'; 17]))
        .await;
    let body = assert_oauth_error(&response, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    assert!(body["error_description"].as_str().unwrap().contains("16"));

    // Through `create_endpoint_response` too.
    let response = server
        .create_endpoint_response("echo", request(Method::POST, "/echo", &[b'a'; 100]))
        .await
        .unwrap();
    assert_oauth_error(&response, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");

    // Only the request within the limit reached the endpoint.
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn a_declared_content_length_over_the_limit_is_413() {
    let server = AuthorizationServer::builder()
        .body_limit(16)
        .build()
        .unwrap();

    let mut too_long = request(Method::POST, "/echo", b"abc");
    too_long
        .headers_mut()
        .insert(CONTENT_LENGTH, "1000000".parse().unwrap());
    let response = server.dispatch(too_long).await;
    assert_oauth_error(&response, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");

    let mut just_over = request(Method::POST, "/echo", b"");
    just_over
        .headers_mut()
        .insert(CONTENT_LENGTH, "17".parse().unwrap());
    let response = server.dispatch(just_over).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let mut at_limit = request(Method::POST, "/echo", b"");
    at_limit
        .headers_mut()
        .insert(CONTENT_LENGTH, "16".parse().unwrap());
    let response = server.dispatch(at_limit).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_default_body_limit_is_64_kib() {
    let server = server();
    assert_eq!(server.config().body_limit, ServerConfig::DEFAULT_BODY_LIMIT);
    assert_eq!(ServerConfig::DEFAULT_BODY_LIMIT, 64 * 1024);

    static AT_LIMIT: [u8; 64 * 1024] = [b'a'; 64 * 1024];
    static OVER_LIMIT: [u8; 64 * 1024 + 1] = [b'a'; 64 * 1024 + 1];
    let response = server
        .dispatch(request(Method::POST, "/echo", &AT_LIMIT))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = server
        .dispatch(request(Method::POST, "/echo", &OVER_LIMIT))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_valid_form_reaches_the_endpoint() {
    let server = server();
    let response = server
        .dispatch(form_request(
            Some("application/x-www-form-urlencoded"),
            b"token=a%2Bb+c&token_type_hint=refresh_token",
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json(&response),
        json!({ "token": "a+b c", "token_type_hint": "refresh_token" })
    );

    // Media type parameters and case do not matter.
    let response = server
        .dispatch(form_request(
            Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
            b"token=%E2%82%AC",
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(&response), json!({ "token": "\u{20ac}" }));
}

#[tokio::test]
async fn form_mistakes_are_400_invalid_request() {
    let server = server();
    let cases: [(&str, Option<&str>, &'static [u8], &str); 5] = [
        (
            "JSON content type",
            Some("application/json"),
            b"token=abc",
            "application/x-www-form-urlencoded",
        ),
        (
            "no content type",
            None,
            b"token=abc",
            "application/x-www-form-urlencoded",
        ),
        (
            "repeated parameter",
            Some("application/x-www-form-urlencoded"),
            b"token=abc&token_type_hint=x&token=def",
            "`token` is repeated",
        ),
        (
            "percent-encoded byte that is not UTF-8",
            Some("application/x-www-form-urlencoded"),
            b"token=%FF",
            "UTF-8",
        ),
        (
            "raw byte that is not UTF-8",
            Some("application/x-www-form-urlencoded"),
            b"token=\xc3\x28",
            "UTF-8",
        ),
    ];
    for (case, content_type, body, description) in cases {
        let response = server.dispatch(form_request(content_type, body)).await;
        let body = assert_oauth_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
        let text = body["error_description"].as_str().unwrap();
        assert!(text.contains(description), "{case}: {text}");
    }
}

#[tokio::test]
async fn a_thousand_explicit_endpoints_are_all_dispatchable() {
    let mut builder = AuthorizationServer::builder().only(Vec::<String>::new());
    for i in 0..1000 {
        builder =
            builder.register_endpoint(format!("e{i}"), format!("/e/{i}"), [Method::GET], Numbered);
    }
    let server = builder.build().unwrap();
    assert_eq!(server.routes().len(), 1000);

    for i in 0..1000 {
        let path = format!("/e/{i}");
        let request = Request::get(path.as_str()).body(Bytes::new()).unwrap();
        let response = server.dispatch(request).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(json(&response)["name"], format!("e{i}"), "{path}");
        assert_eq!(server.route(&format!("e{i}")).unwrap().path(), path);
    }

    let response = server
        .create_endpoint_response("e999", request(Method::GET, "/", b""))
        .await
        .unwrap();
    assert_eq!(json(&response)["name"], "e999");

    // Sorted by path as strings: `/e/10` comes before `/e/2`.
    assert_eq!(server.routes()[0].path(), "/e/0");
    assert_eq!(server.routes()[2].path(), "/e/10");

    let response = server.dispatch(request(Method::GET, "/e/1000", b"")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = server.dispatch(request(Method::POST, "/e/5", b"")).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(allow(&response), BTreeSet::from(["GET"]));
}

#[tokio::test]
async fn a_base_path_moves_every_route_and_the_metadata_together() {
    let server = AuthorizationServer::builder()
        .issuer("https://as.example.com")
        .base_path("/auth")
        .mount("revocation", "/v2/revoke")
        .build()
        .unwrap();
    let paths: Vec<&str> = server.routes().iter().map(|route| route.path()).collect();
    assert!(paths.contains(&"/auth/oauth/token"), "{paths:?}");
    assert!(paths.contains(&"/auth/v2/revoke"), "{paths:?}");
    // The document stays where RFC 8414 §3 puts it, and advertises the moved endpoints.
    assert!(
        paths.contains(&"/.well-known/oauth-authorization-server"),
        "{paths:?}"
    );
    let metadata = server.metadata().unwrap();
    assert_eq!(
        metadata["token_endpoint"],
        "https://as.example.com/auth/oauth/token"
    );
    assert_eq!(
        metadata["revocation_endpoint"],
        "https://as.example.com/auth/v2/revoke"
    );

    let request = |path: &str| {
        Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from_static(b"grant_type=client_credentials"))
            .unwrap()
    };
    // Served at the moved path (401: no credentials), no longer at the declared one.
    assert_eq!(
        server.dispatch(request("/auth/oauth/token")).await.status(),
        401
    );
    assert_eq!(server.dispatch(request("/oauth/token")).await.status(), 404);
}

#[test]
fn a_base_path_breaking_the_path_rule_is_a_build_error() {
    for bad in ["auth", "/auth/", "/a b", "/auth?x"] {
        let error = AuthorizationServer::builder()
            .base_path(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(&error, oauth_endpoints::BuildError::InvalidBasePath { path, .. } if path == bad),
            "{bad}: {error}"
        );
    }
}
