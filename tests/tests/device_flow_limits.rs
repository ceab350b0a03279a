//! The limits of the `device-flow` add-on: code entries per user at the verification page
//! (RFC 8628 §5.1), including under a burst of parallel requests; pending requests per client;
//! and the server's per-client throttle at the device authorization endpoint. The burst and
//! bound tests run on the memory, SQLite and PostgreSQL stores (the last with
//! `OAUTH_ENDPOINTS_TEST_POSTGRES`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Fixtures.

#[path = "device_flow_common/csrf.rs"]
mod csrf;
#[path = "device_flow_common/fixture.rs"]
mod fixture;
#[path = "device_flow_common/flow.rs"]
mod flow;
#[path = "device_flow_common/pg.rs"]
mod pg;
#[path = "device_flow_common/user.rs"]
mod user;

use std::time::Duration;

use bytes::Bytes;
use device_flow::{
    CSRF_COOKIE, Created, DeviceFlow, DeviceStatus, DeviceStore, FixedUser, MemoryDeviceStore,
    SqliteDeviceStore, UserCode,
};
use http::Request;
use http::header::COOKIE;
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::store::SqliteStore;
use oauth_endpoints_tests::{Harness, form, post};

use fixture::{ISSUER, clients, fixture_with};
use flow::html;
use pg::pg_devices;
use user::USER;

#[tokio::test]
async fn code_entries_are_rate_limited_per_user() {
    // Three entries at once, then one more every 100 ms.
    let f = fixture_with(MemoryDeviceStore::new(), |flow| {
        flow.with_users(FixedUser::new(USER))
            .max_code_entries(3, Duration::from_millis(300))
    })
    .await;
    let flow = f.start("tv").await;
    for guess in ["BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD"] {
        let page = f.get_page(&format!("?user_code={guess}"), None).await;
        assert_eq!(page.status, 400);
    }
    // Over the limit: refused without looking, even the right code.
    let page = f
        .get_page(&format!("?user_code={}", flow.user_code), None)
        .await;
    assert_eq!(page.status, 429);
    assert_eq!(page.header("retry-after"), Some("1"));
    assert!(!html(&page).contains("Approve"));
    // Submissions too.
    let cookie = format!("{CSRF_COOKIE}={}", "a".repeat(43));
    let answer = f
        .post_page(
            Some(&cookie),
            &[
                ("csrf", &"a".repeat(43)),
                ("user_code", &flow.user_code),
                ("action", "approve"),
            ],
        )
        .await;
    assert_eq!(answer.status, 429);
    assert_eq!(
        f.stored(&flow.device_code).await.status,
        DeviceStatus::Pending
    );
    // The limit refills: two entries (the page, then the decision) 250 ms later.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(f.decide(&flow.user_code, "approve").await.status, 200);
}

/// A device store that yields to the runtime before each call, as a database round trip does:
/// requests dispatched together then interleave at every store call, deterministically, even
/// on the memory store.
struct Latency<S>(S);

impl<S: DeviceStore> DeviceStore for Latency<S> {
    async fn create(
        &self,
        authorization: &device_flow::DeviceAuthorization,
        max_pending: u32,
    ) -> Result<Created, oauth_endpoints::store::StoreError> {
        tokio::task::yield_now().await;
        self.0.create(authorization, max_pending).await
    }

    async fn find_by_device_code(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<device_flow::DeviceAuthorization>, oauth_endpoints::store::StoreError> {
        tokio::task::yield_now().await;
        self.0.find_by_device_code(hash).await
    }

    async fn find_by_user_code(
        &self,
        user_code: &UserCode,
    ) -> Result<Option<device_flow::DeviceAuthorization>, oauth_endpoints::store::StoreError> {
        tokio::task::yield_now().await;
        self.0.find_by_user_code(user_code).await
    }

    async fn approve(
        &self,
        user_code: &UserCode,
        subject: &str,
        now: u64,
    ) -> Result<bool, oauth_endpoints::store::StoreError> {
        tokio::task::yield_now().await;
        self.0.approve(user_code, subject, now).await
    }

    async fn deny(
        &self,
        user_code: &UserCode,
        now: u64,
    ) -> Result<bool, oauth_endpoints::store::StoreError> {
        tokio::task::yield_now().await;
        self.0.deny(user_code, now).await
    }

    async fn record_poll(
        &self,
        hash: &TokenHash,
        now: u64,
    ) -> Result<device_flow::PollOutcome, oauth_endpoints::store::StoreError> {
        tokio::task::yield_now().await;
        self.0.record_poll(hash, now).await
    }

    async fn redeem(
        &self,
        hash: &TokenHash,
        now: u64,
    ) -> Result<Option<device_flow::DeviceAuthorization>, oauth_endpoints::store::StoreError> {
        tokio::task::yield_now().await;
        self.0.redeem(hash, now).await
    }

    async fn purge_expired(&self, before: u64) -> Result<u64, oauth_endpoints::store::StoreError> {
        tokio::task::yield_now().await;
        self.0.purge_expired(before).await
    }
}

/// A fresh SQLite device store (and the directory that holds it).
async fn sqlite_devices() -> (tempfile::TempDir, SqliteDeviceStore) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path().join("oauth.db"))
        .await
        .unwrap();
    let store = SqliteDeviceStore::open(&sqlite).await.unwrap();
    (dir, store)
}

const ENTRY_LIMIT: u32 = 5;

const BURST: usize = 40;

/// RFC 8628 §5.1 under a burst: 40 wrong codes (GET and POST, half each) dispatched at once by
/// one signed-in user; at most the limit are looked up (400), the rest are refused (429), and
/// the user is then locked out, the right code included.
async fn a_burst_of_wrong_codes_cannot_pass_the_limit(store: impl DeviceStore) {
    let f = fixture_with(store, |flow| {
        flow.with_users(FixedUser::new(USER))
            .max_code_entries(ENTRY_LIMIT, Duration::from_secs(300))
    })
    .await;
    let flow = f.start("tv").await;
    let token = "a".repeat(43);
    let cookie = format!("{CSRF_COOKIE}={token}");
    let requests = (0..BURST).map(|i| {
        // Wrong codes, all distinct and well-formed: BBBB-BBBC, BBBB-BBBD, ...
        let alphabet = UserCode::ALPHABET;
        let wrong = format!(
            "BBBB-BB{}{}",
            char::from(alphabet[i / alphabet.len() + 1]),
            char::from(alphabet[i % alphabet.len()])
        );
        if i % 2 == 0 {
            Request::get(format!("/device?user_code={wrong}"))
                .body(Bytes::new())
                .unwrap()
        } else {
            let mut request = post(
                "/device",
                None,
                &form(&[
                    ("csrf", &token),
                    ("user_code", &wrong),
                    ("action", "approve"),
                ]),
            );
            request
                .headers_mut()
                .insert(COOKIE, cookie.parse().unwrap());
            request
        }
    });
    let answers = futures_util::future::join_all(requests.map(|request| f.h.send(request))).await;
    let statuses: Vec<u16> = answers
        .iter()
        .map(|answer| answer.status.as_u16())
        .collect();
    let looked_up = statuses.iter().filter(|&&status| status == 400).count();
    let refused = statuses.iter().filter(|&&status| status == 429).count();
    assert!(looked_up <= ENTRY_LIMIT as usize, "{statuses:?}");
    assert!(looked_up > 0, "{statuses:?}");
    assert_eq!(looked_up + refused, BURST, "{statuses:?}");
    let page = f
        .get_page(&format!("?user_code={}", flow.user_code), None)
        .await;
    assert_eq!(page.status, 429);
    assert_eq!(
        f.stored(&flow.device_code).await.status,
        DeviceStatus::Pending
    );
}

#[tokio::test]
async fn a_burst_of_wrong_codes_cannot_pass_the_limit_with_the_memory_store() {
    a_burst_of_wrong_codes_cannot_pass_the_limit(Latency(MemoryDeviceStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_wrong_codes_cannot_pass_the_limit_with_the_sqlite_store() {
    let (_dir, store) = sqlite_devices().await;
    a_burst_of_wrong_codes_cannot_pass_the_limit(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_wrong_codes_cannot_pass_the_limit_with_the_postgres_store() {
    let Some((_schema, store)) = pg_devices("device_burst").await else {
        return;
    };
    a_burst_of_wrong_codes_cannot_pass_the_limit(store).await;
}

#[tokio::test]
async fn pending_requests_are_bounded_per_client() {
    let f = fixture_with(MemoryDeviceStore::new(), |flow| {
        flow.with_users(FixedUser::new(USER))
            .max_pending_per_client(2)
            .interval(Duration::from_secs(7))
    })
    .await;
    let first = f.start("tv").await;
    let _second = f.start("tv").await;
    let refused = f.device_authorization("tv", Some("read")).await;
    refused.assert_error(429, "temporarily_unavailable");
    assert_eq!(refused.header("retry-after"), Some("7"));
    assert!(refused.str("device_code").is_none());
    // Another client has slots of its own.
    f.start("other").await;
    // A decided request frees its slot, and so does an expired one.
    assert_eq!(f.decide(&first.user_code, "deny").await.status, 200);
    f.start("tv").await;
    f.device_authorization("tv", None)
        .await
        .assert_error(429, "temporarily_unavailable");
    f.h.clock.advance(DeviceFlow::DEFAULT_EXPIRES_IN);
    f.start("tv").await;
    f.start("tv").await;
    f.device_authorization("tv", None)
        .await
        .assert_error(429, "temporarily_unavailable");
}

#[test]
fn the_default_bound_is_documented() {
    assert_eq!(DeviceFlow::DEFAULT_MAX_PENDING_PER_CLIENT, 100);
    let flow = DeviceFlow::new(MemoryDeviceStore::new());
    assert_eq!(flow.pending_bound(), 100);
}

/// 20 device authorization requests of one client at once, bound 5: exactly 5 stored.
async fn concurrent_requests_respect_the_bound(store: impl DeviceStore) {
    let f = fixture_with(store, |flow| {
        flow.with_users(FixedUser::new(USER))
            .max_pending_per_client(5)
    })
    .await;
    let answers =
        futures_util::future::join_all((0..20).map(|_| f.device_authorization("tv", Some("read"))))
            .await;
    let statuses: Vec<u16> = answers
        .iter()
        .map(|answer| answer.status.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        5,
        "{statuses:?}"
    );
    for answer in answers.iter().filter(|answer| answer.status != 200) {
        answer.assert_error(429, "temporarily_unavailable");
    }
    for answer in answers.iter().filter(|answer| answer.status == 200) {
        let stored = f.stored(answer.str("device_code").unwrap()).await;
        assert_eq!(stored.status, DeviceStatus::Pending);
    }
}

#[tokio::test]
async fn concurrent_requests_respect_the_bound_with_the_memory_store() {
    concurrent_requests_respect_the_bound(Latency(MemoryDeviceStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_respect_the_bound_with_the_sqlite_store() {
    let (_dir, store) = sqlite_devices().await;
    concurrent_requests_respect_the_bound(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_respect_the_bound_with_the_postgres_store() {
    let Some((_schema, store)) = pg_devices("device_bound").await else {
        return;
    };
    concurrent_requests_respect_the_bound(store).await;
}

/// The server's per-client throttle applies at the device authorization endpoint, as at
/// revocation and introspection.
#[tokio::test]
async fn the_servers_throttle_applies_to_device_authorization() {
    let flow = DeviceFlow::new(MemoryDeviceStore::new()).with_users(FixedUser::new(USER));
    let quota = oauth_endpoints::throttle::Quota::per_hour(std::num::NonZeroU32::MIN)
        .allow_burst(std::num::NonZeroU32::new(2).unwrap());
    let h = Harness::with(&clients(), |builder| {
        builder.issuer(ISSUER).with_state(flow).throttle(quota)
    })
    .await;
    let request = |client_id: &str| {
        post(
            "/oauth/device_authorization",
            None,
            &form(&[("client_id", client_id)]),
        )
    };
    assert_eq!(h.send(request("tv")).await.status, 200);
    assert_eq!(h.send(request("tv")).await.status, 200);
    let throttled = h.send(request("tv")).await;
    throttled.assert_error(429, "temporarily_unavailable");
    assert!(throttled.header("retry-after").is_some());
    // Per client.
    assert_eq!(h.send(request("other")).await.status, 200);
}
