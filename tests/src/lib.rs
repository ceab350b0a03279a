//! Helpers shared by the integration tests: requests shaped like real HTTP ones, and a server
//! over a memory store with a manual clock.

#![allow(clippy::expect_used)] // Test helpers: a failure here is a failing test.

pub mod authorize;
pub mod browser;
pub mod contract;
pub mod dpop_key;
pub mod http_browser;
pub mod jose;
pub mod pg;

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Request, StatusCode};
use oauth_endpoints::clock::ManualClock;
use oauth_endpoints::store::MemoryStore;
use oauth_endpoints::{AuthorizationServer, AuthorizationServerBuilder, Client};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// Characters `application/x-www-form-urlencoded` leaves as they are.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b' ');

/// Form-urlencodes one name or value (space as `+`).
pub fn form_encode(value: &str) -> String {
    utf8_percent_encode(value, FORM)
        .to_string()
        .replace(' ', "+")
}

/// A form body from pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `Authorization` value of `client_secret_basic` (RFC 6749 §2.3.1: form-urlencode, then
/// base64).
pub fn basic(client_id: &str, secret: &str) -> String {
    let raw = format!("{}:{}", form_encode(client_id), form_encode(secret));
    format!("Basic {}", STANDARD.encode(raw))
}

/// A POST of a form body to `path`, with an optional `Authorization` header.
pub fn post(path: &str, authorization: Option<&str>, body: &str) -> Request<Bytes> {
    let mut builder = Request::post(path).header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    builder
        .body(Bytes::from(body.to_owned()))
        .expect("a valid request")
}

/// A response, read.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
    /// The body as JSON (`Null` if it is not JSON).
    pub json: Value,
}

impl Answer {
    /// The `error` member.
    pub fn error(&self) -> Option<&str> {
        self.json.get("error").and_then(Value::as_str)
    }

    /// A string member.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.json.get(name).and_then(Value::as_str)
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the headers every OAuth JSON answer carries (RFC 6749 §5.1).
    pub fn assert_oauth_headers(&self) {
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("pragma"), Some("no-cache"));
    }

    /// Asserts an RFC 6749 §5.2 error with this status and code, and its headers.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.json);
        assert_eq!(self.error(), Some(code), "body: {}", self.json);
        self.assert_oauth_headers();
        if status == 401 {
            let challenge = self.header("www-authenticate").unwrap_or_default();
            assert!(challenge.starts_with("Basic "), "challenge: {challenge}");
        }
    }
}

/// The HTTP client the `oauth2` crate's end-to-end tests use: reqwest over plain HTTP on
/// loopback. The `oauth2` crate refuses a revocation URL that is not `https`, so tests give it
/// `https://` URLs and this turns the scheme back into `http://` (the workaround its maintainers
/// suggest for tests).
pub async fn oauth2_http(
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let uri = request.uri().to_string().replacen("https://", "http://", 1);
    let response = client
        .request(request.method().clone(), uri)
        .headers(request.headers().clone())
        .body(request.body().clone())
        .send()
        .await?;
    let mut builder = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    Ok(builder.body(body).expect("a valid response"))
}

/// Sends `request` through `server.dispatch` and reads the answer.
pub async fn send(server: &AuthorizationServer, request: Request<Bytes>) -> Answer {
    let response = server.dispatch(request).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        json,
    }
}

/// A server over a memory store and a manual clock, with the given clients saved.
pub struct Harness {
    /// The server.
    pub server: AuthorizationServer,
    /// Its store.
    pub store: MemoryStore,
    /// Its clock.
    pub clock: ManualClock,
}

/// The time harnesses start at.
pub const START: u64 = 1_700_000_000;

impl Harness {
    /// A server built by `configure` from a builder that already has the store and clock.
    pub async fn with(
        clients: &[Client],
        configure: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
    ) -> Self {
        let store = MemoryStore::new();
        let clock = ManualClock::new(START);
        let builder = AuthorizationServer::builder()
            .store(store.clone())
            .clock(clock.clone());
        let server = configure(builder).build().expect("the server builds");
        for client in clients {
            server.clients().save(client).await.expect("saved");
        }
        Self {
            server,
            store,
            clock,
        }
    }

    /// A server with the default configuration.
    pub async fn new(clients: &[Client]) -> Self {
        Self::with(clients, |builder| builder).await
    }

    /// The stored record of a token value (it must exist).
    pub async fn record(&self, token: &str) -> oauth_endpoints::token::TokenRecord {
        self.server
            .tokens()
            .find(&oauth_endpoints::secret::TokenHash::of(token), None)
            .await
            .expect("the store answers")
            .expect("the token is stored")
    }

    /// Whether a stored token is active now, by the harness's clock.
    pub async fn is_active(&self, token: &str) -> bool {
        use oauth_endpoints::clock::Clock as _;
        self.record(token).await.is_active(self.clock.now())
    }

    /// Dispatches a request.
    pub async fn send(&self, request: Request<Bytes>) -> Answer {
        send(&self.server, request).await
    }

    /// `client_credentials` with Basic authentication; returns the answer.
    pub async fn client_credentials(&self, id: &str, secret: &str, scope: Option<&str>) -> Answer {
        let mut pairs = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            pairs.push(("scope", scope));
        }
        self.send(post(
            "/oauth/token",
            Some(&basic(id, secret)),
            &form(&pairs),
        ))
        .await
    }

    /// `refresh_token` with Basic authentication; returns the answer.
    pub async fn refresh(&self, id: &str, secret: &str, refresh_token: &str) -> Answer {
        let body = form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ]);
        self.send(post("/oauth/token", Some(&basic(id, secret)), &body))
            .await
    }
}
