//! Input outside the syntax of RFC 6749 Appendix A never reaches a store: on every store, each
//! hostile value gets the request's own error (never 503, never a store error log), and stored
//! state is unchanged. A stored client row that breaks a client rule is refused, not used.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failure is a failing test.

use base64::Engine as _;
use oauth_endpoints::store::{MemoryStore, SqliteStore};
use oauth_endpoints::{AuthorizationServer, Client};
use oauth_endpoints_tests::pg::TestSchema;
use oauth_endpoints_tests::{Answer, basic, post, send};
use sqlx::Connection as _;

const SECRET: &str = "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";

fn app() -> Client {
    Client::confidential("app", SECRET)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read write".parse().unwrap())
        .build()
        .unwrap()
}

/// A Basic header carrying `raw` (already form-urlencoded as the client would) as `id:secret`.
fn raw_basic(raw: &[u8]) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Every hostile request, its expected status and `error` code.
fn hostile() -> Vec<(&'static str, Option<String>, String, u16, &'static str)> {
    let app = basic("app", SECRET);
    vec![
        // A NUL in the client id, percent-encoded inside Basic (RFC 6749 A.1).
        (
            "/oauth/token",
            Some(raw_basic(b"refresh-client%00:x")),
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
        ),
        // Raw control characters inside Basic.
        (
            "/oauth/token",
            Some(raw_basic(b"app\x01:secret\x7f")),
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
        ),
        (
            "/oauth/introspect",
            Some(raw_basic(b"app%00:x")),
            "token=abc".into(),
            401,
            "invalid_client",
        ),
        (
            "/oauth/revoke",
            Some(raw_basic(b"app:x%0A")),
            "token=abc".into(),
            401,
            "invalid_client",
        ),
        // client_secret_post and `none` with a NUL in the body's client_id.
        (
            "/oauth/token",
            None,
            "grant_type=client_credentials&client_id=app%00&client_secret=x".into(),
            401,
            "invalid_client",
        ),
        (
            "/oauth/revoke",
            None,
            "token=abc&client_id=spa%00".into(),
            401,
            "invalid_client",
        ),
        // Authenticated, with a bad parameter: the parameter's own error.
        (
            "/oauth/token",
            Some(app.clone()),
            "grant_type=refresh_token&refresh_token=abc%00def".into(),
            400,
            "invalid_grant",
        ),
        (
            "/oauth/token",
            Some(app.clone()),
            "grant_type=client_credentials&scope=read%00".into(),
            400,
            "invalid_scope",
        ),
        (
            "/oauth/token",
            Some(app.clone()),
            "grant_type=client%00credentials".into(),
            400,
            "invalid_request",
        ),
        (
            "/oauth/revoke",
            Some(app.clone()),
            "token=abc%00".into(),
            400,
            "invalid_request",
        ),
        (
            "/oauth/introspect",
            Some(app.clone()),
            "token=abc%1F".into(),
            400,
            "invalid_request",
        ),
        (
            "/oauth/introspect",
            Some(app.clone()),
            "token=abc&token_type_hint=access%00".into(),
            400,
            "invalid_request",
        ),
        (
            "/oauth/token",
            Some(app),
            "grant_type=client_credentials&x-ext=%07".into(),
            400,
            "invalid_request",
        ),
    ]
}

async fn check(server: &AuthorizationServer, store: &str) {
    server.clients().save(&app()).await.unwrap();
    let app_basic = basic("app", SECRET);
    let issued = send(
        server,
        post(
            "/oauth/token",
            Some(&app_basic),
            "grant_type=client_credentials",
        ),
    )
    .await;
    assert_eq!(issued.status, 200, "{store}: {}", issued.json);
    let access = issued.str("access_token").unwrap().to_owned();
    let refresh = issued.str("refresh_token").unwrap().to_owned();

    for (path, authorization, body, status, code) in hostile() {
        let answer: Answer = send(server, post(path, authorization.as_deref(), &body)).await;
        assert_eq!(
            (answer.status.as_u16(), answer.error()),
            (status, Some(code)),
            "{store}: {path} {body}: {}",
            answer.json
        );
        answer.assert_oauth_headers();
    }

    // Nothing changed: the tokens are as they were, and the refresh token still works once.
    let introspected = send(
        server,
        post(
            "/oauth/introspect",
            Some(&app_basic),
            &format!("token={access}"),
        ),
    )
    .await;
    assert_eq!(introspected.json["active"], true, "{store}");
    let refreshed = send(
        server,
        post(
            "/oauth/token",
            Some(&app_basic),
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        ),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{store}: {}", refreshed.json);
}

#[tokio::test]
async fn hostile_values_get_the_request_error_on_the_memory_store() {
    let server = AuthorizationServer::builder()
        .store(MemoryStore::new())
        .build()
        .unwrap();
    check(&server, "memory").await;
}

#[tokio::test]
async fn hostile_values_get_the_request_error_on_the_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("oauth.db"))
        .await
        .unwrap();
    let server = AuthorizationServer::builder().store(store).build().unwrap();
    check(&server, "sqlite").await;
}

#[tokio::test]
async fn hostile_values_get_the_request_error_on_the_postgres_store() {
    let Some(schema) = TestSchema::create("input_syntax").await else {
        return;
    };
    let server = AuthorizationServer::builder()
        .store(schema.store().await)
        .build()
        .unwrap();
    check(&server, "postgres").await;
}

/// A row edited behind the store's back into a client with a secret and method `none` would
/// authenticate by its `client_id` alone; the store refuses to read it instead.
#[tokio::test]
async fn a_stored_client_that_breaks_a_rule_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oauth.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let server = AuthorizationServer::builder()
        .store(store.clone())
        .build()
        .unwrap();
    server.clients().save(&app()).await.unwrap();
    let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE oauth_clients SET auth_method = 'none' WHERE client_id = 'app'")
        .execute(&mut raw)
        .await
        .unwrap();
    let answer = send(
        &server,
        post(
            "/oauth/token",
            None,
            "grant_type=client_credentials&client_id=app",
        ),
    )
    .await;
    assert_ne!(answer.status, 200, "{}", answer.json);
    assert!(answer.json.get("access_token").is_none());
}
