//! The device authorization endpoint of the `device-flow` add-on (RFC 8628 §3.1, §3.2): its
//! answer, its place in the metadata document, client authentication, and that a server
//! lacking an issuer, the `DeviceFlow` state or its user hook mounts none of the add-on (rather
//! than endpoints answering 500 at each request). Dispatched directly, with a manual clock.
//! (Its limits are in `device_flow_limits.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Fixtures.

#[path = "device_flow_common/default_fixture.rs"]
mod default_fixture;
#[path = "device_flow_common/fixture.rs"]
mod fixture;
#[path = "device_flow_common/unmounted.rs"]
mod unmounted;
#[path = "device_flow_common/user.rs"]
mod user;

use device_flow::{DeviceFlow, DeviceStatus, FixedUser, GRANT_TYPE, MemoryDeviceStore, UserCode};
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints_tests::{Harness, START, basic, post};
use serde_json::json;

use default_fixture::fixture;
use fixture::{ISSUER, clients};
use unmounted::assert_nothing_mounted;
use user::USER;

#[tokio::test]
async fn device_authorization_answers_as_section_3_2_says() {
    let f = fixture().await;
    let answer = f.device_authorization("tv", Some("read")).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.assert_oauth_headers();
    let user_code = answer.str("user_code").unwrap();
    let (left, right) = user_code.split_once('-').unwrap();
    assert_eq!((left.len(), right.len()), (4, 4), "{user_code}");
    assert!(
        user_code
            .bytes()
            .filter(|b| *b != b'-')
            .all(|b| UserCode::ALPHABET.contains(&b))
    );
    assert_eq!(
        answer.str("verification_uri"),
        Some("https://auth.example.com/device")
    );
    assert_eq!(
        answer.str("verification_uri_complete").unwrap(),
        format!("https://auth.example.com/device?user_code={user_code}")
    );
    assert_eq!(answer.json["expires_in"], 600);
    assert_eq!(answer.json["interval"], 5);

    // The device code: 256 bits, kept only as its SHA-256.
    let device_code = answer.str("device_code").unwrap();
    assert_eq!(device_code.len(), 43);
    let stored = f.stored(device_code).await;
    assert_eq!(stored.device_code_hash, TokenHash::of(device_code));
    assert!(!format!("{stored:?}").contains(device_code));
    assert_eq!(stored.status, DeviceStatus::Pending);
    assert_eq!(stored.client_id, "tv");
    assert_eq!(stored.scope.as_str(), "read");
    assert_eq!(stored.expires_at, START + 600);

    // Without scope: the client's scope.
    let answer = f.device_authorization("tv", None).await;
    let stored = f.stored(answer.str("device_code").unwrap()).await;
    assert_eq!(stored.scope.as_str(), "read write");
}

#[tokio::test]
async fn discovery_publishes_the_endpoint_and_the_grant() {
    let f = fixture().await;
    let document = f.h.server.metadata().unwrap();
    assert_eq!(
        document["device_authorization_endpoint"],
        "https://auth.example.com/oauth/device_authorization"
    );
    assert!(
        document["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(GRANT_TYPE))
    );
    let route = f.h.server.route("device_authorization").unwrap();
    assert_eq!(route.path(), "/oauth/device_authorization");
    let page = f.h.server.route("device_verification").unwrap();
    assert_eq!(page.path(), "/device");
    assert_eq!(page.methods(), [http::Method::GET, http::Method::POST]);
    // Configured, nothing of the add-on is left out.
    let unmounted = f.h.server.unmounted();
    assert!(
        unmounted.iter().all(|u| u.name != "device_authorization"
            && u.name != "device_verification"
            && u.name != GRANT_TYPE),
        "{unmounted:?}"
    );
}

#[tokio::test]
async fn device_authorization_authenticates_clients_as_section_3_1_says() {
    let f = fixture().await;
    // A confidential client authenticates.
    let answer =
        f.h.send(post(
            "/oauth/device_authorization",
            Some(&basic("console", "console-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            "scope=read",
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    f.h.send(post(
        "/oauth/device_authorization",
        Some(&basic("console", "wrong")),
        "scope=read",
    ))
    .await
    .assert_error(401, "invalid_client");
    // A confidential client cannot pass as public.
    f.device_authorization("console", None)
        .await
        .assert_error(401, "invalid_client");
    f.h.send(post("/oauth/device_authorization", None, "scope=read"))
        .await
        .assert_error(401, "invalid_client");
    f.device_authorization("nobody", None)
        .await
        .assert_error(401, "invalid_client");
    // Not opted in.
    f.device_authorization("plain", None)
        .await
        .assert_error(400, "unauthorized_client");
    // More than the client's scope.
    f.device_authorization("tv", Some("read admin"))
        .await
        .assert_error(400, "invalid_scope");
}

#[tokio::test]
async fn without_an_issuer_or_state_nothing_half_working_is_mounted() {
    // No issuer (nor verification_uri): devices could not tell users where to go.
    assert_nothing_mounted(
        |builder| {
            builder.with_state(
                DeviceFlow::new(MemoryDeviceStore::new()).with_users(FixedUser::new(USER)),
            )
        },
        "give the builder `.issuer(...)`, or the flow `DeviceFlow::verification_uri(...)`",
    )
    .await;

    // An explicit verification_uri needs no issuer.
    let h = Harness::with(&clients(), |builder| {
        builder.with_state(
            DeviceFlow::new(MemoryDeviceStore::new())
                .with_users(FixedUser::new(USER))
                .verification_uri("https://example.com/go"),
        )
    })
    .await;
    assert!(h.server.route("device_authorization").is_some());
    assert!(h.server.route("device_verification").is_some());
    assert!(h.server.grants().contains(GRANT_TYPE));
    let answer = h
        .send(post("/oauth/device_authorization", None, "client_id=tv"))
        .await;
    assert_eq!(
        answer.str("verification_uri"),
        Some("https://example.com/go")
    );

    // No DeviceFlow at all.
    assert_nothing_mounted(
        |builder| builder.issuer(ISSUER),
        "no DeviceFlow state: give the builder `.with_state(DeviceFlow::new(store)",
    )
    .await;

    // A DeviceFlow without a user hook: nobody could approve (see also device_flow_page.rs).
    assert_nothing_mounted(
        |builder| {
            builder
                .issuer(ISSUER)
                .with_state(DeviceFlow::new(MemoryDeviceStore::new()))
        },
        "DeviceFlow::with_users",
    )
    .await;
}

/// What `check_setup` cannot see: an application that leaves the verification page out, with no
/// `verification_uri` to send users elsewhere. The endpoint then says so at each request.
#[tokio::test]
async fn without_the_page_or_a_verification_uri_the_endpoint_says_so() {
    let h = Harness::with(&clients(), |builder| {
        builder
            .issuer(ISSUER)
            .with_state(DeviceFlow::new(MemoryDeviceStore::new()).with_users(FixedUser::new(USER)))
            .exclude("device_verification")
    })
    .await;
    assert!(h.server.route("device_authorization").is_some());
    let answer = h
        .send(post("/oauth/device_authorization", None, "client_id=tv"))
        .await;
    answer.assert_error(500, "server_error");
    assert!(
        answer
            .str("error_description")
            .unwrap()
            .contains("verification_uri")
    );
}
