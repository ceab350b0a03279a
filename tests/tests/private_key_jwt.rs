//! `private_key_jwt` client authentication (RFC 7523 §2.2, RFC 7521 §4.2) as a client sends it:
//! assertions signed with another JOSE implementation than the server's (`jwt-simple`), at the
//! token, introspection and revocation endpoints; every broken rule answered as any failed
//! authentication; each `jti` accepted once, also across two instances on one PostgreSQL
//! database (when `OAUTH_ENDPOINTS_TEST_POSTGRES` is set).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::prelude::*;
use oauth_endpoints::client::ClientMetadata;
use oauth_endpoints::client_auth::{
    ASSERTION_SIGNING_ALGORITHMS, CLIENT_ASSERTION_TYPE_JWT_BEARER, ClientAuthMethod,
};
use oauth_endpoints::hooks::{
    AssertionProblem, AuthFailure, ClientAuthenticationFailed, EventListener,
};
use oauth_endpoints::store::{MemoryStore, PgStore, SqliteStore};
use oauth_endpoints::{AuthorizationServer, AuthorizationServerBuilder, Client};
use oauth_endpoints_tests::pg::TestSchema;
use oauth_endpoints_tests::{Answer, Harness, START, basic, form, post, send};
use serde_json::{Value, json};

const ISSUER: &str = "https://as.example.com";
const TOKEN_URL: &str = "https://as.example.com/oauth/token";
const SECRET: &str = "basic-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";

/// A client's signing key, held by the client (here, the test) only.
enum Signer {
    Es256(ES256KeyPair),
    EdDsa(Ed25519KeyPair),
}

impl Signer {
    fn es256(kid: &str) -> Self {
        Self::Es256(ES256KeyPair::generate().with_key_id(kid))
    }

    fn eddsa(kid: &str) -> Self {
        Self::EdDsa(Ed25519KeyPair::generate().with_key_id(kid))
    }

    /// The public JWK the client registers, with its `kid` (or none).
    fn jwk(&self, kid: Option<&str>) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let mut jwk = match self {
            Self::Es256(pair) => {
                let point = pair.public_key().public_key().to_bytes_uncompressed();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])})
            }
            Self::EdDsa(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&pair.public_key().to_bytes())})
            }
        };
        if let Some(kid) = kid {
            jwk["kid"] = kid.into();
        }
        jwk
    }

    fn sign(&self, claims: JWTClaims<NoCustomClaims>) -> String {
        match self {
            Self::Es256(pair) => pair.sign(claims),
            Self::EdDsa(pair) => pair.sign(claims),
        }
        .unwrap()
    }

    /// Signs with `typ` in the header.
    fn sign_typed(&self, claims: JWTClaims<NoCustomClaims>, typ: &str) -> String {
        let options = HeaderOptions {
            signature_type: Some(typ.to_owned()),
            ..HeaderOptions::default()
        };
        match self {
            Self::Es256(pair) => pair.sign_with_options(claims, &options),
            Self::EdDsa(pair) => pair.sign_with_options(claims, &options),
        }
        .unwrap()
    }

    /// The same key pair without its `kid` (the header then names none).
    fn without_kid(&self) -> Self {
        match self {
            Self::Es256(pair) => Self::Es256(ES256KeyPair::from_bytes(&pair.to_bytes()).unwrap()),
            Self::EdDsa(pair) => Self::EdDsa(Ed25519KeyPair::from_bytes(&pair.to_bytes()).unwrap()),
        }
    }
}

fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

/// Claims of a good assertion of `client` at `now`: `iss` = `sub` = `client`, `aud` the
/// issuer, `iat` now, `exp` a minute later, a fresh `jti`.
fn claims(client: &str, now: u64) -> JWTClaims<NoCustomClaims> {
    let mut claims = Claims::create(jwt_simple::prelude::Duration::from_secs(60));
    claims.issued_at = Some(UnixTimeStamp::from_secs(now));
    claims.expires_at = Some(UnixTimeStamp::from_secs(now + 60));
    claims.invalid_before = None;
    claims.issuer = Some(client.to_owned());
    claims.subject = Some(client.to_owned());
    claims.audiences = Some(Audiences::AsString(ISSUER.to_owned()));
    claims.jwt_id = Some(oauth_endpoints::secret::generate_secret());
    claims
}

/// The form of a request authenticated by `assertion`, plus `extra` parameters.
fn with_assertion(assertion: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
        ("client_assertion", assertion),
    ];
    pairs.extend_from_slice(extra);
    form(&pairs)
}

fn client_credentials(assertion: &str) -> String {
    with_assertion(assertion, &[("grant_type", "client_credentials")])
}

/// The clients: `es-client` (two ES256 keys), `ed-client` (one EdDSA key, registered and used
/// without a `kid`), `secret-client` (a secret), and the keys they sign with.
struct Fixture {
    es: Signer,
    es_second: Signer,
    ed: Signer,
    clients: Vec<Client>,
}

fn fixture() -> Fixture {
    let es = Signer::es256("es-1");
    let es_second = Signer::es256("es-2");
    // Registered without a kid, and signing without one.
    let ed = Signer::eddsa("ed-1").without_kid();
    let clients = vec![
        Client::private_key_jwt(
            "es-client",
            jwks(&[es.jwk(Some("es-1")), es_second.jwk(Some("es-2"))]),
        )
        .with_scope("read".parse().unwrap())
        .build()
        .unwrap(),
        Client::private_key_jwt("ed-client", jwks(&[ed.jwk(None)]))
            .build()
            .unwrap(),
        Client::confidential("secret-client", SECRET)
            .build()
            .unwrap(),
    ];
    Fixture {
        es,
        es_second,
        ed,
        clients,
    }
}

/// A failed authentication as heard: client id, method, reason.
type Heard = (Option<String>, Option<ClientAuthMethod>, AuthFailure);

/// Records each failed authentication.
#[derive(Default)]
struct Failures(Mutex<Vec<Heard>>);

impl EventListener for Failures {
    fn client_authentication_failed(&self, event: &ClientAuthenticationFailed<'_>) {
        self.0.lock().unwrap().push((
            event.client_id.map(str::to_owned),
            event.method,
            event.reason,
        ));
    }
}

impl Failures {
    fn take(&self) -> Vec<Heard> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A harness (memory store, manual clock at [`START`]) with an issuer and a listener.
async fn harness(fixture: &Fixture) -> (Harness, Arc<Failures>) {
    let failures = Arc::new(Failures::default());
    let listener = Arc::clone(&failures);
    let h = Harness::with(&fixture.clients, move |builder| {
        builder.issuer(ISSUER).on_event(listener)
    })
    .await;
    (h, failures)
}

fn assert_token(answer: &Answer) -> String {
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.str("access_token").unwrap().to_owned()
}

#[tokio::test]
async fn signed_assertions_authenticate_at_the_token_endpoint() {
    let f = fixture();
    let (h, failures) = harness(&f).await;
    // ES256 with the header's kid, either of the client's two keys.
    for signer in [&f.es, &f.es_second] {
        let jwt = signer.sign(claims("es-client", START));
        let answer = h
            .send(post("/oauth/token", None, &client_credentials(&jwt)))
            .await;
        assert_token(&answer);
        assert_eq!(answer.str("scope"), Some("read"));
    }
    // EdDSA, the client's only key, no kid in the header; `client_id` equal to `sub`; explicitly
    // typed as draft-ietf-oauth-rfc7523bis registers it.
    let jwt =
        f.ed.sign_typed(claims("ed-client", START), "client-authentication+jwt");
    let body = with_assertion(
        &jwt,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "ed-client"),
        ],
    );
    let token = assert_token(&h.send(post("/oauth/token", None, &body)).await);
    assert_eq!(&*h.record(&token).await.client_id, "ed-client");
    // `aud` as an array whose sole value is the issuer.
    let mut array = claims("ed-client", START);
    array.audiences = Some(Audiences::AsSet(HashSet::from([ISSUER.to_owned()])));
    let jwt = f.ed.sign(array);
    assert_token(
        &h.send(post("/oauth/token", None, &client_credentials(&jwt)))
            .await,
    );
    assert!(failures.take().is_empty());
}

#[tokio::test]
async fn signed_assertions_authenticate_at_introspection_and_revocation() {
    let f = fixture();
    let (h, failures) = harness(&f).await;
    let jwt = f.es.sign(claims("es-client", START));
    let token = assert_token(
        &h.send(post("/oauth/token", None, &client_credentials(&jwt)))
            .await,
    );
    // The client introspects its own token, authenticated by another assertion.
    let jwt = f.es_second.sign(claims("es-client", START));
    let answer = h
        .send(post(
            "/oauth/introspect",
            None,
            &with_assertion(&jwt, &[("token", &token)]),
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["active"], true, "{}", answer.json);
    assert_eq!(answer.str("client_id"), Some("es-client"));
    // And revokes it.
    let jwt = f.es.sign(claims("es-client", START));
    let answer = h
        .send(post(
            "/oauth/revoke",
            None,
            &with_assertion(&jwt, &[("token", &token)]),
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert!(!h.is_active(&token).await);
    let jwt = f.es.sign(claims("es-client", START));
    let answer = h
        .send(post(
            "/oauth/introspect",
            None,
            &with_assertion(&jwt, &[("token", &token)]),
        ))
        .await;
    assert_eq!(answer.json, json!({"active": false}));
    assert!(failures.take().is_empty());
}

#[tokio::test]
async fn a_jti_is_accepted_once_until_the_assertion_expires() {
    let f = fixture();
    let (h, failures) = harness(&f).await;
    let once = claims("ed-client", START);
    let jti = once.jwt_id.clone().unwrap();
    let jwt = f.ed.sign(once);
    assert_token(
        &h.send(post("/oauth/token", None, &client_credentials(&jwt)))
            .await,
    );
    // The same assertion again, and another assertion with the same jti: replays.
    let mut same_jti = claims("ed-client", START + 1);
    same_jti.jwt_id = Some(jti.clone());
    for replay in [jwt.clone(), f.ed.sign(same_jti)] {
        h.send(post("/oauth/token", None, &client_credentials(&replay)))
            .await
            .assert_error(401, "invalid_client");
    }
    assert_eq!(
        failures.take(),
        vec![
            (
                Some("ed-client".into()),
                Some(ClientAuthMethod::PrivateKeyJwt),
                AuthFailure::AssertionReplayed
            );
            2
        ]
    );
    // Another client may use the same jti: replays are per client.
    let mut other = claims("es-client", START + 1);
    other.jwt_id = Some(jti.clone());
    assert_token(
        &h.send(post(
            "/oauth/token",
            None,
            &client_credentials(&f.es.sign(other)),
        ))
        .await,
    );
    // Once the first assertion has expired, its jti is free again (a new assertion).
    h.clock.advance(std::time::Duration::from_secs(61));
    let mut later = claims("ed-client", START + 61);
    later.jwt_id = Some(jti);
    assert_token(
        &h.send(post(
            "/oauth/token",
            None,
            &client_credentials(&f.ed.sign(later)),
        ))
        .await,
    );
}

/// A JWT with this header and these claims and a signature of junk bytes: what no JOSE library
/// will sign (`alg: none`).
fn hand_built(header: &Value, claims: &Value, signature: &str) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.{signature}", encode(header), encode(claims))
}

#[tokio::test]
async fn every_broken_rule_is_invalid_client_as_any_failed_authentication() {
    let f = fixture();
    let (h, failures) = harness(&f).await;
    // The reference: a wrong secret through Basic.
    let reference = h
        .client_credentials(
            "secret-client",
            "wrong-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
            None,
        )
        .await;
    reference.assert_error(401, "invalid_client");
    failures.take();

    let modified = |change: &dyn Fn(&mut JWTClaims<NoCustomClaims>)| {
        let mut claims = claims("es-client", START);
        change(&mut claims);
        f.es.sign(claims)
    };
    let secs = UnixTimeStamp::from_secs;
    let good = claims("es-client", START);
    let unsigned_claims = json!({
        "iss": "es-client", "sub": "es-client", "aud": ISSUER,
        "iat": START, "exp": START + 60, "jti": "unsigned"
    });
    let invalid = |problem| AuthFailure::InvalidAssertion(problem);
    // What is wrong, the assertion, more parameters, an `Authorization` header, the reason heard.
    type Case<'a> = (
        &'a str,
        String,
        Vec<(&'a str, &'a str)>,
        Option<String>,
        AuthFailure,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "aud is the token endpoint's URL",
            modified(&|c| c.audiences = Some(Audiences::AsString(TOKEN_URL.to_owned()))),
            vec![],
            None,
            invalid(AssertionProblem::WrongAudience),
        ),
        (
            "aud is another server",
            modified(&|c| {
                c.audiences = Some(Audiences::AsString("https://other.example".to_owned()));
            }),
            vec![],
            None,
            invalid(AssertionProblem::WrongAudience),
        ),
        (
            "aud names the issuer among others",
            modified(&|c| {
                c.audiences = Some(Audiences::AsSet(HashSet::from([
                    ISSUER.to_owned(),
                    TOKEN_URL.to_owned(),
                ])));
            }),
            vec![],
            None,
            invalid(AssertionProblem::WrongAudience),
        ),
        (
            "expired",
            modified(&|c| {
                c.issued_at = Some(secs(START - 120));
                c.expires_at = Some(secs(START - 60));
            }),
            vec![],
            None,
            invalid(AssertionProblem::Expired),
        ),
        (
            "expires at this very second",
            modified(&|c| c.expires_at = Some(secs(START))),
            vec![],
            None,
            invalid(AssertionProblem::Expired),
        ),
        (
            "no exp",
            modified(&|c| c.expires_at = None),
            vec![],
            None,
            invalid(AssertionProblem::Expired),
        ),
        (
            "exp an hour away",
            modified(&|c| c.expires_at = Some(secs(START + 3600))),
            vec![],
            None,
            invalid(AssertionProblem::LifetimeTooLong),
        ),
        (
            "issued in the future",
            modified(&|c| {
                c.issued_at = Some(secs(START + 120));
                c.expires_at = Some(secs(START + 150));
            }),
            vec![],
            None,
            invalid(AssertionProblem::NotYetValid),
        ),
        (
            "not valid before a minute from now",
            modified(&|c| c.invalid_before = Some(secs(START + 60))),
            vec![],
            None,
            invalid(AssertionProblem::NotYetValid),
        ),
        (
            "no jti",
            modified(&|c| c.jwt_id = None),
            vec![],
            None,
            invalid(AssertionProblem::NoJti),
        ),
        (
            "alg none",
            hand_built(&json!({"alg": "none", "typ": "JWT"}), &unsigned_claims, ""),
            vec![],
            None,
            invalid(AssertionProblem::Malformed),
        ),
        (
            "alg none with a signature",
            hand_built(&json!({"alg": "none"}), &unsigned_claims, "c2ln"),
            vec![],
            None,
            invalid(AssertionProblem::DisallowedAlgorithm),
        ),
        (
            "HMAC with a secret",
            HS256Key::from_bytes(SECRET.as_bytes())
                .with_key_id("es-1")
                .authenticate(claims("es-client", START))
                .unwrap(),
            vec![],
            None,
            invalid(AssertionProblem::DisallowedAlgorithm),
        ),
        (
            "an unknown kid",
            Signer::es256("es-9").sign(claims("es-client", START)),
            vec![],
            None,
            invalid(AssertionProblem::UnknownKey),
        ),
        (
            "no kid, and the client has two keys",
            f.es.without_kid().sign(claims("es-client", START)),
            vec![],
            None,
            invalid(AssertionProblem::UnknownKey),
        ),
        (
            "the key of another client",
            f.es.sign(claims("ed-client", START)),
            vec![],
            None,
            invalid(AssertionProblem::UnknownKey),
        ),
        (
            "a kid in the header, the client's only key registered without one",
            Signer::eddsa("ed-1").sign(claims("ed-client", START)),
            vec![],
            None,
            invalid(AssertionProblem::UnknownKey),
        ),
        (
            "the key of another client, without a kid",
            Signer::eddsa("x")
                .without_kid()
                .sign(claims("ed-client", START)),
            vec![],
            None,
            invalid(AssertionProblem::BadSignature),
        ),
        (
            "the kid of a key of the client, signed with another key",
            Signer::es256("es-1").sign(claims("es-client", START)),
            vec![],
            None,
            invalid(AssertionProblem::BadSignature),
        ),
        (
            "an EdDSA signature under the kid of a P-256 key",
            Signer::eddsa("es-1").sign(claims("es-client", START)),
            vec![],
            None,
            invalid(AssertionProblem::UnknownKey),
        ),
        (
            "sub is not iss",
            modified(&|c| c.issuer = Some("ed-client".to_owned())),
            vec![],
            None,
            invalid(AssertionProblem::IssuerNotSubject),
        ),
        (
            "client_id is not sub",
            f.es.sign(good.clone()),
            vec![("client_id", "ed-client")],
            None,
            invalid(AssertionProblem::ClientIdMismatch),
        ),
        (
            "an access-token typed JWT",
            f.es.sign_typed(claims("es-client", START), "at+jwt"),
            vec![],
            None,
            invalid(AssertionProblem::WrongType),
        ),
        (
            "another assertion type",
            f.es.sign(claims("es-client", START)),
            vec![(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            )],
            None,
            invalid(AssertionProblem::UnsupportedType),
        ),
        (
            "the assertion and a Basic header",
            f.es.sign(claims("es-client", START)),
            vec![],
            Some(basic("secret-client", SECRET)),
            AuthFailure::SeveralMethods,
        ),
        (
            "the assertion and a client_secret",
            f.es.sign(claims("es-client", START)),
            vec![("client_secret", SECRET)],
            None,
            AuthFailure::SeveralMethods,
        ),
        (
            "a client registered with a secret",
            Signer::es256("es-1").sign(claims("secret-client", START)),
            vec![],
            None,
            AuthFailure::MethodNotRegistered,
        ),
        (
            "an unknown client",
            f.es.sign(claims("nobody", START)),
            vec![],
            None,
            AuthFailure::UnknownClient,
        ),
    ];
    for (what, jwt, extra, authorization, reason) in cases {
        let mut pairs = vec![("grant_type", "client_credentials")];
        let typed = extra
            .iter()
            .any(|(name, _)| *name == "client_assertion_type");
        if !typed {
            pairs.push(("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER));
        }
        pairs.push(("client_assertion", &jwt));
        pairs.extend(extra.iter().copied());
        let answer = h
            .send(post(
                "/oauth/token",
                authorization.as_deref(),
                &form(&pairs),
            ))
            .await;
        answer.assert_error(401, "invalid_client");
        assert_eq!(answer.body, reference.body, "{what}: the same body");
        assert_eq!(
            answer.header("www-authenticate"),
            reference.header("www-authenticate"),
            "{what}"
        );
        let heard = failures.take();
        assert_eq!(heard.len(), 1, "{what}: {heard:?}");
        assert_eq!(heard[0].2, reason, "{what}");
        assert_eq!(heard[0].1, Some(ClientAuthMethod::PrivateKeyJwt), "{what}");
    }
    // No refusal used the good assertion's jti: it is still accepted.
    assert_token(
        &h.send(post(
            "/oauth/token",
            None,
            &client_credentials(&f.es.sign(good)),
        ))
        .await,
    );
}

#[tokio::test]
async fn a_refused_assertion_does_not_use_up_its_jti() {
    let f = fixture();
    let (h, _) = harness(&f).await;
    let mut wrong = claims("ed-client", START);
    wrong.audiences = Some(Audiences::AsString(TOKEN_URL.to_owned()));
    let jti = wrong.jwt_id.clone().unwrap();
    h.send(post(
        "/oauth/token",
        None,
        &client_credentials(&f.ed.sign(wrong)),
    ))
    .await
    .assert_error(401, "invalid_client");
    let mut right = claims("ed-client", START);
    right.jwt_id = Some(jti);
    assert_token(
        &h.send(post(
            "/oauth/token",
            None,
            &client_credentials(&f.ed.sign(right)),
        ))
        .await,
    );
}

#[tokio::test]
async fn the_metadata_offers_private_key_jwt_with_its_algorithms() {
    let server = AuthorizationServer::builder()
        .issuer(ISSUER)
        .build()
        .unwrap();
    let metadata = server.metadata().unwrap();
    for endpoint in [
        "token_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ] {
        let methods = &metadata[&format!("{endpoint}_auth_methods_supported")];
        assert!(
            methods
                .as_array()
                .unwrap()
                .contains(&json!("private_key_jwt")),
            "{endpoint}: {methods}"
        );
        assert_eq!(
            metadata[&format!("{endpoint}_auth_signing_alg_values_supported")],
            json!(["ES256", "EdDSA", "RS256", "PS256"]),
            "{endpoint}"
        );
    }
    assert_eq!(
        ASSERTION_SIGNING_ALGORITHMS,
        ["ES256", "EdDSA", "RS256", "PS256"]
    );
    assert!(
        server
            .route("pushed_authorization_request")
            .is_none_or(|route| route
                .auth_methods()
                .contains(&ClientAuthMethod::PrivateKeyJwt))
    );
}

#[tokio::test]
async fn without_an_assertion_store_private_key_jwt_is_not_offered() {
    let f = fixture();
    let store = MemoryStore::new();
    let failures = Arc::new(Failures::default());
    // Client and token stores one by one: no store for the jti.
    let server = AuthorizationServer::builder()
        .issuer(ISSUER)
        .client_store(store.clone())
        .token_store(store)
        .on_event(Arc::clone(&failures))
        .build()
        .unwrap();
    for client in &f.clients {
        server.clients().save(client).await.unwrap();
    }
    let metadata = server.metadata().unwrap();
    assert!(
        !metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    assert!(
        metadata
            .get("token_endpoint_auth_signing_alg_values_supported")
            .is_none()
    );
    assert!(server.assertions().is_none());
    let jwt = f.ed.sign(claims("ed-client", server.now()));
    send(
        &server,
        post("/oauth/token", None, &client_credentials(&jwt)),
    )
    .await
    .assert_error(401, "invalid_client");
    assert_eq!(
        failures.take(),
        [(
            Some("ed-client".to_owned()),
            Some(ClientAuthMethod::PrivateKeyJwt),
            AuthFailure::AssertionsUnavailable
        )]
    );
    // With one, it is.
    let store = MemoryStore::new();
    let server = AuthorizationServer::builder()
        .issuer(ISSUER)
        .client_store(store.clone())
        .token_store(store.clone())
        .assertion_store(store)
        .build()
        .unwrap();
    assert!(
        server.metadata().unwrap()["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    // Without an issuer (the `aud`), it is not offered either.
    let server = AuthorizationServer::builder().build().unwrap();
    assert!(
        !server
            .route("token")
            .unwrap()
            .auth_methods()
            .contains(&ClientAuthMethod::PrivateKeyJwt)
    );
}

#[tokio::test]
async fn a_clients_file_entry_with_jwks_loads_and_authenticates() {
    let signer = Signer::eddsa("2025-01");
    let file = json!([
        {
            "client_id": "batch-job",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [signer.jwk(Some("2025-01"))]},
            "access_token_format": "opaque",
            "scope": "reports:read"
        },
        {"client_id": "web", "client_secret": SECRET, "access_token_format": "jwt"}
    ])
    .to_string();
    let clients = oauth_endpoints_examples::server::parse_clients(
        &file,
        oauth_endpoints::client::SecretPolicy::default(),
    )
    .unwrap();
    assert_eq!(
        clients[0].token_endpoint_auth_method(),
        ClientAuthMethod::PrivateKeyJwt
    );
    assert!(clients[0].jwks().unwrap().contains("2025-01"));
    assert_eq!(
        clients[0].access_token_format(),
        Some(oauth_endpoints::token::AccessTokenFormat::Opaque)
    );
    assert_eq!(
        clients[1].access_token_format(),
        Some(oauth_endpoints::token::AccessTokenFormat::Jwt)
    );
    let h = Harness::with(&clients, |builder| builder.issuer(ISSUER)).await;
    let jwt = signer.sign(claims("batch-job", START));
    let answer = h
        .send(post("/oauth/token", None, &client_credentials(&jwt)))
        .await;
    assert_token(&answer);
    assert_eq!(answer.str("scope"), Some("reports:read"));

    // The README's example entry loads.
    let readme = include_str!("../../README.md");
    let start = readme
        .find("[\n  {\"client_id\": \"batch-job\"")
        .expect("the README's example");
    let end = start + readme[start..].find("\n]\n").expect("its end") + 2;
    let example = oauth_endpoints_examples::server::parse_clients(
        &readme[start..end],
        oauth_endpoints::client::SecretPolicy::default(),
    )
    .unwrap();
    assert_eq!(
        example[0].token_endpoint_auth_method(),
        ClientAuthMethod::PrivateKeyJwt
    );

    // A private key in the file stops it, naming the entry and the field.
    let mut private = signer.jwk(Some("2025-01"));
    private["d"] = URL_SAFE_NO_PAD.encode([7u8; 32]).into();
    let file = json!([{
        "client_id": "batch-job",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [private]}
    }])
    .to_string();
    let error = oauth_endpoints_examples::server::parse_clients(
        &file,
        oauth_endpoints::client::SecretPolicy::default(),
    )
    .unwrap_err();
    assert!(
        error.contains("batch-job") && error.contains("jwks"),
        "{error}"
    );
}

#[test]
fn the_builder_keeps_private_key_jwt_clients_consistent() {
    let signer = Signer::es256("k1");
    let public = jwks(&[signer.jwk(Some("k1"))]);
    // A private member: refused.
    let mut private = signer.jwk(Some("k1"));
    private["d"] = URL_SAFE_NO_PAD.encode([7u8; 32]).into();
    let error = Client::private_key_jwt("c", jwks(&[private]))
        .build()
        .unwrap_err();
    assert_eq!(error.field, "jwks");
    // A symmetric key: refused.
    let error = Client::private_key_jwt("c", jwks(&[json!({"kty": "oct", "k": "c2VjcmV0"})]))
        .build()
        .unwrap_err();
    assert_eq!(error.field, "jwks");
    // private_key_jwt without jwks: refused.
    let error = Client::public("c")
        .with_auth_method(ClientAuthMethod::PrivateKeyJwt)
        .build()
        .unwrap_err();
    assert_eq!(error.field, "jwks");
    let error = Client::private_key_jwt("c", public.clone())
        .without_jwks()
        .build()
        .unwrap_err();
    assert_eq!(error.field, "jwks");
    // private_key_jwt with a secret: refused.
    let error = Client::confidential("c", SECRET)
        .with_auth_method(ClientAuthMethod::PrivateKeyJwt)
        .with_jwks(public.clone())
        .build()
        .unwrap_err();
    assert_eq!(error.field, "client_secret");
    // Not a JWK Set: refused.
    for bad in ["", "[]", r#"{"keys": []}"#, r#"{"keys": [{"kty": "EC"}]}"#] {
        let error = Client::private_key_jwt("c", bad).build().unwrap_err();
        assert_eq!(error.field, "jwks", "{bad}");
    }
    // The good one: a confidential client without a secret, able to introspect.
    let client = Client::private_key_jwt("c", public)
        .with_introspect_any_token(true)
        .build()
        .unwrap();
    assert!(!client.is_public() && client.secret_hash().is_none());
    // Its metadata round trip keeps the keys.
    let metadata: ClientMetadata = serde_json::from_value(json!({
        "client_id": "c",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": serde_json::from_str::<Value>(client.jwks().unwrap()).unwrap(),
    }))
    .unwrap();
    assert_eq!(metadata.into_client().unwrap().jwks(), client.jwks());
}

/// A server over `builder`'s store with the fixture's clients.
async fn server_on(builder: AuthorizationServerBuilder, clients: &[Client]) -> AuthorizationServer {
    let server = builder.issuer(ISSUER).client_cache(None).build().unwrap();
    for client in clients {
        server.clients().save(client).await.unwrap();
    }
    server
}

#[tokio::test]
async fn a_replay_is_refused_on_sqlite() {
    let f = fixture();
    let server = server_on(
        AuthorizationServer::builder().store(SqliteStore::in_memory().await.unwrap()),
        &f.clients,
    )
    .await;
    let jwt = f.ed.sign(claims("ed-client", server.now()));
    let first = send(
        &server,
        post("/oauth/token", None, &client_credentials(&jwt)),
    )
    .await;
    assert_token(&first);
    send(
        &server,
        post("/oauth/token", None, &client_credentials(&jwt)),
    )
    .await
    .assert_error(401, "invalid_client");
}

/// Two instances, each with its own pool, on one PostgreSQL schema.
async fn two_instances(schema: &TestSchema, clients: &[Client]) -> [AuthorizationServer; 2] {
    let a: PgStore = schema.store().await;
    let b: PgStore = schema.store().await;
    [
        server_on(AuthorizationServer::builder().store(a), clients).await,
        server_on(AuthorizationServer::builder().store(b), &[]).await,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replay_on_another_instance_is_refused() {
    let Some(schema) = TestSchema::create("assertion_replay").await else {
        return;
    };
    let f = fixture();
    let [a, b] = two_instances(&schema, &f.clients).await;
    let jwt = f.es.sign(claims("es-client", a.now()));
    assert_token(&send(&a, post("/oauth/token", None, &client_credentials(&jwt))).await);
    send(&b, post("/oauth/token", None, &client_credentials(&jwt)))
        .await
        .assert_error(401, "invalid_client");
    send(&a, post("/oauth/token", None, &client_credentials(&jwt)))
        .await
        .assert_error(401, "invalid_client");
    // Eight requests with one fresh assertion at once, alternating instances: one token.
    for round in 0..5 {
        let jwt = f.ed.sign(claims("ed-client", a.now()));
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let server = if i % 2 == 0 { a.clone() } else { b.clone() };
                let (barrier, jwt) = (Arc::clone(&barrier), jwt.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    send(
                        &server,
                        post("/oauth/token", None, &client_credentials(&jwt)),
                    )
                    .await
                })
            })
            .collect();
        let mut issued = 0;
        for task in tasks {
            let answer = task.await.unwrap();
            match answer.status.as_u16() {
                200 => issued += 1,
                _ => answer.assert_error(401, "invalid_client"),
            }
        }
        assert_eq!(
            issued, 1,
            "round {round}: exactly one request is answered a token"
        );
    }
}

#[tokio::test]
async fn rsa_keys_sign_with_rs256_and_ps256() {
    let rs = RS256KeyPair::generate(2048).unwrap().with_key_id("rsa-1");
    let components = rs.public_key().to_components();
    let jwk = json!({
        "kty": "RSA", "kid": "rsa-1", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(&components.n),
        "e": URL_SAFE_NO_PAD.encode(&components.e),
    });
    let client = Client::private_key_jwt("rsa-client", jwks(&[jwk]))
        .build()
        .unwrap();
    let h = Harness::with(&[client], |builder| builder.issuer(ISSUER)).await;
    let jwt = rs.sign(claims("rsa-client", START)).unwrap();
    assert_token(
        &h.send(post("/oauth/token", None, &client_credentials(&jwt)))
            .await,
    );
    let ps = PS256KeyPair::from_der(&rs.to_der().unwrap())
        .unwrap()
        .with_key_id("rsa-1");
    let jwt = ps.sign(claims("rsa-client", START)).unwrap();
    assert_token(
        &h.send(post("/oauth/token", None, &client_credentials(&jwt)))
            .await,
    );
}
