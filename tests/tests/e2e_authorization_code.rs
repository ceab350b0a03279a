//! End to end over real HTTP: the authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636)
//! against the example server in demo mode, in-process on an ephemeral port. The `oauth2` crate
//! is the client (authorization URL, code exchange, refresh, introspection, revocation); a
//! `reqwest` client with a cookie jar kept by hand and redirects off (`http_browser::Browser`)
//! plays the browser: the demo sign-in, the consent page (its headers, hidden fields and CSRF
//! cookie), the decision.
//!
//! Covered: a confidential client (`client_secret_basic`) from the discovered authorization URL
//! to `code`, `state` and `iss` (RFC 9207) at its redirect URI, then exchange, refresh,
//! introspection and revocation, and a replayed code refused with `invalid_grant` and revoking
//! its grant; a public client (`none`) on a loopback redirect URI whose port differs from the
//! registered one (RFC 8252 §7.3), with refresh-token rotation; a wrong PKCE verifier refused
//! without using the code up.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use std::net::SocketAddr;

use clap::Parser as _;
use http::StatusCode;
use oauth_endpoints::Client;
use oauth_endpoints_examples::server::demo::DEMO_USER;
use oauth_endpoints_examples::server::{DEMO_CLIENT, Options, prepare, serve};
use oauth_endpoints_tests::http_browser::Browser;
use oauth_endpoints_tests::oauth2_http;
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse, BasicTokenType};
use oauth2::url::Url;
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, IntrospectionUrl, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, RevocationUrl, Scope, StandardRevocableToken,
    TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The public client of the second test, registered on a loopback redirect URI.
const PUBLIC_CLIENT: &str = "native-app";
/// Its registered redirect URI: no port, so any port matches (RFC 8252 §7.3).
const LOOPBACK_REDIRECT: &str = "http://127.0.0.1/cb";

/// A running example server in demo mode; [`Running::stop`] stops it gracefully.
struct Running {
    addr: SocketAddr,
    /// The demo client's secret.
    demo_secret: String,
    /// The demo client's redirect URI: the server's `/demo/callback`.
    demo_redirect: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }

    /// `http://ADDR`: the issuer the server calls itself by.
    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts the example server with `--store memory` (demo mode) on an ephemeral port, with
/// `extra` clients saved beside the demo client.
///
/// The example server gives itself an issuer, and so mounts the flow, only when its port is
/// known: the listener is bound first and its port passed as `--addr`.
async fn start(extra: &[Client]) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options =
        Options::try_parse_from(["server", "--addr", &addr.to_string(), "--store", "memory"])
            .unwrap();
    let prepared = prepare(&options).await.unwrap();
    assert!(
        prepared.server.route("authorization").is_some(),
        "demo mode with an issuer mounts the authorization endpoint"
    );
    for client in extra {
        prepared.server.clients().save(client).await.unwrap();
    }
    let (id, demo_secret) = prepared
        .demo
        .clone()
        .expect("demo mode makes the demo client");
    assert_eq!(id, DEMO_CLIENT);
    let demo_redirect = prepared
        .demo_flow
        .as_ref()
        .expect("demo mode mounts the flow")
        .redirect_uri
        .clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, prepared.server, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        demo_secret,
        demo_redirect,
        stop,
        task,
    }
}

/// The endpoints, as the metadata document (RFC 8414) advertises them.
struct Endpoints {
    issuer: String,
    authorization: String,
    token: String,
    introspection: String,
    revocation: String,
}

/// Reads the metadata document, and checks that it advertises what this flow relies on.
async fn discover(server: &Running) -> Endpoints {
    let url = format!("{}/.well-known/oauth-authorization-server", server.origin());
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let metadata: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let text = |name: &str| {
        assert!(metadata[name].is_string(), "no {name}: {metadata}");
        metadata[name].as_str().unwrap().to_owned()
    };
    assert_eq!(text("issuer"), server.origin());
    assert_eq!(
        metadata["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        serde_json::json!(true)
    );
    let grants = metadata["grant_types_supported"].to_string();
    assert!(grants.contains("\"authorization_code\""), "{grants}");
    Endpoints {
        issuer: text("issuer"),
        authorization: text("authorization_endpoint"),
        token: text("token_endpoint"),
        introspection: text("introspection_endpoint"),
        revocation: text("revocation_endpoint"),
    }
}

/// The `oauth2` crate refuses a revocation URL that is not `https`; [`oauth2_http`] turns the
/// scheme back into `http`.
fn https(url: &str) -> String {
    url.replacen("http://", "https://", 1)
}

/// An `oauth2` client with every endpoint this test uses.
type OAuthClient = BasicClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointSet, EndpointSet>;

/// The `oauth2` crate's client for `id`: confidential with Basic authentication when `secret`
/// is given, else public (`client_id` in the body, no secret).
fn oauth_client(
    endpoints: &Endpoints,
    id: &str,
    secret: Option<&str>,
    redirect: &str,
) -> OAuthClient {
    let client = BasicClient::new(ClientId::new(id.to_owned()))
        .set_auth_uri(AuthUrl::new(endpoints.authorization.clone()).unwrap())
        .set_token_uri(TokenUrl::new(https(&endpoints.token)).unwrap())
        .set_introspection_url(IntrospectionUrl::new(https(&endpoints.introspection)).unwrap())
        .set_revocation_url(RevocationUrl::new(https(&endpoints.revocation)).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).unwrap());
    match secret {
        Some(secret) => client
            .set_client_secret(ClientSecret::new(secret.to_owned()))
            .set_auth_type(AuthType::BasicAuth),
        None => client.set_auth_type(AuthType::RequestBody),
    }
}

/// The authorization URL for scope `read` with a fresh S256 challenge: the URL, the `state`
/// it carries, and the verifier.
fn authorization_url(client: &OAuthClient) -> (Url, CsrfToken, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    (url, state, verifier)
}

/// The `error` of an RFC 6749 §5.2 answer, or a description of whatever else came back.
fn error_code<T: std::fmt::Debug, E: std::error::Error + 'static>(
    result: Result<T, RequestTokenError<E, BasicErrorResponse>>,
) -> String {
    match result {
        Err(RequestTokenError::ServerResponse(error)) => error.error().to_string(),
        other => format!("not an OAuth error answer: {other:?}"),
    }
}

/// Whether introspection calls `token` active (as `client`).
async fn is_active(client: &OAuthClient, token: &str) -> bool {
    client
        .introspect(&AccessToken::new(token.to_owned()))
        .request_async(&oauth2_http)
        .await
        .unwrap()
        .active()
}

/// The query parameter `name` of `url`, decoded.
fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Checks a successful authorization response (RFC 6749 §4.1.2, RFC 9207 §2): at
/// `redirect_uri`, with the same `state` and the issuer as `iss`. The code.
fn code_from(redirected: &Url, redirect_uri: &str, state: &CsrfToken, issuer: &str) -> String {
    let base = format!(
        "{}://{}{}",
        redirected.scheme(),
        redirected.host_str().unwrap(),
        redirected
            .port()
            .map_or(String::new(), |port| format!(":{port}"))
    ) + redirected.path();
    assert_eq!(base, redirect_uri, "{redirected}");
    assert_eq!(param(redirected, "error"), None, "{redirected}");
    assert_eq!(
        param(redirected, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(param(redirected, "iss").as_deref(), Some(issuer));
    param(redirected, "code").expect("a code")
}

/// Asserts a token response of the authorization code grant: Bearer, scope `read`, a refresh
/// token.
fn assert_issued(token: &BasicTokenResponse) {
    assert_eq!(*token.token_type(), BasicTokenType::Bearer);
    assert!(!token.access_token().secret().is_empty());
    assert_eq!(
        token
            .scopes()
            .map(|scopes| scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        Some(vec!["read".to_owned()])
    );
    assert!(token.expires_in().is_some());
    assert!(token.refresh_token().is_some(), "the client may refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confidential_client_runs_the_code_flow_and_a_replayed_code_revokes_its_grant() {
    let server = start(&[]).await;
    let endpoints = discover(&server).await;
    let client = oauth_client(
        &endpoints,
        DEMO_CLIENT,
        Some(&server.demo_secret),
        &server.demo_redirect,
    );
    let (url, state, verifier) = authorization_url(&client);
    assert!(url.as_str().contains("code_challenge_method=S256"), "{url}");

    let mut browser = Browser::new();
    let redirected = browser
        .sign_in_and_approve(&url, DEMO_CLIENT, DEMO_USER)
        .await;
    let code = code_from(
        &redirected,
        &server.demo_redirect,
        &state,
        &endpoints.issuer,
    );
    // The demo client's callback page (on the server) shows what arrived.
    let callback = browser.get(&redirected, "cross-site").await;
    assert_eq!(callback.status, StatusCode::OK);
    assert!(callback.body.contains(&code), "{}", callback.body);

    // The exchange, with the verifier (RFC 7636 §4.5) and Basic authentication.
    let verifier_text = verifier.secret().clone();
    let token = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&oauth2_http)
        .await
        .unwrap();
    assert_issued(&token);
    let first_access = token.access_token().secret().clone();
    let introspection = client
        .introspect(token.access_token())
        .request_async(&oauth2_http)
        .await
        .unwrap();
    assert!(introspection.active());
    assert_eq!(introspection.sub(), Some(DEMO_USER));

    // Refresh: a new refresh token.
    let refreshed = client
        .exchange_refresh_token(token.refresh_token().unwrap())
        .request_async(&oauth2_http)
        .await
        .unwrap();
    let refresh = refreshed.refresh_token().expect("a new refresh token");
    assert_ne!(refresh.secret(), token.refresh_token().unwrap().secret());
    assert_ne!(refreshed.access_token().secret(), &first_access);

    // Introspection of the new access token: the user, the client, the scope.
    let introspection = client
        .introspect(refreshed.access_token())
        .request_async(&oauth2_http)
        .await
        .unwrap();
    assert!(introspection.active());
    assert_eq!(introspection.sub(), Some(DEMO_USER));
    assert_eq!(
        introspection.client_id().map(|id| id.as_str()),
        Some(DEMO_CLIENT)
    );
    assert_eq!(
        introspection
            .scopes()
            .map(|scopes| scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        Some(vec!["read".to_owned()])
    );

    // Revocation of that access token (RFC 7009): inactive; its refresh token lives on.
    client
        .revoke_token(StandardRevocableToken::AccessToken(
            refreshed.access_token().clone(),
        ))
        .unwrap()
        .request_async(&oauth2_http)
        .await
        .unwrap();
    assert!(!is_active(&client, refreshed.access_token().secret()).await);
    assert!(is_active(&client, refresh.secret()).await);
    assert!(is_active(&client, &first_access).await);

    // The code again: refused, and its whole grant revoked (RFC 6749 §4.1.2), rotations too.
    let replay = client
        .exchange_code(AuthorizationCode::new(code))
        // The right verifier: only the replay itself is wrong.
        .set_pkce_verifier(PkceCodeVerifier::new(verifier_text))
        .request_async(&oauth2_http)
        .await;
    assert_eq!(error_code(replay), "invalid_grant");
    assert!(!is_active(&client, refresh.secret()).await);
    assert!(!is_active(&client, &first_access).await);
    let after = client
        .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .request_async(&oauth2_http)
        .await;
    assert_eq!(error_code(after), "invalid_grant");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_client_on_any_loopback_port_gets_tokens_whose_refresh_rotates() {
    let public = Client::public(PUBLIC_CLIENT)
        .with_grant_types(["authorization_code", "refresh_token"])
        .with_scope("read".parse().unwrap())
        .with_redirect_uris([LOOPBACK_REDIRECT])
        .build()
        .unwrap();
    let server = start(&[public]).await;
    let endpoints = discover(&server).await;
    // The native app listens on a port of its own choosing (RFC 8252 §7.3); nothing needs to
    // listen there, the browser here does not follow the last redirect.
    let redirect = "http://127.0.0.1:54321/cb";
    let client = oauth_client(&endpoints, PUBLIC_CLIENT, None, redirect);
    let (url, state, verifier) = authorization_url(&client);

    let redirected = Browser::new()
        .sign_in_and_approve(&url, PUBLIC_CLIENT, DEMO_USER)
        .await;
    let code = code_from(&redirected, redirect, &state, &endpoints.issuer);

    // No client secret: `client_id` in the body; PKCE is what binds the code to this app.
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&oauth2_http)
        .await
        .unwrap();
    assert_issued(&token);
    let first = token.refresh_token().unwrap();

    // Rotation: a new refresh token, and the old one is refused afterwards.
    let refreshed = client
        .exchange_refresh_token(first)
        .request_async(&oauth2_http)
        .await
        .unwrap();
    let second = refreshed.refresh_token().expect("a rotated refresh token");
    assert_ne!(second.secret(), first.secret());
    let reused = client
        .exchange_refresh_token(first)
        .request_async(&oauth2_http)
        .await;
    assert_eq!(error_code(reused), "invalid_grant");
    // The reuse revoked the grant (RFC 9700 §4.14.2): the successor is refused too.
    let successor = client
        .exchange_refresh_token(second)
        .request_async(&oauth2_http)
        .await;
    assert_eq!(error_code(successor), "invalid_grant");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pkce_verifier_is_refused_and_leaves_the_code_usable() {
    let server = start(&[]).await;
    let endpoints = discover(&server).await;
    let client = oauth_client(
        &endpoints,
        DEMO_CLIENT,
        Some(&server.demo_secret),
        &server.demo_redirect,
    );
    let (url, state, verifier) = authorization_url(&client);
    let redirected = Browser::new()
        .sign_in_and_approve(&url, DEMO_CLIENT, DEMO_USER)
        .await;
    let code = code_from(
        &redirected,
        &server.demo_redirect,
        &state,
        &endpoints.issuer,
    );

    // Another well-formed verifier, e.g. an attacker's who intercepted the code.
    let (_, wrong) = PkceCodeChallenge::new_random_sha256();
    let refused = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(wrong)
        .request_async(&oauth2_http)
        .await;
    assert_eq!(error_code(refused), "invalid_grant");
    // No verifier at all: `invalid_request` (RFC 7636 §4.4.1).
    let missing = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .request_async(&oauth2_http)
        .await;
    assert_eq!(error_code(missing), "invalid_request");

    // The failed attempts did not use the code up.
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&oauth2_http)
        .await
        .unwrap();
    assert_issued(&token);
    assert!(is_active(&client, token.access_token().secret()).await);

    server.stop().await;
}
