//! Resource indicators (RFC 8707), through `dispatch`: `resource` at the token endpoint
//! (client_credentials, refresh narrowing, the authorization code) and at the authorization
//! endpoint (the consent page, pushed requests), the audience they give tokens (`aud` in
//! introspection and in JWT access tokens), and the default introspection policy's audience
//! rule.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use http::StatusCode;
use oauth_endpoints::Client;
use oauth_endpoints::endpoints::INACTIVE;
use oauth_endpoints::hooks::DefaultIntrospectionPolicy;
use oauth_endpoints::keys::{KeySet, SigningAlgorithm, SigningKey};
use oauth_endpoints::token::AccessTokenFormat;
use oauth_endpoints_tests::authorize::{
    VERIFIER, WEB_REDIRECT, approve, authorize_get, consent_form, exchange, harness_with,
    location_params, pairs, param, web_basic, web_params,
};
use oauth_endpoints_tests::{Answer, Harness, basic, form, jose, post};
use serde_json::{Value, json};

/// A resource the clients registered.
const A: &str = "https://a.example/api";
/// Another resource the clients registered.
const B: &str = "https://b.example/";
/// A resource the clients registered but that the grants below never include.
const C: &str = "https://c.example/v1?tenant=1&region=eu";
/// A resource no client registered.
const UNREGISTERED: &str = "https://unregistered.example/";
/// A resource server named in `aud` by its `client_id`.
const RS_C: &str = "urn:example:rs-c";

const SVC_SECRET: &str = "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";
const PLAIN_SECRET: &str = "plain-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";
const RS_A_SECRET: &str = "rs-a-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";
const RS_B_SECRET: &str = "rs-b-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";
const RS_C_SECRET: &str = "rs-c-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";
const WEB_SECRET: &str = "web-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";

/// A machine client allowed `client_credentials` and `refresh_token`, and resources A, B, C and
/// the resource server `urn:example:rs-c`.
fn svc() -> Client {
    Client::confidential("svc", SVC_SECRET)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read write".parse().unwrap())
        .with_allowed_resources([A, B, C, RS_C])
        .build()
        .unwrap()
}

/// A machine client that registered no resource.
fn plain() -> Client {
    Client::confidential("plain", PLAIN_SECRET)
        .with_grant_types(["client_credentials"])
        .build()
        .unwrap()
}

/// The resource server of A: may introspect only what it is named in (or its own tokens).
fn rs_a() -> Client {
    Client::confidential("rs-a", RS_A_SECRET)
        .with_served_resources([A])
        .build()
        .unwrap()
}

/// The resource server of B, registered with `introspect_any_token`.
fn rs_b() -> Client {
    Client::confidential("rs-b", RS_B_SECRET)
        .with_introspect_any_token(true)
        .with_served_resources([B])
        .build()
        .unwrap()
}

/// A resource server named in `aud` by its `client_id`, serving no resource URI.
fn rs_c() -> Client {
    Client::confidential(RS_C, RS_C_SECRET).build().unwrap()
}

fn machine_clients() -> Vec<Client> {
    vec![svc(), plain(), rs_a(), rs_b(), rs_c()]
}

/// `web` as `authorize::clients` registers it, plus allowed resources A, B and C. Saved after
/// the harness's own `web`, it replaces it.
fn web_with_resources() -> Client {
    Client::confidential("web", WEB_SECRET)
        .with_grant_types(["authorization_code", "refresh_token"])
        .with_scope("read write".parse().unwrap())
        .with_redirect_uris([WEB_REDIRECT, "https://app.example/other"])
        .with_allowed_resources([A, B, C])
        .build()
        .unwrap()
}

async fn code_harness() -> Harness {
    harness_with(&[web_with_resources()], |flow| flow, |builder| builder).await
}

/// `client_credentials` as `svc` (Basic), naming `resources`.
async fn token_for(h: &Harness, resources: &[&str]) -> Answer {
    token_as(h, "svc", SVC_SECRET, resources).await
}

async fn token_as(h: &Harness, id: &str, secret: &str, resources: &[&str]) -> Answer {
    let mut fields = vec![("grant_type", "client_credentials")];
    fields.extend(resources.iter().map(|r| ("resource", *r)));
    h.send(post(
        "/oauth/token",
        Some(&basic(id, secret)),
        &form(&fields),
    ))
    .await
}

/// `refresh_token` as `svc`, naming `resources`.
async fn refresh_for(h: &Harness, refresh_token: &str, resources: &[&str]) -> Answer {
    let mut fields = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    fields.extend(resources.iter().map(|r| ("resource", *r)));
    h.send(post(
        "/oauth/token",
        Some(&basic("svc", SVC_SECRET)),
        &form(&fields),
    ))
    .await
}

/// Introspects `token` as the confidential client `id` (Basic).
async fn introspect_as(h: &Harness, id: &str, secret: &str, token: &str) -> Answer {
    h.send(post(
        "/oauth/introspect",
        Some(&basic(id, secret)),
        &form(&[("token", token)]),
    ))
    .await
}

async fn as_svc(h: &Harness, token: &str) -> Value {
    let answer = introspect_as(h, "svc", SVC_SECRET, token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    answer.json
}

async fn as_web(h: &Harness, token: &str) -> Value {
    let answer = h
        .send(post(
            "/oauth/introspect",
            Some(&web_basic()),
            &form(&[("token", token)]),
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    answer.json
}

/// The answer must be exactly `{"active":false}`.
fn assert_inactive(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body.as_ref(),
        INACTIVE,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.assert_oauth_headers();
}

fn assert_active(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["active"], true, "{}", answer.json);
}

fn tokens(answer: &Answer) -> (String, String) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    (
        answer.str("access_token").unwrap().to_owned(),
        answer.str("refresh_token").unwrap().to_owned(),
    )
}

fn access(answer: &Answer) -> String {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    answer.str("access_token").unwrap().to_owned()
}

/// An `invalid_target` refusal (400, RFC 8707 §2) that issued nothing.
fn assert_invalid_target(answer: &Answer) {
    answer.assert_error(400, "invalid_target");
    assert!(answer.json.get("access_token").is_none(), "{}", answer.json);
}

// ---------------------------------------------------------------------------------------------
// client_credentials
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn client_credentials_resources_become_the_audience() {
    let h = Harness::new(&machine_clients()).await;

    // One resource: `aud` is that string, for the token's own client and for the resource
    // server that serves it.
    let one = access(&token_for(&h, &[A]).await);
    let claims = as_svc(&h, &one).await;
    assert_eq!(claims["active"], true);
    assert_eq!(claims["aud"], A, "{claims}");
    assert_eq!(claims["client_id"], "svc");
    let by_rs = introspect_as(&h, "rs-a", RS_A_SECRET, &one).await;
    assert_active(&by_rs);
    assert_eq!(by_rs.json["aud"], A);

    // Two: an array of both, in the order named.
    let two = access(&token_for(&h, &[A, B]).await);
    assert_eq!(as_svc(&h, &two).await["aud"], json!([A, B]));
    let two_reversed = access(&token_for(&h, &[B, A]).await);
    assert_eq!(as_svc(&h, &two_reversed).await["aud"], json!([B, A]));

    // A repeated resource counts once.
    let repeated = access(&token_for(&h, &[A, A]).await);
    assert_eq!(as_svc(&h, &repeated).await["aud"], A);

    // A resource with a query (allowed by RFC 8707 §2, though discouraged) when registered.
    let queried = access(&token_for(&h, &[C]).await);
    assert_eq!(as_svc(&h, &queried).await["aud"], C);

    // No resource: no `aud` member at all.
    let none = access(&token_for(&h, &[]).await);
    let claims = as_svc(&h, &none).await;
    assert_eq!(claims["active"], true);
    assert!(claims.get("aud").is_none(), "{claims}");
}

#[tokio::test]
async fn client_credentials_refuses_resources_it_may_not_name() {
    let h = Harness::new(&machine_clients()).await;

    // Unregistered.
    let answer = token_for(&h, &[UNREGISTERED]).await;
    assert_invalid_target(&answer);
    let description = answer.str("error_description").unwrap_or_default();
    assert!(
        !description.contains("unregistered.example"),
        "the description names no target: {description}"
    );
    // One unregistered among registered ones refuses the whole request.
    assert_invalid_target(&token_for(&h, &[A, UNREGISTERED]).await);
    // Not absolute URIs, or with a fragment (RFC 8707 §2), whether registered or not.
    assert_invalid_target(&token_for(&h, &["/api"]).await);
    assert_invalid_target(&token_for(&h, &["a.example/api"]).await);
    assert_invalid_target(&token_for(&h, &["https://a.example/api#frag"]).await);
    // An empty `resource` is omitted (RFC 6749 §3.1): a token without audience.
    let empty = access(&token_for(&h, &[""]).await);
    assert!(as_svc(&h, &empty).await.get("aud").is_none());
    // Matching is exact: a registered URI with a trailing slash added is another resource.
    assert_invalid_target(&token_for(&h, &["https://a.example/api/"]).await);
    // A client that registered no resource may name none.
    assert_invalid_target(&token_as(&h, "plain", PLAIN_SECRET, &[A]).await);
    // ... and without `resource` it is served as before.
    let answer = token_as(&h, "plain", PLAIN_SECRET, &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
}

#[tokio::test]
async fn jwt_access_tokens_carry_the_resources_as_aud() {
    const ISSUER: &str = "https://auth.example.com";
    let keys = KeySet::new(SigningKey::generate(SigningAlgorithm::Es256).unwrap());
    let h = Harness::with(&machine_clients(), |builder| {
        builder
            .issuer(ISSUER)
            .signing_keys(keys)
            .access_token_format(AccessTokenFormat::Jwt)
    })
    .await;
    let jwks = h
        .send(
            http::Request::get("/oauth/jwks")
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await
        .json;

    let one = access(&token_for(&h, &[A]).await);
    let claims = jose::verify(&jwks, &one, h.server.now());
    assert_eq!(claims["aud"], A, "{claims}");

    let two = access(&token_for(&h, &[A, B]).await);
    let claims = jose::verify(&jwks, &two, h.server.now());
    let mut aud: Vec<String> = claims["aud"]
        .as_array()
        .unwrap_or_else(|| panic!("an array: {claims}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    aud.sort();
    assert_eq!(aud, [A, B]);

    // Without resource, the default audience (the issuer).
    let none = access(&token_for(&h, &[]).await);
    let claims = jose::verify(&jwks, &none, h.server.now());
    assert_eq!(claims["aud"], ISSUER);

    // Introspection applies the audience rule to JWTs too.
    assert_inactive(&introspect_as(&h, "rs-b", RS_B_SECRET, &one).await);
    assert_active(&introspect_as(&h, "rs-a", RS_A_SECRET, &one).await);
}

// ---------------------------------------------------------------------------------------------
// refresh_token: narrowing (RFC 8707 §2.2)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_refresh_narrows_the_access_token_and_the_refresh_token_keeps_the_whole_audience() {
    let h = Harness::new(&machine_clients()).await;
    let (first_access, refresh) = tokens(&token_for(&h, &[A, B]).await);
    assert_eq!(as_svc(&h, &first_access).await["aud"], json!([A, B]));
    assert_eq!(as_svc(&h, &refresh).await["aud"], json!([A, B]));

    // Narrowed to A.
    let (narrowed, refresh) = tokens(&refresh_for(&h, &refresh, &[A]).await);
    assert_eq!(as_svc(&h, &narrowed).await["aud"], A);
    let claims = as_svc(&h, &refresh).await;
    assert_eq!(claims["active"], true);
    assert_eq!(claims["aud"], json!([A, B]), "the refresh token keeps both");
    // The narrowed token is for A only: B's resource server does not see it.
    assert_inactive(&introspect_as(&h, "rs-b", RS_B_SECRET, &narrowed).await);
    assert_active(&introspect_as(&h, "rs-a", RS_A_SECRET, &narrowed).await);

    // The next refresh names the other one: the refresh token still carried it.
    let (other, refresh) = tokens(&refresh_for(&h, &refresh, &[B]).await);
    assert_eq!(as_svc(&h, &other).await["aud"], B);
    assert_inactive(&introspect_as(&h, "rs-a", RS_A_SECRET, &other).await);

    // Without resource: the whole audience again.
    let (whole, refresh) = tokens(&refresh_for(&h, &refresh, &[]).await);
    assert_eq!(as_svc(&h, &whole).await["aud"], json!([A, B]));

    // Both named: both.
    let (both, refresh) = tokens(&refresh_for(&h, &refresh, &[B, A]).await);
    let aud = as_svc(&h, &both).await["aud"].clone();
    assert!(
        aud == json!([B, A]) || aud == json!([A, B]),
        "both resources: {aud}"
    );

    // Outside the grant: registered by the client but not granted (C), unregistered, or not a
    // resource URI at all. Each refused, and the presented refresh token is not used.
    for outside in [
        &[C][..],
        &[UNREGISTERED],
        &[A, C],
        &["/api"],
        &[A, "https://b.example/#x"],
    ] {
        assert_invalid_target(&refresh_for(&h, &refresh, outside).await);
        let claims = as_svc(&h, &refresh).await;
        assert_eq!(claims["active"], true, "{outside:?}: {claims}");
    }
    // ... and it still works.
    let (after, _) = tokens(&refresh_for(&h, &refresh, &[A]).await);
    assert_eq!(as_svc(&h, &after).await["aud"], A);
}

#[tokio::test]
async fn a_grant_without_audience_cannot_gain_one_at_refresh() {
    let h = Harness::new(&machine_clients()).await;
    let (_, refresh) = tokens(&token_for(&h, &[]).await);
    // A is registered by the client, but the grant named no resource: nothing to narrow.
    assert_invalid_target(&refresh_for(&h, &refresh, &[A]).await);
    let (access, _) = tokens(&refresh_for(&h, &refresh, &[]).await);
    assert!(as_svc(&h, &access).await.get("aud").is_none());
}

// ---------------------------------------------------------------------------------------------
// Authorization code
// ---------------------------------------------------------------------------------------------

/// `web_params(state)` plus one `resource` per element of `resources`.
fn params_with(state: &str, resources: &[&str]) -> Vec<(&'static str, String)> {
    let mut owned = web_params(state);
    owned.extend(resources.iter().map(|r| ("resource", (*r).to_owned())));
    owned
}

/// Exchanges `code` as `web` with the usual parameters plus `resource`s.
async fn exchange_for(h: &Harness, code: &str, resources: &[&str]) -> Answer {
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", WEB_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    fields.extend(resources.iter().map(|r| ("resource", *r)));
    h.send(post("/oauth/token", Some(&web_basic()), &form(&fields)))
        .await
}

async fn web_refresh(h: &Harness, refresh_token: &str, resources: &[&str]) -> Answer {
    let mut fields = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    fields.extend(resources.iter().map(|r| ("resource", *r)));
    h.send(post("/oauth/token", Some(&web_basic()), &form(&fields)))
        .await
}

/// The `<ul id="resources">` list of a consent page, if any.
fn resources_list(html: &str) -> Option<&str> {
    let start = html.find("id=\"resources\"")?;
    let end = html[start..].find("</ul>")? + start;
    Some(&html[start..end])
}

/// A code for `web` approved by alice for `resources`.
async fn code_for(h: &Harness, resources: &[&str]) -> String {
    let owned = params_with("s1", resources);
    let params = approve(h, &pairs(&owned)).await;
    param(&params, "code").expect("a code").to_owned()
}

#[tokio::test]
async fn authorized_resources_are_shown_kept_with_the_code_and_narrowed_at_the_token_request() {
    let h = code_harness().await;
    let owned = params_with("s1", &[A, B]);
    let page = consent_form(h.send(authorize_get(&pairs(&owned), Some("alice"))).await);
    let html = std::str::from_utf8(&page.answer.body).unwrap();
    let list = resources_list(html).unwrap_or_else(|| panic!("a resources list: {html}"));
    assert!(list.contains(A), "{list}");
    assert!(list.contains(B), "{list}");
    // The form posts both back.
    let posted: Vec<&str> = page
        .hidden
        .iter()
        .filter(|(k, _)| k == "resource")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(posted, [A, B]);

    let answer = h.send(page.post("approve", "alice")).await;
    let (base, params) = location_params(&answer);
    assert_eq!(base, WEB_REDIRECT);
    assert_eq!(param(&params, "state"), Some("s1"));
    let code = param(&params, "code").unwrap().to_owned();

    // Narrowed to A at the token request.
    let (access, refresh) = tokens(&exchange_for(&h, &code, &[A]).await);
    let claims = as_web(&h, &access).await;
    assert_eq!(claims["active"], true);
    assert_eq!(claims["aud"], A, "{claims}");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(as_web(&h, &refresh).await["aud"], json!([A, B]));

    // The refresh token keeps both: a refresh without resource gets both.
    let (both, refresh) = tokens(&web_refresh(&h, &refresh, &[]).await);
    assert_eq!(as_web(&h, &both).await["aud"], json!([A, B]));
    // ... and may narrow to the other.
    let (only_b, _) = tokens(&web_refresh(&h, &refresh, &[B]).await);
    assert_eq!(as_web(&h, &only_b).await["aud"], B);
}

#[tokio::test]
async fn without_resource_at_the_token_request_the_tokens_get_all_authorized_resources() {
    let h = code_harness().await;
    let code = code_for(&h, &[A, B]).await;
    let (access, refresh) = tokens(&exchange(&h, &code, VERIFIER).await);
    assert_eq!(as_web(&h, &access).await["aud"], json!([A, B]));
    assert_eq!(as_web(&h, &refresh).await["aud"], json!([A, B]));
}

#[tokio::test]
async fn a_resource_with_a_query_is_escaped_on_the_page_and_kept_exactly() {
    let h = code_harness().await;
    let owned = params_with("s1", &[C]);
    let page = consent_form(h.send(authorize_get(&pairs(&owned), Some("alice"))).await);
    let html = std::str::from_utf8(&page.answer.body).unwrap();
    let list = resources_list(html).unwrap_or_else(|| panic!("a resources list: {html}"));
    assert!(list.contains("tenant=1&amp;region=eu"), "{list}");
    assert!(!list.contains("tenant=1&region"), "{list}");
    let answer = h.send(page.post("approve", "alice")).await;
    let (_, params) = location_params(&answer);
    let code = param(&params, "code").unwrap().to_owned();
    let (access, _) = tokens(&exchange_for(&h, &code, &[C]).await);
    assert_eq!(as_web(&h, &access).await["aud"], C);
}

#[tokio::test]
async fn a_consent_page_without_resources_lists_none() {
    let h = code_harness().await;
    let owned = web_params("s1");
    let page = consent_form(h.send(authorize_get(&pairs(&owned), Some("alice"))).await);
    let html = std::str::from_utf8(&page.answer.body).unwrap();
    assert!(resources_list(html).is_none(), "{html}");
    assert!(!page.hidden.iter().any(|(k, _)| k == "resource"));
}

#[tokio::test]
async fn a_resource_the_client_may_not_name_is_redirected_as_invalid_target() {
    let h = code_harness().await;
    for bad in [
        &[UNREGISTERED][..],
        &[A, UNREGISTERED],
        &["/api"],
        &["https://a.example/api#frag"],
    ] {
        let owned = params_with("st-1", bad);
        let answer = h.send(authorize_get(&pairs(&owned), Some("alice"))).await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{bad:?}: {:?}",
            answer.body
        );
        let (base, params) = location_params(&answer);
        assert_eq!(base, WEB_REDIRECT, "{bad:?}");
        assert_eq!(param(&params, "error"), Some("invalid_target"), "{bad:?}");
        assert_eq!(param(&params, "state"), Some("st-1"), "{bad:?}");
        assert!(param(&params, "code").is_none(), "{bad:?}");
    }
    // The harness's `spa` registered no resource at all.
    let spa = [
        ("client_id", "spa"),
        ("response_type", "code"),
        ("redirect_uri", "http://127.0.0.1/callback"),
        ("scope", "read"),
        ("state", "st-2"),
        (
            "code_challenge",
            oauth_endpoints_tests::authorize::CHALLENGE,
        ),
        ("code_challenge_method", "S256"),
        ("resource", A),
    ];
    let answer = h.send(authorize_get(&spa, Some("alice"))).await;
    let (base, params) = location_params(&answer);
    assert_eq!(base, "http://127.0.0.1/callback");
    assert_eq!(param(&params, "error"), Some("invalid_target"));
    assert_eq!(param(&params, "state"), Some("st-2"));
}

#[tokio::test]
async fn a_resource_outside_the_authorization_is_refused_and_the_code_stays_usable() {
    let h = code_harness().await;
    let code = code_for(&h, &[A]).await;
    // C is registered by the client but was not authorized; the others not even that.
    for outside in [&[C][..], &[A, B], &[UNREGISTERED], &["/api"]] {
        assert_invalid_target(&exchange_for(&h, &code, outside).await);
    }
    // The code was not used: the same code, without resource, gets the authorized audience.
    let (access, _) = tokens(&exchange(&h, &code, VERIFIER).await);
    assert_eq!(as_web(&h, &access).await["aud"], A);
}

#[tokio::test]
async fn a_code_authorized_without_resources_cannot_gain_one_at_the_token_request() {
    let h = code_harness().await;
    let code = code_for(&h, &[]).await;
    assert_invalid_target(&exchange_for(&h, &code, &[A]).await);
    let (access, _) = tokens(&exchange(&h, &code, VERIFIER).await);
    assert!(as_web(&h, &access).await.get("aud").is_none());
}

#[tokio::test]
async fn pushed_requests_carry_resources_and_are_checked() {
    let h = code_harness().await;
    let owned = params_with("p1", &[A, B]);
    let pushed = h
        .send(post(
            "/oauth/par",
            Some(&web_basic()),
            &form(&pairs(&owned)),
        ))
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.json);
    let request_uri = pushed.str("request_uri").unwrap().to_owned();
    let by_reference = [("client_id", "web"), ("request_uri", request_uri.as_str())];
    let page = consent_form(h.send(authorize_get(&by_reference, Some("alice"))).await);
    let html = std::str::from_utf8(&page.answer.body).unwrap();
    let list = resources_list(html).unwrap_or_else(|| panic!("a resources list: {html}"));
    assert!(list.contains(A) && list.contains(B), "{list}");
    let answer = h.send(page.post("approve", "alice")).await;
    let (_, params) = location_params(&answer);
    let code = param(&params, "code").unwrap().to_owned();
    let (access, _) = tokens(&exchange(&h, &code, VERIFIER).await);
    assert_eq!(as_web(&h, &access).await["aud"], json!([A, B]));

    // A push naming a resource the client did not register is refused at once.
    let owned = params_with("p2", &[UNREGISTERED]);
    h.send(post(
        "/oauth/par",
        Some(&web_basic()),
        &form(&pairs(&owned)),
    ))
    .await
    .assert_error(400, "invalid_target");
}

// ---------------------------------------------------------------------------------------------
// Introspection: the audience rule
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_token_for_one_resource_is_hidden_from_other_resource_servers() {
    let h = Harness::new(&machine_clients()).await;
    let (for_a, refresh_a) = tokens(&token_for(&h, &[A]).await);

    // B's resource server, although registered with introspect_any_token: exactly inactive.
    assert_inactive(&introspect_as(&h, "rs-b", RS_B_SECRET, &for_a).await);
    assert_inactive(&introspect_as(&h, "rs-b", RS_B_SECRET, &refresh_a).await);
    // A's resource server, without introspect_any_token: named by served_resources.
    let answer = introspect_as(&h, "rs-a", RS_A_SECRET, &for_a).await;
    assert_active(&answer);
    answer.assert_oauth_headers();
    assert_eq!(answer.json["aud"], A);
    assert_eq!(answer.json["client_id"], "svc");
    // The token's own client.
    assert_eq!(as_svc(&h, &for_a).await["active"], true);
    // A client neither named nor the owner.
    assert_inactive(&introspect_as(&h, "plain", PLAIN_SECRET, &for_a).await);

    // A token without audience: introspect_any_token still sees it; A's server does not.
    let none = access(&token_for(&h, &[]).await);
    let answer = introspect_as(&h, "rs-b", RS_B_SECRET, &none).await;
    assert_active(&answer);
    assert!(answer.json.get("aud").is_none());
    assert_inactive(&introspect_as(&h, "rs-a", RS_A_SECRET, &none).await);

    // A token for both: each server sees it.
    let both = access(&token_for(&h, &[A, B]).await);
    assert_active(&introspect_as(&h, "rs-a", RS_A_SECRET, &both).await);
    assert_active(&introspect_as(&h, "rs-b", RS_B_SECRET, &both).await);

    // A token naming a resource server by its client_id.
    let for_c = access(&token_for(&h, &[RS_C]).await);
    let answer = introspect_as(&h, RS_C, RS_C_SECRET, &for_c).await;
    assert_active(&answer);
    assert_eq!(answer.json["aud"], RS_C);
    assert_inactive(&introspect_as(&h, "rs-b", RS_B_SECRET, &for_c).await);
    assert_inactive(&introspect_as(&h, "rs-a", RS_A_SECRET, &for_c).await);
}

#[tokio::test]
async fn without_the_audience_rule_introspect_any_token_sees_every_token() {
    let h = Harness::with(&machine_clients(), |builder| {
        builder.introspection_policy(DefaultIntrospectionPolicy::without_audience_rule())
    })
    .await;
    let for_a = access(&token_for(&h, &[A]).await);
    let answer = introspect_as(&h, "rs-b", RS_B_SECRET, &for_a).await;
    assert_active(&answer);
    assert_eq!(answer.json["aud"], A, "the caller must check aud itself");
    // The rest of the policy is unchanged.
    assert_active(&introspect_as(&h, "rs-a", RS_A_SECRET, &for_a).await);
    let none = access(&token_for(&h, &[]).await);
    assert_active(&introspect_as(&h, "rs-b", RS_B_SECRET, &none).await);
    assert_inactive(&introspect_as(&h, "rs-a", RS_A_SECRET, &none).await);
    assert_inactive(&introspect_as(&h, "plain", PLAIN_SECRET, &for_a).await);
}

#[test]
fn the_default_policy_has_the_audience_rule() {
    assert!(DefaultIntrospectionPolicy::default().audience_rule());
    assert!(!DefaultIntrospectionPolicy::without_audience_rule().audience_rule());
}

/// Revocation and introspection do not read `resource`: any value, a URI or not, is ignored
/// there (RFC 6749 §3.1), never an `invalid_target`.
#[tokio::test]
async fn endpoints_that_do_not_read_resource_ignore_it() {
    let h = Harness::new(&machine_clients()).await;
    let token = access(&token_for(&h, &[A]).await);
    for resource in ["not a uri", "/relative", "https://x/#frag", A] {
        let seen = h
            .send(post(
                "/oauth/introspect",
                Some(&basic("svc", SVC_SECRET)),
                &form(&[("token", &token), ("resource", resource)]),
            ))
            .await;
        assert_eq!(seen.status, StatusCode::OK, "{resource}: {}", seen.json);
        assert_eq!(seen.json["active"], true, "{resource}");
    }
    let revoked = h
        .send(post(
            "/oauth/revoke",
            Some(&basic("svc", SVC_SECRET)),
            &form(&[("token", &token), ("resource", "not a uri")]),
        ))
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.json);
    assert_inactive(&introspect_as(&h, "svc", SVC_SECRET, &token).await);
}
