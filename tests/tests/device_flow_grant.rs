//! The device-code grant of the `device-flow` add-on at the token endpoint (RFC 8628 §3.4,
//! §3.5): each error in its situation, polling and `slow_down`, expiry on the injectable clock,
//! and the exchange of an approved code for tokens, once, by the client it was issued to, even
//! when it polls many times at once (on the memory, SQLite and PostgreSQL stores, the last with
//! `OAUTH_ENDPOINTS_TEST_POSTGRES`). Dispatched directly, with a manual clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Fixtures.

#[path = "device_flow_common/csrf.rs"]
mod csrf;
#[path = "device_flow_common/default_fixture.rs"]
mod default_fixture;
#[path = "device_flow_common/fixture.rs"]
mod fixture;
#[path = "device_flow_common/flow.rs"]
mod flow;
#[path = "device_flow_common/pg.rs"]
mod pg;
#[path = "device_flow_common/poll.rs"]
mod poll;
#[path = "device_flow_common/user.rs"]
mod user;

use std::time::Duration;

use device_flow::{
    DeviceStatus, FixedUser, GRANT_TYPE, SLOW_DOWN_STEP, SqliteDeviceStore, UserCode,
};
use oauth_endpoints::store::SqliteStore;
use oauth_endpoints_tests::{Answer, START, basic, form, post};
use serde_json::json;

use default_fixture::fixture;
use fixture::{Fixture, fixture_with};
use flow::html;
use pg::pg_devices;
use user::USER;

#[tokio::test]
async fn each_error_of_section_3_5_in_its_situation() {
    let f = fixture().await;
    // Missing device_code.
    f.h.send(post(
        "/oauth/token",
        None,
        &form(&[("grant_type", GRANT_TYPE), ("client_id", "tv")]),
    ))
    .await
    .assert_error(400, "invalid_request");
    // Unknown device code.
    f.poll("tv", "no-such-code")
        .await
        .assert_error(400, "invalid_grant");
    // The client must list the grant.
    f.poll("plain", "anything")
        .await
        .assert_error(400, "unauthorized_client");

    // Pending.
    let flow = f.start("tv").await;
    f.poll("tv", &flow.device_code)
        .await
        .assert_error(400, "authorization_pending");
    // Too fast.
    f.poll("tv", &flow.device_code)
        .await
        .assert_error(400, "slow_down");

    // Denied.
    let denied = f.start("tv").await;
    let answer = f.decide(&denied.user_code, "deny").await;
    assert_eq!(answer.status, 200, "{}", html(&answer));
    f.poll("tv", &denied.device_code)
        .await
        .assert_error(400, "access_denied");

    // Expired.
    f.h.clock.advance(Duration::from_secs(600));
    f.poll("tv", &flow.device_code)
        .await
        .assert_error(400, "expired_token");
}

#[tokio::test]
async fn slow_down_grows_the_interval_by_five_seconds_for_that_device_code() {
    let f = fixture().await;
    let flow = f.start("tv").await;
    let untouched = f.start("tv").await;
    let poll = || f.poll("tv", &flow.device_code);

    poll().await.assert_error(400, "authorization_pending");
    assert_eq!(f.stored(&flow.device_code).await.interval, 5);
    // Again at once: slow_down, and the interval is now 10.
    poll().await.assert_error(400, "slow_down");
    assert_eq!(
        f.stored(&flow.device_code).await.interval,
        5 + SLOW_DOWN_STEP
    );
    // After the old interval only: still too fast, 15.
    f.h.clock.advance(Duration::from_secs(5));
    let answer = poll().await;
    answer.assert_error(400, "slow_down");
    assert!(answer.str("error_description").unwrap().contains("15"));
    assert_eq!(f.stored(&flow.device_code).await.interval, 15);
    // Waiting the whole interval: pending again, and the interval stays.
    f.h.clock.advance(Duration::from_secs(15));
    poll().await.assert_error(400, "authorization_pending");
    assert_eq!(f.stored(&flow.device_code).await.interval, 15);
    // Other device codes keep theirs.
    assert_eq!(f.stored(&untouched.device_code).await.interval, 5);
}

#[tokio::test]
async fn expiry_follows_the_injectable_clock() {
    let f = fixture().await;
    let flow = f.start("tv").await;
    f.h.clock.advance(Duration::from_secs(599));
    f.poll("tv", &flow.device_code)
        .await
        .assert_error(400, "authorization_pending");
    f.h.clock.advance(Duration::from_secs(1));
    f.poll("tv", &flow.device_code)
        .await
        .assert_error(400, "expired_token");
    // The page no longer knows the code, and approving it does nothing.
    let page = f
        .get_page(&format!("?user_code={}", flow.user_code), None)
        .await;
    assert_eq!(page.status, 400);
    assert!(html(&page).contains("not valid"));
    assert!(
        !f.devices
            .approve(
                &UserCode::normalize(&flow.user_code).unwrap(),
                USER,
                START + 600
            )
            .await
            .unwrap()
    );

    // An approved code that expires before the exchange is expired too.
    let approved = f.start("tv").await;
    assert_eq!(f.decide(&approved.user_code, "approve").await.status, 200);
    f.h.clock.advance(Duration::from_secs(600));
    f.poll("tv", &approved.device_code)
        .await
        .assert_error(400, "expired_token");
}

#[tokio::test]
async fn an_approved_code_is_exchanged_once_for_tokens_that_introspect_and_revoke() {
    let f = fixture().await;
    let flow = f.start("tv").await;
    let answer = f.decide(&flow.user_code, "approve").await;
    assert_eq!(answer.status, 200, "{}", html(&answer));
    assert!(html(&answer).contains("Device connected"));

    let tokens = f.poll("tv", &flow.device_code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.json);
    tokens.assert_oauth_headers();
    assert_eq!(tokens.str("token_type"), Some("Bearer"));
    assert_eq!(tokens.str("scope"), Some("read"));
    // The client lists refresh_token, so it gets one.
    assert!(tokens.str("refresh_token").is_some());
    let access = tokens.str("access_token").unwrap().to_owned();
    assert_eq!(f.stored(&flow.device_code).await.status, DeviceStatus::Used);

    // Exchanged at most once.
    f.poll("tv", &flow.device_code)
        .await
        .assert_error(400, "invalid_grant");

    // The token is like any other: active with the approving user as `sub`, then revoked.
    let introspect = || {
        f.h.send(post(
            "/oauth/introspect",
            Some(&basic("rs", "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            &form(&[("token", &access)]),
        ))
    };
    let active = introspect().await;
    assert_eq!(active.json["active"], true, "{}", active.json);
    assert_eq!(active.str("sub"), Some(USER));
    assert_eq!(active.str("client_id"), Some("tv"));
    assert_eq!(active.str("scope"), Some("read"));
    let revoked =
        f.h.send(post(
            "/oauth/revoke",
            None,
            &form(&[("client_id", "tv"), ("token", &access)]),
        ))
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(introspect().await.json, json!({"active": false}));
}

#[tokio::test]
async fn a_resource_indicator_sets_the_audience_and_a_refused_one_leaves_the_code_unused() {
    let f = fixture().await;
    let flow = f.start("tv").await;
    assert_eq!(f.decide(&flow.user_code, "approve").await.status, 200);
    let poll_for = |resource: &'static str| {
        let body = form(&[
            ("grant_type", GRANT_TYPE),
            ("client_id", "tv"),
            ("device_code", &flow.device_code),
            ("resource", resource),
        ]);
        f.h.send(post("/oauth/token", None, &body))
    };
    // RFC 8707 §2: a resource the client did not register is refused, before the code is used.
    poll_for("https://elsewhere.example.com/")
        .await
        .assert_error(400, "invalid_target");
    assert_eq!(
        f.stored(&flow.device_code).await.status,
        DeviceStatus::Approved
    );
    let tokens = poll_for(fixture::TV_API).await;
    assert_eq!(tokens.status, 200, "{}", tokens.json);
    let seen =
        f.h.send(post(
            "/oauth/introspect",
            Some(&basic("rs", "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            &form(&[("token", tokens.str("access_token").unwrap())]),
        ))
        .await;
    assert_eq!(seen.json["active"], true, "{}", seen.json);
    assert_eq!(seen.str("aud"), Some(fixture::TV_API));
}

#[tokio::test]
async fn only_the_client_it_was_issued_to_can_exchange_a_device_code() {
    let f = fixture().await;
    let flow = f.start("tv").await;
    f.poll("other", &flow.device_code)
        .await
        .assert_error(400, "invalid_grant");
    // The other client's poll left the request untouched.
    assert_eq!(f.stored(&flow.device_code).await.last_polled_at, None);
    assert_eq!(f.decide(&flow.user_code, "approve").await.status, 200);
    f.poll("other", &flow.device_code)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(f.poll("tv", &flow.device_code).await.status, 200);
}

#[tokio::test]
async fn a_denied_flow_stays_denied() {
    let f = fixture().await;
    let flow = f.start("tv").await;
    let answer = f.decide(&flow.user_code, "deny").await;
    assert!(html(&answer).contains("denied"), "{}", html(&answer));
    assert_eq!(
        f.stored(&flow.device_code).await.status,
        DeviceStatus::Denied
    );
    f.poll("tv", &flow.device_code)
        .await
        .assert_error(400, "access_denied");
    // Approving afterwards does nothing: the page no longer shows the request.
    let page = f
        .get_page(&format!("?user_code={}", flow.user_code), None)
        .await;
    assert_eq!(page.status, 400);
    f.poll("tv", &flow.device_code)
        .await
        .assert_error(400, "access_denied");
}

/// Approves a fresh request, then polls `n` times at once: exactly one poll gets the token.
async fn concurrent_polls_redeem_once(f: &Fixture) {
    let flow = f.start("tv").await;
    assert_eq!(f.decide(&flow.user_code, "approve").await.status, 200);
    let polls = (0..16).map(|_| {
        let server = f.h.server.clone();
        let body = form(&[
            ("grant_type", GRANT_TYPE),
            ("client_id", "tv"),
            ("device_code", &flow.device_code),
        ]);
        tokio::spawn(async move {
            oauth_endpoints_tests::send(&server, post("/oauth/token", None, &body)).await
        })
    });
    let answers: Vec<Answer> = futures_util::future::join_all(polls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let winners = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        answers.iter().map(|a| &a.json).collect::<Vec<_>>()
    );
    for answer in answers.iter().filter(|a| a.status != 200) {
        answer.assert_error(400, "invalid_grant");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_polls_get_the_token_once_with_the_memory_store() {
    let f = fixture().await;
    concurrent_polls_redeem_once(&f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_polls_get_the_token_once_with_the_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path().join("oauth.db"))
        .await
        .unwrap();
    let store = SqliteDeviceStore::open(&sqlite).await.unwrap();
    let f = fixture_with(store, |flow| flow.with_users(FixedUser::new(USER))).await;
    concurrent_polls_redeem_once(&f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_polls_get_the_token_once_with_the_postgres_store() {
    let Some((_schema, store)) = pg_devices("device_polls").await else {
        return;
    };
    let f = fixture_with(store, |flow| flow.with_users(FixedUser::new(USER))).await;
    concurrent_polls_redeem_once(&f).await;
}
