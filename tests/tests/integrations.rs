//! The framework integrations: the tower service bounds bodies while reading; the axum router
//! composes with an application's own routes.

#![allow(clippy::unwrap_used)] // Fixtures; a failure is a failing test.

use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use oauth_endpoints::server::OAuthService;
use oauth_endpoints::{AuthorizationServer, Client};
use oauth_endpoints_tests::{basic, form};
use tower::ServiceExt;

async fn server() -> AuthorizationServer {
    let server = AuthorizationServer::builder()
        .body_limit(64)
        .build()
        .unwrap();
    let client = Client::confidential("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .build()
        .unwrap();
    server.clients().save(&client).await.unwrap();
    server
}

fn token_request(body: Body, length: Option<usize>) -> Request<Body> {
    let mut builder = Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF"),
        );
    if let Some(length) = length {
        builder = builder.header("content-length", length);
    }
    builder.body(body).unwrap()
}

async fn read(
    response: http::Response<impl http_body::Body<Error: std::fmt::Debug>>,
) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

#[tokio::test]
async fn the_tower_service_answers_a_form_request() {
    let service = OAuthService::new(server().await);
    let body = Body::from(form(&[("grant_type", "client_credentials")]));
    let (status, json) = read(service.oneshot(token_request(body, None)).await.unwrap()).await;
    assert_eq!(status, 200, "{json}");
    assert!(json["access_token"].is_string());
}

#[tokio::test]
async fn an_oversized_streamed_body_is_413_without_a_length() {
    let service = OAuthService::new(server().await);
    // A body delivered in chunks, with no Content-Length: the limit holds while reading.
    let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(b"a=1&")));
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    let (status, json) = read(service.oneshot(token_request(body, None)).await.unwrap()).await;
    assert_eq!(status, 413);
    assert_eq!(json["error"], "invalid_request");
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_before_reading() {
    let service = OAuthService::new(server().await);
    let (status, _) = read(
        service
            .oneshot(token_request(Body::from("a=1"), Some(1_000_000)))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn the_axum_router_composes_with_application_routes() {
    let app: axum::Router = axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(server().await.into_router());
    let health = app
        .clone()
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let body = Body::from(form(&[("grant_type", "client_credentials")]));
    let (status, json) = read(
        app.clone()
            .oneshot(token_request(body, None))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    // A wrong method on a mounted path is answered by the server: 405 with Allow.
    let wrong = app
        .oneshot(Request::get("/oauth/token").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "POST");
}
