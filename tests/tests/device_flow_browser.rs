//! The device verification page in a real browser: headless Chromium, driven through WebDriver
//! (`chromedriver`) with `fantoccini`, against the device flow served over real HTTP on
//! 127.0.0.1. A person opens the verification URI, signs in, types a wrong code and reads the
//! error, types the right one, checks what the page shows and approves; the device, polling the
//! token endpoint over HTTP, then gets its token. A second request is denied the same way, and
//! the page refuses to be framed by another site.
//!
//! Needs `/usr/bin/chromedriver` and `/usr/bin/chromium` (Debian's `chromium-driver` and
//! `chromium`; `.ci/run` installs them). Without them the test prints a notice and passes, unless
//! `OAUTH_ENDPOINTS_TEST_CHROMEDRIVER` names the driver (as CI does): then a missing driver or
//! browser fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Fixtures.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use device_flow::{DeviceFlow, GRANT_TYPE, MemoryDeviceStore};
use fantoccini::elements::Element;
use fantoccini::{Client as Browser, Locator};
use http::Request;
use oauth_endpoints::store::MemoryStore;
use oauth_endpoints::{AuthorizationServer, Client};
use oauth_endpoints_tests::browser::{Driver, PATIENCE, find_driver, wait_for};
use oauth_endpoints_tests::form;
use serde_json::Value;
use tokio::sync::oneshot;

/// The session cookie the application's sign-in page sets and its user hook reads, and the user
/// it names.
const SESSION: &str = "session";
const PERSON: &str = "browser-person";

/// What the verification page says for a wrong, used or expired code (`page.rs`).
const WRONG_CODE: &str =
    "That code is not valid, was already used, or has expired. Check your device.";

/// The device client: public, opted in to the device grant.
const DEVICE: &str = "tv";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_approves_a_device_in_a_real_browser() {
    let Some(driver) = find_driver("the device verification page") else {
        return;
    };
    let server = Server::start().await;
    let attacker = Attacker::start(server.addr).await;
    let driver = Driver::start(&driver).await;
    let browser = driver.browser().await;
    let device = Device::new(&server);

    // The device starts a flow and polls once: nobody has approved yet.
    let flow = device.start().await;
    assert_eq!(flow.verification_uri, server.url("/device"));
    let pending = device.poll_once(&flow).await;
    assert_eq!(pending["error"], "authorization_pending", "{pending}");

    // The person opens the verification URI; the page asks them to sign in.
    browser.goto(&flow.verification_uri).await.unwrap();
    wait_for_heading(&browser, "Sign in first").await;
    let text = body_text(&browser).await;
    assert!(
        text.contains("Sign in to this site, then open this page again."),
        "{text}"
    );
    // Signing in is the application's business: here, its sign-in page sets a session cookie
    // that its user hook reads.
    browser.goto(&server.url("/sign-in")).await.unwrap();
    wait_for_heading(&browser, "Signed in").await;
    browser.goto(&flow.verification_uri).await.unwrap();
    wait_for_heading(&browser, "Connect a device").await;

    // A mistyped code: the page says so, in words, and keeps what was typed.
    let input = wait_for(&browser, Locator::Css("input#user_code")).await;
    input.send_keys("BBBB-BBBB").await.unwrap();
    press(&browser, "Continue").await;
    let error = wait_for(&browser, Locator::Css("p.error[role=alert]")).await;
    assert!(error.is_displayed().await.unwrap());
    assert_eq!(error.text().await.unwrap(), WRONG_CODE);
    let input = wait_for(&browser, Locator::Css("input#user_code")).await;
    assert_eq!(
        input.prop("value").await.unwrap().as_deref(),
        Some("BBBB-BBBB")
    );

    // The code the device shows, typed as a person might: lower case, without the dash.
    input.clear().await.unwrap();
    input
        .send_keys(&flow.user_code.replace('-', "").to_lowercase())
        .await
        .unwrap();
    press(&browser, "Continue").await;
    wait_for_heading(&browser, "Approve this device?").await;
    let text = body_text(&browser).await;
    for shown in [
        format!("Signed in as {PERSON}."),
        format!("The application {DEVICE} wants to access your account."),
        format!("Check that your device shows this code: {}", flow.user_code),
    ] {
        assert!(text.contains(&shown), "{shown:?} in {text}");
    }
    let scope = wait_for(&browser, Locator::Css("li > code")).await;
    assert_eq!(scope.text().await.unwrap(), "read");

    press(&browser, "Approve").await;
    wait_for_heading(&browser, "Device connected").await;
    let text = body_text(&browser).await;
    assert!(
        text.contains("You approved the request. You can return to your device."),
        "{text}"
    );

    // The device, polling, gets its token.
    let tokens = device.poll_until_decided(&flow).await;
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    assert_eq!(tokens["scope"], "read", "{tokens}");
    let access_token = tokens["access_token"].as_str().unwrap_or_default();
    assert!(!access_token.is_empty(), "{tokens}");
    // Once only.
    let again = device.poll_once(&flow).await;
    assert_eq!(again["error"], "invalid_grant", "{again}");

    // Another request, opened with verification_uri_complete (the code pre-filled), denied.
    let denied = device.start().await;
    browser
        .goto(&denied.verification_uri_complete)
        .await
        .unwrap();
    wait_for_heading(&browser, "Approve this device?").await;
    assert!(body_text(&browser).await.contains(&denied.user_code));
    press(&browser, "Deny").await;
    wait_for_heading(&browser, "Request denied").await;
    let text = body_text(&browser).await;
    assert!(
        text.contains("You denied the request. The device will not get access."),
        "{text}"
    );
    let answer = device.poll_until_decided(&denied).await;
    assert_eq!(answer["error"], "access_denied", "{answer}");
    // The decided code no longer opens anything: the person reads why.
    browser
        .goto(&denied.verification_uri_complete)
        .await
        .unwrap();
    wait_for_heading(&browser, "Connect a device").await;
    let error = wait_for(&browser, Locator::Css("p.error[role=alert]")).await;
    assert_eq!(error.text().await.unwrap(), WRONG_CODE);
    assert!(
        browser
            .find_all(Locator::XPath("//button[normalize-space()='Approve']"))
            .await
            .unwrap()
            .is_empty()
    );

    // Anti-framing: the headers page.rs sets...
    let page = device
        .http
        .get(server.url("/device"))
        .header("cookie", format!("{SESSION}={PERSON}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
    let policy = header("content-security-policy").unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    // ...and what the browser makes of them: another site frames the page, beside a page of
    // its own. The browser shows its own page, and not the verification page.
    browser.goto(&attacker.url("/")).await.unwrap();
    browser.enter_frame(1).await.unwrap();
    wait_for_heading(&browser, "Framed").await;
    assert_eq!(frame_document(&browser).await.1, attacker.framed_url());
    browser.enter_parent_frame().await.unwrap();
    browser.enter_frame(0).await.unwrap();
    let (title, location) = frame_document(&browser).await;
    let framed = browser.source().await.unwrap();
    assert!(
        !location.starts_with(&server.url("/device")),
        "{location}: {framed}"
    );
    // In its place, Chromium shows an error page of its own.
    assert!(
        location.starts_with("chrome-error:"),
        "{location}: {framed}"
    );
    assert!(!title.contains("Sign in first"), "{title}: {framed}");
    assert!(
        browser
            .find_all(Locator::Css("main > h1"))
            .await
            .unwrap()
            .is_empty(),
        "{framed}"
    );
    browser.enter_parent_frame().await.unwrap();

    browser.close().await.unwrap();
    drop(driver);
    attacker.stop().await;
    server.stop().await;
}

/// The device flow served over HTTP on 127.0.0.1: the server's routes (`into_router`), the
/// verification page among them, with a user hook reading a session cookie.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start() -> Self {
        // Bind first: the issuer, and so the verification URI, names the real port.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let flow = DeviceFlow::new(MemoryDeviceStore::new())
            .with_users(signed_in)
            .interval(Duration::from_secs(1));
        let server = AuthorizationServer::builder()
            .store(MemoryStore::new())
            .issuer(format!("http://{addr}"))
            .with_state(flow)
            .build()
            .unwrap();
        let device = Client::public(DEVICE)
            .with_grant_types([GRANT_TYPE])
            .with_scope("read write".parse().unwrap())
            .build()
            .unwrap();
        server.clients().save(&device).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let app = server
                .into_router()
                .route("/sign-in", axum::routing::get(sign_in));
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Self { addr, stop, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// The application's sign-in page, reduced to its outcome: a session cookie.
async fn sign_in() -> impl axum::response::IntoResponse {
    (
        [(
            http::header::SET_COOKIE,
            format!("{SESSION}={PERSON}; Path=/; HttpOnly; SameSite=Lax"),
        )],
        axum::response::Html(
            "<!DOCTYPE html><html><head><title>Signed in</title></head>\
             <body><main><h1>Signed in</h1></main></body></html>",
        ),
    )
}

/// The application's user hook: the value of the `session` cookie, if any.
fn signed_in(request: &Request<Bytes>) -> Option<String> {
    request
        .headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(SESSION)?.strip_prefix('='))
        .map(str::to_owned)
}

/// Another site, on another port and host name (`localhost`), that frames the verification
/// page, beside a frame of its own (on `127.0.0.1`, another origin too) that shows the framing
/// works.
struct Attacker {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Attacker {
    async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let page = format!(
            "<!DOCTYPE html><html><head><title>Win a prize</title></head><body>\
             <iframe src=\"http://{target}/device\" width=\"600\" height=\"400\"></iframe>\
             <iframe src=\"http://{addr}/framed\" width=\"600\" height=\"400\"></iframe>\
             </body></html>"
        );
        let framed = "<!DOCTYPE html><html><head><title>Framed</title></head>\
                      <body><main><h1>Framed</h1></main></body></html>";
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(move || async move { axum::response::Html(page) }),
            )
            .route(
                "/framed",
                axum::routing::get(move || async move { axum::response::Html(framed) }),
            );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Self { addr, stop, task }
    }

    /// The URL of the attacker's own frame.
    fn framed_url(&self) -> String {
        format!("http://{}/framed", self.addr)
    }

    /// A URL of this site, by the name `localhost`: another origin than the frames'.
    fn url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.addr.port())
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// The device: starts flows and polls the token endpoint over HTTP, as RFC 8628 §3.4 says.
struct Device {
    http: reqwest::Client,
    base: String,
}

/// What the device authorization endpoint answered.
struct Flow {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    interval: u64,
}

impl Device {
    fn new(server: &Server) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: server.url(""),
        }
    }

    async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Value {
        let answer = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
            .unwrap();
        let text = answer.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }

    async fn start(&self) -> Flow {
        let answer = self
            .post(
                "/oauth/device_authorization",
                &[("client_id", DEVICE), ("scope", "read")],
            )
            .await;
        let field = |name: &str| {
            answer[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} in {answer}"))
                .to_owned()
        };
        Flow {
            device_code: field("device_code"),
            user_code: field("user_code"),
            verification_uri: field("verification_uri"),
            verification_uri_complete: field("verification_uri_complete"),
            interval: answer["interval"].as_u64().unwrap(),
        }
    }

    async fn poll_once(&self, flow: &Flow) -> Value {
        self.post(
            "/oauth/token",
            &[
                ("grant_type", GRANT_TYPE),
                ("client_id", DEVICE),
                ("device_code", &flow.device_code),
            ],
        )
        .await
    }

    /// Polls as a device must (§3.5): waiting `interval` seconds between polls, five more after
    /// `slow_down`, until an answer other than `authorization_pending` or `slow_down`, for at
    /// most `PATIENCE`.
    async fn poll_until_decided(&self, flow: &Flow) -> Value {
        let deadline = Instant::now() + PATIENCE;
        let mut interval = flow.interval;
        loop {
            // A little over the interval: the server counts whole seconds.
            tokio::time::sleep(Duration::from_secs(interval) + Duration::from_millis(100)).await;
            let answer = self.poll_once(flow).await;
            match answer["error"].as_str() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += 5,
                _ => return answer,
            }
            assert!(
                Instant::now() < deadline,
                "still undecided after {PATIENCE:?}: {answer}"
            );
        }
    }
}

/// Waits for the page whose heading is `title`.
async fn wait_for_heading(browser: &Browser, title: &str) -> Element {
    let xpath = format!("//h1[normalize-space()='{title}']");
    wait_for(browser, Locator::XPath(&xpath)).await
}

/// Clicks the button labelled `label`, as a person does.
async fn press(browser: &Browser, label: &str) {
    let xpath = format!("//button[normalize-space()='{label}']");
    wait_for(browser, Locator::XPath(&xpath))
        .await
        .click()
        .await
        .unwrap();
}

/// The title and the location of the document of the current frame, once it has loaded
/// something (a frame starts as `about:blank`).
async fn frame_document(browser: &Browser) -> (String, String) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let state = browser
            .execute(
                "return [document.readyState, document.title, location.href];",
                vec![],
            )
            .await
            .unwrap();
        let field = |i: usize| state[i].as_str().unwrap_or_default().to_owned();
        if field(0) == "complete" && field(2) != "about:blank" {
            return (field(1), field(2));
        }
        assert!(
            Instant::now() < deadline,
            "the frame did not load in {PATIENCE:?}: {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text the page shows.
async fn body_text(browser: &Browser) -> String {
    wait_for(browser, Locator::Css("body"))
        .await
        .text()
        .await
        .unwrap()
}
