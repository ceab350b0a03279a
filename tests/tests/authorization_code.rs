//! The authorization code grant with PKCE and pushed authorization requests, through
//! `dispatch`: the RFC's checks, each refusal, and what a replay revokes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use http::StatusCode;
use oauth_endpoints::Client;
use oauth_endpoints_tests::authorize::{
    CHALLENGE, ISSUER, VERIFIER, WEB_REDIRECT, approve, authorize_get, consent_form, exchange,
    harness, harness_with, location_params, pairs, param, web_basic, web_code, web_params,
};
use oauth_endpoints_tests::{Harness, form, post, send};

async fn introspect(harness: &Harness, token: &str) -> serde_json::Value {
    send(
        &harness.server,
        post(
            "/oauth/introspect",
            Some(&web_basic()),
            &form(&[("token", token)]),
        ),
    )
    .await
    .json
}

#[tokio::test]
async fn a_confidential_client_gets_tokens_for_the_user_who_approved() {
    let harness = harness().await;
    let owned = web_params("xyz /+&=~%<'\"");
    let params = approve(&harness, &pairs(&owned)).await;
    // RFC 6749 §4.1.2: state unchanged; RFC 9207: iss.
    assert_eq!(param(&params, "state"), Some("xyz /+&=~%<'\""));
    assert_eq!(param(&params, "iss"), Some(ISSUER));
    let code = param(&params, "code").unwrap();
    assert!(code.len() >= 43, "{code}");

    let answer = exchange(&harness, code, VERIFIER).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    answer.assert_oauth_headers();
    assert_eq!(answer.str("token_type"), Some("Bearer"));
    assert_eq!(answer.str("scope"), Some("read"));
    let access = answer.str("access_token").unwrap().to_owned();
    let refresh = answer.str("refresh_token").unwrap().to_owned();

    let claims = introspect(&harness, &access).await;
    assert_eq!(claims["active"], true);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["client_id"], "web");
    assert_eq!(claims["scope"], "read");

    // The refresh token rotates as any other.
    let answer = send(
        &harness.server,
        post(
            "/oauth/token",
            Some(&web_basic()),
            &form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(introspect(&harness, &refresh).await["active"], false);
}

#[tokio::test]
async fn a_public_client_uses_pkce_and_its_refresh_tokens_rotate() {
    let harness = harness().await;
    // A loopback redirect URI: any port (RFC 8252 §7.3).
    let redirect = "http://127.0.0.1:49152/callback";
    let params = approve(
        &harness,
        &[
            ("client_id", "spa"),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let code = param(&params, "code").unwrap();
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("client_id", "spa"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", VERIFIER),
    ]);
    let answer = send(&harness.server, post("/oauth/token", None, &body)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    let refresh = answer.str("refresh_token").unwrap().to_owned();
    let body = form(&[
        ("grant_type", "refresh_token"),
        ("client_id", "spa"),
        ("refresh_token", &refresh),
    ]);
    let next = send(&harness.server, post("/oauth/token", None, &body)).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.json);
    assert_ne!(next.str("refresh_token"), Some(refresh.as_str()));
    // The rotated one is reuse now: the grant goes.
    let again = send(&harness.server, post("/oauth/token", None, &body)).await;
    again.assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn an_unregistered_redirect_uri_or_unknown_client_is_an_error_page_never_a_redirect() {
    let harness = harness().await;
    for (name, value) in [
        ("redirect_uri", "https://evil.example/cb"),
        ("redirect_uri", "https://app.example/cb/"),
        ("redirect_uri", "https://app.example/cb?x=1"),
        ("client_id", "nobody"),
        ("client_id", ""),
    ] {
        let mut owned = web_params("s");
        owned.retain(|(k, _)| *k != name);
        owned.push((name, value.to_owned()));
        let answer = send(
            &harness.server,
            authorize_get(&pairs(&owned), Some("alice")),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{name}={value}");
        assert!(answer.headers.get("location").is_none(), "{name}={value}");
        assert_eq!(answer.header("x-frame-options"), Some("DENY"));
    }
    // Two registered URIs and none named: which one is unknown, so no redirect.
    let mut owned = web_params("s");
    owned.retain(|(k, _)| *k != "redirect_uri");
    let answer = send(
        &harness.server,
        authorize_get(&pairs(&owned), Some("alice")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.headers.get("location").is_none());
}

#[tokio::test]
async fn other_errors_redirect_with_error_state_and_iss() {
    let harness = harness().await;
    let cases: [(&str, Option<&str>, &str); 6] = [
        ("code_challenge", None, "invalid_request"),
        ("code_challenge_method", Some("plain"), "invalid_request"),
        ("code_challenge_method", None, "invalid_request"),
        ("response_type", Some("token"), "unsupported_response_type"),
        ("response_type", None, "invalid_request"),
        ("scope", Some("admin"), "invalid_scope"),
    ];
    for (name, value, error) in cases {
        let mut owned = web_params("st");
        owned.retain(|(k, _)| *k != name);
        if let Some(value) = value {
            owned.push((name, value.to_owned()));
        }
        let answer = send(
            &harness.server,
            authorize_get(&pairs(&owned), Some("alice")),
        )
        .await;
        let (base, params) = location_params(&answer);
        assert_eq!(base, WEB_REDIRECT, "{name}");
        assert_eq!(param(&params, "error"), Some(error), "{name}={value:?}");
        assert!(param(&params, "error_description").is_some());
        assert_eq!(param(&params, "state"), Some("st"));
        assert_eq!(param(&params, "iss"), Some(ISSUER));
        assert!(param(&params, "code").is_none());
    }
}

#[tokio::test]
async fn a_client_without_the_grant_is_unauthorized() {
    let other = Client::confidential("m2m", "m2m-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_redirect_uris([WEB_REDIRECT])
        .build()
        .unwrap();
    let harness = harness_with(&[other], |flow| flow, |builder| builder).await;
    let mut owned = web_params("s");
    owned[0].1 = "m2m".into();
    let answer = send(
        &harness.server,
        authorize_get(&pairs(&owned), Some("alice")),
    )
    .await;
    let (_, params) = location_params(&answer);
    assert_eq!(param(&params, "error"), Some("unauthorized_client"));
}

#[tokio::test]
async fn nobody_signed_in_goes_to_the_sign_in_page_and_back() {
    let harness = harness().await;
    let owned = web_params("s");
    let answer = send(&harness.server, authorize_get(&pairs(&owned), None)).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let location = answer.header("location").unwrap();
    assert!(
        location.starts_with("/login?next=%2Foauth%2Fauthorize%3Fclient_id%3Dweb"),
        "{location}"
    );
    assert!(location.contains("code_challenge"), "{location}");
    // A denied user: access_denied to the client.
    let answer = send(
        &harness.server,
        authorize_get(&pairs(&owned), Some("denied")),
    )
    .await;
    let (_, params) = location_params(&answer);
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "iss"), Some(ISSUER));
}

#[tokio::test]
async fn the_user_may_deny() {
    let harness = harness().await;
    let owned = web_params("s9");
    let page = consent_form(
        send(
            &harness.server,
            authorize_get(&pairs(&owned), Some("alice")),
        )
        .await,
    );
    let answer = send(&harness.server, page.post("deny", "alice")).await;
    let (_, params) = location_params(&answer);
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some("s9"));
    assert!(param(&params, "code").is_none());
}

#[tokio::test]
async fn the_consent_page_cannot_be_framed_nor_cached() {
    let harness = harness().await;
    let owned = web_params("s");
    let page = consent_form(
        send(
            &harness.server,
            authorize_get(&pairs(&owned), Some("alice")),
        )
        .await,
    );
    let answer = &page.answer;
    assert_eq!(answer.header("x-frame-options"), Some("DENY"));
    assert!(
        answer
            .header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    // The answer to the form redirects to the client: `form-action` allows its origin (browsers
    // apply it to the redirect), and nothing else.
    assert!(
        answer
            .header("content-security-policy")
            .unwrap()
            .contains("form-action 'self' https://app.example;")
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let cookie = answer.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Secure"),
        "{cookie}"
    );
}

#[tokio::test]
async fn a_decision_without_the_csrf_pair_is_refused_and_issues_nothing() {
    let harness = harness().await;
    let owned = web_params("s");
    let page = consent_form(
        send(
            &harness.server,
            authorize_get(&pairs(&owned), Some("alice")),
        )
        .await,
    );

    // No cookie (a cross-site form post carries none: SameSite=Strict).
    let mut request = page.post("approve", "alice");
    request.headers_mut().remove("cookie");
    let answer = send(&harness.server, request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.headers.get("location").is_none());

    // Another cookie than the field.
    let mut request = page.post("approve", "alice");
    request.headers_mut().insert(
        "cookie",
        format!("oauth_csrf={}", oauth_endpoints::secret::generate_secret())
            .parse()
            .unwrap(),
    );
    assert_eq!(
        send(&harness.server, request).await.status,
        StatusCode::FORBIDDEN
    );

    // The right pair, labelled cross-site by the browser.
    let mut request = page.post("approve", "alice");
    request
        .headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(
        send(&harness.server, request).await.status,
        StatusCode::FORBIDDEN
    );

    // The same form, untampered, still works: nothing was used up.
    let answer = send(&harness.server, page.post("approve", "alice")).await;
    let (_, params) = location_params(&answer);
    assert!(param(&params, "code").is_some());
}

#[tokio::test]
async fn client_names_and_scopes_are_escaped_on_the_consent_page() {
    let hostile = Client::public("<script>alert(1)</script>")
        .with_grant_types(["authorization_code"])
        .with_scope("<img src=x onerror=alert(1)> 'onfocus=x'&".parse().unwrap())
        .with_redirect_uris(["https://app.example/cb"])
        .build()
        .unwrap();
    let harness = harness_with(&[hostile], |flow| flow, |builder| builder).await;
    let params = [
        ("client_id", "<script>alert(1)</script>"),
        ("response_type", "code"),
        ("scope", "<img src=x onerror=alert(1)> 'onfocus=x'&"),
        ("state", "\"><script>alert(2)</script>"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let page =
        consent_form(send(&harness.server, authorize_get(&params, Some("<b>eve</b>"))).await);
    let html = std::str::from_utf8(&page.answer.body).unwrap();
    for raw in ["<script>", "<img", "<b>", "\"><script"] {
        assert!(!html.contains(raw), "{raw} appears unescaped:\n{html}");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // The hidden fields carry the values back intact.
    assert!(
        page.hidden
            .iter()
            .any(|(k, v)| k == "state" && v == "\"><script>alert(2)</script>")
    );
    let answer = send(&harness.server, page.post("approve", "<b>eve</b>")).await;
    let (_, params) = location_params(&answer);
    assert_eq!(
        param(&params, "state"),
        Some("\"><script>alert(2)</script>")
    );
}

#[tokio::test]
async fn a_wrong_verifier_fails_and_leaves_the_code_usable() {
    let harness = harness().await;
    let code = web_code(&harness).await;
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl";
    exchange(&harness, &code, wrong)
        .await
        .assert_error(400, "invalid_grant");
    exchange(&harness, &code, "short")
        .await
        .assert_error(400, "invalid_grant");
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", WEB_REDIRECT),
    ]);
    send(
        &harness.server,
        post("/oauth/token", Some(&web_basic()), &body),
    )
    .await
    .assert_error(400, "invalid_request");
    assert_eq!(
        exchange(&harness, &code, VERIFIER).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_the_tokens_of_its_first_use() {
    let harness = harness().await;
    let code = web_code(&harness).await;
    let first = exchange(&harness, &code, VERIFIER).await;
    assert_eq!(first.status, StatusCode::OK);
    let access = first.str("access_token").unwrap().to_owned();
    let refresh = first.str("refresh_token").unwrap().to_owned();
    assert_eq!(introspect(&harness, &access).await["active"], true);

    exchange(&harness, &code, VERIFIER)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(introspect(&harness, &access).await["active"], false);
    assert_eq!(introspect(&harness, &refresh).await["active"], false);
    let body = form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
    send(
        &harness.server,
        post("/oauth/token", Some(&web_basic()), &body),
    )
    .await
    .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn a_code_presented_by_another_client_fails_and_stays_usable() {
    let other = Client::confidential("other", "other-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_grant_types(["authorization_code"])
        .with_redirect_uris([WEB_REDIRECT])
        .build()
        .unwrap();
    let harness = harness_with(&[other], |flow| flow, |builder| builder).await;
    let code = web_code(&harness).await;
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", WEB_REDIRECT),
        ("code_verifier", VERIFIER),
    ]);
    let basic = oauth_endpoints_tests::basic("other", "other-secret-kR8vN2qX5tLw9ZpB3mYc7HdF");
    send(&harness.server, post("/oauth/token", Some(&basic), &body))
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        exchange(&harness, &code, VERIFIER).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_expired_code_fails() {
    let harness = harness().await;
    let code = web_code(&harness).await;
    harness.clock.advance(std::time::Duration::from_secs(60));
    exchange(&harness, &code, VERIFIER)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn the_redirect_uri_must_be_repeated_exactly() {
    let harness = harness().await;
    let code = web_code(&harness).await;
    for (redirect, error) in [
        (Some("https://app.example/other"), "invalid_grant"),
        (Some("https://app.example/cb/"), "invalid_grant"),
        (None, "invalid_request"),
    ] {
        let mut fields = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", VERIFIER),
        ];
        if let Some(redirect) = redirect {
            fields.push(("redirect_uri", redirect));
        }
        send(
            &harness.server,
            post("/oauth/token", Some(&web_basic()), &form(&fields)),
        )
        .await
        .assert_error(400, error);
    }
    assert_eq!(
        exchange(&harness, &code, VERIFIER).await.status,
        StatusCode::OK
    );
}

/// Pushes `fields` as `web`.
async fn push(harness: &Harness, fields: &[(&str, &str)]) -> oauth_endpoints_tests::Answer {
    send(
        &harness.server,
        post("/oauth/par", Some(&web_basic()), &form(fields)),
    )
    .await
}

#[tokio::test]
async fn a_pushed_request_is_used_once_by_its_client_before_it_expires() {
    let harness = harness().await;
    let owned = web_params("p1");
    let pushed = push(&harness, &pairs(&owned)).await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.json);
    pushed.assert_oauth_headers();
    assert_eq!(pushed.json["expires_in"], 60);
    let request_uri = pushed.str("request_uri").unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    // Only client_id and request_uri: the pushed parameters are used, others ignored.
    let by_reference = [
        ("client_id", "web"),
        ("request_uri", request_uri.as_str()),
        ("state", "ignored"),
    ];
    let page =
        consent_form(send(&harness.server, authorize_get(&by_reference, Some("alice"))).await);
    // A reload shows it again (RFC 9126 §4).
    consent_form(send(&harness.server, authorize_get(&by_reference, Some("alice"))).await);
    let answer = send(&harness.server, page.post("approve", "alice")).await;
    let (_, params) = location_params(&answer);
    assert_eq!(param(&params, "state"), Some("p1"));
    let code = param(&params, "code").unwrap().to_owned();
    assert_eq!(
        exchange(&harness, &code, VERIFIER).await.status,
        StatusCode::OK
    );

    // Used: refused, as a page.
    let again = send(&harness.server, authorize_get(&by_reference, Some("alice"))).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.headers.get("location").is_none());
    let replay = send(&harness.server, page.post("approve", "alice")).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);

    // Named by another client.
    let pushed = push(&harness, &pairs(&owned)).await;
    let request_uri = pushed.str("request_uri").unwrap().to_owned();
    let foreign = [("client_id", "spa"), ("request_uri", request_uri.as_str())];
    let answer = send(&harness.server, authorize_get(&foreign, Some("alice"))).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    // Expired.
    harness.clock.advance(std::time::Duration::from_secs(60));
    let late = [("client_id", "web"), ("request_uri", request_uri.as_str())];
    let answer = send(&harness.server, authorize_get(&late, Some("alice"))).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_push_is_checked_like_the_request_it_carries() {
    let harness = harness().await;
    let owned = web_params("s");
    let mut with_uri = pairs(&owned);
    with_uri.push(("request_uri", "urn:ietf:params:oauth:request_uri:x"));
    push(&harness, &with_uri)
        .await
        .assert_error(400, "invalid_request");
    let mut plain = pairs(&owned);
    plain.retain(|(k, _)| *k != "code_challenge_method");
    push(&harness, &plain)
        .await
        .assert_error(400, "invalid_request");
    let mut evil = pairs(&owned);
    evil.retain(|(k, _)| *k != "redirect_uri");
    evil.push(("redirect_uri", "https://evil.example/cb"));
    push(&harness, &evil)
        .await
        .assert_error(400, "invalid_request");
    let mut other = pairs(&owned);
    other.retain(|(k, _)| *k != "client_id");
    other.push(("client_id", "spa"));
    push(&harness, &other)
        .await
        .assert_error(400, "invalid_request");
    // Unauthenticated.
    let answer = send(
        &harness.server,
        post("/oauth/par", None, &form(&pairs(&owned))),
    )
    .await;
    answer.assert_error(401, "invalid_client");
}

#[tokio::test]
async fn pushed_requests_can_be_required_by_the_server_or_by_a_client() {
    let harness = harness_with(
        &[],
        |flow| flow.require_pushed_authorization_requests(true),
        |b| b,
    )
    .await;
    let owned = web_params("s");
    let answer = send(
        &harness.server,
        authorize_get(&pairs(&owned), Some("alice")),
    )
    .await;
    let (_, params) = location_params(&answer);
    assert_eq!(param(&params, "error"), Some("invalid_request"));
    assert_eq!(
        harness.server.metadata().unwrap()["require_pushed_authorization_requests"],
        true
    );
    let pushed = push(&harness, &pairs(&owned)).await;
    assert_eq!(pushed.status, StatusCode::CREATED);

    let strict = Client::confidential("strict", "strict-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_grant_types(["authorization_code"])
        .with_redirect_uris([WEB_REDIRECT])
        .with_require_pushed_authorization_requests(true)
        .build()
        .unwrap();
    let harness = harness_with(&[strict], |flow| flow, |b| b).await;
    let mut owned = web_params("s");
    owned[0].1 = "strict".into();
    let answer = send(
        &harness.server,
        authorize_get(&pairs(&owned), Some("alice")),
    )
    .await;
    let (_, params) = location_params(&answer);
    assert_eq!(param(&params, "error"), Some("invalid_request"));
    owned[0].1 = "web".into();
    let answer = send(
        &harness.server,
        authorize_get(&pairs(&owned), Some("alice")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "other clients are not bound");
}

#[tokio::test]
async fn the_metadata_publishes_what_the_flow_supports() {
    let harness = harness().await;
    let metadata = harness.server.metadata().unwrap();
    assert_eq!(
        metadata["authorization_endpoint"],
        format!("{ISSUER}/oauth/authorize")
    );
    assert_eq!(
        metadata["pushed_authorization_request_endpoint"],
        format!("{ISSUER}/oauth/par")
    );
    assert_eq!(
        metadata["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        metadata["response_modes_supported"],
        serde_json::json!(["query"])
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(metadata["require_pushed_authorization_requests"], false);
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"authorization_code".into())
    );
}

#[tokio::test]
async fn without_a_flow_nothing_half_working_is_mounted() {
    let harness = Harness::with(&[], |builder| builder.issuer(ISSUER)).await;
    let server = &harness.server;
    assert!(server.route("authorization").is_none());
    assert!(server.route("pushed_authorization_request").is_none());
    assert!(!server.grants().contains("authorization_code"));
    let names: Vec<&str> = server.unmounted().iter().map(|u| u.name.as_str()).collect();
    assert!(
        names.contains(&"authorization") && names.contains(&"authorization_code"),
        "{names:?}"
    );
    assert!(
        server.unmounted()[0]
            .reason
            .contains("AuthorizationCodeFlow")
    );
    let metadata = server.metadata().unwrap();
    assert!(metadata.get("authorization_endpoint").is_none());
    assert_eq!(metadata["response_types_supported"], serde_json::json!([]));
    let answer = send(
        server,
        authorize_get(&[("client_id", "web")], Some("alice")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    // Requiring it says why it is missing.
    let error = oauth_endpoints::AuthorizationServer::builder()
        .issuer(ISSUER)
        .require_endpoint("authorization")
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("not mounted"), "{error}");
    // No issuer: no iss to send, so not mounted either.
    let store = oauth_endpoints::store::MemoryStore::new();
    let server = oauth_endpoints::AuthorizationServer::builder()
        .with_state(oauth_endpoints::authorization::AuthorizationCodeFlow::new(
            store,
            oauth_endpoints_tests::authorize::header_user,
        ))
        .build()
        .unwrap();
    assert!(server.route("authorization").is_none());
    assert!(server.unmounted()[0].reason.contains("issuer"));
}

#[tokio::test]
async fn malformed_requests_are_pages_not_panics() {
    let harness = harness().await;
    for query in [
        "client_id=web&client_id=web",
        "client_id=%FF",
        "client_id=web&state=%00",
        "request_uri=urn:ietf:params:oauth:request_uri:nope&client_id=web",
        "request_uri=https://evil.example/req&client_id=web",
    ] {
        let request = http::Request::get(format!("/oauth/authorize?{query}"))
            .header("x-test-user", "alice")
            .body(bytes::Bytes::new())
            .unwrap();
        let answer = send(&harness.server, request).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(answer.headers.get("location").is_none(), "{query}");
    }
}

#[tokio::test]
async fn the_purge_removes_expired_codes_and_pushed_requests() {
    use oauth_endpoints::purge::PurgeOptions;
    use oauth_endpoints::store::{AuthorizationKind, AuthorizationStore};
    let store = oauth_endpoints::store::MemoryStore::new();
    let clock = oauth_endpoints::clock::ManualClock::new(oauth_endpoints_tests::START);
    let server = oauth_endpoints::AuthorizationServer::builder()
        .issuer(ISSUER)
        .store(store.clone())
        .clock(clock.clone())
        .with_state(oauth_endpoints::authorization::AuthorizationCodeFlow::new(
            store.clone(),
            oauth_endpoints_tests::authorize::header_user,
        ))
        .build()
        .unwrap();
    for client in oauth_endpoints_tests::authorize::clients() {
        server.clients().save(&client).await.unwrap();
    }
    let harness = Harness {
        server,
        store: store.clone(),
        clock: clock.clone(),
    };
    let code = web_code(&harness).await;
    let hash = oauth_endpoints::secret::TokenHash::of(&code);
    let options = PurgeOptions::default().with_grace(std::time::Duration::ZERO);
    assert_eq!(
        harness.server.purge_expired(&options).await.unwrap().purged,
        0
    );
    assert!(
        store
            .find_authorization(&hash, AuthorizationKind::Code)
            .await
            .unwrap()
            .is_some()
    );
    clock.advance(std::time::Duration::from_secs(61));
    assert_eq!(
        harness.server.purge_expired(&options).await.unwrap().purged,
        1
    );
    assert!(
        store
            .find_authorization(&hash, AuthorizationKind::Code)
            .await
            .unwrap()
            .is_none()
    );
}
