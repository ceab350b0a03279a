//! Tokens bound to a key (DPoP, RFC 9449 §6), on the memory, SQLite and PostgreSQL stores: the
//! binding is stored with the token and comes back from every store; introspection answers
//! `cnf.jkt` and `token_type` `DPoP` (§6.2); a JWT access token carries `cnf.jkt` (§6.1); the
//! token response's `token_type` is `DPoP` (§5); a rotation of a bound refresh token keeps the
//! binding on the replacements (§5); bearer tokens carry no `cnf`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use oauth_endpoints::clock::{Clock as _, ManualClock};
use oauth_endpoints::keys::{KeySet, SigningAlgorithm, SigningKey};
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::store::{
    AuthorizationStore, ClientStore, MemoryStore, Rotation, SqliteStore, TokenStore,
};
use oauth_endpoints::token::{AccessTokenFormat, Jkt, TokenKind, TokenRecord, TokenRequest};
use oauth_endpoints::{AuthorizationServer, Client};
use oauth_endpoints_tests::pg::TestSchema;
use oauth_endpoints_tests::{START, basic, form, jose, post, send};
use serde_json::{Value, json};

const ISSUER: &str = "https://auth.example.com";
const SECRET: &str = "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF4jGs";
/// RFC 7638 §3.1's example thumbprint.
const THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/// A confidential client, which introspects too.
fn svc() -> Client {
    Client::confidential("svc", SECRET)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read write".parse().unwrap())
        .with_introspect_any_token(true)
        .build()
        .unwrap()
}

/// A public client (a single-page application).
fn spa() -> Client {
    Client::public("spa")
        .with_grant_types(["refresh_token"])
        .with_scope("read write".parse().unwrap())
        .build()
        .unwrap()
}

fn jkt() -> Jkt {
    Jkt::from_thumbprint(THUMBPRINT).unwrap()
}

/// A server over `store`, with signing keys (so JWT access tokens can be asked for) and a
/// manual clock, and the two clients saved.
async fn on<S>(store: S) -> (AuthorizationServer, ManualClock)
where
    S: ClientStore + TokenStore + AuthorizationStore + Clone + 'static,
{
    let clock = ManualClock::new(START);
    let keys = KeySet::new(SigningKey::generate(SigningAlgorithm::Es256).unwrap());
    let server = AuthorizationServer::builder()
        .store(store)
        .clock(clock.clone())
        .issuer(ISSUER)
        .signing_keys(keys)
        .build()
        .unwrap();
    for client in [svc(), spa()] {
        server.clients().save(&client).await.unwrap();
    }
    (server, clock)
}

async fn introspect(server: &AuthorizationServer, token: &str) -> Value {
    let answer = send(
        server,
        post(
            "/oauth/introspect",
            Some(&basic("svc", SECRET)),
            &form(&[("token", token)]),
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json
}

async fn stored(server: &AuthorizationServer, token: &str) -> TokenRecord {
    server
        .tokens()
        .find(&TokenHash::of(token), None)
        .await
        .unwrap()
        .expect("the token is stored")
}

/// The claims of a JWT access token, verified with the served JWKS.
async fn jwt_claims(server: &AuthorizationServer, clock: &ManualClock, token: &str) -> Value {
    let request = Request::get("/oauth/jwks").body(Bytes::new()).unwrap();
    let jwks = send(server, request).await.json;
    jose::verify(&jwks, token, clock.now())
}

/// The token response's body.
fn response_body(issued: oauth_endpoints::token::IssuedTokens) -> Value {
    serde_json::from_slice(issued.into_response(None).body()).unwrap()
}

/// Every check, on the server's store.
async fn binding_is_kept(server: &AuthorizationServer, clock: &ManualClock) {
    let (spa, svc) = (spa(), svc());
    let scope = || "read".parse().unwrap();

    // A public client's bound tokens: the access and the refresh token are bound (§5).
    let request = TokenRequest::new(&spa, scope())
        .with_subject("alice")
        .with_refresh_token(true)
        .with_confirmation(jkt());
    let issued = server.issuer().issue(&request).await.unwrap();
    assert_eq!(issued.access_record().confirmation, Some(jkt()));
    assert_eq!(
        issued.refresh_record().map(|r| r.confirmation),
        Some(Some(jkt()))
    );
    let (access, refresh) = (
        issued.access_token().to_owned(),
        issued.refresh_token().unwrap().to_owned(),
    );
    assert_eq!(response_body(issued)["token_type"], "DPoP");
    assert_eq!(stored(server, &access).await.confirmation, Some(jkt()));
    assert_eq!(stored(server, &refresh).await.confirmation, Some(jkt()));
    let answer = introspect(server, &access).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["cnf"], json!({ "jkt": THUMBPRINT }), "{answer}");
    assert_eq!(answer["token_type"], "DPoP", "{answer}");
    let answer = introspect(server, &refresh).await;
    assert_eq!(answer["cnf"], json!({ "jkt": THUMBPRINT }), "{answer}");
    assert_eq!(answer["token_type"], "refresh_token", "{answer}");

    // A rotation of the bound refresh token, as the refresh grant makes it: the replacements
    // are bound to the same key (§5), and stored so.
    clock.advance(Duration::from_secs(5));
    let presented = stored(server, &refresh).await;
    let next = server.issuer().mint(
        &TokenRequest::new(&spa, scope())
            .continuing(&presented)
            .with_refresh_token(true),
    );
    let outcome = server
        .tokens()
        .rotate_refresh_token(&presented.hash, START + 5, &next.records(), Duration::ZERO)
        .await
        .unwrap();
    assert!(matches!(outcome, Rotation::Rotated(_)), "{outcome:?}");
    let (next_access, next_refresh) = (
        next.access_token().to_owned(),
        next.refresh_token().unwrap().to_owned(),
    );
    assert_eq!(response_body(next)["token_type"], "DPoP");
    for token in [&next_access, &next_refresh] {
        let record = stored(server, token).await;
        assert_eq!(record.confirmation, Some(jkt()), "{record:?}");
        assert_eq!(record.grant_id, presented.grant_id);
        let answer = introspect(server, token).await;
        assert_eq!(answer["active"], true, "{answer}");
        assert_eq!(answer["cnf"]["jkt"], THUMBPRINT, "{answer}");
    }
    assert_eq!(introspect(server, &next_access).await["token_type"], "DPoP");
    assert_eq!(
        introspect(server, &next_refresh).await["token_type"],
        "refresh_token"
    );
    // The rotated token is inactive; a replay revokes the grant, binding or not.
    assert_eq!(
        introspect(server, &refresh).await,
        json!({ "active": false })
    );

    // A confidential client's refresh token is not bound (§5: its authentication constrains
    // it); its rotation binds the new access token to the key of the refresh request's proof.
    let request = TokenRequest::new(&svc, scope())
        .with_refresh_token(true)
        .with_confirmation(jkt());
    let issued = server.issuer().issue(&request).await.unwrap();
    let refresh = issued.refresh_token().unwrap().to_owned();
    assert_eq!(
        stored(server, issued.access_token()).await.confirmation,
        Some(jkt())
    );
    let presented = stored(server, &refresh).await;
    assert_eq!(presented.confirmation, None);
    let answer = introspect(server, &refresh).await;
    assert_eq!(answer.get("cnf"), None, "{answer}");
    let other = Jkt::from_bytes([9; 32]);
    let next = server.issuer().mint(
        &TokenRequest::new(&svc, scope())
            .continuing(&presented)
            .with_confirmation(other)
            .with_refresh_token(true),
    );
    assert_eq!(next.access_record().confirmation, Some(other));
    assert_eq!(next.refresh_record().unwrap().confirmation, None);
    let unbound = server.issuer().mint(
        &TokenRequest::new(&svc, scope())
            .continuing(&presented)
            .with_refresh_token(true),
    );
    assert_eq!(unbound.access_record().confirmation, None);
    assert_eq!(response_body(unbound)["token_type"], "Bearer");

    // A JWT access token carries `cnf` (§6.1), and its introspection answers it too.
    let request = TokenRequest::new(&svc, scope())
        .with_access_token_format(AccessTokenFormat::Jwt)
        .with_confirmation(jkt());
    let issued = server.issuer().issue(&request).await.unwrap();
    let token = issued.access_token().to_owned();
    assert_eq!(response_body(issued)["token_type"], "DPoP");
    let claims = jwt_claims(server, clock, &token).await;
    assert_eq!(claims["cnf"], json!({ "jkt": THUMBPRINT }), "{claims}");
    assert_eq!(claims["client_id"], "svc", "{claims}");
    let answer = introspect(server, &token).await;
    assert_eq!(answer["cnf"], json!({ "jkt": THUMBPRINT }), "{answer}");
    assert_eq!(answer["token_type"], "DPoP", "{answer}");

    // Bearer tokens: no `cnf` anywhere, `token_type` `Bearer`.
    let request = TokenRequest::new(&svc, scope()).with_refresh_token(true);
    let issued = server.issuer().issue(&request).await.unwrap();
    let (access, refresh) = (
        issued.access_token().to_owned(),
        issued.refresh_token().unwrap().to_owned(),
    );
    assert_eq!(response_body(issued)["token_type"], "Bearer");
    assert_eq!(stored(server, &access).await.confirmation, None);
    let answer = introspect(server, &access).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer.get("cnf"), None, "{answer}");
    assert_eq!(answer["token_type"], "Bearer", "{answer}");
    assert_eq!(introspect(server, &refresh).await.get("cnf"), None);
    let request = TokenRequest::new(&svc, scope()).with_access_token_format(AccessTokenFormat::Jwt);
    let issued = server.issuer().issue(&request).await.unwrap();
    let claims = jwt_claims(server, clock, issued.access_token()).await;
    assert_eq!(claims.get("cnf"), None, "{claims}");
    assert_eq!(response_body(issued)["token_type"], "Bearer");
}

#[tokio::test]
async fn memory_store_keeps_the_binding() {
    let (server, clock) = on(MemoryStore::new()).await;
    binding_is_kept(&server, &clock).await;
}

#[tokio::test]
async fn sqlite_store_keeps_the_binding() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clock) = on(SqliteStore::open(dir.path().join("oauth.db"))
        .await
        .unwrap())
    .await;
    binding_is_kept(&server, &clock).await;
}

#[tokio::test]
async fn postgres_store_keeps_the_binding() {
    let Some(schema) = TestSchema::create("token_binding").await else {
        return;
    };
    let (server, clock) = on(schema.store().await).await;
    binding_is_kept(&server, &clock).await;
}

/// A bound access token presented as a Bearer token, without a proof of its key, authorises
/// nothing (RFC 9449 §7.2): here, an introspection caller's.
#[tokio::test]
async fn a_bound_token_is_no_bearer_token_for_introspection() {
    let (server, _) = on(MemoryStore::new()).await;
    let target = server
        .issuer()
        .issue(&TokenRequest::new(&spa(), "read".parse().unwrap()))
        .await
        .unwrap();
    let caller = |bound: bool| {
        let request = TokenRequest::new(&svc(), "introspection".parse().unwrap());
        if bound {
            request.with_confirmation(jkt())
        } else {
            request
        }
    };
    for bound in [false, true] {
        let issued = server.issuer().issue(&caller(bound)).await.unwrap();
        let answer = send(
            &server,
            post(
                "/oauth/introspect",
                Some(&format!("Bearer {}", issued.access_token())),
                &form(&[("token", target.access_token())]),
            ),
        )
        .await;
        if bound {
            assert_eq!(answer.status, 401, "{}", answer.json);
            assert_eq!(answer.error(), Some("invalid_token"));
        } else {
            assert_eq!(answer.status, 200, "{}", answer.json);
            assert_eq!(answer.json["active"], true);
        }
    }
}

#[test]
fn a_record_shows_its_binding_in_debug_output() {
    let (_, mut record) = oauth_endpoints::test_kit::record(
        TokenKind::Access,
        oauth_endpoints::secret::Id::random(),
        "c1",
    );
    assert!(format!("{record:?}").contains("confirmation: None"));
    record.confirmation = Some(jkt());
    let shown = format!("{record:?}");
    assert!(
        shown.contains(&format!("confirmation: Some(Jkt({THUMBPRINT}))")),
        "{shown}"
    );
}
