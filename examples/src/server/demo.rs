//! DEMO MODE ONLY: a fixed demo user who signs in with one button, and a callback page that
//! shows the code and the command exchanging it. Mounted only when the example server runs in
//! demo mode (`--demo-client`, or `--store memory` without `--clients`): a real application
//! plugs its own sign-in into `AuthorizationCodeFlow` (see the README, "Signing users in").

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HeaderValue, LOCATION,
    SET_COOKIE, X_FRAME_OPTIONS,
};
use http::{Method, Request, Response, StatusCode};
use maud::{DOCTYPE, Markup, html};
use oauth_endpoints::authorization::{CodeChallenge, SignIn, User};
use oauth_endpoints::form::Form;
use oauth_endpoints::secret::generate_secret;
use oauth_endpoints::{Context, Endpoint, EndpointResult};

/// The demo user's subject.
pub const DEMO_USER: &str = "demo-user";
/// Where the demo sign-in page is mounted.
pub const SIGN_IN_PATH: &str = "/demo/sign-in";
/// Where the demo client's redirect URI points.
pub const CALLBACK_PATH: &str = "/demo/callback";
const SESSION_COOKIE: &str = "demo_session";

/// The demo's shared state: signed-in sessions, and the PKCE pair the tour prints.
#[derive(Clone)]
pub struct Demo {
    sessions: Arc<Mutex<HashSet<String>>>,
    /// The tour's PKCE verifier (RFC 7636 §4.1), printed for the token request.
    pub verifier: String,
    /// Its S256 challenge, in the printed authorization URL.
    pub challenge: String,
    /// The demo client's redirect URI: the callback page on this server.
    pub redirect_uri: String,
    /// The demo client's secret, for the callback page's command.
    pub client_secret: String,
    /// The resources the demo client may ask tokens for (RFC 8707), named in the tour's
    /// authorization URL.
    pub resources: Vec<String>,
    /// The token endpoint's URL, known once the server is built.
    token_url: Arc<OnceLock<String>>,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo").finish_non_exhaustive()
    }
}

impl Demo {
    /// A demo with no session yet and a fresh PKCE pair, whose client returns to
    /// `redirect_uri`.
    pub fn new(redirect_uri: String, client_secret: String) -> Self {
        let verifier = generate_secret();
        let challenge = CodeChallenge::from_verifier(&verifier)
            .map(|challenge| challenge.as_str().to_owned())
            .unwrap_or_default();
        Self {
            sessions: Arc::default(),
            verifier,
            challenge,
            redirect_uri,
            client_secret,
            resources: Vec::new(),
            token_url: Arc::default(),
        }
    }

    /// The same demo, its client asking tokens for `resources` (RFC 8707 §2.1).
    #[must_use]
    pub fn with_resources(mut self, resources: Vec<String>) -> Self {
        self.resources = resources;
        self
    }

    /// Records the token endpoint's URL, once the server is built.
    pub fn set_token_url(&self, url: String) {
        let _ = self.token_url.set(url);
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> &str {
        self.token_url.get().map_or("", String::as_str)
    }

    /// The tour's authorization URL: the demo client asks for `read`, with this demo's PKCE
    /// challenge, for the demo's resources if it has any.
    pub fn authorization_url(&self, authorize: &str) -> String {
        let encode = |value: &str| {
            percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        };
        let resources: String = self
            .resources
            .iter()
            .map(|resource| format!("&resource={}", encode(resource)))
            .collect();
        format!(
            "{authorize}?client_id=demo-client&response_type=code&scope=read&state=demo\
             &redirect_uri={}&code_challenge={}&code_challenge_method=S256{resources}",
            encode(&self.redirect_uri),
            self.challenge
        )
    }

    fn signed_in(&self, request: &Request<Bytes>) -> bool {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        cookie(request, SESSION_COOKIE).is_some_and(|session| sessions.contains(&session))
    }
}

impl SignIn for Demo {
    async fn user(&self, request: &Request<Bytes>, return_to: &str) -> User {
        if self.signed_in(request) {
            User::SignedIn(DEMO_USER.to_owned())
        } else {
            User::SignInAt(format!(
                "{SIGN_IN_PATH}?next={}",
                percent_encoding::utf8_percent_encode(
                    return_to,
                    percent_encoding::NON_ALPHANUMERIC
                )
            ))
        }
    }
}

/// `GET /demo/sign-in?next=...` shows the demo sign-in; `POST` signs the demo user in (a
/// session cookie) and returns to `next`, a path on this server.
#[derive(Debug, Default)]
pub struct DemoSignInPage;

impl Endpoint for DemoSignInPage {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        let Some(demo) = cx.state::<Demo>() else {
            return Ok(page(StatusCode::NOT_FOUND, "Not found", html! {}));
        };
        let form = if request.method() == Method::POST {
            Form::from_request(&request)
        } else {
            Form::parse_body(request.uri().query().unwrap_or_default().as_bytes())
        }
        .unwrap_or_default();
        // Only a path on this server: never an open redirect.
        let next = form
            .get("next")
            .filter(|next| next.starts_with('/') && !next.starts_with("//") && !next.contains('\\'))
            .unwrap_or("/");
        if request.method() != Method::POST {
            return Ok(page(
                StatusCode::OK,
                "DEMO sign-in",
                html! {
                    p.warning { "This is a demonstration. Anyone can sign in as the demo user; \
                                 never run demo mode in a deployment." }
                    form method="post" action=(cx.route().path()) {
                        input type="hidden" name="next" value=(next);
                        button #sign-in type="submit" { "Sign in as " (DEMO_USER) }
                    }
                },
            ));
        }
        // A sign-in posted from another site is refused (login CSRF).
        let foreign = request
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|site| site.as_bytes() != b"same-origin" && site.as_bytes() != b"none");
        if foreign {
            return Ok(page(StatusCode::FORBIDDEN, "Refused", html! {}));
        }
        let session = generate_secret();
        demo.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session.clone());
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = StatusCode::SEE_OTHER;
        let headers = response.headers_mut();
        if let Ok(location) = HeaderValue::from_str(next) {
            headers.insert(LOCATION, location);
        }
        if let Ok(cookie) = HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax"
        )) {
            headers.insert(SET_COOKIE, cookie);
        }
        Ok(response)
    }
}

/// `GET /demo/callback?code=...&state=...&iss=...`: the demo client's redirect URI. Shows what
/// arrived and the command that exchanges the code.
#[derive(Debug, Default)]
pub struct DemoCallback;

impl Endpoint for DemoCallback {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        let Some(demo) = cx.state::<Demo>() else {
            return Ok(page(StatusCode::NOT_FOUND, "Not found", html! {}));
        };
        let form = Form::parse_body(request.uri().query().unwrap_or_default().as_bytes())
            .unwrap_or_default();
        let body = match form.get("code") {
            Some(code) => {
                let command = format!(
                    "curl -s -u 'demo-client:{}' -d grant_type=authorization_code -d code={code} \\\n  \
                     -d redirect_uri={redirect_uri} -d code_verifier={} \\\n  {}",
                    demo.client_secret,
                    demo.verifier,
                    demo.token_url(),
                    redirect_uri = demo.redirect_uri,
                );
                html! {
                    p { "The authorization server sent the demo client this code (state "
                        code { (form.get("state").unwrap_or("-")) } ", issuer "
                        code { (form.get("iss").unwrap_or("-")) } "):" }
                    pre #code { (code) }
                    p { "Exchange it, with the PKCE verifier, within a minute:" }
                    pre #command { (command) }
                }
            }
            None => html! {
                p { "The authorization server answered: " }
                pre #error { (form.get("error").unwrap_or("-")) ": "
                    (form.get("error_description").unwrap_or("")) }
            },
        };
        Ok(page(StatusCode::OK, "DEMO client callback", body))
    }
}

fn cookie(request: &Request<Bytes>, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn page(status: StatusCode, title: &str, body: Markup) -> Response<Bytes> {
    let document = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (title) } }
            body { h1 { (title) } (body) }
        }
    };
    let mut response = Response::new(Bytes::from(document.into_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
    );
    response
}
