//! Cross-origin requests (RFC 7009 §2.3): opt-in per endpoint, allowed origins per client.

#![allow(clippy::unwrap_used)] // Fixtures; a failure is a failing test.

use bytes::Bytes;
use http::Request;
use oauth_endpoints::Client;
use oauth_endpoints::token::TokenRequest;
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
    assert!(!h.is_active(&token).await);
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
    assert!(h.is_active(&token).await);
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

/// An endpoint that only authenticates: it has no CORS code of its own.
struct Echo;

impl oauth_endpoints::Endpoint for Echo {
    async fn handle(
        &self,
        cx: &oauth_endpoints::Context,
        request: Request<Bytes>,
    ) -> oauth_endpoints::EndpointResult {
        let (client, form) = cx.authenticate_then_form(&request).await?;
        if form.get("fail").is_some() {
            return Err(oauth_endpoints::OAuthError::invalid_request(
                "asked to fail",
            ));
        }
        Ok(oauth_endpoints::endpoint::json_response(
            http::StatusCode::OK,
            &serde_json::json!({ "client_id": client.client.client_id() }),
        ))
    }
}

#[tokio::test]
async fn a_declared_cors_endpoint_gets_the_whole_protocol_without_cors_code() {
    use oauth_endpoints::AuthorizationServer;
    use oauth_endpoints::client_auth::ClientAuthMethod;
    use oauth_endpoints::server::EndpointSpec;

    let server = AuthorizationServer::builder()
        .register(
            EndpointSpec::new("echo", "/echo")
                .auth_methods([ClientAuthMethod::None])
                .cors(true),
            Echo,
        )
        .build()
        .unwrap();
    server.clients().save(&spa()).await.unwrap();
    let send = |origin: &str, body: &str| {
        let request = with_origin(post("/echo", None, body), origin);
        oauth_endpoints_tests::send(&server, request)
    };

    let preflight = oauth_endpoints_tests::send(&server, preflight("/echo", APP)).await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some(APP));

    // The allowed origin reads the answer, success or error after authentication.
    let answer = send(APP, "client_id=spa").await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["client_id"], "spa");
    assert_eq!(answer.header("access-control-allow-origin"), Some(APP));
    assert_eq!(answer.header("vary"), Some("Origin"));
    let answer = send(APP, "client_id=spa&fail=1").await;
    answer.assert_error(400, "invalid_request");
    assert_eq!(answer.header("access-control-allow-origin"), Some(APP));

    // Another origin is refused before the endpoint's own code runs, and cannot read why.
    let answer = send(EVIL, "client_id=spa").await;
    answer.assert_error(400, "invalid_request");
    assert!(answer.json["client_id"].is_null());
    assert!(answer.header("access-control-allow-origin").is_none());

    // A failed authentication is not readable either.
    let answer = send(APP, "client_id=nobody").await;
    answer.assert_error(401, "invalid_client");
    assert!(answer.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_bearer_introspection_caller_is_held_to_its_own_origins() {
    // A resource server calling from a browser with a Bearer token carrying the introspection
    // scope: the token's client is the caller, and its origins decide.
    let rs = Client::confidential("rs", "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_scope("introspection".parse().unwrap())
        .with_allowed_cors_origins([APP])
        .build()
        .unwrap();
    let h = Harness::new(&[rs.clone(), spa()]).await;
    let bearer = h
        .server
        .issuer()
        .issue(&TokenRequest::new(&rs, "introspection".parse().unwrap()))
        .await
        .unwrap()
        .access_token()
        .to_owned();
    // A token of its own (the default policy lets a client introspect its own tokens).
    let token = h
        .server
        .issuer()
        .issue(&TokenRequest::new(&rs, Default::default()))
        .await
        .unwrap()
        .access_token()
        .to_owned();
    let request = |origin: &str| {
        let mut request = post(
            "/oauth/introspect",
            Some(&format!("Bearer {bearer}")),
            &form(&[("token", &token)]),
        );
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        request
    };
    let answer = h.send(request(APP)).await;
    assert_eq!(answer.json["active"], true, "{}", answer.json);
    assert_eq!(answer.header("access-control-allow-origin"), Some(APP));
    let answer = h.send(request(EVIL)).await;
    answer.assert_error(400, "invalid_request");
    assert!(answer.header("access-control-allow-origin").is_none());
}
