//! Cross-origin requests (RFC 7009 §2.3): opt-in per endpoint, allowed origins per client.

#![allow(clippy::unwrap_used)] // Fixtures; a failure is a failing test.

use bytes::Bytes;
use http::Request;
use oauth_endpoints::{Client, TokenRequest};
use oauth_endpoints_tests::{Answer, Harness, basic, form, post};
use tower::ServiceExt;

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example.net";

fn spa() -> Client {
    Client::public("spa")
        .with_allowed_cors_origins([APP])
        .build()
        .unwrap()
}

fn service() -> Client {
    Client::confidential("svc", "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .build()
        .unwrap()
}

fn preflight(path: &str, origin: &str) -> Request<Bytes> {
    Request::options(path)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .body(Bytes::new())
        .unwrap()
}

fn with_origin(mut request: Request<Bytes>, origin: &str) -> Request<Bytes> {
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    request
}

async fn spa_token(h: &Harness) -> String {
    let issued = h
        .server
        .issuer()
        .issue(&TokenRequest::new(&spa(), Default::default()))
        .await
        .unwrap();
    issued.access_token().to_owned()
}

async fn active(h: &Harness, token: &str) -> bool {
    use oauth_endpoints::Clock;
    let record = h.server.tokens().find(token, None).await.unwrap().unwrap();
    record.is_active(h.clock.now())
}

#[tokio::test]
async fn preflight_is_answered_on_revocation_and_introspection_only() {
    let h = Harness::new(&[spa()]).await;
    for path in ["/oauth/revoke", "/oauth/introspect"] {
        let answer: Answer = h.send(preflight(path, APP)).await;
        assert_eq!(answer.status, 204, "{path}");
        assert_eq!(answer.header("access-control-allow-origin"), Some(APP));
        assert_eq!(answer.header("access-control-allow-methods"), Some("POST"));
        let allowed = answer.header("access-control-allow-headers").unwrap();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));
        assert_eq!(answer.header("vary"), Some("Origin"));
    }
    // The token endpoint did not opt in.
    let answer = h.send(preflight("/oauth/token", APP)).await;
    assert_eq!(answer.status, 405);
}

#[tokio::test]
async fn an_allowed_origin_may_revoke_and_read_the_answer() {
    let h = Harness::new(&[spa()]).await;
    let token = spa_token(&h).await;
    let request = post(
        "/oauth/revoke",
        None,
        &form(&[("token", &token), ("client_id", "spa")]),
    );
    let answer = h.send(with_origin(request, APP)).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.header("access-control-allow-origin"), Some(APP));
    assert!(!active(&h, &token).await);
}

#[tokio::test]
async fn another_origin_is_refused_and_changes_nothing() {
    let h = Harness::new(&[spa()]).await;
    let token = spa_token(&h).await;
    let request = post(
        "/oauth/revoke",
        None,
        &form(&[("token", &token), ("client_id", "spa")]),
    );
    let answer = h.send(with_origin(request, EVIL)).await;
    answer.assert_error(400, "invalid_request");
    assert!(answer.header("access-control-allow-origin").is_none());
    assert!(active(&h, &token).await);
}

#[tokio::test]
async fn a_client_without_allowed_origins_gets_no_cross_origin_access() {
    let h = Harness::new(&[service()]).await;
    let answer = h
        .client_credentials("svc", "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    let token = answer.str("access_token").unwrap();
    let request = post(
        "/oauth/introspect",
        Some(&basic("svc", "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &form(&[("token", token)]),
    );
    h.send(with_origin(request, APP))
        .await
        .assert_error(400, "invalid_request");
    // Without an Origin header (a server-side caller), the same request works.
    let request = post(
        "/oauth/introspect",
        Some(&basic("svc", "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &form(&[("token", token)]),
    );
    assert_eq!(h.send(request).await.json["active"], true);
}

#[tokio::test]
async fn errors_after_authentication_are_readable_by_the_allowed_origin() {
    let h = Harness::new(&[spa()]).await;
    let request = post("/oauth/revoke", None, &form(&[("client_id", "spa")]));
    let answer = h.send(with_origin(request, APP)).await;
    answer.assert_error(400, "invalid_request");
    assert_eq!(answer.header("access-control-allow-origin"), Some(APP));
}

#[tokio::test]
async fn preflight_through_the_axum_router() {
    let h = Harness::new(&[spa()]).await;
    let app: axum::Router = h.server.clone().into_router();
    let request = preflight("/oauth/revoke", APP).map(axum::body::Body::from);
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["access-control-allow-origin"], APP);
}
