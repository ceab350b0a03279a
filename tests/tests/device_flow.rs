//! The device authorization grant (RFC 8628), added by the `device-flow` crate through the
//! core's public API: the device authorization endpoint, the verification page and the
//! device-code grant, through `dispatch` with a manual clock, then end to end over real HTTP
//! with the `oauth2` crate's device flow while the test approves through the HTML form.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Fixtures.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser as _;
use device_flow::{
    CSRF_COOKIE, Created, DeviceFlow, DeviceStatus, DeviceStore, Devices, FixedUser, GRANT_TYPE,
    MemoryDeviceStore, PgDeviceStore, SLOW_DOWN_STEP, SqliteDeviceStore, UserCode,
};
use http::Request;
use http::header::COOKIE;
use oauth_endpoints::{Client, SqliteStore, TokenHash};
use oauth_endpoints_tests::pg::TestSchema;
use oauth_endpoints_tests::{Answer, Harness, START, basic, form, post};
use serde_json::json;

const ISSUER: &str = "https://auth.example.com";

/// Form fields of a page submission.
type Fields<'a> = Vec<(&'a str, &'a str)>;
const USER: &str = "alice";

/// A public device client, a confidential one, another public one, and one not opted in.
fn clients() -> Vec<Client> {
    vec![
        Client::public("tv")
            .with_grant_types([GRANT_TYPE, "refresh_token"])
            .with_scope("read write".parse().unwrap())
            .build()
            .unwrap(),
        Client::confidential("console", "console-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
            .with_grant_types([GRANT_TYPE])
            .with_scope("read".parse().unwrap())
            .build()
            .unwrap(),
        Client::public("other")
            .with_grant_types([GRANT_TYPE])
            .with_scope("read write".parse().unwrap())
            .build()
            .unwrap(),
        Client::public("plain")
            .with_scope("read".parse().unwrap())
            .build()
            .unwrap(),
        Client::confidential("rs", "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
            .with_introspect_any_token(true)
            .build()
            .unwrap(),
    ]
}

struct Fixture {
    h: Harness,
    devices: Devices,
}

/// The device codes of a started flow.
struct Started {
    device_code: String,
    user_code: String,
}

async fn fixture_with(
    store: impl DeviceStore,
    configure: impl FnOnce(DeviceFlow) -> DeviceFlow,
) -> Fixture {
    let flow = configure(DeviceFlow::new(store));
    let devices = flow.devices().clone();
    let h = Harness::with(&clients(), |builder| {
        builder.issuer(ISSUER).with_state(flow)
    })
    .await;
    Fixture { h, devices }
}

async fn fixture() -> Fixture {
    fixture_with(MemoryDeviceStore::new(), |flow| {
        flow.with_users(FixedUser::new(USER))
    })
    .await
}

fn html(answer: &Answer) -> String {
    String::from_utf8_lossy(&answer.body).into_owned()
}

/// The `name=value` of the CSRF cookie an answer sets.
fn set_cookie(answer: &Answer) -> String {
    let header = answer.header("set-cookie").expect("a CSRF cookie");
    header.split(';').next().unwrap().to_owned()
}

/// The value of the hidden CSRF field of a page.
fn hidden_csrf(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a CSRF field") + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].to_owned()
}

impl Fixture {
    async fn device_authorization(&self, client_id: &str, scope: Option<&str>) -> Answer {
        let mut pairs = vec![("client_id", client_id)];
        pairs.extend(scope.map(|scope| ("scope", scope)));
        self.h
            .send(post("/oauth/device_authorization", None, &form(&pairs)))
            .await
    }

    async fn start(&self, client_id: &str) -> Started {
        let answer = self.device_authorization(client_id, Some("read")).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
        Started {
            device_code: answer.str("device_code").unwrap().to_owned(),
            user_code: answer.str("user_code").unwrap().to_owned(),
        }
    }

    async fn poll(&self, client_id: &str, device_code: &str) -> Answer {
        let body = form(&[
            ("grant_type", GRANT_TYPE),
            ("client_id", client_id),
            ("device_code", device_code),
        ]);
        self.h.send(post("/oauth/token", None, &body)).await
    }

    async fn get_page(&self, query: &str, cookie: Option<&str>) -> Answer {
        let mut request = Request::get(format!("/device{query}"));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        self.h.send(request.body(Bytes::new()).unwrap()).await
    }

    async fn post_page(&self, cookie: Option<&str>, pairs: &[(&str, &str)]) -> Answer {
        let mut request = post("/device", None, &form(pairs));
        if let Some(cookie) = cookie {
            request
                .headers_mut()
                .insert(COOKIE, cookie.parse().unwrap());
        }
        self.h.send(request).await
    }

    /// What a browser does: open the page for the code, then press Approve or Deny.
    async fn decide(&self, typed: &str, action: &str) -> Answer {
        let page = self
            .get_page(&format!("?user_code={}", form_value(typed)), None)
            .await;
        assert_eq!(page.status, 200, "{}", html(&page));
        let cookie = set_cookie(&page);
        let csrf = hidden_csrf(&html(&page));
        self.post_page(
            Some(&cookie),
            &[("csrf", &csrf), ("user_code", typed), ("action", action)],
        )
        .await
    }

    async fn stored(&self, device_code: &str) -> device_flow::DeviceAuthorization {
        self.devices
            .find_by_device_code(&TokenHash::of(device_code))
            .await
            .unwrap()
            .unwrap()
    }
}

fn form_value(value: &str) -> String {
    oauth_endpoints_tests::form_encode(value)
}

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
async fn without_an_issuer_or_state_the_endpoint_says_what_is_missing() {
    let h = Harness::with(&clients(), |builder| {
        builder.with_state(DeviceFlow::new(MemoryDeviceStore::new()))
    })
    .await;
    let answer = h
        .send(post("/oauth/device_authorization", None, "client_id=tv"))
        .await;
    answer.assert_error(500, "server_error");
    assert!(answer.str("error_description").unwrap().contains("issuer"));

    // An explicit verification_uri needs no issuer.
    let h = Harness::with(&clients(), |builder| {
        builder.with_state(
            DeviceFlow::new(MemoryDeviceStore::new()).verification_uri("https://example.com/go"),
        )
    })
    .await;
    let answer = h
        .send(post("/oauth/device_authorization", None, "client_id=tv"))
        .await;
    assert_eq!(
        answer.str("verification_uri"),
        Some("https://example.com/go")
    );

    // No DeviceFlow at all.
    let h = Harness::with(&clients(), |builder| builder.issuer(ISSUER)).await;
    let answer = h
        .send(post("/oauth/device_authorization", None, "client_id=tv"))
        .await;
    answer.assert_error(500, "server_error");
    assert!(
        answer
            .str("error_description")
            .unwrap()
            .contains("DeviceFlow")
    );
}

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

#[tokio::test]
async fn user_codes_are_compared_case_insensitively_without_punctuation() {
    let f = fixture().await;
    for variant in 0..3 {
        let flow = f.start("tv").await;
        let typed = match variant {
            0 => flow.user_code.to_lowercase(),
            1 => flow.user_code.replace('-', ""),
            _ => format!(" {} ", flow.user_code.replace('-', " . ")),
        };
        let answer = f.decide(&typed, "approve").await;
        assert_eq!(answer.status, 200, "{typed:?}: {}", html(&answer));
        assert_eq!(
            f.stored(&flow.device_code).await.status,
            DeviceStatus::Approved,
            "{typed:?}"
        );
    }
}

#[tokio::test]
async fn the_page_shows_the_client_and_scope_and_escapes_them() {
    let f = fixture().await;
    f.h.server
        .clients()
        .save(
            &Client::public("<b>evil</b>")
                .with_grant_types([GRANT_TYPE])
                .with_scope("read".parse().unwrap())
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let flow = f.start("<b>evil</b>").await;
    let page = f
        .get_page(&format!("?user_code={}", flow.user_code), None)
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let body = html(&page);
    assert!(body.contains("&lt;b&gt;evil&lt;/b&gt;"), "{body}");
    assert!(!body.contains("<b>evil"), "{body}");
    assert!(body.contains("<code>read</code>"), "{body}");
    assert!(body.contains(&flow.user_code), "{body}");
    assert!(body.contains(USER), "{body}");

    // What a person typed is echoed escaped too.
    let page = f.get_page("?user_code=%22%3E%3Cscript%3E", None).await;
    assert_eq!(page.status, 400);
    assert!(html(&page).contains("&quot;&gt;&lt;script&gt;"));
    assert!(!html(&page).contains("<script>"));

    // Without a code: the form.
    let page = f.get_page("", None).await;
    assert_eq!(page.status, 200);
    assert!(html(&page).contains("name=\"user_code\""));
}

#[tokio::test]
async fn the_form_is_protected_against_cross_site_request_forgery() {
    let f = fixture().await;
    let flow = f.start("tv").await;
    let page = f
        .get_page(&format!("?user_code={}", flow.user_code), None)
        .await;
    let set = page.header("set-cookie").unwrap().to_owned();
    assert!(set.starts_with(&format!("{CSRF_COOKIE}=")), "{set}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/device", "Secure"] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    let cookie = set_cookie(&page);
    let csrf = hidden_csrf(&html(&page));
    assert_eq!(cookie, format!("{CSRF_COOKIE}={csrf}"));
    // A page that already has the cookie reuses it.
    let again = f
        .get_page(&format!("?user_code={}", flow.user_code), Some(&cookie))
        .await;
    assert!(again.header("set-cookie").is_none());
    assert_eq!(hidden_csrf(&html(&again)), csrf);

    let code = flow.user_code.as_str();
    let other = oauth_endpoints::generate_secret();
    let forged: [(Option<&str>, Fields<'_>); 4] = [
        // No cookie (a cross-site POST: SameSite=Strict keeps it home).
        (
            None,
            vec![("csrf", &csrf), ("user_code", code), ("action", "approve")],
        ),
        // No field.
        (
            Some(&cookie),
            vec![("user_code", code), ("action", "approve")],
        ),
        // A field that is not the cookie's.
        (
            Some(&cookie),
            vec![("csrf", &other), ("user_code", code), ("action", "approve")],
        ),
        // A cookie that is not the field's.
        (
            Some(&format!("{CSRF_COOKIE}={other}")),
            vec![("csrf", &csrf), ("user_code", code), ("action", "approve")],
        ),
    ];
    for (cookie, fields) in &forged {
        let answer = f.post_page(*cookie, fields).await;
        assert_eq!(answer.status, 403, "{cookie:?} {fields:?}");
        assert!(html(&answer).contains("expired"));
    }
    // The right cookie and field, in a request the browser labels cross-site.
    let mut request = post(
        "/device",
        None,
        &form(&[("csrf", &csrf), ("user_code", code), ("action", "approve")]),
    );
    let headers = request.headers_mut();
    headers.insert(COOKIE, cookie.parse().unwrap());
    headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(f.h.send(request).await.status, 403);

    assert_eq!(
        f.stored(&flow.device_code).await.status,
        DeviceStatus::Pending
    );
    f.poll("tv", &flow.device_code)
        .await
        .assert_error(400, "authorization_pending");

    // The genuine form goes through.
    let answer = f
        .post_page(
            Some(&cookie),
            &[("csrf", &csrf), ("user_code", code), ("action", "approve")],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", html(&answer));
    assert_eq!(
        f.stored(&flow.device_code).await.status,
        DeviceStatus::Approved
    );
}

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

#[tokio::test]
async fn the_page_needs_the_applications_user_hook() {
    // No hook: a clear error, nothing approved.
    let f = fixture_with(MemoryDeviceStore::new(), |flow| flow).await;
    let flow = f.start("tv").await;
    let page = f
        .get_page(&format!("?user_code={}", flow.user_code), None)
        .await;
    assert_eq!(page.status, 500);
    assert!(html(&page).contains("DeviceFlow::with_users"));
    let cookie = set_cookie(&page);
    let csrf = cookie.split_once('=').unwrap().1.to_owned();
    let answer = f
        .post_page(
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("user_code", &flow.user_code),
                ("action", "approve"),
            ],
        )
        .await;
    assert_eq!(answer.status, 500);
    assert_eq!(
        f.stored(&flow.device_code).await.status,
        DeviceStatus::Pending
    );

    // A hook that finds nobody signed in: sign in first.
    let f = fixture_with(MemoryDeviceStore::new(), |flow| {
        flow.with_users(|request: &Request<Bytes>| {
            request
                .headers()
                .get("x-user")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
    })
    .await;
    let flow = f.start("tv").await;
    let page = f
        .get_page(&format!("?user_code={}", flow.user_code), None)
        .await;
    assert_eq!(page.status, 401);
    assert!(html(&page).contains("Sign in"));
    let request = Request::get(format!("/device?user_code={}", flow.user_code))
        .header("x-user", "bob")
        .body(Bytes::new())
        .unwrap();
    let page = f.h.send(request).await;
    assert_eq!(page.status, 200);
    assert!(html(&page).contains("bob"));
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

/// The store contract: every implementation behaves the same.
async fn store_contract(store: &impl DeviceStore) {
    let code = |c: &str| UserCode::normalize(c).unwrap();
    let authorization = |device_code: &str, user_code: &str| device_flow::DeviceAuthorization {
        device_code_hash: TokenHash::of(device_code),
        user_code: code(user_code),
        client_id: "tv".into(),
        scope: "read".parse().unwrap(),
        status: DeviceStatus::Pending,
        subject: None,
        issued_at: 1_000,
        expires_at: 1_600,
        interval: 5,
        last_polled_at: None,
    };
    let first = authorization("device-1", "BBBB-CCCC");
    assert_eq!(store.create(&first, 100).await.unwrap(), Created::Stored);
    // A user code is unique among unexpired requests.
    assert_eq!(
        store
            .create(&authorization("device-2", "BBBB-CCCC"), 100)
            .await
            .unwrap(),
        Created::UserCodeTaken
    );
    assert_eq!(
        store
            .find_by_device_code(&TokenHash::of("device-1"))
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.find_by_user_code(&code("bbbbcccc")).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store
            .find_by_device_code(&TokenHash::of("device-2"))
            .await
            .unwrap(),
        None
    );

    // Polls: the first is fine, a fast one slows down, atomically bumping the interval.
    let hash = TokenHash::of("device-1");
    assert_eq!(
        store.record_poll(&hash, 1_000).await.unwrap(),
        device_flow::PollOutcome::Pending
    );
    assert_eq!(
        store.record_poll(&hash, 1_004).await.unwrap(),
        device_flow::PollOutcome::SlowDown { interval: 10 }
    );
    assert_eq!(
        store.record_poll(&hash, 1_014).await.unwrap(),
        device_flow::PollOutcome::Pending
    );
    let polled = store.find_by_device_code(&hash).await.unwrap().unwrap();
    assert_eq!((polled.interval, polled.last_polled_at), (10, Some(1_014)));

    // Not redeemable while pending; approved once; then redeemed once.
    assert_eq!(store.redeem(&hash, 1_100).await.unwrap(), None);
    assert!(
        store
            .approve(&code("BBBB-CCCC"), USER, 1_100)
            .await
            .unwrap()
    );
    assert!(
        !store
            .approve(&code("BBBB-CCCC"), USER, 1_100)
            .await
            .unwrap()
    );
    assert!(!store.deny(&code("BBBB-CCCC"), 1_100).await.unwrap());
    assert_eq!(
        store.record_poll(&hash, 1_200).await.unwrap(),
        device_flow::PollOutcome::NotPending
    );
    let redeemed = store.redeem(&hash, 1_200).await.unwrap().unwrap();
    assert_eq!(redeemed.status, DeviceStatus::Used);
    assert_eq!(redeemed.subject.as_deref(), Some(USER));
    assert_eq!(store.redeem(&hash, 1_200).await.unwrap(), None);

    // Deny only pending and unexpired; nothing after expiry.
    let second = authorization("device-3", "DDDD-FFFF");
    assert_eq!(store.create(&second, 100).await.unwrap(), Created::Stored);
    assert!(
        !store
            .approve(&code("DDDD-FFFF"), USER, 1_600)
            .await
            .unwrap()
    );
    assert!(!store.deny(&code("DDDD-FFFF"), 1_600).await.unwrap());
    assert!(store.deny(&code("DDDD-FFFF"), 1_599).await.unwrap());
    let denied = store
        .find_by_device_code(&TokenHash::of("device-3"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(denied.status, DeviceStatus::Denied);
    assert_eq!(
        store
            .redeem(&TokenHash::of("device-3"), 1_599)
            .await
            .unwrap(),
        None
    );

    // An expired request frees its user code.
    let mut reuse = authorization("device-4", "DDDD-FFFF");
    reuse.issued_at = 1_600;
    reuse.expires_at = 2_200;
    assert_eq!(store.create(&reuse, 100).await.unwrap(), Created::Stored);
    assert_eq!(
        store
            .find_by_device_code(&TokenHash::of("device-3"))
            .await
            .unwrap(),
        None
    );

    // Purging drops what expired before the cut-off.
    assert_eq!(store.purge_expired(2_000).await.unwrap(), 1);
    assert_eq!(store.find_by_device_code(&hash).await.unwrap(), None);
    assert!(
        store
            .find_by_device_code(&TokenHash::of("device-4"))
            .await
            .unwrap()
            .is_some()
    );

    // The bound counts the client's pending, unexpired requests only.
    let busy = |n: usize, issued_at: u64| {
        let mut request = authorization(&format!("busy-{n}"), busy_code(n));
        request.client_id = "busy".into();
        request.issued_at = issued_at;
        request.expires_at = issued_at + 600;
        request
    };
    assert_eq!(
        store.create(&busy(0, 3_000), 2).await.unwrap(),
        Created::Stored
    );
    assert_eq!(
        store.create(&busy(1, 3_000), 2).await.unwrap(),
        Created::Stored
    );
    assert_eq!(
        store.create(&busy(2, 3_000), 2).await.unwrap(),
        Created::TooManyPending
    );
    assert_eq!(
        store
            .find_by_device_code(&TokenHash::of("busy-2"))
            .await
            .unwrap(),
        None
    );
    // Another client is not affected; a decided request frees its slot.
    assert_eq!(
        store
            .create(&authorization("device-5", "FFFF-GGGG"), 2)
            .await
            .unwrap(),
        Created::Stored
    );
    assert!(store.deny(&code(busy_code(0)), 3_001).await.unwrap());
    assert_eq!(
        store.create(&busy(2, 3_001), 2).await.unwrap(),
        Created::Stored
    );
    assert_eq!(
        store.create(&busy(3, 3_001), 2).await.unwrap(),
        Created::TooManyPending
    );
    // So does an expired one (busy-1 expires at 3_600; busy-2 lives on until 3_601).
    assert_eq!(
        store.create(&busy(3, 3_600), 2).await.unwrap(),
        Created::Stored
    );
    assert_eq!(
        store.create(&busy(4, 3_600), 2).await.unwrap(),
        Created::TooManyPending
    );
}

/// Distinct user codes for the bound's part of the contract.
fn busy_code(n: usize) -> &'static str {
    [
        "HHHH-JJJJ",
        "KKKK-LLLL",
        "MMMM-NNNN",
        "PPPP-QQQQ",
        "RRRR-SSSS",
    ][n]
}

#[tokio::test]
async fn memory_device_store_keeps_the_contract() {
    store_contract(&MemoryDeviceStore::new()).await;
}

#[tokio::test]
async fn sqlite_device_store_keeps_the_contract_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oauth.db");
    let sqlite = SqliteStore::open(&path).await.unwrap();
    let store = SqliteDeviceStore::open(&sqlite).await.unwrap();
    store_contract(&store).await;
    drop((store, sqlite));
    let reopened = SqliteDeviceStore::open(&SqliteStore::open(&path).await.unwrap())
        .await
        .unwrap();
    assert!(
        reopened
            .find_by_device_code(&TokenHash::of("device-4"))
            .await
            .unwrap()
            .is_some()
    );
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
    ) -> Result<Created, oauth_endpoints::StoreError> {
        tokio::task::yield_now().await;
        self.0.create(authorization, max_pending).await
    }

    async fn find_by_device_code(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<device_flow::DeviceAuthorization>, oauth_endpoints::StoreError> {
        tokio::task::yield_now().await;
        self.0.find_by_device_code(hash).await
    }

    async fn find_by_user_code(
        &self,
        user_code: &UserCode,
    ) -> Result<Option<device_flow::DeviceAuthorization>, oauth_endpoints::StoreError> {
        tokio::task::yield_now().await;
        self.0.find_by_user_code(user_code).await
    }

    async fn approve(
        &self,
        user_code: &UserCode,
        subject: &str,
        now: u64,
    ) -> Result<bool, oauth_endpoints::StoreError> {
        tokio::task::yield_now().await;
        self.0.approve(user_code, subject, now).await
    }

    async fn deny(
        &self,
        user_code: &UserCode,
        now: u64,
    ) -> Result<bool, oauth_endpoints::StoreError> {
        tokio::task::yield_now().await;
        self.0.deny(user_code, now).await
    }

    async fn record_poll(
        &self,
        hash: &TokenHash,
        now: u64,
    ) -> Result<device_flow::PollOutcome, oauth_endpoints::StoreError> {
        tokio::task::yield_now().await;
        self.0.record_poll(hash, now).await
    }

    async fn redeem(
        &self,
        hash: &TokenHash,
        now: u64,
    ) -> Result<Option<device_flow::DeviceAuthorization>, oauth_endpoints::StoreError> {
        tokio::task::yield_now().await;
        self.0.redeem(hash, now).await
    }

    async fn purge_expired(&self, before: u64) -> Result<u64, oauth_endpoints::StoreError> {
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

/// A PostgreSQL device store in a fresh schema (dropped with the returned guard), or `None`
/// (the test is skipped) without `OAUTH_ENDPOINTS_TEST_POSTGRES`.
async fn pg_devices(test: &str) -> Option<(TestSchema, PgDeviceStore)> {
    let schema = TestSchema::create(test).await?;
    let store = PgDeviceStore::open(&schema.store().await).await.unwrap();
    Some((schema, store))
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

/// A GET with `user_code` from a link on another site (or a sibling subdomain) is a plain page
/// view: no lookup, nothing counted, no pre-filled code.
#[tokio::test]
async fn a_cross_site_link_neither_counts_nor_prefills() {
    let f = fixture_with(MemoryDeviceStore::new(), |flow| {
        flow.with_users(FixedUser::new(USER))
            .max_code_entries(3, Duration::from_secs(300))
    })
    .await;
    let flow = f.start("tv").await;
    let linked = |code: &str, site: &str| {
        Request::get(format!("/device?user_code={code}"))
            .header("sec-fetch-site", site)
            .body(Bytes::new())
            .unwrap()
    };
    // Ten wrong codes from another site: the plain form each time, not a refusal.
    for i in 0..10 {
        let site = if i % 2 == 0 {
            "cross-site"
        } else {
            "same-site"
        };
        let page = f.h.send(linked("BBBB-CCCC", site)).await;
        assert_eq!(page.status, 200, "{site}: {}", html(&page));
        assert!(
            html(&page).contains("name=\"user_code\" value=\"\""),
            "{site}"
        );
        assert!(!html(&page).contains("BBBB-CCCC"), "{site}");
    }
    // The right code from another site: not looked up, not shown, nothing to approve.
    let page = f.h.send(linked(&flow.user_code, "cross-site")).await;
    assert_eq!(page.status, 200);
    assert!(!html(&page).contains(&flow.user_code), "{}", html(&page));
    assert!(!html(&page).contains("Approve"));
    // The user was not locked out: the link as a device shows it (typed or scanned, `none`),
    // and from the page itself (`same-origin`), still work within the limit.
    let page = f.h.send(linked(&flow.user_code, "none")).await;
    assert_eq!(page.status, 200);
    assert!(html(&page).contains("Approve"));
    let page = f.h.send(linked(&flow.user_code, "same-origin")).await;
    assert!(html(&page).contains("Approve"));
    assert_eq!(f.decide(&flow.user_code, "approve").await.status, 429);
    assert_eq!(
        f.stored(&flow.device_code).await.status,
        DeviceStatus::Pending
    );
}

/// The POST path refuses what the browser labels `same-site` as it refuses `cross-site`.
#[tokio::test]
async fn a_decision_posted_from_a_sibling_subdomain_is_refused() {
    let f = fixture().await;
    let flow = f.start("tv").await;
    let page = f
        .get_page(&format!("?user_code={}", flow.user_code), None)
        .await;
    let cookie = set_cookie(&page);
    let csrf = hidden_csrf(&html(&page));
    let mut request = post(
        "/device",
        None,
        &form(&[
            ("csrf", &csrf),
            ("user_code", &flow.user_code),
            ("action", "approve"),
        ]),
    );
    request
        .headers_mut()
        .insert(COOKIE, cookie.parse().unwrap());
    request
        .headers_mut()
        .insert("sec-fetch-site", "same-site".parse().unwrap());
    assert_eq!(f.h.send(request).await.status, 403);
    assert_eq!(
        f.stored(&flow.device_code).await.status,
        DeviceStatus::Pending
    );
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
    let quota = oauth_endpoints::Quota::per_hour(std::num::NonZeroU32::MIN)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_polls_get_the_token_once_with_the_postgres_store() {
    let Some((_schema, store)) = pg_devices("device_polls").await else {
        return;
    };
    let f = fixture_with(store, |flow| flow.with_users(FixedUser::new(USER))).await;
    concurrent_polls_redeem_once(&f).await;
}

#[tokio::test]
async fn postgres_device_store_keeps_the_contract() {
    let Some((_schema, store)) = pg_devices("device_contract").await else {
        return;
    };
    store_contract(&store).await;
}

#[tokio::test]
async fn postgres_device_store_keeps_the_contract_in_a_schema_of_its_own() {
    let Some(schema) = TestSchema::create("device_own").await else {
        return;
    };
    let own = format!("{}_devices", schema.name());
    let core = schema.store().await;
    let store = PgDeviceStore::with_schema(core.pool().clone(), &own)
        .await
        .unwrap();
    store_contract(&store).await;
    // The tables are in that schema; dropping the test schema drops it too.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 \
         ORDER BY table_name",
    )
    .bind(&own)
    .fetch_all(core.pool())
    .await
    .unwrap();
    assert_eq!(tables, ["device_authorizations", "device_flow_migrations"]);
    sqlx::raw_sql(&format!("DROP SCHEMA \"{own}\" CASCADE"))
        .execute(core.pool())
        .await
        .unwrap();
    assert!(
        PgDeviceStore::with_schema(core.pool().clone(), "Bad-Name")
            .await
            .is_err()
    );
}

/// Two instances (two pools) on one database, opening at once, then racing on every state
/// change: each is decided exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_state_changes_are_atomic_across_instances() {
    let Some(schema) = TestSchema::create("device_two").await else {
        return;
    };
    let (a, b) = tokio::join!(schema.store(), schema.store());
    let (a, b) = tokio::join!(PgDeviceStore::open(&a), PgDeviceStore::open(&b));
    let (a, b) = (a.unwrap(), b.unwrap());
    let request = |n: usize| device_flow::DeviceAuthorization {
        device_code_hash: TokenHash::of(&format!("device-{n}")),
        user_code: UserCode::generate(),
        client_id: "tv".into(),
        scope: "read".parse().unwrap(),
        status: DeviceStatus::Pending,
        subject: None,
        issued_at: 1_000,
        expires_at: 1_600,
        interval: 5,
        last_polled_at: None,
    };
    for round in 0..10 {
        let stored = request(round);
        assert_eq!(a.create(&stored, 1_000).await.unwrap(), Created::Stored);
        let code = &stored.user_code;
        // Approve on one instance, deny on the other: exactly one decides.
        let (approved, denied) = tokio::join!(a.approve(code, USER, 1_100), b.deny(code, 1_100));
        assert!(approved.unwrap() ^ denied.unwrap(), "round {round}");
        if b.find_by_user_code(code).await.unwrap().unwrap().status == DeviceStatus::Approved {
            let hash = stored.device_code_hash;
            let (x, y) = tokio::join!(a.redeem(&hash, 1_200), b.redeem(&hash, 1_200));
            assert!(x.unwrap().is_some() ^ y.unwrap().is_some(), "round {round}");
        }
    }
    // Polls of one device code at one instant: one is fine, the other slows down.
    let polled = request(100);
    assert_eq!(b.create(&polled, 1_000).await.unwrap(), Created::Stored);
    let hash = polled.device_code_hash;
    let (x, y) = tokio::join!(a.record_poll(&hash, 1_000), b.record_poll(&hash, 1_000));
    let mut outcomes = [x.unwrap(), y.unwrap()];
    outcomes.sort_by_key(|outcome| matches!(outcome, device_flow::PollOutcome::SlowDown { .. }));
    assert_eq!(
        outcomes,
        [
            device_flow::PollOutcome::Pending,
            device_flow::PollOutcome::SlowDown { interval: 10 }
        ]
    );
    // The bound holds across instances: 12 creations for a fresh client at once, bound 4.
    let creations = (0..12).map(|n| {
        let mut stored = request(200 + n);
        stored.client_id = "busy".into();
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        async move { store.create(&stored, 4).await.unwrap() }
    });
    let created = futures_util::future::join_all(creations).await;
    assert_eq!(
        created.iter().filter(|c| **c == Created::Stored).count(),
        4,
        "{created:?}"
    );
}

// End to end over real HTTP.

mod e2e {
    use super::*;
    use oauth_endpoints_examples::server::{Options, prepare_with, serve};
    use oauth_endpoints_tests::oauth2_http;
    use oauth2::basic::BasicClient;
    use oauth2::{
        ClientId, ClientSecret, DeviceAuthorizationUrl, IntrospectionUrl, RevocationUrl, Scope,
        StandardDeviceAuthorizationResponse, StandardRevocableToken, TokenIntrospectionResponse,
        TokenResponse, TokenUrl,
    };
    use tokio::sync::oneshot;

    const CLIENTS: &str = r#"[
      {"client_id": "tv", "token_endpoint_auth_method": "none",
       "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"], "scope": "read write"},
      {"client_id": "rs", "client_secret": "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", "grant_types": [],
       "introspect_any_token": true}
    ]"#;

    struct Running {
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<std::io::Result<()>>,
    }

    impl Running {
        /// oauth2 refuses a revocation URL that is not https; [`http`] turns it back into http.
        fn url(&self, path: &str) -> String {
            format!("https://{}{path}", self.addr)
        }
    }

    async fn start(clients: &std::path::Path) -> Running {
        // Bind first: the issuer, and so the verification URI, names the real port.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = Options::try_parse_from([
            "device_flow",
            "--addr",
            &addr.to_string(),
            "--store",
            "memory",
            "--clients",
            clients.to_str().unwrap(),
        ])
        .unwrap();
        let prepared = prepare_with(&options, async |builder, _store| {
            Ok(builder.with_state(
                DeviceFlow::new(MemoryDeviceStore::new())
                    .with_users(FixedUser::new(USER))
                    .interval(Duration::from_secs(1)),
            ))
        })
        .await
        .unwrap();
        assert_eq!(
            prepared.server.config().issuer.as_deref(),
            Some(format!("http://{addr}").as_str())
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, prepared.server, async {
            let _ = stopped.await;
        }));
        Running { addr, stop, task }
    }

    /// What the user does in a browser: open verification_uri_complete, press Approve.
    async fn approve_in_browser(verification_uri_complete: String) {
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = browser
            .get(&verification_uri_complete)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let cookie = page
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body = page.text().await.unwrap();
        let csrf = hidden_csrf(&body);
        let user_code = verification_uri_complete
            .rsplit_once('=')
            .unwrap()
            .1
            .to_owned();
        let form_url = verification_uri_complete
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        let answer = browser
            .post(&form_url)
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("csrf", &csrf),
                ("user_code", &user_code),
                ("action", "approve"),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert!(answer.text().await.unwrap().contains("Device connected"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_oauth2_crates_device_flow_gets_a_token_approved_through_the_form() {
        let dir = tempfile::tempdir().unwrap();
        let clients = dir.path().join("clients.json");
        std::fs::write(&clients, CLIENTS).unwrap();
        let server = start(&clients).await;

        let device = BasicClient::new(ClientId::new("tv".to_owned()))
            .set_device_authorization_url(
                DeviceAuthorizationUrl::new(server.url("/oauth/device_authorization")).unwrap(),
            )
            .set_token_uri(TokenUrl::new(server.url("/oauth/token")).unwrap())
            .set_revocation_url(RevocationUrl::new(server.url("/oauth/revoke")).unwrap());
        let details: StandardDeviceAuthorizationResponse = device
            .exchange_device_code()
            .add_scope(Scope::new("read".to_owned()))
            .request_async(&oauth2_http)
            .await
            .unwrap();
        assert_eq!(details.interval(), Duration::from_secs(1));
        assert_eq!(
            details.verification_uri().as_str(),
            format!("http://{}/device", server.addr)
        );
        let complete = details
            .verification_uri_complete()
            .unwrap()
            .secret()
            .clone();
        assert!(complete.ends_with(details.user_code().secret().as_str()));

        // The user approves a moment later, while the device polls.
        let approval = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            approve_in_browser(complete).await;
        });
        let token = device
            .exchange_device_access_token(&details)
            .request_async(
                &oauth2_http,
                tokio::time::sleep,
                Some(Duration::from_secs(30)),
            )
            .await
            .unwrap();
        approval.await.unwrap();
        assert_eq!(
            token
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            Some(vec!["read".to_owned()])
        );

        // The token introspects active (for a resource server), then revokes.
        let resource_server = BasicClient::new(ClientId::new("rs".to_owned()))
            .set_client_secret(ClientSecret::new(
                "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF".to_owned(),
            ))
            .set_introspection_url(IntrospectionUrl::new(server.url("/oauth/introspect")).unwrap());
        let introspection = resource_server
            .introspect(token.access_token())
            .request_async(&oauth2_http)
            .await
            .unwrap();
        assert!(introspection.active());
        assert_eq!(introspection.client_id().map(|c| c.as_str()), Some("tv"));
        assert_eq!(introspection.sub(), Some(USER));
        device
            .revoke_token(StandardRevocableToken::AccessToken(
                token.access_token().clone(),
            ))
            .unwrap()
            .request_async(&oauth2_http)
            .await
            .unwrap();
        let introspection = resource_server
            .introspect(token.access_token())
            .request_async(&oauth2_http)
            .await
            .unwrap();
        assert!(!introspection.active());

        // The device code is spent.
        let again = device
            .exchange_device_access_token(&details)
            .request_async(
                &oauth2_http,
                tokio::time::sleep,
                Some(Duration::from_secs(5)),
            )
            .await;
        assert!(again.is_err());

        let _ = server.stop.send(());
        server.task.await.unwrap().unwrap();
    }
}
