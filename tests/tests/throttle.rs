//! The optional per-client throttle (feature `throttle`): off by default; over the limit, 429
//! with `Retry-After` (RFC 6585 §4) at revocation and introspection; other clients unaffected;
//! custom endpoints apply it with `cx.throttle(&client)`.

#![allow(clippy::unwrap_used)] // Fixtures in helper functions; a failure is a failing test.

use std::num::NonZeroU32;

use bytes::Bytes;
use http::{Request, StatusCode};
use oauth_endpoints::client_auth::ClientAuthMethod;
use oauth_endpoints::endpoint::json_response;
use oauth_endpoints::throttle::Quota;
use oauth_endpoints::{Client, Context, Endpoint, EndpointResult, OAuthError, oauth_endpoint};
use oauth_endpoints_tests::{Answer, Harness, basic, form, post};

/// One request per hour after a burst of `burst`: the limit cannot recover during a test.
fn quota(burst: u32) -> Quota {
    Quota::per_hour(NonZeroU32::MIN).allow_burst(NonZeroU32::new(burst).unwrap())
}

fn app() -> Client {
    Client::confidential("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read".parse().unwrap())
        .build()
        .unwrap()
}

fn other() -> Client {
    Client::confidential("other", "other-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_auth_method(ClientAuthMethod::ClientSecretPost)
        .with_scope("introspection".parse().unwrap())
        .build()
        .unwrap()
}

async fn introspect_as_app(h: &Harness, token: &str) -> Answer {
    h.send(post(
        "/oauth/introspect",
        Some(&basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &form(&[("token", token)]),
    ))
    .await
}

async fn revoke_as_app(h: &Harness, token: &str) -> Answer {
    h.send(post(
        "/oauth/revoke",
        Some(&basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &form(&[("token", token)]),
    ))
    .await
}

fn assert_throttled(answer: &Answer) {
    answer.assert_error(429, "temporarily_unavailable");
    let seconds: u32 = answer.header("retry-after").unwrap().parse().unwrap();
    // One request per hour: the next one is up to an hour away.
    assert!((1..=3600).contains(&seconds), "Retry-After {seconds}");
}

#[tokio::test]
async fn off_by_default() {
    let h = Harness::new(&[app()]).await;
    for _ in 0..50 {
        assert_eq!(introspect_as_app(&h, "unknown").await.status, 200);
        assert_eq!(revoke_as_app(&h, "unknown").await.status, 200);
    }
}

#[tokio::test]
async fn introspection_over_the_limit_is_429_with_retry_after() {
    let h = Harness::with(&[app()], |b| b.throttle(quota(3))).await;
    let token = h
        .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    let token = token.str("access_token").unwrap();
    for _ in 0..3 {
        let answer = introspect_as_app(&h, token).await;
        assert_eq!(answer.json["active"], true, "{}", answer.json);
    }
    assert_throttled(&introspect_as_app(&h, token).await);
    // The token endpoint is not throttled.
    assert_eq!(
        h.client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn revocation_over_the_limit_is_429_and_revokes_nothing() {
    let h = Harness::with(&[app()], |b| b.throttle(quota(2))).await;
    let answer = h
        .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    let refresh = answer.str("refresh_token").unwrap();
    assert_eq!(revoke_as_app(&h, "unknown-1").await.status, 200);
    assert_eq!(revoke_as_app(&h, "unknown-2").await.status, 200);
    assert_throttled(&revoke_as_app(&h, refresh).await);
    // The refused revocation left the grant alone.
    let refreshed = h
        .refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", refresh)
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.json);
}

#[tokio::test]
async fn introspection_and_revocation_share_one_limit_per_client() {
    let h = Harness::with(&[app()], |b| b.throttle(quota(2))).await;
    assert_eq!(introspect_as_app(&h, "t").await.status, 200);
    assert_eq!(revoke_as_app(&h, "t").await.status, 200);
    assert_throttled(&introspect_as_app(&h, "t").await);
    assert_throttled(&revoke_as_app(&h, "t").await);
}

#[tokio::test]
async fn another_client_is_unaffected() {
    let h = Harness::with(&[app(), other()], |b| b.throttle(quota(1))).await;
    assert_eq!(introspect_as_app(&h, "t").await.status, 200);
    assert_throttled(&introspect_as_app(&h, "t").await);
    let body = form(&[
        ("token", "t"),
        ("client_id", "other"),
        ("client_secret", "other-secret-kR8vN2qX5tLw9ZpB3mYc7HdF"),
    ]);
    let answer = h.send(post("/oauth/introspect", None, &body)).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}

#[tokio::test]
async fn failed_authentication_does_not_use_up_the_clients_limit() {
    let h = Harness::with(&[app()], |b| b.throttle(quota(1))).await;
    for _ in 0..5 {
        let answer = h
            .send(post(
                "/oauth/introspect",
                Some(&basic("app", "wrong")),
                &form(&[("token", "t")]),
            ))
            .await;
        answer.assert_error(401, "invalid_client");
    }
    assert_eq!(introspect_as_app(&h, "t").await.status, 200);
}

#[tokio::test]
async fn a_bearer_caller_is_counted_as_its_client() {
    let h = Harness::with(&[app(), other()], |b| b.throttle(quota(1))).await;
    // `other` holds a token with the introspection scope.
    let answer = h
        .send(post(
            "/oauth/token",
            None,
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "other"),
                ("client_secret", "other-secret-kR8vN2qX5tLw9ZpB3mYc7HdF"),
            ]),
        ))
        .await;
    let bearer = format!("Bearer {}", answer.str("access_token").unwrap());
    let send = || h.send(post("/oauth/introspect", Some(&bearer), "token=t"));
    assert_eq!(send().await.status, 200);
    assert_throttled(&send().await);
}

#[derive(Default)]
#[oauth_endpoint(
    name = "throttled-whoami",
    path = "/throttled/whoami",
    methods = "POST",
    auth_methods = "client_secret_basic"
)]
struct ThrottledWhoAmI;

impl Endpoint for ThrottledWhoAmI {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        let form = cx.form(&request)?;
        let client = cx.authenticate_client(&request, &form).await?.client;
        cx.throttle(&client)?;
        Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({ "client_id": client.client_id() }),
        ))
    }
}

#[tokio::test]
async fn custom_endpoints_apply_the_same_limit() {
    let h = Harness::with(&[app()], |b| b.throttle(quota(1))).await;
    let send = || {
        h.send(post(
            "/throttled/whoami",
            Some(&basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            "",
        ))
    };
    assert_eq!(send().await.status, 200);
    assert_throttled(&send().await);
    // The limit is shared with the built-ins.
    assert_throttled(&introspect_as_app(&h, "t").await);
}

#[test]
fn the_429_error_renders_per_rfc_6585() {
    let response = OAuthError::too_many_requests(7).into_response();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
}
