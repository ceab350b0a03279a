//! JWT access tokens (RFC 9068) and the JWKS: checked with another JOSE implementation than
//! the server's, from the JWKS as served; still revocable through the store; key rotation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use http::{Request, StatusCode};
use oauth_endpoints::keys::{KeySet, SigningAlgorithm, SigningKey};
use oauth_endpoints::token::AccessTokenFormat;
use oauth_endpoints::{AuthorizationServer, BuildError, Client};
use oauth_endpoints_tests::{Answer, Harness, basic, form, jose, post, send};
use serde_json::Value;

const ISSUER: &str = "https://auth.example.com";
const SECRET: &str = "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF4jGs";

fn client() -> Client {
    Client::confidential("svc", SECRET)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read write".parse().unwrap())
        .build()
        .unwrap()
}

async fn harness(keys: KeySet) -> Harness {
    Harness::with(&[client()], |builder| {
        builder
            .issuer(ISSUER)
            .signing_keys(keys)
            .access_token_format(AccessTokenFormat::Jwt)
    })
    .await
}

fn key(algorithm: SigningAlgorithm) -> SigningKey {
    SigningKey::generate(algorithm).unwrap()
}

async fn jwks(server: &AuthorizationServer) -> Answer {
    let request = Request::get("/oauth/jwks")
        .body(bytes::Bytes::new())
        .unwrap();
    send(server, request).await
}

async fn token(server: &AuthorizationServer, scope: &str) -> Answer {
    let body = form(&[("grant_type", "client_credentials"), ("scope", scope)]);
    send(
        server,
        post("/oauth/token", Some(&basic("svc", SECRET)), &body),
    )
    .await
}

async fn introspect(server: &AuthorizationServer, token: &str) -> Value {
    send(
        server,
        post(
            "/oauth/introspect",
            Some(&basic("svc", SECRET)),
            &form(&[("token", token)]),
        ),
    )
    .await
    .json
}

#[tokio::test]
async fn access_tokens_are_rfc_9068_jwts_that_another_implementation_verifies() {
    for algorithm in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
        let harness = harness(KeySet::new(key(algorithm))).await;
        let set = jwks(&harness.server).await;
        assert_eq!(set.status, StatusCode::OK);
        assert_eq!(set.header("content-type"), Some("application/jwk-set+json"));
        assert!(set.header("cache-control").unwrap().contains("max-age"));
        assert!(
            set.body.windows(3).all(|w| w != b"\"d\""),
            "no private member"
        );

        let answer = token(&harness.server, "read").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        let jwt = answer.str("access_token").unwrap();
        let header = jose::header(jwt);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], algorithm.as_str());
        let claims = jose::verify(&set.json, jwt, harness.server.now());
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["aud"], ISSUER, "the default audience");
        assert_eq!(claims["sub"], "svc", "no user: the client (RFC 9068 §2.2)");
        assert_eq!(claims["client_id"], "svc");
        assert_eq!(claims["scope"], "read");
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            3600
        );
        // Introspection tells the same token by its jti.
        let introspected = introspect(&harness.server, jwt).await;
        assert_eq!(introspected["active"], true);
        assert_eq!(introspected["jti"], claims["jti"]);
    }
}

#[tokio::test]
async fn a_revoked_or_forged_jwt_is_inactive() {
    let harness = harness(KeySet::new(key(SigningAlgorithm::Es256))).await;
    let jwt = token(&harness.server, "read")
        .await
        .str("access_token")
        .unwrap()
        .to_owned();
    // Forged: the same claims signed by another key under the server's kid.
    let forger = KeySet::new(key(SigningAlgorithm::Es256));
    let claims = jose::verify(
        &jwks(&harness.server).await.json,
        &jwt,
        harness.server.now(),
    );
    let forged = forger.sign("at+jwt", &claims).unwrap();
    assert_eq!(
        introspect(&harness.server, &forged).await,
        serde_json::json!({"active": false})
    );
    // Tampered payload.
    let mut parts: Vec<&str> = jwt.split('.').collect();
    let other = token(&harness.server, "write")
        .await
        .str("access_token")
        .unwrap()
        .to_owned();
    parts[1] = other.split('.').nth(1).unwrap();
    let spliced = parts.join(".");
    assert_eq!(introspect(&harness.server, &spliced).await["active"], false);
    // Revoked: inactive although its signature still holds.
    let revoked = send(
        &harness.server,
        post(
            "/oauth/revoke",
            Some(&basic("svc", SECRET)),
            &form(&[("token", &jwt)]),
        ),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(
        introspect(&harness.server, &jwt).await,
        serde_json::json!({"active": false})
    );
}

#[tokio::test]
async fn after_a_rotation_old_tokens_verify_and_new_ones_carry_the_new_kid() {
    let old = key(SigningAlgorithm::Es256);
    let store = oauth_endpoints::store::MemoryStore::new();
    let before = AuthorizationServer::builder()
        .issuer(ISSUER)
        .store(store.clone())
        .signing_keys(KeySet::new(old.clone()))
        .access_token_format(AccessTokenFormat::Jwt)
        .build()
        .unwrap();
    before.clients().save(&client()).await.unwrap();
    let first = token(&before, "read")
        .await
        .str("access_token")
        .unwrap()
        .to_owned();

    let new = key(SigningAlgorithm::EdDsa);
    let after = AuthorizationServer::builder()
        .issuer(ISSUER)
        .store(store.clone())
        .signing_keys(KeySet::new(new.clone()).with_previous(old.clone()))
        .access_token_format(AccessTokenFormat::Jwt)
        .build()
        .unwrap();
    let set = jwks(&after).await.json;
    let kids: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [new.kid(), old.kid()]);
    // The old token: still verifies against the published set, still introspects.
    jose::verify(&set, &first, after.now());
    assert_eq!(introspect(&after, &first).await["active"], true);
    let second = token(&after, "read")
        .await
        .str("access_token")
        .unwrap()
        .to_owned();
    assert_eq!(jose::header(&second)["kid"], new.kid());
    jose::verify(&set, &second, after.now());
    // Once the old key is dropped, its tokens are inactive.
    let dropped = AuthorizationServer::builder()
        .issuer(ISSUER)
        .store(store)
        .signing_keys(KeySet::new(new))
        .build()
        .unwrap();
    assert_eq!(
        jwks(&dropped).await.json["keys"].as_array().unwrap().len(),
        1
    );
    assert_eq!(introspect(&dropped, &first).await["active"], false);
    assert_eq!(introspect(&dropped, &second).await["active"], true);
}

#[tokio::test]
async fn refresh_tokens_stay_opaque_and_a_client_may_keep_opaque_tokens() {
    let harness = harness(KeySet::new(key(SigningAlgorithm::Es256))).await;
    let issued = harness.server.issuer();
    let refresh = issued
        .issue(
            &oauth_endpoints::token::TokenRequest::new(&client(), "read".parse().unwrap())
                .with_refresh_token(true),
        )
        .await
        .unwrap();
    assert_eq!(refresh.access_token().matches('.').count(), 2);
    assert!(!refresh.refresh_token().unwrap().contains('.'));
    let opaque = issued
        .issue(
            &oauth_endpoints::token::TokenRequest::new(&client(), "read".parse().unwrap())
                .with_access_token_format(AccessTokenFormat::Opaque),
        )
        .await
        .unwrap();
    assert!(!opaque.access_token().contains('.'));
}

#[tokio::test]
async fn jwts_need_keys_and_an_issuer_and_the_metadata_names_the_jwks() {
    let error = AuthorizationServer::builder()
        .issuer(ISSUER)
        .access_token_format(AccessTokenFormat::Jwt)
        .build()
        .unwrap_err();
    assert!(matches!(error, BuildError::JwtWithoutKeys));
    let error = AuthorizationServer::builder()
        .signing_keys(KeySet::new(key(SigningAlgorithm::Es256)))
        .access_token_format(AccessTokenFormat::Jwt)
        .build()
        .unwrap_err();
    assert!(matches!(error, BuildError::JwtWithoutKeys));
    // Without keys, no JWKS endpoint.
    let server = AuthorizationServer::builder()
        .issuer(ISSUER)
        .build()
        .unwrap();
    assert!(server.route("jwks").is_none());
    assert!(server.metadata().unwrap().get("jwks_uri").is_none());
    let harness = harness(KeySet::new(key(SigningAlgorithm::Es256))).await;
    assert_eq!(
        harness.server.metadata().unwrap()["jwks_uri"],
        format!("{ISSUER}/oauth/jwks")
    );
}

#[tokio::test]
async fn a_client_may_ask_for_jwts_on_a_server_that_issues_opaque_tokens() {
    let jwt_client = Client::confidential("jwt-svc", SECRET)
        .with_grant_types(["client_credentials"])
        .with_scope("read".parse().unwrap())
        .with_access_token_format(AccessTokenFormat::Jwt)
        .build()
        .unwrap();
    let harness = Harness::with(&[client(), jwt_client], |builder| {
        builder
            .issuer(ISSUER)
            .signing_keys(KeySet::new(key(SigningAlgorithm::Es256)))
    })
    .await;
    let opaque = token(&harness.server, "read").await;
    assert!(!opaque.str("access_token").unwrap().contains('.'));
    let body = form(&[("grant_type", "client_credentials"), ("scope", "read")]);
    let answer = send(
        &harness.server,
        post("/oauth/token", Some(&basic("jwt-svc", SECRET)), &body),
    )
    .await;
    let jwt = answer.str("access_token").unwrap();
    let claims = jose::verify(&jwks(&harness.server).await.json, jwt, harness.server.now());
    assert_eq!(claims["client_id"], "jwt-svc");
}
