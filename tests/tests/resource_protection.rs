//! Protecting an application's own routes with the server's access tokens (RFC 6750): the
//! `ResourceProtector`, its axum extractor over real HTTP beside the server's routes, and its
//! tower layer around a plain service.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::get;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use oauth_endpoints::clock::{ManualClock, UnixTime};
use oauth_endpoints::keys::{KeySet, SigningAlgorithm, SigningKey};
use oauth_endpoints::resource::{
    BearerError, BearerErrorKind, JwtValidation, Principal, ResourceProtector,
};
use oauth_endpoints::secret::{Id, TokenHash};
use oauth_endpoints::store::{MemoryStore, Rotation, StoreError, TokenStore};
use oauth_endpoints::token::{AccessTokenFormat, TokenKind, TokenRecord, TokenRequest};
use oauth_endpoints::{AuthorizationServer, AuthorizationServerBuilder, Client};
use oauth_endpoints_tests::{Answer, START, basic, form};
use serde_json::Value;
use tokio::sync::oneshot;
use tower::{Layer as _, ServiceExt as _};

const SECRET: &str = "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF4jGs";
const ISSUER: &str = "https://auth.example.com";
const API: &str = "https://api.example.com";

fn client() -> Client {
    Client::confidential("svc", SECRET)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("profile read admin".parse().unwrap())
        .build()
        .unwrap()
}

/// A token store that counts lookups and can be taken down, over a memory store.
#[derive(Clone, Default)]
struct Watched {
    inner: MemoryStore,
    finds: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl Watched {
    fn finds(&self) -> usize {
        self.finds.load(Ordering::SeqCst)
    }
}

impl TokenStore for Watched {
    async fn insert_tokens(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        TokenStore::insert_tokens(&self.inner, records).await
    }
    async fn find_token(
        &self,
        hash: &TokenHash,
        hint: Option<TokenKind>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable(std::io::Error::other(
                "db.internal:5432 refused",
            )));
        }
        TokenStore::find_token(&self.inner, hash, hint).await
    }
    async fn revoke_token(&self, hash: &TokenHash, now: UnixTime) -> Result<bool, StoreError> {
        TokenStore::revoke_token(&self.inner, hash, now).await
    }
    async fn revoke_grant(&self, grant: &Id, now: UnixTime) -> Result<u64, StoreError> {
        TokenStore::revoke_grant(&self.inner, grant, now).await
    }
    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
        replacements: &[TokenRecord],
        grace: Duration,
    ) -> Result<Rotation, StoreError> {
        TokenStore::rotate_refresh_token(&self.inner, hash, now, replacements, grace).await
    }
    async fn purge_expired(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        TokenStore::purge_expired(&self.inner, before, limit).await
    }
    async fn revoke_client_tokens(&self, client: &str, now: UnixTime) -> Result<u64, StoreError> {
        TokenStore::revoke_client_tokens(&self.inner, client, now).await
    }
    async fn revoke_subject_tokens(&self, subject: &str, now: UnixTime) -> Result<u64, StoreError> {
        TokenStore::revoke_subject_tokens(&self.inner, subject, now).await
    }
}

/// A server over a watched store and a manual clock, with `svc` saved.
struct Setup {
    server: AuthorizationServer,
    store: Watched,
    clock: ManualClock,
}

async fn setup(
    configure: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
) -> Setup {
    let store = Watched::default();
    let clock = ManualClock::new(START);
    let builder = AuthorizationServer::builder()
        .store(store.inner.clone())
        .token_store(store.clone())
        .clock(clock.clone());
    let server = configure(builder).build().unwrap();
    server.clients().save(&client()).await.unwrap();
    Setup {
        server,
        store,
        clock,
    }
}

fn es256() -> KeySet {
    KeySet::new(SigningKey::generate(SigningAlgorithm::Es256).unwrap())
}

/// A server issuing JWT access tokens signed by `keys`.
async fn jwt_setup(keys: KeySet) -> Setup {
    setup(|builder| {
        builder
            .issuer(ISSUER)
            .signing_keys(keys)
            .access_token_format(AccessTokenFormat::Jwt)
    })
    .await
}

/// The application: `/api/me` answers its principal (state protector: scope `profile`),
/// `/api/maybe` serves anonymous callers too, `/api/admin` adds scope `admin` with a route
/// layer, `/api/delete` checks `admin` in the handler; the server's routes merged beside.
fn app(server: &AuthorizationServer, protector: ResourceProtector) -> axum::Router {
    async fn me(principal: Principal) -> ([(http::HeaderName, &'static str); 1], String) {
        (
            [(CONTENT_TYPE, "application/json")],
            serde_json::to_string(&principal).unwrap(),
        )
    }
    async fn maybe(principal: Option<Principal>) -> String {
        principal.map_or_else(|| "anonymous".to_owned(), |p| p.client_id().to_owned())
    }
    async fn delete(principal: Principal) -> Result<&'static str, BearerError> {
        principal.require_scope("admin")?;
        Ok("deleted")
    }
    axum::Router::new()
        .route("/api/me", get(me))
        .route("/api/maybe", get(maybe))
        .route(
            "/api/admin",
            get(me).route_layer(protector.clone().require_scope("admin").layer()),
        )
        .route("/api/delete", get(delete))
        .with_state(protector)
        .merge(server.clone().into_router())
}

/// The application on an ephemeral loopback port; stops when dropped.
struct Running {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn serve(router: axum::Router) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Running { addr, _stop: stop }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn read(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            json,
        }
    }

    /// GET `path` with these `Authorization` headers (each one a header of its own).
    async fn get(&self, path: &str, authorization: &[&str]) -> Answer {
        let mut headers = HeaderMap::new();
        for value in authorization {
            headers.append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        let response = reqwest::Client::new()
            .get(self.url(path))
            .headers(headers)
            .send()
            .await
            .unwrap();
        Self::read(response).await
    }

    async fn bearer(&self, path: &str, token: &str) -> Answer {
        self.get(path, &[&format!("Bearer {token}")]).await
    }

    async fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> Answer {
        let response = reqwest::Client::new()
            .post(self.url(path))
            .header(AUTHORIZATION, basic("svc", SECRET))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
            .unwrap();
        Self::read(response).await
    }

    /// `client_credentials` over HTTP: the token answer.
    async fn token(&self, scope: &str) -> Answer {
        let answer = self
            .post_form(
                "/oauth/token",
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        answer
    }

    async fn access_token(&self, scope: &str) -> String {
        self.token(scope)
            .await
            .str("access_token")
            .unwrap()
            .to_owned()
    }

    async fn revoke(&self, token: &str) {
        let answer = self.post_form("/oauth/revoke", &[("token", token)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    }
}

/// Asserts an RFC 6750 §3 refusal: status, challenge, body and no-store.
fn assert_refused(answer: &Answer, status: u16, challenge: &str) {
    assert_eq!(answer.status.as_u16(), status, "body: {:?}", answer.body);
    assert_eq!(answer.header("www-authenticate"), Some(challenge));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    match challenge.split_once("error=\"") {
        Some((_, code)) => {
            let code = &code[..code.find('"').unwrap()];
            assert_eq!(answer.error(), Some(code), "{}", answer.json);
            assert_eq!(answer.header("content-type"), Some("application/json"));
        }
        None => assert!(answer.body.is_empty(), "{:?}", answer.body),
    }
}

const BARE: &str = r#"Bearer realm="api""#;
const INVALID_TOKEN: &str = r#"Bearer realm="api", error="invalid_token""#;
const INVALID_REQUEST: &str = r#"Bearer realm="api", error="invalid_request""#;

#[tokio::test]
async fn without_bearer_credentials_the_answer_is_the_bare_challenge() {
    let s = setup(|b| b).await;
    let running = serve(app(
        &s.server,
        ResourceProtector::new(&s.server).require_scope("profile"),
    ))
    .await;
    let token = running.access_token("profile").await;

    assert_refused(&running.get("/api/me", &[]).await, 401, BARE);
    // Another scheme carries no Bearer credentials.
    assert_refused(
        &running.get("/api/me", &[&basic("svc", SECRET)]).await,
        401,
        BARE,
    );
    // A token in the query is never read (RFC 6750 §5.3, RFC 9700 §2.5).
    let query = format!("/api/me?access_token={token}");
    assert_refused(&running.get(&query, &[]).await, 401, BARE);
    // The same token in the header is fine.
    assert_eq!(running.bearer("/api/me", &token).await.status, 200);
}

#[tokio::test]
async fn a_valid_opaque_token_with_the_scope_reaches_the_handler() {
    let s = setup(|b| b).await;
    let running = serve(app(
        &s.server,
        ResourceProtector::new(&s.server).require_scope("profile"),
    ))
    .await;
    let answer = running.token("profile read").await;
    let token = answer.str("access_token").unwrap();

    let me = running.bearer("/api/me", token).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.json["client_id"], "svc");
    assert_eq!(me.json["scope"], "profile read");
    assert!(me.json.get("sub").is_none(), "client_credentials: no user");
    assert_eq!(
        me.json["exp"].as_u64().unwrap() - me.json["iat"].as_u64().unwrap(),
        3600
    );
    // Its jti is the one introspection answers.
    let introspected = running
        .post_form("/oauth/introspect", &[("token", token)])
        .await;
    assert_eq!(introspected.json["jti"], me.json["jti"]);
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let lower = running.get("/api/me", &[&format!("bearer {token}")]).await;
    assert_eq!(lower.status, 200);

    // A token acting for a user: the handler sees its subject.
    let issued = s
        .server
        .issuer()
        .issue(&TokenRequest::new(&client(), "profile".parse().unwrap()).with_subject("alice"))
        .await
        .unwrap();
    let me = running.bearer("/api/me", issued.access_token()).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["sub"], "alice");
    assert_eq!(me.json["client_id"], "svc");

    // An optional principal: anonymous without credentials, refused with a bad token.
    assert_eq!(running.get("/api/maybe", &[]).await.body, "anonymous");
    assert_eq!(running.bearer("/api/maybe", token).await.body, "svc");
    assert_refused(
        &running.bearer("/api/maybe", "nope").await,
        401,
        INVALID_TOKEN,
    );
}

#[tokio::test]
async fn a_token_without_the_required_scope_is_403_insufficient_scope() {
    let s = setup(|b| b).await;
    let running = serve(app(
        &s.server,
        ResourceProtector::new(&s.server).require_scope("profile"),
    ))
    .await;
    let read = running.access_token("read").await;
    let answer = running.bearer("/api/me", &read).await;
    assert_refused(
        &answer,
        403,
        r#"Bearer realm="api", error="insufficient_scope", scope="profile""#,
    );
    assert_eq!(answer.json["scope"], "profile");

    // A route layer adds to the state's requirement; a handler may check more.
    let profile = running.access_token("profile").await;
    assert_refused(
        &running.bearer("/api/admin", &profile).await,
        403,
        r#"Bearer realm="api", error="insufficient_scope", scope="admin profile""#,
    );
    assert_refused(
        &running.bearer("/api/delete", &profile).await,
        403,
        r#"Bearer realm="api", error="insufficient_scope", scope="admin""#,
    );
    let admin = running.access_token("profile admin").await;
    assert_eq!(running.bearer("/api/admin", &admin).await.status, 200);
    assert_eq!(running.bearer("/api/delete", &admin).await.body, "deleted");
}

#[tokio::test]
async fn a_revoked_token_is_401_invalid_token() {
    let s = setup(|b| b).await;
    let running = serve(app(&s.server, ResourceProtector::new(&s.server))).await;
    let token = running.access_token("profile").await;
    assert_eq!(running.bearer("/api/me", &token).await.status, 200);
    running.revoke(&token).await;
    assert_refused(&running.bearer("/api/me", &token).await, 401, INVALID_TOKEN);
    // Unknown tokens get the very same answer.
    let unknown = running.bearer("/api/me", "unknown-token").await;
    let revoked = running.bearer("/api/me", &token).await;
    assert_eq!(unknown.body, revoked.body);
}

#[tokio::test]
async fn an_expired_token_is_401_invalid_token() {
    let s = setup(|b| b).await;
    let running = serve(app(&s.server, ResourceProtector::new(&s.server))).await;
    let token = running.access_token("profile").await;
    s.clock.advance(Duration::from_secs(3599));
    assert_eq!(running.bearer("/api/me", &token).await.status, 200);
    s.clock.advance(Duration::from_secs(1));
    assert_refused(&running.bearer("/api/me", &token).await, 401, INVALID_TOKEN);
}

#[tokio::test]
async fn a_refresh_token_is_not_a_bearer_token() {
    let s = setup(|b| b).await;
    let running = serve(app(&s.server, ResourceProtector::new(&s.server))).await;
    let answer = running.token("profile").await;
    let refresh = answer
        .str("refresh_token")
        .expect("svc gets refresh tokens");
    assert_refused(
        &running.bearer("/api/me", refresh).await,
        401,
        INVALID_TOKEN,
    );
    let access = answer.str("access_token").unwrap();
    assert_eq!(running.bearer("/api/me", access).await.status, 200);
}

#[tokio::test]
async fn malformed_bearer_requests_are_400_invalid_request() {
    let s = setup(|b| b).await;
    let running = serve(app(&s.server, ResourceProtector::new(&s.server))).await;
    let token = running.access_token("profile").await;
    let bearer = format!("Bearer {token}");
    // Two Authorization headers, even both valid.
    let answer = running.get("/api/me", &[&bearer, &bearer]).await;
    assert_refused(&answer, 400, INVALID_REQUEST);
    assert_refused(
        &running
            .get("/api/me", &[&bearer, &basic("svc", SECRET)])
            .await,
        400,
        INVALID_REQUEST,
    );
    // Not `Bearer <b64token>`.
    for value in [
        "Bearer",
        "Bearer a b",
        "Bearer a,b",
        "Bearer \"abc\"",
        "Bearer ==x",
    ] {
        let answer = running.get("/api/me", &[value]).await;
        assert_refused(&answer, 400, INVALID_REQUEST);
        assert!(answer.str("error_description").is_some(), "{value}");
    }
}

#[tokio::test]
async fn a_token_whose_client_no_longer_exists_is_refused() {
    let s = setup(|b| b).await;
    let ghost = Client::confidential("ghost", "ghost-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .build()
        .unwrap();
    let issued = s
        .server
        .issuer()
        .issue(&TokenRequest::new(&ghost, "profile".parse().unwrap()))
        .await
        .unwrap();
    let protector = ResourceProtector::new(&s.server);
    let error = protector
        .validate_token(issued.access_token())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), BearerErrorKind::InvalidToken);
    assert_eq!(error.reason(), "the token's client no longer exists");
    // The same token, once its client exists, is fine.
    s.server.clients().save(&ghost).await.unwrap();
    assert!(
        protector
            .validate_token(issued.access_token())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_store_failure_is_503_with_retry_after_and_no_detail() {
    let s = setup(|b| b).await;
    let running = serve(app(&s.server, ResourceProtector::new(&s.server))).await;
    let token = running.access_token("profile").await;
    s.store.down.store(true, Ordering::SeqCst);
    let answer = running.bearer("/api/me", &token).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.error(), Some("temporarily_unavailable"));
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert!(!String::from_utf8_lossy(&answer.body).contains("5432"));
}

#[tokio::test]
async fn jwt_access_tokens_are_checked_against_the_store_by_default() {
    let s = jwt_setup(es256()).await;
    let strict = serve(app(&s.server, ResourceProtector::new(&s.server))).await;
    let local = serve(app(
        &s.server,
        ResourceProtector::new(&s.server).jwt_validation(JwtValidation::SignatureOnly),
    ))
    .await;
    let jwt = strict.access_token("profile").await;
    assert_eq!(jwt.split('.').count(), 3, "a JWT");

    let me = strict.bearer("/api/me", &jwt).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.json["client_id"], "svc");
    assert_eq!(me.json["aud"], ISSUER, "the default audience");
    let me_local = local.bearer("/api/me", &jwt).await;
    assert_eq!(me_local.status, 200);
    assert_eq!(
        me_local.json, me.json,
        "the claims say what the record says"
    );

    // Revoked: refused at once by default; the signature-only mode does not see it and keeps
    // accepting the JWT until it expires (the documented trade-off).
    strict.revoke(&jwt).await;
    assert_refused(&strict.bearer("/api/me", &jwt).await, 401, INVALID_TOKEN);
    assert_eq!(local.bearer("/api/me", &jwt).await.status, 200);
    s.clock.advance(Duration::from_secs(3600));
    assert_refused(&local.bearer("/api/me", &jwt).await, 401, INVALID_TOKEN);
}

#[tokio::test]
async fn a_signature_only_check_makes_no_store_lookup() {
    let s = jwt_setup(es256()).await;
    let issued = s
        .server
        .issuer()
        .issue(&TokenRequest::new(&client(), "profile".parse().unwrap()).with_subject("alice"))
        .await
        .unwrap();
    let local = ResourceProtector::new(&s.server).jwt_validation(JwtValidation::SignatureOnly);
    let before = s.store.finds();
    let principal = local.validate_token(issued.access_token()).await.unwrap();
    assert_eq!(s.store.finds(), before, "no token lookup");
    assert!(!principal.revocation_checked());
    assert_eq!(principal.subject(), Some("alice"));
    assert_eq!(principal.token_id(), issued.access_record().id);
    assert_eq!(principal.expires_at(), issued.access_record().expires_at);

    let strict = ResourceProtector::new(&s.server);
    let checked = strict.validate_token(issued.access_token()).await.unwrap();
    assert_eq!(s.store.finds(), before + 1, "one token lookup");
    assert!(checked.revocation_checked());
    assert_eq!(checked.subject(), principal.subject());
    assert_eq!(checked.token_id(), principal.token_id());
    assert_eq!(checked.scope(), principal.scope());
}

#[tokio::test]
async fn a_forged_or_foreign_jwt_is_refused() {
    let keys = es256();
    let s = jwt_setup(keys.clone()).await;
    let running = serve(app(&s.server, ResourceProtector::new(&s.server))).await;
    let jwt = running.access_token("profile").await;
    let claims: Value = {
        use base64::Engine as _;
        let payload = jwt.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    // The same claims signed by another key.
    let forged = es256().sign("at+jwt", &claims).unwrap();
    // Signed by the server's own key, but by another issuer.
    let mut foreign_claims = claims.clone();
    foreign_claims["iss"] = "https://other.example.com".into();
    let foreign = keys.sign("at+jwt", &foreign_claims).unwrap();
    // The server's key and claims, but not typed as an access token (RFC 9068 §4).
    let untyped = keys.sign("JWT", &claims).unwrap();
    // A tampered payload.
    let mut parts: Vec<&str> = jwt.split('.').collect();
    let other = running.access_token("read").await;
    parts[1] = other.split('.').nth(1).unwrap();
    let spliced = parts.join(".");

    for mode in [JwtValidation::Store, JwtValidation::SignatureOnly] {
        let protector = ResourceProtector::new(&s.server).jwt_validation(mode);
        for token in [&forged, &foreign, &untyped, &spliced] {
            let before = s.store.finds();
            let error = protector.validate_token(token).await.unwrap_err();
            assert_eq!(error.kind(), BearerErrorKind::InvalidToken, "{mode:?}");
            // Checked by signature: refused before the store. Checked by the store: a JWT whose
            // header names the server's key (the foreign issuer's, the spliced one) costs the
            // one lookup that finds no record, since the stored hash authenticates the bytes;
            // one naming another key (forged) or untyped is refused before.
            let lookups =
                if mode == JwtValidation::Store && (token == &foreign || token == &spliced) {
                    1
                } else {
                    0
                };
            assert_eq!(
                s.store.finds(),
                before + lookups,
                "{mode:?}: {}",
                error.reason()
            );
        }
    }
    let before = s.store.finds();
    assert_refused(
        &running.bearer("/api/me", &untyped).await,
        401,
        INVALID_TOKEN,
    );
    assert_eq!(s.store.finds(), before);
    assert_refused(
        &running.bearer("/api/me", &forged).await,
        401,
        INVALID_TOKEN,
    );
    assert_eq!(running.bearer("/api/me", &jwt).await.status, 200);
}

#[tokio::test]
async fn the_audience_requirement() {
    // Opaque: the stored audience.
    let s = setup(|b| b).await;
    let api = ResourceProtector::new(&s.server).require_audience(API);
    let issue = |audience: &'static [&'static str]| {
        let server = s.server.clone();
        async move {
            server
                .issuer()
                .issue(
                    &TokenRequest::new(&client(), "profile".parse().unwrap())
                        .with_audience(audience.iter().copied()),
                )
                .await
                .unwrap()
        }
    };
    let for_api = issue(&[API, "https://other.example.com"]).await;
    let principal = api.validate_token(for_api.access_token()).await.unwrap();
    assert_eq!(principal.audience(), [API, "https://other.example.com"]);
    for audience in [&[][..], &["https://other.example.com"][..]] {
        let issued = issue(audience).await;
        let error = api.validate_token(issued.access_token()).await.unwrap_err();
        assert_eq!(error.kind(), BearerErrorKind::InvalidToken, "{audience:?}");
        // Without the requirement, the same token is fine.
        assert!(
            ResourceProtector::new(&s.server)
                .validate_token(issued.access_token())
                .await
                .is_ok()
        );
    }

    // JWTs: `aud`, the server's default audience when issued without one, in both modes.
    let s = jwt_setup(es256()).await;
    let jwt = s
        .server
        .issuer()
        .issue(&TokenRequest::new(&client(), "profile".parse().unwrap()))
        .await
        .unwrap();
    for mode in [JwtValidation::Store, JwtValidation::SignatureOnly] {
        let protector = ResourceProtector::new(&s.server).jwt_validation(mode);
        assert!(
            protector
                .clone()
                .require_audience(ISSUER)
                .validate_token(jwt.access_token())
                .await
                .is_ok()
        );
        let error = protector
            .require_audience(API)
            .validate_token(jwt.access_token())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), BearerErrorKind::InvalidToken);
    }
    let s = setup(|builder| {
        builder
            .issuer(ISSUER)
            .signing_keys(es256())
            .access_token_format(AccessTokenFormat::Jwt)
            .access_token_audience(API)
    })
    .await;
    let jwt = s
        .server
        .issuer()
        .issue(&TokenRequest::new(&client(), "profile".parse().unwrap()))
        .await
        .unwrap();
    for mode in [JwtValidation::Store, JwtValidation::SignatureOnly] {
        let protector = ResourceProtector::new(&s.server)
            .jwt_validation(mode)
            .require_audience(API);
        assert_eq!(
            protector
                .validate_token(jwt.access_token())
                .await
                .unwrap()
                .audience(),
            [API]
        );
    }

    // Over HTTP: a token for another audience is 401 invalid_token.
    let running = serve(app(
        &s.server,
        ResourceProtector::new(&s.server).require_audience("https://photos.example.com"),
    ))
    .await;
    assert_refused(
        &running.bearer("/api/me", jwt.access_token()).await,
        401,
        INVALID_TOKEN,
    );
}

async fn body_text(response: Response<Full<Bytes>>) -> (u16, String) {
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn the_tower_layer_protects_a_plain_service() {
    let s = setup(|b| b).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let inner = tower::service_fn(move |request: Request<Full<Bytes>>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            let principal = request
                .extensions()
                .get::<Principal>()
                .expect("the layer's");
            let subject = principal.subject().unwrap_or("-").to_owned();
            Ok::<_, Infallible>(Response::new(Full::from(format!(
                "{} for {subject}",
                principal.client_id()
            ))))
        }
    });
    let protector = ResourceProtector::new(&s.server)
        .require_scope("read")
        .realm("files");
    let service = protector.layer().layer(inner);
    let request = |authorization: Option<String>| {
        let mut builder = Request::get("/files/1");
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(Full::new(Bytes::new())).unwrap()
    };
    let issue = |scope: &'static str| {
        let server = s.server.clone();
        async move {
            server
                .issuer()
                .issue(&TokenRequest::new(&client(), scope.parse().unwrap()).with_subject("alice"))
                .await
                .unwrap()
                .access_token()
                .to_owned()
        }
    };

    let (status, body) = body_text(service.clone().oneshot(request(None)).await.unwrap()).await;
    assert_eq!((status, body.as_str()), (401, ""));
    let response = service.clone().oneshot(request(None)).await.unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="files""#
    );

    let profile = issue("profile").await;
    let response = service
        .clone()
        .oneshot(request(Some(format!("Bearer {profile}"))))
        .await
        .unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="files", error="insufficient_scope", scope="read""#
    );
    assert_eq!(response.status(), 403);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "refused requests never reach the service"
    );

    let read = issue("read").await;
    let (status, body) = body_text(
        service
            .clone()
            .oneshot(request(Some(format!("Bearer {read}"))))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "svc for alice"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_laxer_layer_does_not_loosen_the_extractors_requirement() {
    let s = setup(|b| b).await;
    let state = ResourceProtector::new(&s.server).require_scope("admin");
    let lax = ResourceProtector::new(&s.server);
    let router: axum::Router = axum::Router::new()
        .route(
            "/api/me",
            get(|principal: Principal| async move { principal.client_id().to_owned() })
                .route_layer(lax.layer()),
        )
        .with_state(state);
    let token = |scope: &'static str| {
        let server = s.server.clone();
        async move {
            server
                .issuer()
                .issue(&TokenRequest::new(&client(), scope.parse().unwrap()))
                .await
                .unwrap()
                .access_token()
                .to_owned()
        }
    };
    let call = |token: String| {
        let router = router.clone();
        async move {
            let request = Request::get("/api/me")
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            router.oneshot(request).await.unwrap().status().as_u16()
        }
    };
    assert_eq!(call(token("profile").await).await, 403);
    let before = s.store.finds();
    assert_eq!(call(token("admin").await).await, 200);
    assert_eq!(
        s.store.finds(),
        before + 1,
        "the layer's lookup is not repeated"
    );
}

#[test]
fn the_realm_is_sanitized_and_errors_render_without_a_server() {
    let server = AuthorizationServer::builder().build().unwrap();
    let protector = ResourceProtector::new(&server).realm("my \"api\"\\ é");
    let response = futures_util::FutureExt::now_or_never(protector.protect(&HeaderMap::new()))
        .expect("no await without a token")
        .unwrap_err()
        .into_response();
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="my ?api?? ?""#
    );
}
