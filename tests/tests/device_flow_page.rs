//! The verification page of the `device-flow` add-on (RFC 8628 §3.3): code entry, what it
//! shows and how it escapes it, its headers, the double-submit CSRF cookie, `Sec-Fetch-Site`,
//! and the application's user hook (without one, nothing is mounted). Dispatched directly, with a manual clock. (A real browser
//! drives it in `device_flow_browser.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Fixtures.

#[path = "device_flow_common/csrf.rs"]
mod csrf;
#[path = "device_flow_common/default_fixture.rs"]
mod default_fixture;
#[path = "device_flow_common/fixture.rs"]
mod fixture;
#[path = "device_flow_common/flow.rs"]
mod flow;
#[path = "device_flow_common/poll.rs"]
mod poll;
#[path = "device_flow_common/unmounted.rs"]
mod unmounted;
#[path = "device_flow_common/user.rs"]
mod user;

use std::time::Duration;

use bytes::Bytes;
use device_flow::{
    CSRF_COOKIE, DeviceFlow, DeviceStatus, FixedUser, GRANT_TYPE, MemoryDeviceStore,
};
use http::Request;
use http::header::COOKIE;
use oauth_endpoints::Client;
use oauth_endpoints_tests::{form, post};

use csrf::hidden_csrf;
use default_fixture::fixture;
use fixture::{ISSUER, fixture_with};
use flow::{html, set_cookie};
use unmounted::assert_nothing_mounted;
use user::USER;

/// Form fields of a page submission.
type Fields<'a> = Vec<(&'a str, &'a str)>;

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
    let other = oauth_endpoints::secret::generate_secret();
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
async fn the_page_needs_the_applications_user_hook() {
    // No hook: nobody could approve, so nothing is mounted: not the page, nor the endpoint
    // that would hand out codes nobody can approve (no flow can start), nor the grant.
    assert_nothing_mounted(
        |builder| {
            builder
                .issuer(ISSUER)
                .with_state(DeviceFlow::new(MemoryDeviceStore::new()))
        },
        "DeviceFlow::with_users",
    )
    .await;

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
