//! The authorization code flow in a real browser: headless Chromium, driven through WebDriver
//! (`chromedriver`) with `fantoccini`, against the example server in demo mode, in-process over
//! real HTTP on 127.0.0.1. A person opens the demo client's authorization URL, is sent to the
//! demo sign-in page, signs in, reads the consent page (the client and the scope) and approves;
//! the browser lands on the client's callback with the code, `state` and `iss`. The client then
//! exchanges the code over HTTP, with its PKCE verifier, and introspects the token; a second
//! use of the code is refused and revokes it. A second request is denied the same way, and
//! comes back as `access_denied`. The consent page carries its anti-framing headers.
//!
//! The demo client's redirect URI is on the server's own origin; a second test approves for a
//! client on another origin, as real clients are: Chromium applies the consent page's
//! `form-action` to the redirect that follows the form, so the page's policy must allow the
//! client's origin.
//!
//! Needs `/usr/bin/chromedriver` and `/usr/bin/chromium` (Debian's `chromium-driver` and
//! `chromium`; `.ci/run` installs them). Without them the test prints a notice and passes, unless
//! `OAUTH_ENDPOINTS_TEST_CHROMEDRIVER` names the driver (as CI does): then a missing driver or
//! browser fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Fixtures.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser as _;
use fantoccini::{Client as Browser, Locator};
use oauth_endpoints::Client;
use oauth_endpoints_examples::server::demo::{CALLBACK_PATH, DEMO_USER, Demo, SIGN_IN_PATH};
use oauth_endpoints_examples::server::{DEMO_CLIENT, Options, endpoint_url, prepare, serve};
use oauth_endpoints_tests::browser::{Driver, PATIENCE, find_driver, wait_for};
use oauth_endpoints_tests::{basic, form};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The `state` of the demo's authorization URL (`Demo::authorization_url`).
const STATE: &str = "demo";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_and_approves_then_denies_in_a_real_browser() {
    let Some(driver) = find_driver("the authorization code flow") else {
        return;
    };
    let server = Server::start(&[]).await;
    let driver = Driver::start(&driver).await;
    let browser = driver.browser().await;
    let client = DemoClient::new(&server);
    let authorization_url = server.authorization_url();

    // The person opens the authorization URL; nobody is signed in, so the server sends them to
    // the demo sign-in page, with the request to come back to.
    browser.goto(&authorization_url).await.unwrap();
    let sign_in = wait_for(&browser, Locator::Css("button#sign-in")).await;
    let here = browser.current_url().await.unwrap();
    assert_eq!(here.path(), SIGN_IN_PATH, "{here}");
    let next = param(here.as_str(), "next").unwrap_or_else(|| panic!("next in {here}"));
    assert!(next.starts_with("/oauth/authorize?"), "{next}");
    assert_eq!(title(&browser).await, "DEMO sign-in");
    assert_eq!(
        sign_in.text().await.unwrap(),
        format!("Sign in as {DEMO_USER}")
    );
    sign_in.click().await.unwrap();

    // Back at the authorization endpoint, signed in: the consent page names the client, the
    // user and the scope.
    let approve = wait_for(&browser, Locator::Css("button#approve")).await;
    let here = browser.current_url().await.unwrap();
    assert_eq!(here.path(), "/oauth/authorize", "{here}");
    assert_eq!(title(&browser).await, "Authorize access");
    let consent = wait_for(&browser, Locator::Css("#client")).await;
    assert_eq!(consent.text().await.unwrap(), DEMO_CLIENT);
    assert_eq!(scopes(&browser).await, ["read"]);
    let text = body_text(&browser).await;
    assert!(
        text.contains(&format!("Signed in as {DEMO_USER}.")),
        "{text}"
    );
    assert!(
        wait_for(&browser, Locator::Css("button#deny"))
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    // The page cannot be framed: checked on the same page over HTTP, with the browser's
    // session cookie (the browser's own refusal to frame is the device page's test).
    let session = browser.get_named_cookie("demo_session").await.unwrap();
    client
        .assert_not_frameable(&authorization_url, session.value())
        .await;

    approve.click().await.unwrap();

    // The callback page at the redirect URI, with the code, the state and the issuer.
    let shown = wait_for(&browser, Locator::Css("pre#code")).await;
    let callback = browser.current_url().await.unwrap();
    assert_eq!(without_query(callback.as_str()), server.demo.redirect_uri);
    assert_eq!(callback.path(), CALLBACK_PATH);
    assert_eq!(
        param(callback.as_str(), "state").as_deref(),
        Some(STATE),
        "{callback}"
    );
    assert_eq!(
        param(callback.as_str(), "iss").as_deref(),
        Some(server.issuer.as_str()),
        "{callback}"
    );
    assert_eq!(param(callback.as_str(), "error"), None, "{callback}");
    let code = param(callback.as_str(), "code").unwrap_or_else(|| panic!("code in {callback}"));
    assert!(!code.is_empty());
    assert_eq!(shown.text().await.unwrap(), code);
    // The command the page prints exchanges this code, with this verifier, at this server.
    let command = wait_for(&browser, Locator::Css("pre#command"))
        .await
        .text()
        .await
        .unwrap();
    for part in [
        format!("code={code}"),
        format!("code_verifier={}", server.demo.verifier),
        format!("redirect_uri={}", server.demo.redirect_uri),
        server.token_url(),
    ] {
        assert!(command.contains(&part), "{part:?} in {command}");
    }

    // The client exchanges the code over HTTP, as the callback page says.
    let (status, tokens) = client.exchange(&code, &server.demo.verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    assert_eq!(tokens["scope"], "read", "{tokens}");
    let access_token = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!access_token.is_empty(), "{tokens}");
    let introspection = client.introspect(&access_token).await;
    assert_eq!(introspection["active"], true, "{introspection}");
    assert_eq!(introspection["sub"], DEMO_USER, "{introspection}");
    assert_eq!(introspection["client_id"], DEMO_CLIENT, "{introspection}");
    assert_eq!(introspection["scope"], "read", "{introspection}");
    // The code is used once: a second exchange is refused and revokes what the first issued.
    let (status, again) = client.exchange(&code, &server.demo.verifier).await;
    assert_eq!(status, 400, "{again}");
    assert_eq!(again["error"], "invalid_grant", "{again}");
    let introspection = client.introspect(&access_token).await;
    assert_eq!(introspection, json!({ "active": false }));

    // A second request, from the same signed-in browser: straight to the consent page, and
    // this time the person denies it.
    browser.goto(&authorization_url).await.unwrap();
    let deny = wait_for(&browser, Locator::Css("button#deny")).await;
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        "/oauth/authorize"
    );
    assert_eq!(
        wait_for(&browser, Locator::Css("#client"))
            .await
            .text()
            .await
            .unwrap(),
        DEMO_CLIENT
    );
    deny.click().await.unwrap();
    let shown = wait_for(&browser, Locator::Css("pre#error")).await;
    let callback = browser.current_url().await.unwrap();
    assert_eq!(without_query(callback.as_str()), server.demo.redirect_uri);
    assert_eq!(
        param(callback.as_str(), "error").as_deref(),
        Some("access_denied"),
        "{callback}"
    );
    assert_eq!(
        param(callback.as_str(), "state").as_deref(),
        Some(STATE),
        "{callback}"
    );
    assert_eq!(
        param(callback.as_str(), "iss").as_deref(),
        Some(server.issuer.as_str()),
        "{callback}"
    );
    assert_eq!(param(callback.as_str(), "code"), None, "{callback}");
    let error = shown.text().await.unwrap();
    assert!(error.starts_with("access_denied: "), "{error}");

    browser.close().await.unwrap();
    drop(driver);
    server.stop().await;
}

/// A client whose redirect URI is on another origin than the authorization server (here,
/// another port of 127.0.0.1), as every real client's is: approving takes the browser there.
/// Chromium applies `form-action` to the redirects that follow a form's submission too, so with
/// `form-action 'self'` alone it would block the endpoint's 303 (a `securitypolicyviolation`)
/// and leave the person on the consent page: the page's policy names the client's origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_reaches_a_client_on_another_origin() {
    let Some(driver) = find_driver("the authorization code flow") else {
        return;
    };
    let site = ClientSite::start().await;
    let redirect_uri = site.url("/callback");
    let elsewhere = Client::confidential("elsewhere", "elsewhere-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_grant_types(["authorization_code"])
        .with_scope("read".parse().unwrap())
        .with_redirect_uris([redirect_uri.as_str()])
        .build()
        .unwrap();
    let server = Server::start(&[elsewhere]).await;
    let driver = Driver::start(&driver).await;
    let browser = driver.browser().await;
    let encode = |value: &str| {
        percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let authorization_url = format!(
        "{}?client_id=elsewhere&response_type=code&scope=read&state=far&redirect_uri={}\
         &code_challenge={}&code_challenge_method=S256",
        server.authorize,
        encode(&redirect_uri),
        server.demo.challenge
    );

    browser.goto(&authorization_url).await.unwrap();
    wait_for(&browser, Locator::Css("button#sign-in"))
        .await
        .click()
        .await
        .unwrap();
    let approve = wait_for(&browser, Locator::Css("button#approve")).await;
    assert_eq!(
        wait_for(&browser, Locator::Css("#client"))
            .await
            .text()
            .await
            .unwrap(),
        "elsewhere"
    );
    // Records what the page's policy blocks, to say why the browser did not leave.
    browser
        .execute(
            "window.violations = []; document.addEventListener('securitypolicyviolation', \
             event => window.violations.push(event.effectiveDirective + ' ' + event.blockedURI));",
            vec![],
        )
        .await
        .unwrap();
    approve.click().await.unwrap();

    let deadline = Instant::now() + PATIENCE;
    let landed = loop {
        let here = browser.current_url().await.unwrap();
        if here.as_str().starts_with(&redirect_uri) {
            break here;
        }
        let violations = browser
            .execute("return window.violations || null;", vec![])
            .await
            .unwrap_or(Value::Null);
        if violations.as_array().is_some_and(|found| !found.is_empty()) {
            panic!("the browser stayed at {here}: its policy blocked {violations}");
        }
        assert!(
            Instant::now() < deadline,
            "the browser did not reach the client in {PATIENCE:?}: at {here}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    wait_for(&browser, Locator::Css("h1#landed")).await;
    assert!(param(landed.as_str(), "code").is_some(), "{landed}");
    assert_eq!(param(landed.as_str(), "state").as_deref(), Some("far"));
    assert_eq!(
        param(landed.as_str(), "iss").as_deref(),
        Some(server.issuer.as_str())
    );

    browser.close().await.unwrap();
    drop(driver);
    server.stop().await;
    site.stop().await;
}

/// The example server in demo mode (`--store memory`), in-process on 127.0.0.1: the
/// authorization code flow with the DEMO user, its sign-in page and the demo client's callback.
struct Server {
    addr: SocketAddr,
    issuer: String,
    /// The demo client's id and secret.
    credentials: (String, String),
    /// The demo's PKCE verifier, redirect URI and authorization URL.
    demo: Demo,
    authorize: String,
    introspect: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// The server, with `clients` registered besides the demo client.
    async fn start(clients: &[Client]) -> Self {
        // Bind first: the server names itself (its issuer, and so the demo's redirect URI) by
        // its address only when the port is not 0, and mounts the flow only with an issuer.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options =
            Options::try_parse_from(["server", "--addr", &addr.to_string(), "--store", "memory"])
                .unwrap();
        let prepared = prepare(&options).await.unwrap();
        let credentials = prepared
            .demo
            .clone()
            .expect("demo mode makes the demo client");
        assert_eq!(credentials.0, DEMO_CLIENT);
        let demo = prepared
            .demo_flow
            .clone()
            .expect("demo mode, with an issuer, mounts the authorization code flow");
        let unmounted = prepared.server.unmounted();
        assert!(
            prepared.server.route("authorization").is_some(),
            "not mounted: {unmounted:?}"
        );
        for client in clients {
            prepared.server.clients().save(client).await.unwrap();
        }
        let authorize = endpoint_url(addr, &prepared.server, "authorization");
        let introspect = endpoint_url(addr, &prepared.server, "introspection");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, prepared.server, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            issuer: format!("http://{addr}"),
            credentials,
            demo,
            authorize,
            introspect,
            stop,
            task,
        }
    }

    /// The URL a person opens: the demo client asks for `read`, with the demo's PKCE challenge.
    fn authorization_url(&self) -> String {
        self.demo.authorization_url(&self.authorize)
    }

    /// The token endpoint, as the demo's callback page names it.
    fn token_url(&self) -> String {
        let url = self.demo.token_url();
        assert_eq!(url, format!("http://{}/oauth/token", self.addr));
        url.to_owned()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// The demo client's back end: exchanges codes and introspects tokens over HTTP, with
/// `client_secret_basic`.
struct DemoClient {
    http: reqwest::Client,
    authorization: String,
    redirect_uri: String,
    token: String,
    introspect: String,
}

impl DemoClient {
    fn new(server: &Server) -> Self {
        let (id, secret) = &server.credentials;
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            authorization: basic(id, secret),
            redirect_uri: server.demo.redirect_uri.clone(),
            token: server.token_url(),
            introspect: server.introspect.clone(),
        }
    }

    /// POSTs `pairs` to `url` with the client's credentials: the status and the JSON answer.
    async fn post(&self, url: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
        let answer = self
            .http
            .post(url)
            .header("authorization", &self.authorization)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, json)
    }

    /// The token request of RFC 6749 §4.1.3, with the PKCE verifier (RFC 7636 §4.5).
    async fn exchange(&self, code: &str, verifier: &str) -> (u16, Value) {
        self.post(
            &self.token,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    async fn introspect(&self, token: &str) -> Value {
        let (status, answer) = self.post(&self.introspect, &[("token", token)]).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// The consent page, fetched with the demo session `session`, refuses to be framed and to
    /// be cached.
    async fn assert_not_frameable(&self, authorization_url: &str, session: &str) {
        let page = self
            .http
            .get(authorization_url)
            .header("cookie", format!("demo_session={session}"))
            .send()
            .await
            .unwrap();
        let header = |name: &str| {
            page.headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(page.status(), 200, "{:?}", page.headers());
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
        let policy = header("content-security-policy").unwrap();
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert_eq!(header("cache-control").as_deref(), Some("no-store"));
        let body = page.text().await.unwrap();
        assert!(body.contains("id=\"approve\""), "{body}");
    }
}

/// A client's web site on another origin (another port of 127.0.0.1): its callback page.
struct ClientSite {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ClientSite {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let page = "<!DOCTYPE html><html><head><title>Client</title></head>\
                    <body><main><h1 id=\"landed\">Back at the client</h1></main></body></html>";
        let app = axum::Router::new().route(
            "/callback",
            axum::routing::get(move || async move { axum::response::Html(page) }),
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

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// The page's heading.
async fn title(browser: &Browser) -> String {
    wait_for(browser, Locator::Css("h1"))
        .await
        .text()
        .await
        .unwrap()
}

/// The scopes the consent page lists.
async fn scopes(browser: &Browser) -> Vec<String> {
    wait_for(browser, Locator::Css("ul#scopes")).await;
    let mut scopes = Vec::new();
    for item in browser
        .find_all(Locator::Css("ul#scopes > li"))
        .await
        .unwrap()
    {
        scopes.push(item.text().await.unwrap());
    }
    scopes
}

/// The text the page shows.
async fn body_text(browser: &Browser) -> String {
    wait_for(browser, Locator::Css("body"))
        .await
        .text()
        .await
        .unwrap()
}

/// The value of the query parameter `name` of `url`, decoded; `None` when absent. A parameter
/// given twice fails the test: a response must not repeat one (RFC 6749 §3.1).
fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    let values: Vec<String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| {
            percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8()
                .unwrap()
                .into_owned()
        })
        .collect();
    assert!(values.len() <= 1, "{name} given twice in {url}");
    values.into_iter().next()
}

/// `url` without its query (and fragment).
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}
