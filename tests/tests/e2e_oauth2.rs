//! End to end over real HTTP: the example server, in-process on an ephemeral port, driven by the
//! `oauth2` crate (the ecosystem's standard client) with Basic and request-body authentication.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use std::net::SocketAddr;
use std::path::Path;

use clap::Parser as _;
use oauth_endpoints_examples::server::{Options, bind, prepare, serve};
use oauth_endpoints_tests::oauth2_http;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, IntrospectionUrl, RefreshToken, RevocationUrl, Scope,
    StandardRevocableToken, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use tokio::sync::oneshot;

const CLIENTS: &str = r#"[
  {"client_id": "basic-client", "client_secret": "basic: secret+%kR8vN2qX5tLw9ZpB3mYc7HdF",
   "grant_types": ["client_credentials", "refresh_token"], "scope": "read write"},
  {"client_id": "post-client", "client_secret": "post-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
   "token_endpoint_auth_method": "client_secret_post",
   "grant_types": ["client_credentials", "refresh_token"], "scope": "read write"}
]"#;

/// A running server; dropping the sender stops it gracefully.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }

    fn url(&self, path: &str) -> String {
        // The oauth2 crate refuses a revocation URL that is not https; `oauth2_http`
        // turns the scheme back into http (the workaround its maintainers suggest for tests).
        format!("https://{}{path}", self.addr)
    }
}

async fn start(store: &str, clients: &Path) -> Running {
    let options = Options::try_parse_from([
        "server",
        "--addr",
        "127.0.0.1:0",
        "--store",
        store,
        "--clients",
        clients.to_str().unwrap(),
    ])
    .unwrap();
    let prepared = prepare(&options).await.unwrap();
    let listener = bind(options.addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, prepared.server, async {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

fn clients_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("clients.json");
    std::fs::write(&path, CLIENTS).unwrap();
    path
}

async fn full_flow(server: &Running, id: &str, secret: &str, auth: AuthType) {
    let client = BasicClient::new(ClientId::new(id.to_owned()))
        .set_client_secret(ClientSecret::new(secret.to_owned()))
        .set_auth_type(auth)
        .set_token_uri(TokenUrl::new(server.url("/oauth/token")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(server.url("/oauth/introspect")).unwrap())
        .set_revocation_url(RevocationUrl::new(server.url("/oauth/revoke")).unwrap());

    // Client credentials (RFC 6749 §4.4).
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read".to_owned()))
        .request_async(&oauth2_http)
        .await
        .unwrap();
    let refresh = token
        .refresh_token()
        .expect("opted in to refresh tokens")
        .clone();

    // Introspection: active (RFC 7662).
    let introspection = client
        .introspect(token.access_token())
        .request_async(&oauth2_http)
        .await
        .unwrap();
    assert!(introspection.active());
    assert_eq!(introspection.client_id().map(|c| c.as_str()), Some(id));
    assert_eq!(
        introspection
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        Some(vec!["read".to_owned()])
    );

    // Refresh and rotation (RFC 6749 §6).
    let rotated = client
        .exchange_refresh_token(&refresh)
        .request_async(&oauth2_http)
        .await
        .unwrap();
    let reused = client
        .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .request_async(&oauth2_http)
        .await;
    assert!(reused.is_err(), "a rotated refresh token is refused");

    // The reuse revoked the grant; start a new one for revocation.
    drop(rotated);
    let token = client
        .exchange_client_credentials()
        .request_async(&oauth2_http)
        .await
        .unwrap();

    // Revocation (RFC 7009), then introspection says inactive.
    client
        .revoke_token(StandardRevocableToken::AccessToken(
            token.access_token().clone(),
        ))
        .unwrap()
        .request_async(&oauth2_http)
        .await
        .unwrap();
    let introspection = client
        .introspect(token.access_token())
        .request_async(&oauth2_http)
        .await
        .unwrap();
    assert!(!introspection.active());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_client_with_basic_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let server = start("memory", &clients_file(dir.path())).await;
    full_flow(
        &server,
        "basic-client",
        "basic: secret+%kR8vN2qX5tLw9ZpB3mYc7HdF",
        AuthType::BasicAuth,
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_client_with_request_body_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let server = start("memory", &clients_file(dir.path())).await;
    full_flow(
        &server,
        "post-client",
        "post-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
        AuthType::RequestBody,
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stays_revoked_after_a_restart_on_the_same_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let clients = clients_file(dir.path());
    let store = format!("sqlite:{}", dir.path().join("oauth.db").display());
    let client = |server: &Running| {
        BasicClient::new(ClientId::new("basic-client".to_owned()))
            .set_client_secret(ClientSecret::new(
                "basic: secret+%kR8vN2qX5tLw9ZpB3mYc7HdF".to_owned(),
            ))
            .set_token_uri(TokenUrl::new(server.url("/oauth/token")).unwrap())
            .set_introspection_url(IntrospectionUrl::new(server.url("/oauth/introspect")).unwrap())
            .set_revocation_url(RevocationUrl::new(server.url("/oauth/revoke")).unwrap())
    };

    let first = start(&store, &clients).await;
    let revoked = client(&first)
        .exchange_client_credentials()
        .request_async(&oauth2_http)
        .await
        .unwrap();
    let kept = client(&first)
        .exchange_client_credentials()
        .request_async(&oauth2_http)
        .await
        .unwrap();
    client(&first)
        .revoke_token(StandardRevocableToken::AccessToken(
            revoked.access_token().clone(),
        ))
        .unwrap()
        .request_async(&oauth2_http)
        .await
        .unwrap();
    first.stop().await;

    let second = start(&store, &clients).await;
    let after = |token: oauth2::AccessToken| {
        let c = client(&second);
        async move {
            c.introspect(&token)
                .request_async(&oauth2_http)
                .await
                .unwrap()
                .active()
        }
    };
    assert!(!after(revoked.access_token().clone()).await);
    assert!(after(kept.access_token().clone()).await);
    second.stop().await;
}

/// `--base-path` moves every endpoint and the metadata with it, and the start-up banner's
/// commands use the moved URLs: running them as printed issues, introspects and revokes.
#[tokio::test]
async fn the_banner_of_a_server_under_a_base_path_works_as_printed() {
    let options = Options::try_parse_from([
        "server",
        "--addr",
        "127.0.0.1:0",
        "--store",
        "memory",
        "--base-path",
        "/auth",
        "--issuer",
        "https://as.example.com",
    ])
    .unwrap();
    let prepared = prepare(&options).await.unwrap();
    let listener = bind(options.addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let banner = oauth_endpoints_examples::server::banner(addr, &prepared);
    let token_url = format!("http://{addr}/auth/oauth/token");
    assert!(banner.contains(&token_url), "{banner}");
    assert!(
        !banner.contains(&format!("http://{addr}/oauth/")),
        "{banner}"
    );
    let (id, secret) = prepared.demo.clone().unwrap();
    let metadata = prepared.server.metadata().unwrap().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, prepared.server, async {
        let _ = stopped.await;
    }));

    let http = reqwest::Client::new();
    let issued = post_form(
        &http,
        &token_url,
        (&id, &secret),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let token = issued["access_token"].as_str().unwrap();
    for (name, active) in [
        ("introspection", true),
        ("revocation", false),
        ("introspection", false),
    ] {
        // Where the metadata document says the endpoint is, on this server.
        let advertised = metadata[&format!("{name}_endpoint")].as_str().unwrap();
        let path = advertised.strip_prefix("https://as.example.com").unwrap();
        assert!(path.starts_with("/auth/oauth/"), "{advertised}");
        let url = format!("http://{addr}{path}");
        let answer = post_form(&http, &url, (&id, &secret), &[("token", token)]).await;
        if name == "introspection" {
            assert_eq!(answer["active"], active, "{answer}");
        } else {
            assert_eq!(answer, serde_json::json!({}));
        }
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// POSTs `form` to `url` with Basic credentials; the JSON answer.
async fn post_form(
    http: &reqwest::Client,
    url: &str,
    (id, secret): (&str, &str),
    form: &[(&str, &str)],
) -> serde_json::Value {
    let body = http
        .post(url)
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}
