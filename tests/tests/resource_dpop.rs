//! DPoP-bound access tokens at the application's own routes (RFC 9449 §7): `ResourceProtector`
//! with `Authorization: DPoP <token>` and a `DPoP` proof, the refusal of a bound token sent as a
//! Bearer token (§7.2), the challenges and nonces, and the axum extractor over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use std::net::SocketAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Uri};
use oauth_endpoints::dpop::{DpopNonceSecret, DpopProblem, DpopVerifier, ProofRequest};
use oauth_endpoints::keys::{KeySet, SigningAlgorithm, SigningKey};
use oauth_endpoints::resource::{
    BearerError, BearerErrorKind, JwtValidation, Principal, ResourceProtector,
};
use oauth_endpoints::token::{AccessTokenFormat, Jkt, TokenRequest};
use oauth_endpoints::{AuthorizationServer, AuthorizationServerBuilder, Client};
use oauth_endpoints_tests::dpop_key::Key;
use oauth_endpoints_tests::{Harness, START};
use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use serde_json::{Value, json};

const ISSUER: &str = "https://as.example.com";
/// Where clients call the API: the origin every proof's `htu` names.
const API: &str = "https://api.example.com";
const PATH: &str = "/photos/1";
const RESOURCE: &str = "https://api.example.com/photos/1";
const ALGS: &str = r#"algs="ES256 EdDSA RS256 PS256""#;
const NONCE_SECRET: [u8; 32] = *b"dpop-nonce-secret-for-the-tests!";

/// Proofs for the requests of these tests.
trait ProofFor {
    /// A good proof of `htm` to `htu` presenting `token`, at the harness's start.
    fn proof_for(&self, htm: &str, htu: &str, token: &str) -> String;
}

impl ProofFor for Key {
    fn proof_for(&self, htm: &str, htu: &str, token: &str) -> String {
        self.proof(&claims(htm, htu, Some(token)))
    }
}

/// The claims of a proof with a fresh `jti` (and `ath` of `token`).
fn claims(htm: &str, htu: &str, token: Option<&str>) -> Value {
    let mut claims = json!({"jti": oauth_endpoints::secret::generate_secret(),
        "htm": htm, "htu": htu, "iat": START});
    if let Some(token) = token {
        claims["ath"] = ath(token).into();
    }
    claims
}

/// base64url(SHA-256(token)): computed by the `oauth2` crate (PKCE S256 is the same) for
/// lengths PKCE accepts (43 to 128: opaque tokens); for others (JWTs, short strings) the
/// library's `TokenHash`, which is the plain SHA-256 of any value it did not mint.
fn ath(token: &str) -> String {
    if (43..=128).contains(&token.len()) {
        let verifier = PkceCodeVerifier::new(token.to_owned());
        return PkceCodeChallenge::from_code_verifier_sha256(&verifier)
            .as_str()
            .to_owned();
    }
    URL_SAFE_NO_PAD.encode(oauth_endpoints::secret::TokenHash::of(token).as_bytes())
}

fn client() -> Client {
    Client::confidential("svc", "kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1")
        .build()
        .unwrap()
}

fn base(builder: AuthorizationServerBuilder) -> AuthorizationServerBuilder {
    builder.issuer(ISSUER)
}

async fn harness() -> Harness {
    Harness::with(&[client()], base).await
}

fn protector(server: &AuthorizationServer) -> ResourceProtector {
    ResourceProtector::new(server)
        .public_origin(API)
        .require_scope("photos")
}

/// The thumbprint of `key`, as the server computes it (a proof checked at another URI).
async fn jkt(server: &AuthorizationServer, key: &Key) -> Jkt {
    let headers = headers(
        None,
        Some(&key.proof(&claims("GET", "https://x.example/", None))),
    );
    let verifier = DpopVerifier::from_server(server).unwrap();
    let proof = verifier
        .verify(ProofRequest::new(
            &Method::GET,
            "https://x.example/",
            &headers,
        ))
        .await
        .unwrap();
    proof.jkt().parse().unwrap()
}

/// An access token for scope `photos`, bound to `key` when given.
async fn token(server: &AuthorizationServer, bound_to: Option<&Key>) -> String {
    let mut request = TokenRequest::new(&client(), "photos".parse().unwrap());
    if let Some(key) = bound_to {
        request = request.with_confirmation(jkt(server, key).await);
    }
    server
        .issuer()
        .issue(&request)
        .await
        .unwrap()
        .access_token()
        .to_owned()
}

fn headers(authorization: Option<&str>, proof: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(authorization) = authorization {
        headers.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
    }
    if let Some(proof) = proof {
        headers.append("dpop", HeaderValue::from_str(proof).unwrap());
    }
    headers
}

/// GET [`PATH`] with these headers.
async fn get(protector: &ResourceProtector, headers: &HeaderMap) -> Result<Principal, BearerError> {
    protector
        .protect_request(&Method::GET, &Uri::from_static(PATH), headers)
        .await
}

/// `Authorization: DPoP <token>` with `proof`, GET [`PATH`].
async fn dpop(
    protector: &ResourceProtector,
    token: &str,
    proof: &str,
) -> Result<Principal, BearerError> {
    get(
        protector,
        &headers(Some(&format!("DPoP {token}")), Some(proof)),
    )
    .await
}

/// The refusal's status, `WWW-Authenticate` fields and the refused proof's problem.
fn refusal(error: BearerError) -> (u16, Vec<String>, Option<DpopProblem>) {
    let problem = error.dpop_error().map(|error| error.problem());
    let response = error.into_response();
    let challenges = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    (response.status().as_u16(), challenges, problem)
}

fn dpop_challenge(code: &str) -> Vec<String> {
    vec![format!(r#"DPoP error="{code}", {ALGS}"#)]
}

#[tokio::test]
async fn a_bound_token_with_a_good_proof_is_accepted_and_its_principal_says_bound() {
    let h = harness().await;
    let protector = protector(&h.server);
    for key in [Key::es256(), Key::eddsa()] {
        let token = token(&h.server, Some(&key)).await;
        let principal = dpop(&protector, &token, &key.proof_for("GET", RESOURCE, &token))
            .await
            .unwrap();
        assert!(principal.is_dpop_bound());
        assert_eq!(principal.confirmation(), Some(jkt(&h.server, &key).await));
        assert_eq!(principal.client_id(), "svc");
        assert!(principal.dpop_nonce().is_none());
        let json = serde_json::to_value(&principal).unwrap();
        assert_eq!(
            json["cnf"]["jkt"],
            principal.confirmation().unwrap().to_string()
        );
        // The scheme is case-insensitive (RFC 9110 §11.1); the query is not part of `htu`.
        let headers = headers(
            Some(&format!("dpop {token}")),
            Some(&key.proof_for("POST", RESOURCE, &token)),
        );
        let uri = Uri::from_static("/photos/1?size=large");
        assert!(
            protector
                .protect_request(&Method::POST, &uri, &headers)
                .await
                .is_ok()
        );
    }
    // A Bearer token is no bound one.
    let bearer = token(&h.server, None).await;
    let principal = get(
        &protector,
        &headers(Some(&format!("Bearer {bearer}")), None),
    )
    .await
    .unwrap();
    assert!(!principal.is_dpop_bound());
    assert_eq!(principal.confirmation(), None);
}

#[tokio::test]
async fn a_bound_token_sent_as_a_bearer_token_is_refused_with_a_dpop_challenge() {
    let h = harness().await;
    let protector = protector(&h.server);
    let key = Key::es256();
    let token = token(&h.server, Some(&key)).await;
    let bearer = headers(Some(&format!("Bearer {token}")), None);
    let error = get(&protector, &bearer).await.unwrap_err();
    assert_eq!(error.kind(), BearerErrorKind::InvalidToken);
    assert_eq!(refusal(error), (401, dpop_challenge("invalid_token"), None));
    // With a proof beside it too: the scheme says Bearer (§7.2).
    let with_proof = headers(
        Some(&format!("Bearer {token}")),
        Some(&key.proof_for("GET", RESOURCE, &token)),
    );
    let error = get(&protector, &with_proof).await.unwrap_err();
    assert_eq!(error.kind(), BearerErrorKind::InvalidToken);
    // Headers only, and a token from elsewhere: refused as well.
    let error = protector.protect(&bearer).await.unwrap_err();
    assert_eq!(error.kind(), BearerErrorKind::InvalidToken);
    let error = protector.validate_token(&token).await.unwrap_err();
    assert_eq!(error.kind(), BearerErrorKind::InvalidToken);
}

#[tokio::test]
async fn the_proof_must_be_made_with_the_key_the_token_is_bound_to() {
    let h = harness().await;
    let protector = protector(&h.server);
    let key = Key::es256();
    let other = Key::es256();
    let token = token(&h.server, Some(&key)).await;
    let error = dpop(
        &protector,
        &token,
        &other.proof_for("GET", RESOURCE, &token),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), BearerErrorKind::InvalidToken);
    assert_eq!(refusal(error), (401, dpop_challenge("invalid_token"), None));

    // An unbound token with the DPoP scheme: §7.1 asks to check the binding; there is none.
    let unbound = token_unbound(&h.server).await;
    let error = dpop(
        &protector,
        &unbound,
        &key.proof_for("GET", RESOURCE, &unbound),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), BearerErrorKind::InvalidToken);
    assert_eq!(refusal(error), (401, dpop_challenge("invalid_token"), None));
}

async fn token_unbound(server: &AuthorizationServer) -> String {
    token(server, None).await
}

#[tokio::test]
async fn a_proof_for_another_request_is_invalid_dpop_proof() {
    let h = harness().await;
    let protector = protector(&h.server);
    let key = Key::es256();
    let token = token(&h.server, Some(&key)).await;
    let cases = [
        (
            key.proof_for("GET", "https://api.example.com/photos/2", &token),
            DpopProblem::WrongUri,
        ),
        // The host the request came to (its Host header) is never trusted: the public origin is.
        (
            key.proof_for("GET", "https://evil.example/photos/1", &token),
            DpopProblem::WrongUri,
        ),
        (
            key.proof_for("POST", RESOURCE, &token),
            DpopProblem::WrongMethod,
        ),
        (
            key.proof(&claims("GET", RESOURCE, None)),
            DpopProblem::MissingAth,
        ),
        (
            key.proof(
                &json!({"jti": "j1", "htm": "GET", "htu": RESOURCE, "iat": START,
                "ath": ath("another token")}),
            ),
            DpopProblem::WrongAth,
        ),
    ];
    for (proof, problem) in cases {
        let mut headers = headers(Some(&format!("DPoP {token}")), Some(&proof));
        headers.insert("host", HeaderValue::from_static("evil.example"));
        let error = get(&protector, &headers).await.unwrap_err();
        assert_eq!(
            error.kind(),
            BearerErrorKind::InvalidDpopProof,
            "{problem:?}"
        );
        assert_eq!(
            refusal(error),
            (401, dpop_challenge("invalid_dpop_proof"), Some(problem))
        );
    }
    // No proof, or two.
    let no_proof = headers(Some(&format!("DPoP {token}")), None);
    let (_, _, problem) = refusal(get(&protector, &no_proof).await.unwrap_err());
    assert_eq!(problem, Some(DpopProblem::Missing));
    let mut two = headers(
        Some(&format!("DPoP {token}")),
        Some(&key.proof_for("GET", RESOURCE, &token)),
    );
    two.append(
        "dpop",
        HeaderValue::from_str(&key.proof_for("GET", RESOURCE, &token)).unwrap(),
    );
    let (status, _, problem) = refusal(get(&protector, &two).await.unwrap_err());
    assert_eq!((status, problem), (401, Some(DpopProblem::SeveralHeaders)));
    // The proof is checked against the public origin, not the issuer's, once one is set.
    let issuer_origin = key.proof_for("GET", "https://as.example.com/photos/1", &token);
    assert!(dpop(&protector, &token, &issuer_origin).await.is_err());
    let defaulted = ResourceProtector::new(&h.server);
    let issuer_origin = key.proof_for("GET", "https://as.example.com/photos/1", &token);
    assert!(dpop(&defaulted, &token, &issuer_origin).await.is_ok());
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let h = harness().await;
    let protector = protector(&h.server);
    let key = Key::es256();
    let token = token(&h.server, Some(&key)).await;
    let proof = key.proof_for("GET", RESOURCE, &token);
    assert!(dpop(&protector, &token, &proof).await.is_ok());
    let error = dpop(&protector, &token, &proof).await.unwrap_err();
    assert_eq!(
        refusal(error),
        (
            401,
            dpop_challenge("invalid_dpop_proof"),
            Some(DpopProblem::Replayed)
        )
    );
}

#[tokio::test]
async fn malformed_dpop_credentials_are_400_with_a_dpop_challenge() {
    let h = harness().await;
    let protector = protector(&h.server);
    for value in ["DPoP", "DPoP a b", "DPoP \"abc\""] {
        let error = get(&protector, &headers(Some(value), None))
            .await
            .unwrap_err();
        assert_eq!(
            refusal(error),
            (400, dpop_challenge("invalid_request"), None),
            "{value}"
        );
    }
}

#[tokio::test]
async fn missing_credentials_get_both_challenges() {
    let h = harness().await;
    let protector = protector(&h.server);
    let error = get(&protector, &HeaderMap::new()).await.unwrap_err();
    assert_eq!(error.kind(), BearerErrorKind::MissingToken);
    assert_eq!(
        refusal(error),
        (
            401,
            vec![r#"Bearer realm="api""#.to_owned(), format!("DPoP {ALGS}")],
            None
        )
    );
    // Without an issuer nor a public origin, proofs cannot be checked: Bearer only.
    let plain = Harness::with(&[client()], |b| b).await;
    let error = get(&ResourceProtector::new(&plain.server), &HeaderMap::new())
        .await
        .unwrap_err();
    assert_eq!(
        refusal(error),
        (401, vec![r#"Bearer realm="api""#.to_owned()], None)
    );
}

#[tokio::test]
async fn insufficient_scope_for_a_bound_token_gets_a_dpop_challenge() {
    let h = harness().await;
    let protector = protector(&h.server).require_scope("admin");
    let key = Key::es256();
    let token = token(&h.server, Some(&key)).await;
    let error = dpop(&protector, &token, &key.proof_for("GET", RESOURCE, &token))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(error),
        (
            403,
            vec![format!(
                r#"DPoP error="insufficient_scope", scope="admin photos", {ALGS}"#
            )],
            None
        )
    );
}

#[tokio::test]
async fn a_required_nonce_is_asked_for_with_dpop_nonce_then_accepted() {
    let h = Harness::with(&[client()], |builder| {
        base(builder).dpop_nonce_secret(DpopNonceSecret::new(NONCE_SECRET).unwrap())
    })
    .await;
    let protector = protector(&h.server);
    let key = Key::es256();
    let token = token_with_nonce(&h.server, &key).await;
    let error = dpop(&protector, &token, &key.proof_for("GET", RESOURCE, &token))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), BearerErrorKind::UseDpopNonce);
    let nonce = error.dpop_nonce().unwrap().to_owned();
    let response = error.into_response();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()[WWW_AUTHENTICATE],
        format!(r#"DPoP error="use_dpop_nonce", {ALGS}"#).as_str()
    );
    assert_eq!(response.headers()["dpop-nonce"], nonce.as_str());
    let mut claims = claims("GET", RESOURCE, Some(&token));
    claims["nonce"] = nonce.into();
    let principal = dpop(&protector, &token, &key.proof(&claims)).await.unwrap();
    assert!(principal.is_dpop_bound());
}

/// A bound token at a server requiring nonces (the thumbprint computed with a nonce).
async fn token_with_nonce(server: &AuthorizationServer, key: &Key) -> String {
    let verifier = DpopVerifier::from_server(server).unwrap();
    let first = headers(None, Some(&key.proof(&claims("GET", RESOURCE, None))));
    let nonce = verifier
        .verify(ProofRequest::new(&Method::GET, RESOURCE, &first))
        .await
        .unwrap_err()
        .nonce()
        .unwrap()
        .to_owned();
    let mut claims = claims("GET", RESOURCE, None);
    claims["nonce"] = nonce.into();
    let headers = headers(None, Some(&key.proof(&claims)));
    let jkt: Jkt = verifier
        .verify(ProofRequest::new(&Method::GET, RESOURCE, &headers))
        .await
        .unwrap()
        .jkt()
        .parse()
        .unwrap();
    let request = TokenRequest::new(&client(), "photos".parse().unwrap()).with_confirmation(jkt);
    server
        .issuer()
        .issue(&request)
        .await
        .unwrap()
        .access_token()
        .to_owned()
}

#[tokio::test]
async fn a_bound_jwt_checked_by_its_signature_alone_follows_its_cnf_claim() {
    let h = Harness::with(&[client()], |builder| {
        base(builder)
            .signing_keys(KeySet::new(
                SigningKey::generate(SigningAlgorithm::Es256).unwrap(),
            ))
            .access_token_format(AccessTokenFormat::Jwt)
    })
    .await;
    let protector = protector(&h.server).jwt_validation(JwtValidation::SignatureOnly);
    let key = Key::es256();
    let token = token(&h.server, Some(&key)).await;
    assert_eq!(token.matches('.').count(), 2);
    // As Bearer: its `cnf` says bound.
    let error = get(&protector, &headers(Some(&format!("Bearer {token}")), None))
        .await
        .unwrap_err();
    assert_eq!(refusal(error), (401, dpop_challenge("invalid_token"), None));
    // With a proof by its key: accepted, with no store lookup.
    let principal = dpop(&protector, &token, &key.proof_for("GET", RESOURCE, &token))
        .await
        .unwrap();
    assert!(!principal.revocation_checked());
    assert_eq!(principal.confirmation(), Some(jkt(&h.server, &key).await));
    // By another key: refused.
    let error = dpop(
        &protector,
        &token,
        &Key::eddsa().proof_for("GET", RESOURCE, &token),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), BearerErrorKind::InvalidToken);
    // An unbound JWT is still a Bearer token there.
    let unbound = token_unbound(&h.server).await;
    let bearer = headers(Some(&format!("Bearer {unbound}")), None);
    assert!(!get(&protector, &bearer).await.unwrap().is_dpop_bound());
}

/// The axum extractor over HTTP: the request goes to 127.0.0.1, the proof names the public
/// origin.
#[tokio::test]
async fn the_axum_extractor_accepts_a_bound_token_and_refuses_a_bad_proof() {
    let h = harness().await;
    let protector = protector(&h.server);
    let app = axum::Router::new()
        .route(
            PATH,
            axum::routing::get(|principal: Principal| async move {
                format!("{} {}", principal.client_id(), principal.is_dpop_bound())
            }),
        )
        .with_state(protector);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("http://{addr}{PATH}");

    let key = Key::es256();
    let token = token(&h.server, Some(&key)).await;
    let call = |proof: String| {
        reqwest::Client::new()
            .get(&url)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .send()
    };
    let good = call(key.proof_for("GET", RESOURCE, &token)).await.unwrap();
    assert_eq!(good.status(), 200);
    assert_eq!(good.text().await.unwrap(), "svc true");

    let refused = call(key.proof_for("GET", &url, &token)).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()[WWW_AUTHENTICATE],
        format!(r#"DPoP error="invalid_dpop_proof", {ALGS}"#).as_str()
    );
    let body: Value = serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof");
}
