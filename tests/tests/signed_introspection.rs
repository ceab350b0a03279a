//! Signed introspection answers (RFC 9701): asked for with `Accept`, checked with another JOSE
//! implementation than the server's, from the JWKS as served; `token_introspection` is exactly
//! the JSON answer; errors stay JSON; the metadata names the algorithms.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use std::num::NonZeroU32;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{Request, StatusCode};
use oauth_endpoints::client_auth::ClientAuthMethod;
use oauth_endpoints::keys::{KeySet, SigningAlgorithm, SigningKey};
use oauth_endpoints::throttle::Quota;
use oauth_endpoints::token::{AccessTokenFormat, TokenRecord, TokenRequest};
use oauth_endpoints::{AuthorizationServer, AuthorizationServerBuilder, Client};
use oauth_endpoints_tests::{Answer, Harness, START, basic, form, jose, send};
use serde_json::{Map, Value, json};

const ISSUER: &str = "https://auth.example.com";
const JWT: &str = "application/token-introspection+jwt";
const APP_SECRET: &str = "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";
const RS_SECRET: &str = "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";
const OUTSIDER_SECRET: &str = "outsider-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";

fn app() -> Client {
    Client::confidential("app", APP_SECRET)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read write".parse().unwrap())
        .build()
        .unwrap()
}

/// A resource server: authenticates with `client_secret_post`, or presents a Bearer token of
/// its own carrying the `introspection` scope.
fn resource_server() -> Client {
    Client::confidential("rs", RS_SECRET)
        .with_auth_method(ClientAuthMethod::ClientSecretPost)
        .with_scope("introspection".parse().unwrap())
        .build()
        .unwrap()
}

fn outsider() -> Client {
    Client::confidential("outsider", OUTSIDER_SECRET)
        .build()
        .unwrap()
}

fn clients() -> Vec<Client> {
    vec![app(), resource_server(), outsider()]
}

fn key(algorithm: SigningAlgorithm) -> SigningKey {
    SigningKey::generate(algorithm).unwrap()
}

async fn harness_with(
    keys: KeySet,
    configure: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
) -> Harness {
    Harness::with(&clients(), |builder| {
        configure(builder.issuer(ISSUER).signing_keys(keys))
    })
    .await
}

async fn harness(algorithm: SigningAlgorithm) -> Harness {
    harness_with(KeySet::new(key(algorithm)), |builder| builder).await
}

/// A POST to the introspection endpoint with optional `Authorization` and `Accept` headers.
fn introspection_request(
    authorization: Option<&str>,
    accept: Option<&str>,
    pairs: &[(&str, &str)],
) -> Request<Bytes> {
    let mut builder = Request::post("/oauth/introspect")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    if let Some(value) = accept {
        builder = builder.header(ACCEPT, value);
    }
    builder.body(Bytes::from(form(pairs))).unwrap()
}

/// `token` introspected by `app` (Basic), asking for `accept`.
async fn as_app(h: &Harness, token: &str, accept: Option<&str>) -> Answer {
    h.send(introspection_request(
        Some(&basic("app", APP_SECRET)),
        accept,
        &[("token", token)],
    ))
    .await
}

async fn jwks(server: &AuthorizationServer) -> Value {
    send(
        server,
        Request::get("/oauth/jwks").body(Bytes::new()).unwrap(),
    )
    .await
    .json
}

async fn issue(h: &Harness) -> String {
    h.client_credentials("app", APP_SECRET, Some("read"))
        .await
        .str("access_token")
        .unwrap()
        .to_owned()
}

/// The body of a signed answer, as text.
fn jwt_of(answer: &Answer) -> &str {
    std::str::from_utf8(&answer.body).unwrap()
}

/// The claims of a compact JWS as they were signed, without checking anything.
fn payload(jwt: &str) -> Map<String, Value> {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Asserts a signed answer: status, headers, JOSE header, exactly the four claims of RFC 9701
/// §5 verified by `jwt-simple` against the JWKS as served, `aud` = `audience`; returns
/// `token_introspection`.
async fn assert_signed(h: &Harness, answer: &Answer, audience: &str) -> Value {
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.header("content-type"), Some(JWT));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("pragma"), Some("no-cache"));
    assert_eq!(answer.header("vary"), Some("Accept"));
    let jwt = jwt_of(answer);
    let header = jose::header(jwt);
    assert_eq!(header["typ"], "token-introspection+jwt");
    let keys = jwks(&h.server).await;
    assert_eq!(
        header["kid"], keys["keys"][0]["kid"],
        "the active key signs"
    );
    assert_eq!(header["alg"], keys["keys"][0]["alg"]);
    let claims = jose::verify(&keys, jwt, h.server.now());
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["iat"], h.server.now());
    // Nothing else at the top level: no `exp`, no `sub` (RFC 9701 §5, §8.1).
    let signed = payload(jwt);
    let mut names: Vec<&str> = signed.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["aud", "iat", "iss", "token_introspection"]);
    assert_eq!(claims["token_introspection"], signed["token_introspection"]);
    assert!(signed["token_introspection"].is_object());
    signed["token_introspection"].clone()
}

#[tokio::test]
async fn an_active_answer_is_signed_and_carries_exactly_the_json_answer() {
    for algorithm in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
        let h = harness(algorithm).await;
        let token = issue(&h).await;
        let plain = as_app(&h, &token, None).await;
        assert_eq!(plain.json["active"], true);
        let answer = as_app(&h, &token, Some(JWT)).await;
        assert_eq!(jose::header(jwt_of(&answer))["alg"], algorithm.as_str());
        let members = assert_signed(&h, &answer, "app").await;
        assert_eq!(members, plain.json, "every member of the JSON answer");
        let record = h.record(&token).await;
        assert_eq!(members["jti"], record.id.to_string());
        assert_eq!(members["exp"], record.expires_at, "the token's exp, inside");
    }
}

#[tokio::test]
async fn hook_added_claims_and_jwt_access_tokens_are_signed_as_answered() {
    let h = harness_with(KeySet::new(key(SigningAlgorithm::Es256)), |builder| {
        builder
            .access_token_format(AccessTokenFormat::Jwt)
            .introspection_claims(
                |_token: &TokenRecord, caller: &Client, claims: &mut Map<String, Value>| {
                    claims.insert("tenant".into(), json!("acme"));
                    claims.insert("asked_by".into(), json!(caller.client_id()));
                },
            )
    })
    .await;
    let token = issue(&h).await;
    assert_eq!(token.matches('.').count(), 2, "a JWT access token");
    let plain = as_app(&h, &token, None).await;
    assert_eq!(plain.json["tenant"], "acme");
    let members = assert_signed(&h, &as_app(&h, &token, Some(JWT)).await, "app").await;
    assert_eq!(members, plain.json);
    assert_eq!(members["asked_by"], "app");
}

/// Unknown, malformed, expired, revoked, forged and not-permitted tokens: one signed member,
/// `{"active":false}`; for one caller at one instant, the very same bytes (Ed25519 signatures
/// are deterministic), and the same headers.
#[tokio::test]
async fn inactive_answers_stay_indistinguishable_when_signed() {
    let h = harness_with(KeySet::new(key(SigningAlgorithm::EdDsa)), |builder| {
        builder.access_token_ttl(Duration::from_secs(60))
    })
    .await;
    let expiring = issue(&h).await;
    h.clock.advance(Duration::from_secs(61));
    let revoked = issue(&h).await;
    let revoke = h
        .send(oauth_endpoints_tests::post(
            "/oauth/revoke",
            Some(&basic("app", APP_SECRET)),
            &form(&[("token", &revoked)]),
        ))
        .await;
    assert_eq!(revoke.status, StatusCode::OK);
    let forger = KeySet::new(key(SigningAlgorithm::EdDsa));
    let forged = forger
        .sign(
            "at+jwt",
            &json!({"iss": ISSUER, "sub": "app", "exp": START + 10_000}),
        )
        .unwrap();
    // Another client's token, which `app` may not see (the default policy).
    let foreign = h
        .server
        .issuer()
        .issue(&TokenRequest::new(
            &resource_server(),
            "introspection".parse().unwrap(),
        ))
        .await
        .unwrap()
        .access_token()
        .to_owned();

    let mut answers = Vec::new();
    for token in [
        "never-issued",
        "%%% not even a token \u{1F600}",
        &expiring,
        &revoked,
        &forged,
        &foreign,
    ] {
        answers.push(as_app(&h, token, Some(JWT)).await);
    }
    let first = answers.remove(0);
    assert_eq!(
        assert_signed(&h, &first, "app").await,
        json!({"active": false})
    );
    for answer in answers {
        assert_eq!(answer.status, first.status);
        assert_eq!(answer.headers, first.headers);
        assert_eq!(answer.body, first.body);
    }
    // Another caller: its own `aud`, the same member.
    let other = h
        .send(introspection_request(
            None,
            Some(JWT),
            &[
                ("token", "never-issued"),
                ("client_id", "rs"),
                ("client_secret", RS_SECRET),
            ],
        ))
        .await;
    assert_eq!(
        assert_signed(&h, &other, "rs").await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn json_is_answered_unless_the_jwt_is_asked_for() {
    let h = harness(SigningAlgorithm::Es256).await;
    let token = issue(&h).await;
    let plain = as_app(&h, &token, None).await;
    plain.assert_oauth_headers();
    assert_eq!(
        plain.header("vary"),
        Some("Accept"),
        "the answer depends on Accept"
    );
    for accept in [
        "application/json",
        "*/*",
        "application/*",
        "text/html, application/xhtml+xml, */*;q=0.8",
        "application/token-introspection+jwt;q=0",
        "application/token-introspection+jwt;q=0.5, application/json",
        "application/token-introspection+jwt;q=2",
    ] {
        let answer = as_app(&h, &token, Some(accept)).await;
        assert_eq!(answer.status, StatusCode::OK, "{accept}");
        answer.assert_oauth_headers();
        assert_eq!(answer.body, plain.body, "{accept}");
        assert_eq!(answer.headers, plain.headers, "{accept}");
    }
    for accept in [
        "application/token-introspection+jwt, application/json",
        "application/json;q=0.5, Application/Token-Introspection+JWT;q=0.9",
        "*/*;q=0.1, application/token-introspection+jwt; q=1.0",
    ] {
        let answer = as_app(&h, &token, Some(accept)).await;
        assert_eq!(
            assert_signed(&h, &answer, "app").await,
            plain.json,
            "{accept}"
        );
    }
    // Two `Accept` fields are one list.
    let request = Request::post("/oauth/introspect")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(AUTHORIZATION, basic("app", APP_SECRET))
        .header(ACCEPT, "application/json;q=0.1")
        .header(ACCEPT, JWT)
        .body(Bytes::from(form(&[("token", &token)])))
        .unwrap();
    assert_signed(&h, &h.send(request).await, "app").await;
}

/// RFC 9701 makes the JWT an offer the metadata advertises (§7); without keys (or without an
/// issuer for `iss`, §5) the server disregards the `Accept` header (RFC 9110 §12.5.1) and
/// answers the JSON it always did.
#[tokio::test]
async fn without_keys_or_issuer_the_answer_is_json() {
    let keyless = Harness::with(&clients(), |builder| builder.issuer(ISSUER)).await;
    let no_issuer = Harness::with(&clients(), |builder| {
        builder.signing_keys(KeySet::new(key(SigningAlgorithm::Es256)))
    })
    .await;
    for h in [&keyless, &no_issuer] {
        let token = issue(h).await;
        let plain = as_app(h, &token, None).await;
        let answer = as_app(h, &token, Some(JWT)).await;
        assert_eq!(answer.status, StatusCode::OK);
        answer.assert_oauth_headers();
        assert_eq!(answer.json["active"], true);
        assert_eq!(answer.body, plain.body);
        assert_eq!(answer.headers, plain.headers);
        assert!(answer.header("vary").is_none(), "nothing was negotiated");
        let inactive = as_app(h, "never-issued", Some(JWT)).await;
        assert_eq!(inactive.body.as_ref(), oauth_endpoints::endpoints::INACTIVE);
        inactive.assert_oauth_headers();
    }
    let metadata = keyless.server.metadata().unwrap();
    assert!(
        metadata
            .get("introspection_signing_alg_values_supported")
            .is_none()
    );
    assert!(keyless.server.route("introspection").is_some());
    assert!(no_issuer.server.route("introspection").is_some());
}

#[tokio::test]
async fn a_bearer_authorised_caller_is_the_audience() {
    let h = harness(SigningAlgorithm::Es256).await;
    let rs_token = h
        .send(oauth_endpoints_tests::post(
            "/oauth/token",
            None,
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "rs"),
                ("client_secret", RS_SECRET),
            ]),
        ))
        .await;
    let bearer = format!("Bearer {}", rs_token.str("access_token").unwrap());
    let request = TokenRequest::new(&app(), "read".parse().unwrap()).with_audience(["rs"]);
    let target = h.server.issuer().issue(&request).await.unwrap();
    let pairs = [("token", target.access_token())];
    let plain = h
        .send(introspection_request(Some(&bearer), None, &pairs))
        .await;
    assert_eq!(plain.json["active"], true, "{}", plain.json);
    let answer = h
        .send(introspection_request(Some(&bearer), Some(JWT), &pairs))
        .await;
    let members = assert_signed(&h, &answer, "rs").await;
    assert_eq!(members, plain.json);
    assert_eq!(members["client_id"], "app", "the token's client, inside");
}

#[tokio::test]
async fn errors_stay_json() {
    let h = harness_with(KeySet::new(key(SigningAlgorithm::Es256)), |builder| {
        builder.throttle(Quota::per_hour(NonZeroU32::MIN).allow_burst(NonZeroU32::MIN))
    })
    .await;
    let token = issue(&h).await;
    // 401: no credentials, wrong credentials.
    h.send(introspection_request(None, Some(JWT), &[("token", &token)]))
        .await
        .assert_error(401, "invalid_client");
    h.send(introspection_request(
        Some(&basic("app", "wrong")),
        Some(JWT),
        &[("token", &token)],
    ))
    .await
    .assert_error(401, "invalid_client");
    // 401 and 403 for Bearer callers.
    let answer = h
        .send(introspection_request(
            Some("Bearer not-a-token"),
            Some(JWT),
            &[("token", &token)],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.error(), Some("invalid_token"));
    answer.assert_oauth_headers();
    let answer = h
        .send(introspection_request(
            Some(&format!("Bearer {token}")),
            Some(JWT),
            &[("token", "anything")],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.error(), Some("insufficient_scope"));
    answer.assert_oauth_headers();
    // 400: no token (the caller's one request of the hour).
    h.send(introspection_request(
        Some(&basic("outsider", OUTSIDER_SECRET)),
        Some(JWT),
        &[],
    ))
    .await
    .assert_error(400, "invalid_request");
    // 429: over the limit.
    let answer = as_app(&h, &token, Some(JWT)).await;
    assert_signed(&h, &answer, "app").await;
    let answer = as_app(&h, &token, Some(JWT)).await;
    answer.assert_error(429, "temporarily_unavailable");
    assert!(answer.header("retry-after").is_some());
}

/// A signed answer is not an access token (RFC 9701 §8.1): presented as one, it is inactive.
#[tokio::test]
async fn a_signed_answer_introspects_as_inactive() {
    let h = harness(SigningAlgorithm::Es256).await;
    let token = issue(&h).await;
    let answer = as_app(&h, &token, Some(JWT)).await;
    let jwt = jwt_of(&answer).to_owned();
    let again = as_app(&h, &jwt, None).await;
    assert_eq!(again.body.as_ref(), oauth_endpoints::endpoints::INACTIVE);
}

#[tokio::test]
async fn the_metadata_lists_the_key_sets_algorithms() {
    let h = harness_with(
        KeySet::new(key(SigningAlgorithm::EdDsa))
            .with_previous(key(SigningAlgorithm::Es256))
            .with_previous(key(SigningAlgorithm::EdDsa)),
        |builder| builder,
    )
    .await;
    let document = send(
        &h.server,
        Request::get("/.well-known/oauth-authorization-server")
            .body(Bytes::new())
            .unwrap(),
    )
    .await
    .json;
    assert_eq!(
        document["introspection_signing_alg_values_supported"],
        json!(["EdDSA", "ES256"])
    );
    assert_eq!(document["jwks_uri"], format!("{ISSUER}/oauth/jwks"));
    assert!(
        document
            .get("introspection_encryption_alg_values_supported")
            .is_none()
    );
    assert!(
        document
            .get("introspection_encryption_enc_values_supported")
            .is_none()
    );
    // Without the introspection endpoint, nothing to advertise.
    let excluded = AuthorizationServer::builder()
        .issuer(ISSUER)
        .signing_keys(KeySet::new(key(SigningAlgorithm::Es256)))
        .exclude("introspection")
        .build()
        .unwrap();
    assert!(
        excluded
            .metadata()
            .unwrap()
            .get("introspection_signing_alg_values_supported")
            .is_none()
    );
}
