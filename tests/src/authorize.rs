//! Helpers for the authorization code tests: a harness with the flow mounted, and a browser's
//! steps done by hand (read the consent form, post it back with the CSRF cookie).

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use http::{Request, StatusCode};
use oauth_endpoints::authorization::{AuthorizationCodeFlow, CSRF_COOKIE, User};
use oauth_endpoints::{AuthorizationServer, AuthorizationServerBuilder, Client};

use crate::http_browser::{between, unescape};
use crate::{Answer, Harness, form, form_encode, send};

/// The issuer of the harness.
pub const ISSUER: &str = "https://auth.example.com";
/// The header the test sign-in hook reads the user from.
pub const USER_HEADER: &str = "x-test-user";
/// RFC 7636 Appendix B's verifier and its S256 challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The S256 challenge of [`VERIFIER`].
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The confidential client's redirect URI.
pub const WEB_REDIRECT: &str = "https://app.example/cb";

/// A test sign-in hook: the user named by the `x-test-user` header, else a sign-in page.
pub fn header_user(request: &Request<Bytes>, return_to: &str) -> User {
    match request
        .headers()
        .get(USER_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        Some("denied") => User::Denied,
        Some(user) => User::SignedIn(user.to_owned()),
        None => User::SignInAt(format!("/login?next={}", form_encode(return_to))),
    }
}

/// `web` (confidential, Basic, secret `web-secret-kR8vN2qX5tLw9ZpB3mYc7HdF`), `spa` (public,
/// a loopback redirect URI), both allowed `authorization_code` and `refresh_token`.
pub fn clients() -> Vec<Client> {
    vec![
        Client::confidential("web", "web-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
            .with_grant_types(["authorization_code", "refresh_token"])
            .with_scope("read write".parse().expect("scope"))
            .with_redirect_uris([WEB_REDIRECT, "https://app.example/other"])
            .build()
            .expect("a valid client"),
        Client::public("spa")
            .with_grant_types(["authorization_code", "refresh_token"])
            .with_scope("read".parse().expect("scope"))
            .with_redirect_uris(["http://127.0.0.1/callback"])
            .build()
            .expect("a valid client"),
    ]
}

/// The Basic credentials of `web`.
pub fn web_basic() -> String {
    crate::basic("web", "web-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
}

/// A harness with an issuer and the flow (memory store, [`header_user`]), configured further
/// by `flow` and `configure`.
pub async fn harness_with(
    extra: &[Client],
    flow: impl FnOnce(AuthorizationCodeFlow) -> AuthorizationCodeFlow,
    configure: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
) -> Harness {
    let mut all = clients();
    all.extend_from_slice(extra);
    let store = oauth_endpoints::store::MemoryStore::new();
    let flow = flow(AuthorizationCodeFlow::new(store, header_user));
    Harness::with(&all, |builder| {
        configure(builder.issuer(ISSUER).with_state(flow))
    })
    .await
}

/// The default harness.
pub async fn harness() -> Harness {
    harness_with(&[], |flow| flow, |builder| builder).await
}

/// A GET of the authorization endpoint with `params`, as `user`.
pub fn authorize_get(params: &[(&str, &str)], user: Option<&str>) -> Request<Bytes> {
    let mut builder = Request::get(format!("/oauth/authorize?{}", form(params)));
    if let Some(user) = user {
        builder = builder.header(USER_HEADER, user);
    }
    builder.body(Bytes::new()).expect("a valid request")
}

/// The usual parameters for `web`.
pub fn web_params(state: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client_id", "web".into()),
        ("response_type", "code".into()),
        ("redirect_uri", WEB_REDIRECT.into()),
        ("scope", "read".into()),
        ("state", state.into()),
        ("code_challenge", CHALLENGE.into()),
        ("code_challenge_method", "S256".into()),
    ]
}

/// Borrows owned pairs.
pub fn pairs<'a>(owned: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    owned.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A consent page, read.
#[derive(Debug)]
pub struct ConsentForm {
    /// The hidden fields, unescaped.
    pub hidden: Vec<(String, String)>,
    /// The CSRF cookie the page set.
    pub cookie: String,
    /// The page.
    pub answer: Answer,
}

/// Reads the consent page out of `answer` (it must be one).
pub fn consent_form(answer: Answer) -> ConsentForm {
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let html = std::str::from_utf8(&answer.body).expect("UTF-8").to_owned();
    let cookie = answer
        .headers
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the page sets the CSRF cookie")
        .to_owned();
    assert!(cookie.starts_with(&format!("{CSRF_COOKIE}=")), "{cookie}");
    let mut hidden = Vec::new();
    for piece in html.split("<input type=\"hidden\" ").skip(1) {
        let name = between(piece, "name=\"", "\"");
        let value = between(piece, "value=\"", "\"");
        hidden.push((unescape(name), unescape(value)));
    }
    ConsentForm {
        hidden,
        cookie,
        answer,
    }
}

impl ConsentForm {
    /// The post of this form with `decision`, as `user`, with the page's cookie.
    pub fn post(&self, decision: &str, user: &str) -> Request<Bytes> {
        let mut fields: Vec<(&str, &str)> = self
            .hidden
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        fields.push(("decision", decision));
        Request::post("/oauth/authorize")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(COOKIE, &self.cookie)
            .header(USER_HEADER, user)
            .header("sec-fetch-site", "same-origin")
            .body(Bytes::from(form(&fields)))
            .expect("a valid request")
    }
}

/// The query parameters of a redirect's `Location`, decoded.
pub fn location_params(answer: &Answer) -> (String, Vec<(String, String)>) {
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{:?}", answer.body);
    let location = answer
        .headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a Location")
        .to_owned();
    let (base, query) = location.split_once('?').unwrap_or((&location, ""));
    let params = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect();
    (base.to_owned(), params)
}

/// The value of `name` among redirect parameters.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Signs `alice` in, shows the consent page for `params`, approves: the redirect's parameters.
pub async fn approve(harness: &Harness, params: &[(&str, &str)]) -> Vec<(String, String)> {
    approve_on(&harness.server, params).await
}

/// [`approve`] on any server.
pub async fn approve_on(
    server: &AuthorizationServer,
    params: &[(&str, &str)],
) -> Vec<(String, String)> {
    let page = consent_form(send(server, authorize_get(params, Some("alice"))).await);
    let answer = send(server, page.post("approve", "alice")).await;
    location_params(&answer).1
}

/// A code for `web` with the usual parameters.
pub async fn web_code(harness: &Harness) -> String {
    let owned = web_params("s1");
    let params = approve(harness, &pairs(&owned)).await;
    param(&params, "code").expect("a code").to_owned()
}

/// Exchanges `code` as `web` with `verifier` and the usual redirect URI.
pub async fn exchange(harness: &Harness, code: &str, verifier: &str) -> Answer {
    exchange_on(&harness.server, code, verifier).await
}

/// [`exchange`] on any server.
pub async fn exchange_on(server: &AuthorizationServer, code: &str, verifier: &str) -> Answer {
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", WEB_REDIRECT),
        ("code_verifier", verifier),
    ]);
    send(
        server,
        crate::post("/oauth/token", Some(&web_basic()), &body),
    )
    .await
}
