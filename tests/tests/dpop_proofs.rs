//! DPoP proofs (RFC 9449 §4.3) as clients make them, checked through `oauth_endpoints::dpop`:
//! at an endpoint of the server (what the token endpoint will call, with its 400 answers, §5,
//! §8) and given every piece as a resource server does (401 answers, §7.1, §9); each check of
//! §4.3 with a proof that fails it; stateless nonces across instances; each `jti` accepted
//! once, also across two instances on one PostgreSQL database (when
//! `OAUTH_ENDPOINTS_TEST_POSTGRES` is set).
//!
//! The proofs are made with another JOSE implementation than the server's: `jwt-simple`
//! cannot put a public key as a JWK object in a JWS header (its `jwk` header member is a
//! string), so each proof is built here by hand in compact serialization (RFC 7515 §7.1) and
//! signed with `p256` (ES256) and `ed25519-dalek` (EdDSA); `jwt-simple` makes the keys. The
//! `ath` values are computed by the `oauth2` crate's PKCE S256 (the same base64url(SHA-256)).
//! RSA proofs (RS256, PS256) are covered by the library's unit tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use oauth_endpoints::dpop::{
    self, DPOP_SIGNING_ALGS, DpopError, DpopErrorKind, DpopNonceSecret, DpopProblem, DpopProof,
    DpopVerifier, Expectation, ProofRequest, VerifiedProof,
};
use oauth_endpoints::endpoint::json_response;
use oauth_endpoints::server::Setup;
use oauth_endpoints::store::PgStore;
use oauth_endpoints::{
    AuthorizationServer, AuthorizationServerBuilder, Context, Endpoint, EndpointResult,
};
use oauth_endpoints_tests::dpop_key::{Key, b64_json};
use oauth_endpoints_tests::pg::TestSchema;
use oauth_endpoints_tests::{Answer, Harness, START, send};
use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use serde_json::{Value, json};

const ISSUER: &str = "https://as.example.com";
/// Where the test endpoint is mounted, and its URL as the metadata publishes it.
const PROBE_PATH: &str = "/dpop-probe";
const PROBE_URL: &str = "https://as.example.com/dpop-probe";
/// A protected resource of a resource server.
const RESOURCE: &str = "https://api.example.com/photos/1";
/// The nonce secret instances share.
const SECRET: [u8; 32] = *b"dpop-nonce-secret-for-the-tests!";

/// The claims of a good proof (RFC 9449 §4.2) of `htm` to `htu` at `iat`, with a fresh `jti`.
fn claims(htm: &str, htu: &str, iat: u64) -> Value {
    json!({"jti": oauth_endpoints::secret::generate_secret(), "htm": htm, "htu": htu, "iat": iat})
}

/// `claims` with `extra` members set (`null` removes one).
fn with(mut claims: Value, extra: Value) -> Value {
    for (name, value) in extra.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// `ath` of `token` (RFC 9449 §4.2), computed by the `oauth2` crate (PKCE S256 is the same
/// base64url(SHA-256(ASCII))); tokens here are 64 characters, within PKCE's 43 to 128.
fn ath(token: &str) -> String {
    let verifier = PkceCodeVerifier::new(token.to_owned());
    PkceCodeChallenge::from_code_verifier_sha256(&verifier)
        .as_str()
        .to_owned()
}

/// Headers with one `DPoP` header per proof.
fn dpop_headers(proofs: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for proof in proofs {
        headers.append("dpop", HeaderValue::from_str(proof).unwrap());
    }
    headers
}

/// An endpoint that checks the request's proof as the token endpoint will, answering the key's
/// thumbprint, or the error (400 `invalid_dpop_proof`, `use_dpop_nonce` + `DPoP-Nonce`).
struct Probe;

impl Endpoint for Probe {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        let proof = DpopProof::verify(cx, &request, Expectation::new()).await?;
        let mut response = json_response(
            StatusCode::OK,
            &json!({"jkt": proof.jkt(), "alg": proof.algorithm().as_str()}),
        );
        if let Some(nonce) = proof.fresh_nonce() {
            response
                .headers_mut()
                .insert(dpop::DPOP_NONCE, HeaderValue::from_str(nonce).unwrap());
        }
        Ok(response)
    }

    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        dpop::publish(setup);
        Ok(())
    }
}

/// The builder settings every test server shares: the issuer and the probe endpoint.
fn base(builder: AuthorizationServerBuilder) -> AuthorizationServerBuilder {
    builder
        .issuer(ISSUER)
        .register_endpoint("dpop-probe", PROBE_PATH, [Method::POST], Probe)
}

/// A server over a memory store and a manual clock, nonces off.
async fn harness() -> Harness {
    Harness::with(&[], base).await
}

/// A server requiring nonces made with [`SECRET`].
async fn harness_with_nonces() -> Harness {
    Harness::with(&[], |builder| {
        base(builder).dpop_nonce_secret(DpopNonceSecret::new(SECRET).unwrap())
    })
    .await
}

/// POSTs to the probe with one `DPoP` header per proof.
async fn probe(server: &AuthorizationServer, proofs: &[&str]) -> Answer {
    let mut request = Request::post(PROBE_PATH);
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    send(server, request.body(Bytes::new()).unwrap()).await
}

/// Checks `proofs` as a resource server of `server` would, for `method` to `uri`, with `token`.
async fn at_resource(
    server: &AuthorizationServer,
    proofs: &[&str],
    method: &Method,
    uri: &str,
    token: Option<&str>,
) -> Result<VerifiedProof, DpopError> {
    let headers = dpop_headers(proofs);
    let verifier = DpopVerifier::from_server(server).expect("the server has a replay store");
    let mut request = ProofRequest::new(method, uri, &headers);
    if let Some(token) = token {
        request = request.access_token(token);
    }
    verifier.verify(request).await
}

/// The problem of a refused proof at `server`'s resource (GET, [`RESOURCE`], no token).
async fn problem(server: &AuthorizationServer, proof: &str) -> Option<DpopProblem> {
    at_resource(server, &[proof], &Method::GET, RESOURCE, None)
        .await
        .err()
        .map(|error| error.problem())
}

#[tokio::test]
async fn a_good_proof_is_accepted_at_an_endpoint_and_names_its_key() {
    let h = harness().await;
    for key in [Key::es256(), Key::eddsa()] {
        let proof = key.proof(&claims("POST", PROBE_URL, START));
        let answer = probe(&h.server, &[&proof]).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
        assert_eq!(answer.str("alg"), Some(key.alg()));
        let jkt = answer.str("jkt").unwrap();
        assert_eq!(jkt.len(), 43);
        assert!(
            URL_SAFE_NO_PAD
                .decode(jkt)
                .is_ok_and(|hash| hash.len() == 32)
        );
        assert!(answer.header("dpop-nonce").is_none());
    }
    // RFC 8037 Appendix A.3: the thumbprint of the Appendix A.1 key.
    let proof = Key::rfc8037().proof(&claims("POST", PROBE_URL, START));
    let answer = probe(&h.server, &[&proof]).await;
    assert_eq!(
        answer.str("jkt"),
        Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
    );
    // As a resource server: the same key, its public JWK, the proof's claims.
    let token = oauth_endpoints::secret::generate_token();
    let key = Key::rfc8037();
    let good = with(
        claims("GET", RESOURCE, START),
        json!({"ath": ath(&token), "jti": "id-1"}),
    );
    let verified = at_resource(
        &h.server,
        &[&key.proof(&good)],
        &Method::GET,
        RESOURCE,
        Some(&token),
    )
    .await
    .unwrap();
    assert_eq!(
        verified.jkt(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    assert!(verified.matches_thumbprint("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"));
    assert_eq!(verified.jti(), "id-1");
    assert_eq!(verified.issued_at(), START);
    assert_eq!(verified.algorithm().as_str(), "EdDSA");
    assert_eq!(
        serde_json::to_value(verified.public_jwk()).unwrap()["x"],
        key.jwk()["x"]
    );
}

#[tokio::test]
async fn the_metadata_publishes_the_algorithms() {
    let h = harness().await;
    let metadata = h.server.metadata().unwrap();
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "RS256", "PS256"])
    );
    assert_eq!(DPOP_SIGNING_ALGS, ["ES256", "EdDSA", "RS256", "PS256"]);
}

#[tokio::test]
async fn refusals_at_an_endpoint_are_400_invalid_dpop_proof() {
    let h = harness().await;
    let key = Key::es256();
    let wrong_method = key.proof(&claims("GET", PROBE_URL, START));
    for proofs in [vec![], vec![wrong_method.as_str()]] {
        let answer = probe(&h.server, &proofs).await;
        answer.assert_error(400, "invalid_dpop_proof");
        assert_eq!(
            answer.json,
            json!({"error": "invalid_dpop_proof", "error_description": "the DPoP proof is invalid"})
        );
        assert!(answer.header("dpop-nonce").is_none());
    }
    // Two headers (§4.3 item 1), each a good proof.
    let one = key.proof(&claims("POST", PROBE_URL, START));
    let two = key.proof(&claims("POST", PROBE_URL, START));
    probe(&h.server, &[&one, &two])
        .await
        .assert_error(400, "invalid_dpop_proof");
    // Neither was used up.
    assert_eq!(probe(&h.server, &[&one]).await.status, 200);
}

#[tokio::test]
async fn each_check_of_section_4_3_has_its_refusal() {
    let h = harness().await;
    let s = &h.server;
    let key = Key::es256();
    let good = || claims("GET", RESOURCE, START);

    // Item 1: not more than one DPoP header; none at all is no proof.
    let (a, b) = (key.proof(&good()), key.proof(&good()));
    let two = at_resource(s, &[&a, &b], &Method::GET, RESOURCE, None).await;
    assert_eq!(
        two.err().map(|e| e.problem()),
        Some(DpopProblem::SeveralHeaders)
    );
    let none = at_resource(s, &[], &Method::GET, RESOURCE, None).await;
    assert_eq!(none.err().map(|e| e.problem()), Some(DpopProblem::Missing));

    // Item 2: a well-formed compact JWS.
    let proof = key.proof(&good());
    let segments: Vec<&str> = proof.split('.').collect();
    for malformed in [
        format!("{}.{}", segments[0], segments[1]),
        format!("{}.{}.", segments[0], segments[1]),
        format!("{proof}.{}.{}", segments[1], segments[2]),
        // Signed, but the claims are not a JSON object.
        key.sign(&key.header(), &json!("claims")),
        "not a jws".to_owned(),
    ] {
        assert_eq!(
            problem(s, &malformed).await,
            Some(DpopProblem::Malformed),
            "{malformed}"
        );
    }
    let crit = with(key.header(), json!({"crit": ["exp"], "exp": 1}));
    assert_eq!(
        problem(s, &key.sign(&crit, &good())).await,
        Some(DpopProblem::Malformed)
    );

    // Item 4: typ dpop+jwt.
    for typ in [json!("JWT"), json!("at+jwt"), Value::Null] {
        let header = with(key.header(), json!({ "typ": typ }));
        assert_eq!(
            problem(s, &key.sign(&header, &good())).await,
            Some(DpopProblem::WrongType),
            "{typ}"
        );
    }
    let header = with(key.header(), json!({"typ": "application/DPoP+JWT"}));
    assert!(problem(s, &key.sign(&header, &good())).await.is_none());

    // Item 5: an allow-listed asymmetric alg, never `none` nor an HMAC, fitting the key.
    let hs256 = {
        // Signed as HS256 with the public key's bytes as the secret (the classic confusion):
        // jwt-simple's HMAC over the same signing input.
        use jwt_simple::prelude::{HS256Key, MACLike};
        let header = with(key.header(), json!({"alg": "HS256"}));
        let secret = key.jwk().to_string();
        let hmac = HS256Key::from_bytes(secret.as_bytes());
        let input = format!("{}.{}", b64_json(&header), b64_json(&good()));
        let tag = hmac.authentication_tag(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag))
    };
    assert_eq!(
        problem(s, &hs256).await,
        Some(DpopProblem::DisallowedAlgorithm)
    );
    let none_header = with(key.header(), json!({"alg": "none"}));
    let unsigned = format!("{}.{}.", b64_json(&none_header), b64_json(&good()));
    assert_eq!(problem(s, &unsigned).await, Some(DpopProblem::Malformed));
    let none_signed = key.sign(&none_header, &good());
    assert_eq!(
        problem(s, &none_signed).await,
        Some(DpopProblem::DisallowedAlgorithm)
    );
    for alg in ["ES384", "es256", "RS512"] {
        let header = with(key.header(), json!({ "alg": alg }));
        assert_eq!(
            problem(s, &key.sign(&header, &good())).await,
            Some(DpopProblem::DisallowedAlgorithm),
            "{alg}"
        );
    }
    // ES256 named, an Ed25519 key given (and signing).
    let ed = Key::eddsa();
    let header = with(ed.header(), json!({"alg": "ES256"}));
    assert_eq!(
        problem(s, &ed.sign(&header, &good())).await,
        Some(DpopProblem::KeyMismatch)
    );

    // Item 3: a jwk in the header.
    let header = with(key.header(), json!({"jwk": null}));
    assert_eq!(
        problem(s, &key.sign(&header, &good())).await,
        Some(DpopProblem::NoKey)
    );
    // Item 7: the jwk holds no private key.
    for member in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        let mut jwk = key.jwk();
        jwk[member] = "AQAB".into();
        let header = with(key.header(), json!({ "jwk": jwk }));
        assert_eq!(
            problem(s, &key.sign(&header, &good())).await,
            Some(DpopProblem::PrivateKey),
            "{member}"
        );
    }
    let symmetric = with(
        key.header(),
        json!({"jwk": {"kty": "oct", "k": "c2VjcmV0"}}),
    );
    assert_eq!(
        problem(s, &key.sign(&symmetric, &good())).await,
        Some(DpopProblem::PrivateKey)
    );
    let p384 = with(
        key.header(),
        json!({"jwk": with(key.jwk(), json!({"crv": "P-384"}))}),
    );
    assert_eq!(
        problem(s, &key.sign(&p384, &good())).await,
        Some(DpopProblem::UnsupportedKey)
    );

    // Item 6: the signature verifies with the jwk.
    let other = Key::es256();
    let header = with(key.header(), json!({"jwk": other.jwk()}));
    assert_eq!(
        problem(s, &key.sign(&header, &good())).await,
        Some(DpopProblem::BadSignature)
    );
    let proof = key.proof(&good());
    let tampered = {
        let parts: Vec<&str> = proof.split('.').collect();
        let claims = with(good(), json!({"htm": "POST"}));
        format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2])
    };
    assert_eq!(problem(s, &tampered).await, Some(DpopProblem::BadSignature));

    // Item 3: a jti, bounded.
    for jti in [Value::Null, json!(""), json!(7), json!("x".repeat(257))] {
        let proof = key.proof(&with(good(), json!({ "jti": jti })));
        assert_eq!(problem(s, &proof).await, Some(DpopProblem::BadJti), "{jti}");
    }
    assert!(
        problem(
            s,
            &key.proof(&with(good(), json!({"jti": "x".repeat(256)})))
        )
        .await
        .is_none()
    );

    // Item 8: htm is the method (case-sensitive).
    for htm in [json!("POST"), json!("get"), Value::Null] {
        let proof = key.proof(&with(good(), json!({ "htm": htm })));
        assert_eq!(
            problem(s, &proof).await,
            Some(DpopProblem::WrongMethod),
            "{htm}"
        );
    }

    // Item 9: htu is the URI, query and fragment ignored, normalized.
    for htu in [
        json!("https://api.example.com/photos/2"),
        json!("https://api.example.com/photos/1/"),
        json!("http://api.example.com/photos/1"),
        json!("https://api.example.com:8443/photos/1"),
        json!("https://other.example.com/photos/1"),
        json!("/photos/1"),
        Value::Null,
    ] {
        let proof = key.proof(&with(good(), json!({ "htu": htu })));
        assert_eq!(
            problem(s, &proof).await,
            Some(DpopProblem::WrongUri),
            "{htu}"
        );
    }
    for htu in [
        "https://api.example.com/photos/1?size=large",
        "https://api.example.com/photos/1#top",
        "HTTPS://API.Example.COM:443/photos/1",
        "https://api.example.com/photos/./%31",
    ] {
        let proof = key.proof(&with(good(), json!({ "htu": htu })));
        assert!(problem(s, &proof).await.is_none(), "{htu}");
    }
    // The request's URI's own query is ignored too.
    let proof = key.proof(&good());
    let verified = at_resource(
        s,
        &[&proof],
        &Method::GET,
        "https://api.example.com/photos/1?size=small",
        None,
    )
    .await;
    assert!(verified.is_ok());

    // Item 11: iat within the window (default 60 s past, 5 s ahead).
    for (iat, expected) in [
        (START - 61, Some(DpopProblem::TooOld)),
        (START - 3600, Some(DpopProblem::TooOld)),
        (START + 6, Some(DpopProblem::FromTheFuture)),
        (START + 3600, Some(DpopProblem::FromTheFuture)),
        (START - 60, None),
        (START + 5, None),
    ] {
        let proof = key.proof(&with(good(), json!({ "iat": iat })));
        assert_eq!(problem(s, &proof).await, expected, "iat {iat}");
    }
    for iat in [Value::Null, json!("1700000000"), json!(-1)] {
        let proof = key.proof(&with(good(), json!({ "iat": iat })));
        assert_eq!(
            problem(s, &proof).await,
            Some(DpopProblem::BadIssuedAt),
            "{iat}"
        );
    }
}

#[tokio::test]
async fn with_an_access_token_ath_is_required_and_must_match() {
    let h = harness().await;
    let key = Key::eddsa();
    let token = oauth_endpoints::secret::generate_token();
    let other = oauth_endpoints::secret::generate_token();
    let check = |claims: Value| {
        let proof = key.proof(&claims);
        let (server, token) = (&h.server, token.clone());
        async move {
            at_resource(server, &[&proof], &Method::GET, RESOURCE, Some(&token))
                .await
                .err()
                .map(|error| error.problem())
        }
    };
    let good = || claims("GET", RESOURCE, START);
    assert_eq!(check(good()).await, Some(DpopProblem::MissingAth));
    assert_eq!(
        check(with(good(), json!({"ath": ath(&other)}))).await,
        Some(DpopProblem::WrongAth)
    );
    assert_eq!(
        check(with(good(), json!({"ath": ath(&token).to_uppercase()}))).await,
        Some(DpopProblem::WrongAth)
    );
    assert_eq!(check(with(good(), json!({"ath": ath(&token)}))).await, None);
    // Without an access token (the token endpoint), `ath` is not read.
    let proof = key.proof(&with(claims("POST", PROBE_URL, START), json!({"ath": "x"})));
    assert_eq!(probe(&h.server, &[&proof]).await.status, 200);
}

#[tokio::test]
async fn a_resource_servers_answers_are_401_with_a_dpop_challenge() {
    let h = harness().await;
    let key = Key::es256();
    let proof = key.proof(&claims("POST", RESOURCE, START));
    let error = at_resource(&h.server, &[&proof], &Method::GET, RESOURCE, None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), DpopErrorKind::InvalidProof);
    assert_eq!(error.code(), "invalid_dpop_proof");
    assert_eq!(error.reason(), "htm is not the request's method");
    // The proof is never in the error.
    assert!(!format!("{error:?} {error}").contains(&proof[..20]));
    let response = error.into_resource_response();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"DPoP error="invalid_dpop_proof", algs="ES256 EdDSA RS256 PS256""#
    );
    assert!(response.headers().get("dpop-nonce").is_none());
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof");
}

#[tokio::test]
async fn a_jti_is_accepted_once_and_a_refused_proof_does_not_use_it_up() {
    let h = harness().await;
    let key = Key::es256();
    let good = claims("GET", RESOURCE, START);
    // Refused for its method first: its jti is not remembered.
    let refused = at_resource(
        &h.server,
        &[&key.proof(&good)],
        &Method::POST,
        RESOURCE,
        None,
    )
    .await;
    assert_eq!(
        refused.err().map(|e| e.problem()),
        Some(DpopProblem::WrongMethod)
    );
    let proof = key.proof(&good);
    assert!(problem(&h.server, &proof).await.is_none());
    assert_eq!(
        problem(&h.server, &proof).await,
        Some(DpopProblem::Replayed)
    );
    // Another signature over the same claims (ES256 signatures are randomized or malleable):
    // the same jti of the same key, refused.
    let again = key.proof(&good);
    assert_eq!(
        problem(&h.server, &again).await,
        Some(DpopProblem::Replayed)
    );
    // The same jti with another key is another proof.
    assert!(
        problem(&h.server, &Key::eddsa().proof(&good))
            .await
            .is_none()
    );
    // At the endpoint: the same.
    let proof = key.proof(&claims("POST", PROBE_URL, START));
    assert_eq!(probe(&h.server, &[&proof]).await.status, 200);
    probe(&h.server, &[&proof])
        .await
        .assert_error(400, "invalid_dpop_proof");
    // Once the window has passed the proof is too old, whatever the store remembers.
    h.clock.advance(Duration::from_secs(61));
    assert_eq!(
        problem(&h.server, &key.proof(&good)).await,
        Some(DpopProblem::TooOld)
    );
}

#[tokio::test]
async fn the_window_is_configurable() {
    let h = Harness::with(&[], |builder| {
        base(builder).dpop_proof_window(Duration::from_secs(10), Duration::ZERO)
    })
    .await;
    let key = Key::eddsa();
    for (iat, expected) in [
        (START - 11, Some(DpopProblem::TooOld)),
        (START - 10, None),
        (START + 1, Some(DpopProblem::FromTheFuture)),
        (START, None),
    ] {
        let proof = key.proof(&claims("GET", RESOURCE, iat));
        assert_eq!(problem(&h.server, &proof).await, expected, "iat {iat}");
    }
    assert_eq!(h.server.config().dpop.max_age(), Duration::from_secs(10));
    assert!(!h.server.config().dpop.requires_nonces());
}

#[tokio::test]
async fn a_required_nonce_is_asked_for_then_accepted() {
    let h = harness_with_nonces().await;
    let key = Key::es256();
    // No nonce: 400 use_dpop_nonce with a fresh one (§8).
    let answer = probe(&h.server, &[&key.proof(&claims("POST", PROBE_URL, START))]).await;
    answer.assert_error(400, "use_dpop_nonce");
    let nonce = answer.header("dpop-nonce").unwrap().to_owned();
    assert!(!nonce.is_empty());
    assert!(
        nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    // With it: accepted, no new nonce needed in the same period.
    let with_nonce = with(claims("POST", PROBE_URL, START), json!({ "nonce": nonce }));
    let answer = probe(&h.server, &[&key.proof(&with_nonce)]).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert!(answer.header("dpop-nonce").is_none());

    // At a resource server: 401 with the challenge and the nonce (§9).
    let error = at_resource(
        &h.server,
        &[&key.proof(&claims("GET", RESOURCE, START))],
        &Method::GET,
        RESOURCE,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), DpopErrorKind::UseNonce);
    assert_eq!(error.problem(), DpopProblem::NonceRequired);
    let fresh = error.nonce().unwrap().to_owned();
    let response = error.into_resource_response();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"DPoP error="use_dpop_nonce", algs="ES256 EdDSA RS256 PS256""#
    );
    assert_eq!(response.headers()["dpop-nonce"], fresh.as_str());
    let retried = with(claims("GET", RESOURCE, START), json!({ "nonce": fresh }));
    assert!(problem(&h.server, &key.proof(&retried)).await.is_none());

    // The nonce is checked before the replay: a proof refused for its nonce keeps its jti.
    let jti_kept = claims("GET", RESOURCE, START);
    assert_eq!(
        problem(&h.server, &key.proof(&jti_kept)).await,
        Some(DpopProblem::NonceRequired)
    );
    let jti_kept = with(jti_kept, json!({ "nonce": fresh }));
    assert!(problem(&h.server, &key.proof(&jti_kept)).await.is_none());
}

#[tokio::test]
async fn foreign_and_expired_nonces_are_stale() {
    let h = harness_with_nonces().await;
    let key = Key::eddsa();
    // A nonce of another secret (another deployment, or a rotated secret).
    let other = Harness::with(&[], |builder| {
        base(builder).dpop_nonce_secret(DpopNonceSecret::new([9u8; 32]).unwrap())
    })
    .await;
    let foreign = other.server.config().dpop.nonce(START).unwrap();
    let proof = key.proof(&with(
        claims("GET", RESOURCE, START),
        json!({ "nonce": foreign }),
    ));
    let error = at_resource(&h.server, &[&proof], &Method::GET, RESOURCE, None)
        .await
        .unwrap_err();
    assert_eq!(error.problem(), DpopProblem::StaleNonce);
    assert_eq!(error.code(), "use_dpop_nonce");
    let fresh = error.nonce().unwrap().to_owned();
    assert_ne!(fresh, foreign);
    assert_eq!(Some(fresh.clone()), h.server.config().dpop.nonce(START));
    for junk in ["", "nonce", "AAAA"] {
        let proof = key.proof(&with(
            claims("GET", RESOURCE, START),
            json!({ "nonce": junk }),
        ));
        assert_eq!(
            problem(&h.server, &proof).await,
            Some(DpopProblem::StaleNonce),
            "{junk}"
        );
    }

    // The next period: the nonce still works, and a fresh one is offered (§8.2).
    let period = h.server.config().dpop.nonce_period_length().as_secs();
    assert_eq!(period, 300);
    let next_period = START - START % period + period;
    h.clock.set(next_period);
    let proof = key.proof(&with(
        claims("POST", PROBE_URL, next_period),
        json!({ "nonce": fresh }),
    ));
    let answer = probe(&h.server, &[&proof]).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let offered = answer.header("dpop-nonce").unwrap();
    assert_ne!(offered, fresh);
    // Two periods on: expired, use_dpop_nonce at the endpoint with a new one that works.
    let later = next_period + period;
    h.clock.set(later);
    let proof = key.proof(&with(
        claims("POST", PROBE_URL, later),
        json!({ "nonce": fresh }),
    ));
    let answer = probe(&h.server, &[&proof]).await;
    answer.assert_error(400, "use_dpop_nonce");
    let newest = answer.header("dpop-nonce").unwrap().to_owned();
    let proof = key.proof(&with(
        claims("POST", PROBE_URL, later),
        json!({ "nonce": newest }),
    ));
    assert_eq!(probe(&h.server, &[&proof]).await.status, 200);
}

/// Two instances, each with its own pool, on one PostgreSQL schema, sharing a nonce secret.
async fn two_instances(schema: &TestSchema) -> [AuthorizationServer; 2] {
    let a: PgStore = schema.store().await;
    let b: PgStore = schema.store().await;
    let build = |store: PgStore| {
        base(AuthorizationServer::builder())
            .store(store)
            .client_cache(None)
            .dpop_nonce_secret(DpopNonceSecret::new(SECRET).unwrap())
            .build()
            .unwrap()
    };
    [build(a), build(b)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proof_is_accepted_once_across_instances_and_their_nonces_are_shared() {
    let Some(schema) = TestSchema::create("dpop_replay").await else {
        return;
    };
    let [a, b] = two_instances(&schema).await;
    let key = Key::es256();
    // A's nonce works at B (stateless, one secret).
    let nonce = a.config().dpop.nonce(a.now()).unwrap();
    let good = |server: &AuthorizationServer| {
        with(
            claims("GET", RESOURCE, server.now()),
            json!({ "nonce": nonce }),
        )
    };
    let proof = key.proof(&good(&a));
    assert!(problem(&b, &proof).await.is_none());
    // Replayed at A, then at B.
    assert_eq!(problem(&a, &proof).await, Some(DpopProblem::Replayed));
    assert_eq!(problem(&b, &proof).await, Some(DpopProblem::Replayed));
    // At the endpoints: accepted by A, refused by B.
    let proof = key.proof(&with(
        claims("POST", PROBE_URL, a.now()),
        json!({ "nonce": nonce }),
    ));
    assert_eq!(probe(&a, &[&proof]).await.status, 200);
    probe(&b, &[&proof])
        .await
        .assert_error(400, "invalid_dpop_proof");

    // Eight checks of one fresh proof at once, alternating instances: one is accepted.
    for round in 0..5 {
        let proof = Arc::new(key.proof(&good(&a)));
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let server = if i % 2 == 0 { a.clone() } else { b.clone() };
                let (barrier, proof) = (Arc::clone(&barrier), Arc::clone(&proof));
                tokio::spawn(async move {
                    barrier.wait().await;
                    problem(&server, &proof).await
                })
            })
            .collect();
        let mut accepted = 0;
        for task in tasks {
            match task.await.unwrap() {
                None => accepted += 1,
                Some(problem) => assert_eq!(problem, DpopProblem::Replayed),
            }
        }
        assert_eq!(
            accepted, 1,
            "round {round}: exactly one check accepts the proof"
        );
    }
}

#[tokio::test]
async fn without_a_replay_store_no_proof_is_accepted() {
    // Client and token stores given one by one, no assertion store: nothing remembers jtis.
    let store = oauth_endpoints::store::MemoryStore::new();
    let server = base(AuthorizationServer::builder())
        .client_store(store.clone())
        .token_store(store)
        .build()
        .unwrap();
    assert!(DpopVerifier::from_server(&server).is_none());
    let proof = Key::es256().proof(&claims("POST", PROBE_URL, server.now()));
    probe(&server, &[&proof])
        .await
        .assert_error(400, "invalid_dpop_proof");
}

// The token endpoint: bound tokens (RFC 9449 §5, §6).

const TOKEN_URL: &str = "https://as.example.com/oauth/token";
const SVC_SECRET: &str = "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF4jGs";
/// The thumbprint of [`Key::rfc8037`] (RFC 8037 Appendix A.3).
const RFC8037_JKT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

fn svc() -> oauth_endpoints::Client {
    oauth_endpoints::Client::confidential("svc", SVC_SECRET)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read".parse().unwrap())
        .build()
        .unwrap()
}

/// A `client_credentials` request of `svc`, with one `DPoP` header per proof.
async fn token_request(server: &AuthorizationServer, proofs: &[&str], body: &str) -> Answer {
    let mut request = Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            oauth_endpoints_tests::basic("svc", SVC_SECRET),
        );
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    send(server, request.body(Bytes::from(body.to_owned())).unwrap()).await
}

async fn introspect(server: &AuthorizationServer, token: &str) -> Value {
    send(
        server,
        oauth_endpoints_tests::post(
            "/oauth/introspect",
            Some(&oauth_endpoints_tests::basic("svc", SVC_SECRET)),
            &format!("token={token}"),
        ),
    )
    .await
    .json
}

#[tokio::test]
async fn a_token_request_with_a_proof_gets_tokens_bound_to_its_key() {
    let h = Harness::with(&[svc()], base).await;
    let key = Key::rfc8037();
    let body = "grant_type=client_credentials&scope=read";
    let answer = token_request(
        &h.server,
        &[&key.proof(&claims("POST", TOKEN_URL, START))],
        body,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.str("token_type"), Some("DPoP"));
    let token = answer.str("access_token").unwrap().to_owned();
    let introspected = introspect(&h.server, &token).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["cnf"]["jkt"], RFC8037_JKT);
    assert_eq!(introspected["token_type"], "DPoP");
    // Without a proof: a bearer token, no cnf.
    let bearer = token_request(&h.server, &[], body).await;
    assert_eq!(bearer.str("token_type"), Some("Bearer"));
    assert!(
        introspect(&h.server, bearer.str("access_token").unwrap())
            .await
            .get("cnf")
            .is_none()
    );
    // A proof for another URI, or two proofs: 400 invalid_dpop_proof, nothing issued.
    let elsewhere = key.proof(&claims("POST", "https://as.example.com/other", START));
    token_request(&h.server, &[&elsewhere], body)
        .await
        .assert_error(400, "invalid_dpop_proof");
    let one = key.proof(&claims("POST", TOKEN_URL, START));
    let two = key.proof(&claims("POST", TOKEN_URL, START));
    token_request(&h.server, &[&one, &two], body)
        .await
        .assert_error(400, "invalid_dpop_proof");
    // The metadata names the algorithms.
    assert_eq!(
        h.server.metadata().unwrap()["dpop_signing_alg_values_supported"],
        json!(DPOP_SIGNING_ALGS)
    );
}

#[tokio::test]
async fn a_bound_refresh_token_needs_a_proof_by_its_key() {
    let public = oauth_endpoints::Client::public("app")
        .with_grant_types(["refresh_token"])
        .with_scope("read".parse().unwrap())
        .build()
        .unwrap();
    let h = Harness::with(std::slice::from_ref(&public), base).await;
    let key = Key::rfc8037();
    let jkt = oauth_endpoints::token::Jkt::from_thumbprint(RFC8037_JKT).unwrap();
    let issued = h
        .server
        .issuer()
        .issue(
            &oauth_endpoints::token::TokenRequest::new(&public, "read".parse().unwrap())
                .with_confirmation(jkt)
                .with_refresh_token(true),
        )
        .await
        .unwrap();
    let refresh = issued.refresh_token().unwrap().to_owned();
    let body = format!("grant_type=refresh_token&client_id=app&refresh_token={refresh}");
    let post = |proofs: Vec<String>| {
        let body = body.clone();
        let server = h.server.clone();
        async move {
            let mut request = Request::post("/oauth/token")
                .header("content-type", "application/x-www-form-urlencoded");
            for proof in &proofs {
                request = request.header("dpop", proof.as_str());
            }
            send(&server, request.body(Bytes::from(body)).unwrap()).await
        }
    };
    // No proof, or a proof by another key: refused, and the refresh token left untouched.
    post(vec![]).await.assert_error(400, "invalid_grant");
    let other = Key::es256().proof(&claims("POST", TOKEN_URL, START));
    post(vec![other]).await.assert_error(400, "invalid_grant");
    // A proof by its key: new tokens, still bound to it.
    let answer = post(vec![key.proof(&claims("POST", TOKEN_URL, START))]).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.str("token_type"), Some("DPoP"));
    let next = answer.str("refresh_token").unwrap();
    let record = h
        .server
        .tokens()
        .find(&oauth_endpoints::secret::TokenHash::of(next), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.confirmation.map(|jkt| jkt.to_string()).as_deref(),
        Some(RFC8037_JKT)
    );
}

#[tokio::test]
async fn the_token_endpoint_asks_for_a_nonce_when_it_requires_them() {
    let h = Harness::with(&[svc()], |builder| {
        base(builder).dpop_nonce_secret(DpopNonceSecret::new(SECRET).unwrap())
    })
    .await;
    let key = Key::es256();
    let body = "grant_type=client_credentials&scope=read";
    let answer = token_request(
        &h.server,
        &[&key.proof(&claims("POST", TOKEN_URL, START))],
        body,
    )
    .await;
    answer.assert_error(400, "use_dpop_nonce");
    let nonce = answer.header("dpop-nonce").unwrap().to_owned();
    let proof = key.proof(&with(
        claims("POST", TOKEN_URL, START),
        json!({ "nonce": nonce }),
    ));
    let answer = token_request(&h.server, &[&proof], body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.str("token_type"), Some("DPoP"));
}

#[tokio::test]
async fn a_code_bound_with_dpop_jkt_is_exchanged_only_with_a_proof_by_that_key() {
    use oauth_endpoints_tests::authorize::{
        ISSUER as AS, VERIFIER, WEB_REDIRECT, approve, harness, pairs, param, web_basic, web_params,
    };
    let h = harness().await;
    let token_url = format!("{AS}/oauth/token");
    let mut owned = web_params("s");
    owned.push(("dpop_jkt", RFC8037_JKT.to_owned()));
    let params = approve(&h, &pairs(&owned)).await;
    let code = param(&params, "code").unwrap().to_owned();
    let exchange = |proof: Option<String>| {
        let server = h.server.clone();
        let code = code.clone();
        async move {
            let mut request = Request::post("/oauth/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", web_basic());
            if let Some(proof) = proof {
                request = request.header("dpop", proof);
            }
            let body = oauth_endpoints_tests::form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", WEB_REDIRECT),
                ("code_verifier", VERIFIER),
            ]);
            send(&server, request.body(Bytes::from(body)).unwrap()).await
        }
    };
    // RFC 9449 §10: without a proof, or with another key's, refused (the code stays usable).
    exchange(None).await.assert_error(400, "invalid_dpop_proof");
    let other = Key::es256().proof(&claims("POST", &token_url, START));
    exchange(Some(other))
        .await
        .assert_error(400, "invalid_dpop_proof");
    let good = Key::rfc8037().proof(&claims("POST", &token_url, START));
    let answer = exchange(Some(good)).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.str("token_type"), Some("DPoP"));
    // A malformed dpop_jkt is refused at the authorization endpoint.
    let mut owned = web_params("s");
    owned.push(("dpop_jkt", "short".to_owned()));
    let answer = send(
        &h.server,
        oauth_endpoints_tests::authorize::authorize_get(&pairs(&owned), Some("alice")),
    )
    .await;
    let (_, params) = oauth_endpoints_tests::authorize::location_params(&answer);
    assert_eq!(param(&params, "error"), Some("invalid_request"));
}

#[tokio::test]
async fn a_pushed_request_with_a_proof_binds_its_code_to_the_key() {
    use oauth_endpoints_tests::authorize::{
        ISSUER as AS, authorize_get, consent_form, harness, location_params, pairs, param,
        web_basic, web_params,
    };
    let h = harness().await;
    let owned = web_params("par");
    let body = oauth_endpoints_tests::form(&pairs(&owned));
    let push = |proof: String| {
        let server = h.server.clone();
        let body = body.clone();
        async move {
            let request = Request::post("/oauth/par")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", web_basic())
                .header("dpop", proof)
                .body(Bytes::from(body))
                .unwrap();
            send(&server, request).await
        }
    };
    let par_url = format!("{AS}/oauth/par");
    // A bad proof: refused (RFC 9449 §10.1).
    let bad = Key::rfc8037().proof(&claims("POST", "https://elsewhere.example/par", START));
    push(bad).await.assert_error(400, "invalid_dpop_proof");
    let pushed = push(Key::rfc8037().proof(&claims("POST", &par_url, START))).await;
    assert_eq!(pushed.status, 201, "{}", pushed.json);
    let request_uri = pushed.str("request_uri").unwrap().to_owned();
    let page = consent_form(
        send(
            &h.server,
            authorize_get(
                &[("client_id", "web"), ("request_uri", &request_uri)],
                Some("alice"),
            ),
        )
        .await,
    );
    let answer = send(&h.server, page.post("approve", "alice")).await;
    let (_, params) = location_params(&answer);
    let code = param(&params, "code").unwrap().to_owned();
    let exchange = oauth_endpoints_tests::authorize::exchange(
        &h,
        &code,
        oauth_endpoints_tests::authorize::VERIFIER,
    )
    .await;
    exchange.assert_error(400, "invalid_dpop_proof");
}

#[tokio::test]
async fn a_client_registered_for_dpop_gets_no_bearer_token() {
    let bound = oauth_endpoints::Client::confidential("svc", SVC_SECRET)
        .with_grant_types(["client_credentials"])
        .with_scope("read".parse().unwrap())
        .with_dpop_bound_access_tokens(true)
        .build()
        .unwrap();
    let h = Harness::with(&[bound], base).await;
    let body = "grant_type=client_credentials&scope=read";
    // RFC 9449 §5.2: without a proof, refused.
    token_request(&h.server, &[], body)
        .await
        .assert_error(400, "invalid_request");
    let proof = Key::es256().proof(&claims("POST", TOKEN_URL, START));
    let answer = token_request(&h.server, &[&proof], body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.str("token_type"), Some("DPoP"));
}
