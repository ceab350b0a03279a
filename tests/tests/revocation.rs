//! Token revocation (RFC 7009), clause by clause, through `dispatch`.

#![allow(clippy::unwrap_used)] // Fixtures in helper functions; a failure is a failing test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth_endpoints::Client;
use oauth_endpoints::client_auth::ClientAuthMethod;
use oauth_endpoints::hooks::{EventListener, TokenRevoked};
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints_tests::{Answer, Harness, basic, form, post};

fn app() -> Client {
    Client::confidential("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read write".parse().unwrap())
        .build()
        .unwrap()
}

fn other() -> Client {
    Client::confidential("other", "other-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_auth_method(ClientAuthMethod::ClientSecretPost)
        .with_grant_types(["client_credentials"])
        .build()
        .unwrap()
}

fn spa() -> Client {
    Client::public("spa").build().unwrap()
}

struct Tokens {
    access: String,
    refresh: String,
}

async fn tokens(h: &Harness) -> Tokens {
    let answer = h
        .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    Tokens {
        access: answer.str("access_token").unwrap().to_owned(),
        refresh: answer.str("refresh_token").unwrap().to_owned(),
    }
}

async fn revoke(h: &Harness, auth: Option<&str>, pairs: &[(&str, &str)]) -> Answer {
    h.send(post("/oauth/revoke", auth, &form(pairs))).await
}

async fn revoke_as_app(h: &Harness, pairs: &[(&str, &str)]) -> Answer {
    revoke(
        h,
        Some(&basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        pairs,
    )
    .await
}

fn assert_revoked_ok(answer: &Answer) {
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.body.as_ref(), b"{}");
    answer.assert_oauth_headers();
}

#[tokio::test]
async fn section_2_1_revoking_an_access_token_leaves_the_refresh_token_usable() {
    let h = Harness::new(&[app()]).await;
    let t = tokens(&h).await;
    assert_revoked_ok(&revoke_as_app(&h, &[("token", &t.access)]).await);
    assert!(!h.is_active(&t.access).await);
    assert!(h.is_active(&t.refresh).await);
    let refreshed = h
        .refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", &t.refresh)
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.json);
}

#[tokio::test]
async fn section_2_1_may_revoke_the_whole_grant_with_an_access_token_when_configured() {
    let h = Harness::with(&[app()], |b| b.revoke_grant_with_access_token(true)).await;
    let t = tokens(&h).await;
    assert_revoked_ok(&revoke_as_app(&h, &[("token", &t.access)]).await);
    assert!(!h.is_active(&t.refresh).await);
    h.refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", &t.refresh)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn section_2_1_revoking_a_refresh_token_revokes_the_grants_access_tokens() {
    let h = Harness::new(&[app()]).await;
    let t = tokens(&h).await;
    // A second access token of the same grant, from a rotation.
    let rotated = h
        .refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", &t.refresh)
        .await;
    let access2 = rotated.str("access_token").unwrap();
    let refresh2 = rotated.str("refresh_token").unwrap();
    assert_revoked_ok(&revoke_as_app(&h, &[("token", refresh2)]).await);
    for token in [&t.access, access2, refresh2] {
        assert!(!h.is_active(token).await);
    }
    h.refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", refresh2)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn section_2_1_a_wrong_hint_still_finds_the_token() {
    let h = Harness::new(&[app()]).await;
    let t = tokens(&h).await;
    let answer = revoke_as_app(
        &h,
        &[("token", &t.access), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_revoked_ok(&answer);
    assert!(!h.is_active(&t.access).await);
}

#[tokio::test]
async fn section_2_2_an_unknown_hint_is_ignored() {
    let h = Harness::new(&[app()]).await;
    let t = tokens(&h).await;
    let answer = revoke_as_app(&h, &[("token", &t.access), ("token_type_hint", "id_token")]).await;
    assert_revoked_ok(&answer);
    assert!(!h.is_active(&t.access).await);
}

#[tokio::test]
async fn section_2_1_another_clients_token_is_refused_and_untouched() {
    let h = Harness::new(&[app(), other()]).await;
    let t = tokens(&h).await;
    let answer = revoke(
        &h,
        None,
        &[
            ("token", &t.access),
            ("client_id", "other"),
            ("client_secret", "other-secret-kR8vN2qX5tLw9ZpB3mYc7HdF"),
        ],
    )
    .await;
    answer.assert_error(400, "invalid_grant");
    assert!(h.is_active(&t.access).await);
    assert!(h.is_active(&t.refresh).await);
}

#[tokio::test]
async fn section_2_2_unknown_expired_and_revoked_tokens_answer_200() {
    let h = Harness::with(&[app()], |b| b.access_token_ttl(Duration::from_secs(60))).await;
    let t = tokens(&h).await;
    assert_revoked_ok(&revoke_as_app(&h, &[("token", "never-issued")]).await);
    assert_revoked_ok(&revoke_as_app(&h, &[("token", &t.access)]).await);
    assert_revoked_ok(&revoke_as_app(&h, &[("token", &t.access)]).await);
    let t2 = tokens(&h).await;
    h.clock.advance(Duration::from_secs(61));
    assert_revoked_ok(&revoke_as_app(&h, &[("token", &t2.access)]).await);
}

#[tokio::test]
async fn token_is_required() {
    let h = Harness::new(&[app()]).await;
    revoke_as_app(&h, &[("token_type_hint", "access_token")])
        .await
        .assert_error(400, "invalid_request");
    revoke_as_app(&h, &[("token", "")])
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn authentication_comes_before_parameter_checks() {
    let h = Harness::new(&[app()]).await;
    // No credentials and no token: the caller learns only that it is not authenticated.
    revoke(&h, None, &[])
        .await
        .assert_error(401, "invalid_client");
    revoke(&h, Some(&basic("app", "wrong")), &[])
        .await
        .assert_error(401, "invalid_client");
    // A body that is not a form, from an unauthenticated caller: still 401.
    let request = http::Request::post("/oauth/revoke")
        .header("content-type", "text/plain")
        .body(bytes::Bytes::from_static(b"token=x"))
        .unwrap();
    h.send(request).await.assert_error(401, "invalid_client");
}

#[tokio::test]
async fn public_clients_may_revoke_their_own_tokens() {
    let h = Harness::new(&[app(), spa()]).await;
    // A token issued to the public client through the public issuing API.
    let issued = h
        .server
        .issuer()
        .issue(&oauth_endpoints::token::TokenRequest::new(
            &spa(),
            Default::default(),
        ))
        .await
        .unwrap();
    let answer = revoke(
        &h,
        None,
        &[("token", issued.access_token()), ("client_id", "spa")],
    )
    .await;
    assert_revoked_ok(&answer);
    assert!(!h.is_active(issued.access_token()).await);
    // …but not somebody else's.
    let t = tokens(&h).await;
    revoke(&h, None, &[("token", &t.access), ("client_id", "spa")])
        .await
        .assert_error(400, "invalid_grant");
    assert!(h.is_active(&t.access).await);
}

#[tokio::test]
async fn repeated_parameters_are_invalid_request() {
    let h = Harness::new(&[app()]).await;
    let t = tokens(&h).await;
    let body = format!("token={}&token={}", t.access, t.access);
    let answer = h
        .send(post(
            "/oauth/revoke",
            Some(&basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            &body,
        ))
        .await;
    answer.assert_error(400, "invalid_request");
    assert!(h.is_active(&t.access).await);
}

#[tokio::test]
async fn only_post_is_answered() {
    let h = Harness::new(&[app()]).await;
    let request = http::Request::get("/oauth/revoke")
        .body(bytes::Bytes::new())
        .unwrap();
    let answer = h.send(request).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("POST"));
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String, bool)>>);

impl EventListener for Recorder {
    fn token_revoked(&self, event: &TokenRevoked<'_>) {
        self.0.lock().unwrap().push((
            event.client.client_id().to_owned(),
            event.token.id.to_string(),
            event.grant_revoked,
        ));
    }
}

#[tokio::test]
async fn listeners_hear_of_each_revocation() {
    let recorder = Arc::new(Recorder::default());
    let listener = Arc::clone(&recorder);
    let h = Harness::with(&[app()], move |b| b.on_event(listener)).await;
    let t = tokens(&h).await;
    let record = h
        .server
        .tokens()
        .find(&TokenHash::of(&t.refresh), None)
        .await
        .unwrap()
        .unwrap();
    revoke_as_app(&h, &[("token", &t.refresh)]).await;
    revoke_as_app(&h, &[("token", "unknown")]).await;
    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(
        events,
        vec![("app".to_owned(), record.id.to_string(), true)]
    );
}

/// A grant outlives its refresh token: a refresh just before the refresh token's end mints an
/// access token that lives on after it. Revoking the (now expired) refresh token of the grant
/// must still end the grant (RFC 7009 §2.1), with 200.
#[tokio::test]
async fn revoking_an_expired_refresh_token_still_revokes_its_grant() {
    let h = Harness::with(&[app()], |builder| {
        builder
            .access_token_ttl(Duration::from_secs(3600))
            .refresh_token_ttl(Duration::from_secs(4))
    })
    .await;
    let first = tokens(&h).await;
    h.clock.advance(Duration::from_secs(2));
    let refreshed = h
        .refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", &first.refresh)
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.json);
    let access = refreshed.str("access_token").unwrap().to_owned();
    let refresh = refreshed.str("refresh_token").unwrap().to_owned();
    h.clock.advance(Duration::from_secs(3)); // the new refresh token has expired
    assert!(introspect_active(&h, &access).await);

    let answer = revoke(&h, Some(&app_basic()), &[("token", &refresh)]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.as_ref(), b"{}");
    assert!(!introspect_active(&h, &access).await);

    // The same for a rotated (already replaced) refresh token of a live grant.
    let second = tokens(&h).await;
    let rotated = h
        .refresh(
            "app",
            "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
            &second.refresh,
        )
        .await;
    let live = rotated.str("access_token").unwrap().to_owned();
    assert!(introspect_active(&h, &live).await);
    let answer = revoke(&h, Some(&app_basic()), &[("token", &second.refresh)]).await;
    assert_eq!(answer.status, 200);
    assert!(!introspect_active(&h, &live).await);
}

fn app_basic() -> String {
    basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
}

async fn introspect_active(h: &Harness, token: &str) -> bool {
    let answer = h
        .send(post(
            "/oauth/introspect",
            Some(&app_basic()),
            &form(&[("token", token)]),
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json["active"] == true
}
