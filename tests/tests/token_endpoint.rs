//! The token endpoint (RFC 6749 §3.2): client credentials (§4.4), refresh with rotation (§6,
//! RFC 9700 §4.14.2), errors (§5.2) and token storage.

#![allow(clippy::unwrap_used)] // Fixtures in helper functions; a failure is a failing test.

use std::sync::Arc;
use std::time::Duration;

use oauth_endpoints::Client;
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::store::TokenStore;
use oauth_endpoints::token::TokenKind;
use oauth_endpoints_tests::{Harness, basic, form, post};

fn service() -> Client {
    Client::confidential("svc", "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_scope("read write".parse().unwrap())
        .build()
        .unwrap()
}

fn refreshing() -> Client {
    Client::confidential("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read write".parse().unwrap())
        .build()
        .unwrap()
}

fn other() -> Client {
    Client::confidential("other", "other-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read write".parse().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn client_credentials_issues_a_bearer_token_with_the_full_scope() {
    let h = Harness::new(&[service()]).await;
    let answer = h
        .client_credentials("svc", "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    assert_eq!(answer.status, 200);
    answer.assert_oauth_headers();
    assert_eq!(answer.str("token_type"), Some("Bearer"));
    assert_eq!(answer.json["expires_in"].as_u64(), Some(3600));
    // Nothing was requested, so the granted scope differs from the request and is stated.
    assert_eq!(answer.str("scope"), Some("read write"));
    // RFC 6749 §4.4.3: no refresh token unless the client opted in.
    assert!(answer.json.get("refresh_token").is_none());
    let token = answer.str("access_token").unwrap();
    assert!(token.len() >= 43, "256 bits, base64url");
}

#[tokio::test]
async fn requested_scope_within_the_client_scope_is_granted_without_echo() {
    let h = Harness::new(&[service()]).await;
    let answer = h
        .client_credentials("svc", "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", Some("read"))
        .await;
    assert_eq!(answer.status, 200);
    assert!(answer.json.get("scope").is_none(), "{}", answer.json);
    let record = h
        .server
        .tokens()
        .find(&TokenHash::of(answer.str("access_token").unwrap()), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.scope.as_str(), "read");
}

#[tokio::test]
async fn scope_beyond_the_client_scope_is_invalid_scope() {
    let h = Harness::new(&[service()]).await;
    h.client_credentials(
        "svc",
        "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
        Some("read admin"),
    )
    .await
    .assert_error(400, "invalid_scope");
    h.client_credentials(
        "svc",
        "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
        Some("bad\"scope"),
    )
    .await
    .assert_error(400, "invalid_scope");
    assert_eq!(h.store.token_count(), 0);
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    let h = Harness::new(&[refreshing()]).await;
    let answer = h
        .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    let access = answer.str("access_token").unwrap();
    let refresh = answer.str("refresh_token").unwrap();
    let record = h
        .store
        .find_token(&TokenHash::of(access), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.kind, TokenKind::Access);
    let printed = format!("{record:?} {:?}", h.store);
    assert!(!printed.contains(access) && !printed.contains(refresh));
    let refresh_record = h
        .server
        .tokens()
        .find(&TokenHash::of(refresh), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refresh_record.kind, TokenKind::Refresh);
    assert_eq!(refresh_record.grant_id, record.grant_id);
    assert_ne!(refresh_record.id, record.id);
}

#[tokio::test]
async fn errors_of_section_5_2() {
    let h = Harness::new(&[service()]).await;
    let auth = basic("svc", "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF");
    let send = |body: String| h.send(post("/oauth/token", Some(&auth), &body));
    send(form(&[("scope", "read")]))
        .await
        .assert_error(400, "invalid_request");
    send(form(&[("grant_type", "password")]))
        .await
        .assert_error(400, "unsupported_grant_type");
    // Registered on the server, but not in this client's grant_types.
    send(form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "x"),
    ]))
    .await
    .assert_error(400, "unauthorized_client");
    send("grant_type=client_credentials&grant_type=client_credentials".to_owned())
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn wrong_content_type_is_invalid_request() {
    let h = Harness::new(&[service()]).await;
    let request = http::Request::post("/oauth/token")
        .header("content-type", "application/json")
        .header(
            "authorization",
            basic("svc", "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF"),
        )
        .body(bytes::Bytes::from_static(
            b"{\"grant_type\":\"client_credentials\"}",
        ))
        .unwrap();
    h.send(request).await.assert_error(400, "invalid_request");
}

#[tokio::test]
async fn lifetimes_are_configurable_and_expiry_follows_the_clock() {
    let h = Harness::with(&[refreshing()], |b| {
        b.access_token_ttl(Duration::from_secs(60))
            .refresh_token_ttl(Duration::from_secs(600))
    })
    .await;
    let answer = h
        .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    assert_eq!(answer.json["expires_in"].as_u64(), Some(60));
    let access = answer.str("access_token").unwrap();
    let refresh = answer.str("refresh_token").unwrap().to_owned();
    let record = h
        .server
        .tokens()
        .find(&TokenHash::of(access), None)
        .await
        .unwrap()
        .unwrap();
    assert!(record.is_active(h.clock_now()));
    h.clock.advance(Duration::from_secs(61));
    assert!(!record.is_active(h.clock_now()));
    // The refresh token outlives the access token…
    let refreshed = h
        .refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", &refresh)
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.json);
    // …until its own expiry, which rotation does not extend.
    h.clock.advance(Duration::from_secs(600));
    let late = refreshed.str("refresh_token").unwrap();
    h.refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", late)
        .await
        .assert_error(400, "invalid_grant");
}

trait ClockNow {
    fn clock_now(&self) -> u64;
}

impl ClockNow for Harness {
    fn clock_now(&self) -> u64 {
        use oauth_endpoints::clock::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_stops_working() {
    let h = Harness::new(&[refreshing()]).await;
    let first = h
        .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    let old_refresh = first.str("refresh_token").unwrap();
    let second = h
        .refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", old_refresh)
        .await;
    assert_eq!(second.status, 200, "{}", second.json);
    second.assert_oauth_headers();
    let new_refresh = second.str("refresh_token").unwrap();
    assert_ne!(new_refresh, old_refresh);
    assert_ne!(second.str("access_token"), first.str("access_token"));
    // The new refresh token works once more.
    let third = h
        .refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", new_refresh)
        .await;
    assert_eq!(third.status, 200, "{}", third.json);
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_grant() {
    let h = Harness::new(&[refreshing()]).await;
    let first = h
        .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    let old_refresh = first.str("refresh_token").unwrap().to_owned();
    let second = h
        .refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", &old_refresh)
        .await;
    let new_access = second.str("access_token").unwrap().to_owned();
    let new_refresh = second.str("refresh_token").unwrap().to_owned();

    h.refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", &old_refresh)
        .await
        .assert_error(400, "invalid_grant");

    // Every token of the grant is now revoked, including the ones the rotation produced.
    for value in [&new_access, &new_refresh] {
        let record = h
            .server
            .tokens()
            .find(&TokenHash::of(value), None)
            .await
            .unwrap()
            .unwrap();
        assert!(record.revoked_at.is_some(), "{record:?}");
    }
    h.refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", &new_refresh)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_token_of_another_client_is_refused_and_left_untouched() {
    let h = Harness::new(&[refreshing(), other()]).await;
    let first = h
        .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    let refresh = first.str("refresh_token").unwrap();
    h.refresh("other", "other-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", refresh)
        .await
        .assert_error(400, "invalid_grant");
    let ok = h
        .refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", refresh)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
}

#[tokio::test]
async fn refresh_scope_may_only_narrow() {
    let h = Harness::new(&[refreshing()]).await;
    let first = h
        .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", Some("read"))
        .await;
    let refresh = first.str("refresh_token").unwrap();
    let send = |scope: &str| {
        let body = form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", scope),
        ]);
        h.send(post(
            "/oauth/token",
            Some(&basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            &body,
        ))
    };
    send("read write").await.assert_error(400, "invalid_scope");
    // The refused request changed nothing: the token still refreshes.
    let narrowed = send("read").await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.json);
}

#[tokio::test]
async fn an_access_token_is_not_a_refresh_token() {
    let h = Harness::new(&[refreshing()]).await;
    let first = h
        .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    let access = first.str("access_token").unwrap();
    h.refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", access)
        .await
        .assert_error(400, "invalid_grant");
    h.refresh(
        "app",
        "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
        "unknown-token",
    )
    .await
    .assert_error(400, "invalid_grant");
    let body = form(&[("grant_type", "refresh_token")]);
    h.send(post(
        "/oauth/token",
        Some(&basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &body,
    ))
    .await
    .assert_error(400, "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_of_one_refresh_token_have_exactly_one_winner() {
    let h = Arc::new(Harness::new(&[refreshing()]).await);
    for _ in 0..20 {
        let first = h
            .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
            .await;
        let refresh = first.str("refresh_token").unwrap().to_owned();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let h = Arc::clone(&h);
                let refresh = refresh.clone();
                tokio::spawn(async move {
                    h.refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", &refresh)
                        .await
                        .status
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            let status = task.await.unwrap();
            assert!(status == 200 || status == 400, "{status}");
            winners += usize::from(status == 200);
        }
        assert_eq!(winners, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_chains_never_accept_a_refresh_token_twice() {
    let h = Arc::new(Harness::new(&[refreshing()]).await);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let h = Arc::clone(&h);
            tokio::spawn(async move {
                let first = h
                    .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
                    .await;
                let mut current = first.str("refresh_token").unwrap().to_owned();
                let mut used = Vec::new();
                for _ in 0..10 {
                    let next = h
                        .refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", &current)
                        .await;
                    assert_eq!(next.status, 200, "{}", next.json);
                    used.push(std::mem::replace(
                        &mut current,
                        next.str("refresh_token").unwrap().to_owned(),
                    ));
                }
                used
            })
        })
        .collect();
    let mut used = Vec::new();
    for task in tasks {
        used.extend(task.await.unwrap());
    }
    // Every used refresh token is refused now (and reuse revokes its grant).
    for token in used.iter().step_by(37) {
        h.refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", token)
            .await
            .assert_error(400, "invalid_grant");
    }
    let unique: std::collections::HashSet<_> = used.iter().collect();
    assert_eq!(unique.len(), used.len());
}

#[tokio::test]
async fn purge_removes_only_expired_records() {
    let h = Harness::with(&[service()], |b| {
        b.access_token_ttl(Duration::from_secs(10))
    })
    .await;
    h.client_credentials("svc", "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    h.clock.advance(Duration::from_secs(5));
    let fresh = h
        .client_credentials("svc", "svc-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    assert_eq!(h.store.token_count(), 2);
    h.clock.advance(Duration::from_secs(6));
    let purged = h
        .server
        .tokens()
        .purge_expired(h.clock_now(), 100)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(h.store.token_count(), 1);
    let kept = fresh.str("access_token").unwrap();
    assert!(
        h.server
            .tokens()
            .find(&TokenHash::of(kept), None)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn the_issuing_api_is_public() {
    let h = Harness::new(&[service()]).await;
    let client = service();
    let request = oauth_endpoints::token::TokenRequest::new(&client, "read".parse().unwrap())
        .with_subject("user-1")
        .with_audience(["https://api.example"]);
    let issued = h.server.issuer().issue(&request).await.unwrap();
    let record = h
        .server
        .tokens()
        .find(&TokenHash::of(issued.access_token()), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.subject.as_deref(), Some("user-1"));
    assert!(record.has_audience("https://api.example"));
    assert!(!format!("{issued:?}").contains(issued.access_token()));
}
