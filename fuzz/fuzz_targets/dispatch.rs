//! Whole-request dispatch against a memory store (with or without a tight per-client throttle)
//! seeded with clients (one per authentication
//! method, a resource server) and tokens (an access and a refresh token per client, an expired,
//! a revoked and a rotated one): any method, path, headers and body, up to four requests per
//! input so that state carries over (a token issued by one request is revoked by the next).
//!
//! Invariants, checked after every request:
//! - no value outside its RFC 6749 Appendix A syntax reaches the store (a client id with a NUL
//!   or another control character is refused before any lookup);
//! - no panic; every response a well-formed HTTP answer (status, `Content-Type` with a body,
//!   no body on 204, `Allow` on 405, a challenge on 401, `Retry-After` on 429 and 503, JSON where
//!   it says JSON, `no-store` on OAuth answers), and never a 5xx (the memory store cannot fail);
//! - every 4xx/5xx body an RFC 6749 §5.2 error object: `error` of `1*NQSCHAR`,
//!   `error_description` of NQSCHAR, `error_uri` of URI characters (Appendix A.7–A.9);
//! - no token changes state unless the request was an authorised revocation (POST to the
//!   revocation endpoint answering 200) or refresh (POST to the token endpoint answering 200,
//!   exactly one refresh token rotated; or 400 `invalid_grant` revoking the grant of a replayed
//!   rotated refresh token, RFC 9700 §4.14.2), and then only tokens of the client the request
//!   names, and only `revoked_at`/`rotated_at` going from unset to now.

#![no_main]

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_REQUEST_METHOD, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH,
    CONTENT_TYPE, HeaderName, HeaderValue, ORIGIN, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{Method, Request, Response, StatusCode};
use libfuzzer_sys::fuzz_target;
use oauth_endpoints::client_auth::{ClientAuthMethod, parse_basic};
use oauth_endpoints::clock::{ManualClock, UnixTime};
use oauth_endpoints::exchange::{ExchangeRequest, TOKEN_EXCHANGE, TokenExchange, token_type};
use oauth_endpoints::form::Form;
use oauth_endpoints::scope::Scope;
use oauth_endpoints::secret::{Id, TokenHash};
use oauth_endpoints::store::{ClientStore, MemoryStore, Rotation, StoreError, TokenStore};
use oauth_endpoints::throttle::Quota;
use oauth_endpoints::token::{TokenKind, TokenRecord};
use oauth_endpoints::{AuthorizationServer, Client};
use oauth_endpoints_fuzz::{basic, form_encode, is_nqschar, is_uri_char};
use serde_json::Value;

const NOW: u64 = 1_700_000_000;
const TWO: NonZeroU32 = NonZeroU32::new(2).expect("two is not zero");
const TOKEN_PATH: &str = "/oauth/token";
const REVOKE_PATH: &str = "/oauth/revoke";
const INTROSPECT_PATH: &str = "/oauth/introspect";
const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// The seeded clients: id, secret (none for the public client), and how it is registered.
const CLIENTS: &[(&str, Option<&str>)] = &[
    (
        "basic-client",
        Some("basic-secret-kR8vN2qX5tLw9ZpB3mYc7HdF"),
    ),
    ("post-client", Some("post-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
    ("public-client", None),
    ("rs-client", Some("rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
];

/// The resource (RFC 8707) the confidential clients may ask tokens for.
const RESOURCE: &str = "https://api.example/";

fn client(index: usize) -> Client {
    let both = ["client_credentials", "refresh_token", TOKEN_EXCHANGE];
    match index {
        0 => Client::confidential("basic-client", "basic-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
            .with_grant_types(both)
            .with_scope(scope("read write"))
            .with_allowed_resources([RESOURCE])
            .build()
            .unwrap(),
        1 => Client::confidential("post-client", "post-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
            .with_auth_method(ClientAuthMethod::ClientSecretPost)
            .with_grant_types(both)
            .with_scope(scope("read"))
            .with_allowed_resources([RESOURCE])
            .with_allowed_cors_origins(["https://app.example"])
            .build()
            .unwrap(),
        2 => Client::public("public-client")
            .with_grant_types(["refresh_token"])
            .with_allowed_cors_origins(["https://spa.example"])
            .build()
            .unwrap(),
        _ => Client::confidential("rs-client", "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
            .with_scope(scope("introspection"))
            .with_introspect_any_token(true)
            .build()
            .unwrap(),
    }
}

fn scope(text: &str) -> Scope {
    text.parse().unwrap_or_default()
}

/// The seeded token values, each with its record.
fn seeded_tokens() -> Vec<(String, TokenRecord)> {
    let mut tokens = Vec::new();
    for (index, (client_id, _)) in CLIENTS.iter().enumerate() {
        let grant = Id::from_bytes([index as u8; 16]);
        let scope = client(index).scope().clone();
        for kind in [TokenKind::Access, TokenKind::Refresh] {
            let value = format!("{}-{client_id}", kind.hint());
            tokens.push((
                value.clone(),
                record(&value, kind, client_id, grant, &scope),
            ));
        }
    }
    let grant = Id::from_bytes([0xee; 16]);
    let mut expired = record(
        "expired-access",
        TokenKind::Access,
        "basic-client",
        grant,
        &scope("read"),
    );
    expired.expires_at = NOW - 1;
    let mut revoked = record(
        "revoked-refresh",
        TokenKind::Refresh,
        "basic-client",
        grant,
        &scope("read"),
    );
    revoked.revoked_at = Some(NOW - 10);
    let rotated_grant = Id::from_bytes([0xdd; 16]);
    let mut rotated = record(
        "rotated-refresh",
        TokenKind::Refresh,
        "post-client",
        rotated_grant,
        &scope("read"),
    );
    rotated.rotated_at = Some(NOW - 10);
    let live = record(
        "live-access",
        TokenKind::Access,
        "post-client",
        rotated_grant,
        &scope("read"),
    );
    for (value, record) in [
        ("expired-access", expired),
        ("revoked-refresh", revoked),
        ("rotated-refresh", rotated),
        ("live-access", live),
    ] {
        tokens.push((value.to_owned(), record));
    }
    tokens
}

fn record(value: &str, kind: TokenKind, client_id: &str, grant: Id, scope: &Scope) -> TokenRecord {
    let mut id = [0u8; 16];
    for (slot, byte) in id.iter_mut().zip(value.bytes()) {
        *slot = byte;
    }
    TokenRecord {
        id: Id::from_bytes(id),
        hash: TokenHash::of(value),
        kind,
        client_id: Arc::from(client_id),
        scope: scope.clone(),
        subject: None,
        audience: Arc::from(Vec::<String>::new()),
        grant_id: grant,
        issued_at: NOW - 100,
        expires_at: NOW + 3600,
        not_before: None,
        revoked_at: None,
        rotated_at: None,
        confirmation: None,
        delegation: None,
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// Whether the server throttles each client to two introspections or revocations.
    throttle: bool,
    requests: Vec<Req>,
}

#[derive(Debug, Arbitrary)]
struct Req {
    method: MethodChoice,
    path: PathChoice,
    content_type: ContentTypeChoice,
    authorization: Vec<AuthChoice>,
    headers: Vec<HeaderChoice>,
    body: BodyChoice,
}

#[derive(Debug, Arbitrary)]
enum MethodChoice {
    Post,
    Get,
    Options,
    Head,
    Put,
    Delete,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum PathChoice {
    Token,
    Revoke,
    Introspect,
    Metadata,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum ContentTypeChoice {
    Form,
    FormWithCharset,
    Json,
    Missing,
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum AuthChoice {
    Basic { client: u8, secret: SecretChoice },
    Bearer(TokenChoice),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum SecretChoice {
    /// The secret of the client at this index (empty for the public client).
    Of(u8),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum TokenChoice {
    Seeded(u8),
    /// A token issued by an earlier request of this input.
    Issued(u8),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum ClientChoice {
    Seeded(u8),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum HeaderChoice {
    Origin(OriginChoice),
    ContentLength(u64),
    RequestMethod(MethodChoice),
    Raw(String, Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum OriginChoice {
    App,
    Spa,
    Evil,
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum BodyChoice {
    Form(Vec<Param>),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Param {
    Token(TokenChoice),
    Hint(HintChoice),
    GrantType(GrantChoice),
    RefreshToken(TokenChoice),
    ClientId(ClientChoice),
    ClientSecret(SecretChoice),
    Scope(String),
    /// Token exchange (RFC 8693 §2.1).
    SubjectToken(TokenChoice),
    SubjectTokenType(TypeChoice),
    ActorToken(TokenChoice),
    ActorTokenType(TypeChoice),
    RequestedTokenType(TypeChoice),
    /// `resource` (RFC 8707), repeatable.
    Resource(ResourceChoice),
    Raw(String, String),
}

#[derive(Debug, Arbitrary)]
enum TypeChoice {
    AccessToken,
    RefreshToken,
    Jwt,
    Raw(String),
}

impl TypeChoice {
    fn value(&self) -> String {
        match self {
            Self::AccessToken => token_type::ACCESS_TOKEN.to_owned(),
            Self::RefreshToken => token_type::REFRESH_TOKEN.to_owned(),
            Self::Jwt => token_type::JWT.to_owned(),
            Self::Raw(raw) => raw.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum ResourceChoice {
    Registered,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum HintChoice {
    Access,
    Refresh,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum GrantChoice {
    ClientCredentials,
    RefreshToken,
    TokenExchange,
    Raw(String),
}

/// What a request is built from: the token values known so far.
struct Known {
    tokens: Vec<String>,
    seeded: usize,
}

impl Known {
    fn token(&self, choice: &TokenChoice) -> String {
        match choice {
            TokenChoice::Seeded(i) => self.tokens[usize::from(*i) % self.seeded].clone(),
            TokenChoice::Issued(i) => {
                let issued = &self.tokens[self.seeded..];
                if issued.is_empty() {
                    String::new()
                } else {
                    issued[usize::from(*i) % issued.len()].clone()
                }
            }
            TokenChoice::Raw(raw) => raw.clone(),
        }
    }
}

fn secret(choice: &SecretChoice) -> String {
    match choice {
        SecretChoice::Of(i) => CLIENTS[usize::from(*i) % CLIENTS.len()]
            .1
            .unwrap_or_default()
            .to_owned(),
        SecretChoice::Raw(raw) => raw.clone(),
    }
}

fn method(choice: &MethodChoice) -> Option<Method> {
    Some(match choice {
        MethodChoice::Post => Method::POST,
        MethodChoice::Get => Method::GET,
        MethodChoice::Options => Method::OPTIONS,
        MethodChoice::Head => Method::HEAD,
        MethodChoice::Put => Method::PUT,
        MethodChoice::Delete => Method::DELETE,
        MethodChoice::Other(raw) => Method::from_bytes(raw.as_bytes()).ok()?,
    })
}

fn build(req: &Req, known: &Known) -> Option<Request<Bytes>> {
    let path = match &req.path {
        PathChoice::Token => TOKEN_PATH.to_owned(),
        PathChoice::Revoke => REVOKE_PATH.to_owned(),
        PathChoice::Introspect => INTROSPECT_PATH.to_owned(),
        PathChoice::Metadata => METADATA_PATH.to_owned(),
        PathChoice::Other(raw) => raw.clone(),
    };
    let mut builder = Request::builder().method(method(&req.method)?).uri(path);
    let content_type: Option<&[u8]> = match &req.content_type {
        ContentTypeChoice::Form => Some(b"application/x-www-form-urlencoded"),
        ContentTypeChoice::FormWithCharset => {
            Some(b"application/x-www-form-urlencoded; charset=UTF-8")
        }
        ContentTypeChoice::Json => Some(b"application/json"),
        ContentTypeChoice::Missing => None,
        ContentTypeChoice::Raw(raw) => Some(raw),
    };
    if let Some(value) = content_type.and_then(|raw| HeaderValue::from_bytes(raw).ok()) {
        builder = builder.header(CONTENT_TYPE, value);
    }
    for auth in &req.authorization {
        let value = match auth {
            AuthChoice::Basic { client, secret: s } => {
                let (id, _) = CLIENTS[usize::from(*client) % CLIENTS.len()];
                basic(id, &secret(s)).into_bytes()
            }
            AuthChoice::Bearer(token) => format!("Bearer {}", known.token(token)).into_bytes(),
            AuthChoice::Raw(raw) => raw.clone(),
        };
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            builder = builder.header(AUTHORIZATION, value);
        }
    }
    for header in &req.headers {
        let (name, value): (HeaderName, Vec<u8>) = match header {
            HeaderChoice::Origin(origin) => (
                ORIGIN,
                match origin {
                    OriginChoice::App => b"https://app.example".to_vec(),
                    OriginChoice::Spa => b"https://spa.example".to_vec(),
                    OriginChoice::Evil => b"https://evil.example".to_vec(),
                    OriginChoice::Raw(raw) => raw.clone(),
                },
            ),
            HeaderChoice::ContentLength(length) => {
                (CONTENT_LENGTH, length.to_string().into_bytes())
            }
            HeaderChoice::RequestMethod(choice) => (
                ACCESS_CONTROL_REQUEST_METHOD,
                method(choice)
                    .map(|m| m.as_str().as_bytes().to_vec())
                    .unwrap_or_default(),
            ),
            HeaderChoice::Raw(name, value) => {
                let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                    continue;
                };
                (name, value.clone())
            }
        };
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            builder = builder.header(name, value);
        }
    }
    let body = match &req.body {
        BodyChoice::Raw(raw) => raw.clone(),
        BodyChoice::Form(params) => params
            .iter()
            .map(|param| {
                let (name, value) = match param {
                    Param::Token(t) => ("token".to_owned(), known.token(t)),
                    Param::Hint(HintChoice::Access) => {
                        ("token_type_hint".to_owned(), "access_token".to_owned())
                    }
                    Param::Hint(HintChoice::Refresh) => {
                        ("token_type_hint".to_owned(), "refresh_token".to_owned())
                    }
                    Param::Hint(HintChoice::Raw(raw)) => {
                        ("token_type_hint".to_owned(), raw.clone())
                    }
                    Param::GrantType(GrantChoice::ClientCredentials) => {
                        ("grant_type".to_owned(), "client_credentials".to_owned())
                    }
                    Param::GrantType(GrantChoice::RefreshToken) => {
                        ("grant_type".to_owned(), "refresh_token".to_owned())
                    }
                    Param::GrantType(GrantChoice::TokenExchange) => {
                        ("grant_type".to_owned(), TOKEN_EXCHANGE.to_owned())
                    }
                    Param::SubjectToken(t) => ("subject_token".to_owned(), known.token(t)),
                    Param::SubjectTokenType(t) => ("subject_token_type".to_owned(), t.value()),
                    Param::ActorToken(t) => ("actor_token".to_owned(), known.token(t)),
                    Param::ActorTokenType(t) => ("actor_token_type".to_owned(), t.value()),
                    Param::RequestedTokenType(t) => ("requested_token_type".to_owned(), t.value()),
                    Param::Resource(ResourceChoice::Registered) => {
                        ("resource".to_owned(), RESOURCE.to_owned())
                    }
                    Param::Resource(ResourceChoice::Raw(raw)) => {
                        ("resource".to_owned(), raw.clone())
                    }
                    Param::GrantType(GrantChoice::Raw(raw)) => {
                        ("grant_type".to_owned(), raw.clone())
                    }
                    Param::RefreshToken(t) => ("refresh_token".to_owned(), known.token(t)),
                    Param::ClientId(ClientChoice::Seeded(i)) => (
                        "client_id".to_owned(),
                        CLIENTS[usize::from(*i) % CLIENTS.len()].0.to_owned(),
                    ),
                    Param::ClientId(ClientChoice::Raw(raw)) => {
                        ("client_id".to_owned(), raw.clone())
                    }
                    Param::ClientSecret(s) => ("client_secret".to_owned(), secret(s)),
                    Param::Scope(raw) => ("scope".to_owned(), raw.clone()),
                    Param::Raw(name, value) => (name.clone(), value.clone()),
                };
                format!("{}={}", form_encode(&name), form_encode(&value))
            })
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes(),
    };
    builder.body(Bytes::from(body)).ok()
}

/// `DISPATCH_DESCRIBE=1` prints each request's method, path, status and error code, to pick
/// corpus seeds (`cargo fuzz run dispatch <files> -- -runs=0`).
fn describe() -> bool {
    static DESCRIBE: OnceLock<bool> = OnceLock::new();
    *DESCRIBE.get_or_init(|| std::env::var_os("DISPATCH_DESCRIBE").is_some())
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fuzz_target!(|input: Input| {
    runtime().block_on(run(input));
});

/// The memory store, asserting that no value outside its RFC 6749 Appendix A syntax reaches it:
/// a client id is `VSCHAR` (A.1) before any lookup.
#[derive(Clone)]
struct SyntaxCheckingStore(MemoryStore);

impl ClientStore for SyntaxCheckingStore {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        assert!(
            !client_id.is_empty() && client_id.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "a client id outside VSCHAR reached the store: {client_id:?}"
        );
        self.0.find_client(client_id).await
    }

    async fn save_client(&self, client: &Client) -> Result<(), StoreError> {
        self.0.save_client(client).await
    }

    async fn delete_client(&self, client_id: &str, now: UnixTime) -> Result<bool, StoreError> {
        self.0.delete_client(client_id, now).await
    }

    async fn insert_client(&self, client: &Client) -> Result<bool, StoreError> {
        self.0.insert_client(client).await
    }

    async fn list_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Client>, StoreError> {
        self.0.list_clients(after, limit).await
    }
}

impl TokenStore for SyntaxCheckingStore {
    async fn insert_tokens(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        self.0.insert_tokens(records).await
    }

    async fn find_token(
        &self,
        hash: &TokenHash,
        hint: Option<TokenKind>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.0.find_token(hash, hint).await
    }

    async fn revoke_token(&self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        self.0.revoke_token(hash, now).await
    }

    async fn revoke_grant(&self, grant_id: &Id, now: UnixTime) -> Result<u64, StoreError> {
        self.0.revoke_grant(grant_id, now).await
    }

    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
        replacements: &[TokenRecord],
        grace: std::time::Duration,
    ) -> Result<Rotation, StoreError> {
        self.0
            .rotate_refresh_token(hash, now, replacements, grace)
            .await
    }

    async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        self.0.purge_expired(before, limit).await
    }

    async fn revoke_client_tokens(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        self.0.revoke_client_tokens(client_id, now).await
    }

    async fn revoke_subject_tokens(&self, subject: &str, now: UnixTime) -> Result<u64, StoreError> {
        self.0.revoke_subject_tokens(subject, now).await
    }
}

async fn run(input: Input) {
    let store = SyntaxCheckingStore(MemoryStore::new());
    let mut builder = AuthorizationServer::builder()
        .client_store(store.clone())
        .token_store(store.clone())
        .assertion_store(store.0)
        .clock(ManualClock::new(NOW))
        .issuer("https://issuer.example")
        .with_state(TokenExchange::new(|_: &ExchangeRequest<'_>| true))
        .body_limit(1024);
    if input.throttle {
        builder = builder.throttle(Quota::per_hour(NonZeroU32::MIN).allow_burst(TWO));
    }
    let server = builder.build().expect("the server builds");
    for index in 0..CLIENTS.len() {
        server.clients().save(&client(index)).await.expect("saved");
    }
    let seeded = seeded_tokens();
    let records: Vec<TokenRecord> = seeded.iter().map(|(_, record)| record.clone()).collect();
    server.tokens().insert(&records).await.expect("inserted");
    let mut known = Known {
        tokens: seeded.into_iter().map(|(value, _)| value).collect(),
        seeded: records.len(),
    };
    for req in input.requests.iter().take(4) {
        let Some(request) = build(req, &known) else {
            continue;
        };
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let presented = presented_client(&request);
        let is_refresh = Form::from_request(&request)
            .is_ok_and(|form| form.get("grant_type") == Some("refresh_token"));
        let before = snapshot(&server, &known).await;
        let response = server.dispatch(request).await;
        let after = snapshot(&server, &known).await;
        let json = check_response(&response, &method, &path);
        if describe() {
            let error = json
                .as_ref()
                .and_then(|j| j.get("error"))
                .and_then(Value::as_str);
            eprintln!(
                "describe: {method} {path} -> {} {}",
                response.status().as_u16(),
                error.unwrap_or("-")
            );
        }
        check_state(
            &before,
            &after,
            &method,
            &path,
            &response,
            json.as_ref(),
            presented.as_deref(),
            is_refresh,
        );
        // Tokens issued by this request become known to the next ones.
        if response.status() == StatusCode::OK && path == TOKEN_PATH {
            if let Some(json) = &json {
                for member in ["access_token", "refresh_token"] {
                    if let Some(value) = json.get(member).and_then(Value::as_str) {
                        known.tokens.push(value.to_owned());
                    }
                }
            }
        }
    }
}

/// The client id a request names: the Basic header's, else the body's `client_id`.
fn presented_client(request: &Request<Bytes>) -> Option<String> {
    let basic = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| parse_basic(value.as_bytes()).ok())
        .map(|credentials| credentials.client_id);
    basic.or_else(|| {
        Form::from_request(request)
            .ok()
            .and_then(|form| form.get("client_id").map(str::to_owned))
    })
}

async fn snapshot(server: &AuthorizationServer, known: &Known) -> Vec<Option<TokenRecord>> {
    let mut records = Vec::with_capacity(known.tokens.len());
    for value in &known.tokens {
        records.push(
            server
                .tokens()
                .find(&TokenHash::of(value), None)
                .await
                .expect("the memory store answers"),
        );
    }
    records
}

/// A well-formed HTTP answer; returns its JSON body, if it has one.
fn check_response(response: &Response<Bytes>, method: &Method, path: &str) -> Option<Value> {
    let status = response.status();
    let headers = response.headers();
    let body = response.body();
    assert!((100..600).contains(&status.as_u16()), "status {status}");
    assert!(
        !status.is_server_error(),
        "{status} {method} {path}: {body:?}"
    );
    assert!(!status.is_informational(), "{status}");
    if let Some(length) = headers.get(CONTENT_LENGTH) {
        assert_eq!(length.to_str().ok(), Some(body.len().to_string().as_str()));
    }
    if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        assert!(body.is_empty(), "{status} with a body");
        return None;
    }
    assert!(!body.is_empty(), "{status} without a body");
    assert_eq!(
        headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes),
        Some(&b"application/json"[..]),
        "{status}"
    );
    let json: Value = serde_json::from_slice(body)
        .unwrap_or_else(|error| panic!("{status} body is not JSON ({error}): {body:?}"));
    if path != METADATA_PATH || status != StatusCode::OK {
        assert_eq!(
            headers.get(CACHE_CONTROL).map(HeaderValue::as_bytes),
            Some(&b"no-store"[..]),
            "{status}"
        );
    }
    match status {
        StatusCode::METHOD_NOT_ALLOWED => assert!(headers.contains_key(ALLOW)),
        StatusCode::UNAUTHORIZED => assert!(headers.contains_key(WWW_AUTHENTICATE)),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            let seconds = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok());
            assert!(
                seconds.is_some_and(|s| s.parse::<u32>().is_ok()),
                "Retry-After {seconds:?}"
            );
        }
        _ => {}
    }
    if status.is_client_error() || status.is_server_error() {
        check_error_object(&json);
    } else if status == StatusCode::OK && path == INTROSPECT_PATH && method == Method::POST {
        let active = json.get("active").and_then(Value::as_bool);
        assert!(
            active.is_some(),
            "introspection answer without active: {json}"
        );
        if active == Some(false) {
            assert_eq!(body.as_ref(), br#"{"active":false}"#);
        } else {
            assert!(
                json.as_object()
                    .is_some_and(|o| o.values().all(|v| !v.is_null()))
            );
        }
    }
    Some(json)
}

/// RFC 6749 §5.2 and Appendix A.7–A.9.
fn check_error_object(json: &Value) {
    let object = json
        .as_object()
        .unwrap_or_else(|| panic!("error body is no object: {json}"));
    let error = object.get("error").and_then(Value::as_str);
    assert!(
        error.is_some_and(|e| !e.is_empty() && is_nqschar(e)),
        "error member: {json}"
    );
    if let Some(description) = object.get("error_description") {
        assert!(
            description.as_str().is_some_and(is_nqschar),
            "error_description: {json}"
        );
    }
    if let Some(uri) = object.get("error_uri") {
        assert!(uri.as_str().is_some_and(is_uri_char), "error_uri: {json}");
    }
    for name in object.keys() {
        assert!(
            matches!(name.as_str(), "error" | "error_description" | "error_uri"),
            "unexpected member {name}: {json}"
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn check_state(
    before: &[Option<TokenRecord>],
    after: &[Option<TokenRecord>],
    method: &Method,
    path: &str,
    response: &Response<Bytes>,
    json: Option<&Value>,
    presented: Option<&str>,
    is_refresh: bool,
) {
    let mut changed: Vec<(&TokenRecord, &TokenRecord)> = Vec::new();
    for (old, new) in before.iter().zip(after) {
        match (old, new) {
            (None, None) => {}
            (Some(old), Some(new)) if old == new => {}
            (Some(old), Some(new)) => {
                // Only `revoked_at` and `rotated_at` may change, from unset to now.
                let mut expected = old.clone();
                if old.revoked_at.is_none() && new.revoked_at == Some(NOW) {
                    expected.revoked_at = Some(NOW);
                }
                if old.rotated_at.is_none() && new.rotated_at == Some(NOW) {
                    expected.rotated_at = Some(NOW);
                }
                assert_eq!(
                    &expected, new,
                    "a record changed beyond revocation or rotation"
                );
                changed.push((old, new));
            }
            (old, new) => panic!("a token appeared or vanished: {old:?} -> {new:?}"),
        }
    }
    if changed.is_empty() {
        return;
    }
    let status = response.status();
    let context = format!("{method} {path} -> {status} {json:?}: {changed:?}");
    assert_eq!(method, Method::POST, "{context}");
    // A token of another client changes only with a grant of the presenting client's: a token
    // exchanged from one of its tokens joined that grant (RFC 8693), and is revoked with it.
    let presented_grants: Vec<_> = before
        .iter()
        .flatten()
        .filter(|record| Some(&*record.client_id) == presented)
        .map(|record| record.grant_id)
        .collect();
    for (old, _) in &changed {
        assert!(
            Some(&*old.client_id) == presented || presented_grants.contains(&old.grant_id),
            "another client's token changed: {context}"
        );
    }
    let rotated = changed
        .iter()
        .filter(|(o, n)| o.rotated_at != n.rotated_at)
        .count();
    let revoked = changed
        .iter()
        .filter(|(o, n)| o.revoked_at != n.revoked_at)
        .count();
    match (path, status) {
        (REVOKE_PATH, StatusCode::OK) => {
            assert_eq!(rotated, 0, "{context}");
            let grant = changed[0].0.grant_id;
            assert!(
                changed.iter().all(|(o, _)| o.grant_id == grant),
                "{context}"
            );
        }
        (TOKEN_PATH, StatusCode::OK) => {
            assert!(is_refresh, "{context}");
            assert_eq!((rotated, revoked), (1, 0), "{context}");
            assert_eq!(changed[0].0.kind, TokenKind::Refresh, "{context}");
        }
        (TOKEN_PATH, StatusCode::BAD_REQUEST)
            if is_refresh
                && json.and_then(|j| j.get("error")) == Some(&Value::from("invalid_grant")) =>
        {
            // Reuse detection: a replayed rotated refresh token revokes its grant.
            assert_eq!(rotated, 0, "{context}");
            let grant = changed[0].0.grant_id;
            assert!(
                changed.iter().all(|(o, _)| o.grant_id == grant),
                "{context}"
            );
            assert!(
                before.iter().flatten().any(|r| r.grant_id == grant
                    && r.kind == TokenKind::Refresh
                    && r.rotated_at.is_some()),
                "{context}"
            );
        }
        _ => panic!("state changed on an answer that may not change it: {context}"),
    }
}
