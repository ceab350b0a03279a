//! The user verification page (RFC 8628 §3.3): where the user enters the code shown on the
//! device, sees which client asks for which scope, and approves or denies.
//!
//! - `GET /device` shows a form asking for the code; `GET /device?user_code=WDJB-MJHT` (the
//!   `verification_uri_complete` of §3.3.1, or the form's submission) looks the code up and, if
//!   it names a pending request, shows the client, the scope and the code to compare with the
//!   device, with Approve and Deny buttons. Looking a code up changes nothing.
//! - `POST /device` with `user_code`, `action` (`approve` or `deny`) and `csrf` records the
//!   decision, only for a pending, unexpired request.
//! - The user is whoever the application's [`CurrentUser`](crate::CurrentUser) hook says; with
//!   nobody signed in it asks the user to sign in (401). Without a hook
//!   ([`DeviceFlow::with_users`](crate::DeviceFlow::with_users)) the page is not mounted at all,
//!   nor the rest of the add-on (see [`DeviceFlow`](crate::DeviceFlow)).
//! - Cross-site request forgery: a double-submit token. The page sets a random 256-bit token in
//!   a `device_csrf` cookie (`HttpOnly; SameSite=Strict`, `Secure` when the issuer is `https`,
//!   scoped to the page's path) and repeats it in a hidden `csrf` field; a POST is accepted
//!   only when both are present and equal, compared in constant time. Another site can neither
//!   make a browser send the cookie with its POST (`SameSite=Strict`) nor read it to forge the
//!   field. As defence in depth, a POST that the browser labels `Sec-Fetch-Site: cross-site` is
//!   refused too, and so is one labelled `same-site` (a sibling subdomain: the form always
//!   posts to itself, `same-origin`). A failed check is 403 and changes nothing. (Like every
//!   double-submit scheme, this trusts the page's sibling subdomains not to plant cookies;
//!   serve the page from a host whose subdomains you control.)
//! - Brute force (§5.1): each code entry, looked up or submitted, right or wrong, counts
//!   against the signed-in user **before** the lookup, atomically, so parallel requests cannot
//!   slip past the count; past the limit
//!   ([`DeviceFlow::max_code_entries`](crate::DeviceFlow::max_code_entries)) the page answers
//!   429 with `Retry-After` without looking codes up.
//! - A `GET` with `user_code` that the browser labels `cross-site` or `same-site` (a link on
//!   another site) is a plain page view: the empty code form, no lookup, nothing counted, no
//!   pre-filled code. Otherwise any site could spend a user's entries (and lock them out) by
//!   sending their browser to `?user_code=...`, or plant a code for them to approve. The
//!   `verification_uri_complete` of §3.3.1 still pre-fills when opened as devices show it (a
//!   typed or scanned URL: `Sec-Fetch-Site: none`, or no header at all).
//! - Every page is a `maud` template, which escapes every value it writes by construction.
//!   Answers carry `Cache-Control: no-store`, `Referrer-Policy: no-referrer` (the URL may hold
//!   the code), a restrictive
//!   `Content-Security-Policy` and `X-Frame-Options: DENY` (no clickjacking of Approve).

// Early answers travel as `Err(Response)`: one per request, so their size does not matter.
#![allow(clippy::result_large_err)]

use bytes::Bytes;
use cookie::{Cookie, SameSite};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HeaderValue, REFERRER_POLICY,
    RETRY_AFTER, SET_COOKIE, X_FRAME_OPTIONS,
};
use http::{Method, Request, Response, StatusCode};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use oauth_endpoints::form::Form;
use oauth_endpoints::secret::{SecretHash, generate_secret};
use oauth_endpoints::server::Setup;
use oauth_endpoints::{Context, Endpoint, EndpointResult, OAuthError, oauth_endpoint};

use crate::config::DeviceFlow;
use crate::store::DeviceAuthorization;
use crate::user_code::UserCode;

/// The name of the CSRF cookie.
pub const CSRF_COOKIE: &str = "device_csrf";
/// The name of the hidden CSRF form field.
pub const CSRF_FIELD: &str = "csrf";

/// `device_verification` at `/device` (GET, POST): the user verification page of RFC 8628
/// §3.3. GET shows the code form (`?user_code=` pre-fills it, §3.3.1); POST looks the code up,
/// then approves or denies, behind a double-submit CSRF cookie and a wrong-code limiter (§5.1).
/// It does not authenticate clients: the user comes from the application's hook.
///
/// Mounted only when the server can complete the flow: a [`DeviceFlow`] state with a user hook,
/// and an issuer or [`DeviceFlow::verification_uri`] (see [`DeviceFlow`]). Otherwise
/// [`AuthorizationServer::unmounted`](oauth_endpoints::AuthorizationServer::unmounted) lists it
/// with the reason, and its path answers 404.
#[derive(Debug, Default)]
#[oauth_endpoint(
    name = "device_verification",
    path = "/device",
    methods = "GET, POST",
    auth_methods = "none"
)]
pub struct VerificationPage;

impl Endpoint for VerificationPage {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        let page = PageContext::new(cx, &request);
        let answer = match DeviceFlow::of(cx) {
            Err(_) => Err(page.message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Not available",
                "The device flow is not configured on this server.",
            )),
            Ok(flow) => {
                if request.method() == Method::POST {
                    submit(cx, flow, &page, &request).await
                } else {
                    show(cx, flow, &page, &request).await
                }
            }
        };
        Ok(answer.unwrap_or_else(|response| response))
    }

    /// Mounted only with a complete [`DeviceFlow`]: the state, its user hook, and an issuer or
    /// a `verification_uri`. The add-on's endpoints and grant share this rule.
    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        DeviceFlow::of_setup(setup).map(|_| ())
    }
}

/// What every page needs: where the form posts, the CSRF token, whether to set it.
struct PageContext {
    path: String,
    /// The token from the request's cookie, if it carried a well-formed one.
    presented: Option<String>,
    /// The token the rendered forms carry.
    token: String,
    secure: bool,
    /// The browser says the request comes from another site or a sibling subdomain
    /// (`Sec-Fetch-Site: cross-site` or `same-site`).
    foreign: bool,
}

/// An answer: `Err` is an early page (an error or a refusal), `Ok` the normal one.
type Answer = Result<Response<Bytes>, Response<Bytes>>;

impl PageContext {
    fn new(cx: &Context, request: &Request<Bytes>) -> Self {
        let presented = csrf_cookie(request);
        Self {
            path: cx.route().path().to_owned(),
            token: presented.clone().unwrap_or_else(generate_secret),
            presented,
            secure: cx
                .config()
                .issuer
                .as_deref()
                .is_some_and(|issuer| issuer.starts_with("https://")),
            foreign: request
                .headers()
                .get("sec-fetch-site")
                .is_some_and(|value| {
                    let value = value.as_bytes();
                    value.eq_ignore_ascii_case(b"cross-site")
                        || value.eq_ignore_ascii_case(b"same-site")
                }),
        }
    }

    /// An HTML answer with the page's headers, and the CSRF cookie when it is new. Every page
    /// is a `maud` template: each value is escaped where it is written, by construction.
    fn html(&self, status: StatusCode, title: &str, body: Markup) -> Response<Bytes> {
        let document = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) }
                    style { (PreEscaped(STYLE)) }
                }
                body { main { h1 { (title) } (body) } }
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
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        if self.presented.is_none() {
            let cookie = Cookie::build((CSRF_COOKIE, self.token.as_str()))
                .path(self.path.as_str())
                .http_only(true)
                .same_site(SameSite::Strict)
                .max_age(cookie::time::Duration::hours(1))
                .secure(self.secure)
                .build();
            if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
                headers.insert(SET_COOKIE, value);
            }
        }
        response
    }

    /// A page with one paragraph of text.
    fn message(&self, status: StatusCode, title: &str, text: &str) -> Response<Bytes> {
        self.html(status, title, html! { p { (text) } })
    }

    /// The form asking for a code, pre-filled with `typed`, with an optional error.
    fn entry_form(&self, status: StatusCode, typed: &str, error: Option<&str>) -> Response<Bytes> {
        let body = html! {
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            p { "Enter the code shown on your device." }
            form method="get" action=(self.path) {
                label for="user_code" { "Code" }
                " "
                input #user_code name="user_code" value=(typed) autocomplete="off"
                    autocapitalize="characters" spellcheck="false" required autofocus;
                " "
                button type="submit" { "Continue" }
            }
        };
        self.html(status, "Connect a device", body)
    }

    /// The confirmation: who asks for what, and the code to compare with the device.
    fn confirmation(&self, user: &str, found: &DeviceAuthorization) -> Response<Bytes> {
        let code = found.user_code.to_string();
        let body = html! {
            p { "Signed in as " strong { (user) } "." }
            p { "The application " strong { (found.client_id) } " wants to access your account." }
            @if found.scope.is_empty() {
                p { "It asks for no particular scope." }
            } @else {
                p { "It asks for this scope:" }
                ul { @for token in found.scope.iter() { li { code { (token) } } } }
            }
            p { "Check that your device shows this code: " code.code { (code) } }
            p { "Approve only if you started this on your own device." }
            form method="post" action=(self.path) {
                input type="hidden" name=(CSRF_FIELD) value=(self.token);
                input type="hidden" name="user_code" value=(code);
                button type="submit" name="action" value="approve" { "Approve" }
                " "
                button type="submit" name="action" value="deny" { "Deny" }
            }
        };
        self.html(StatusCode::OK, "Approve this device?", body)
    }
}

/// `GET`: the form, or the confirmation for `?user_code=`.
async fn show(
    cx: &Context,
    flow: &DeviceFlow,
    page: &PageContext,
    request: &Request<Bytes>,
) -> Answer {
    let user = signed_in(flow, page, request).await?;
    let query =
        Form::parse_body(request.uri().query().unwrap_or_default().as_bytes()).map_err(|_| {
            page.entry_form(StatusCode::BAD_REQUEST, "", Some("The link is malformed."))
        })?;
    let Some(typed) = query.get("user_code") else {
        return Ok(page.entry_form(StatusCode::OK, "", None));
    };
    if page.foreign {
        // A link from another site: a plain page view (see the module's documentation).
        return Ok(page.entry_form(StatusCode::OK, "", None));
    }
    refuse_if_limited(flow, page, &user)?;
    let now = cx.now();
    let code = UserCode::normalize(typed);
    let found = match &code {
        Some(code) => flow
            .devices()
            .find_by_user_code(code)
            .await
            .map_err(|error| unavailable(page, error.into()))?
            .filter(|found| found.is_pending(now)),
        None => None,
    };
    match found {
        Some(found) => Ok(page.confirmation(&user, &found)),
        None => Err(wrong_code(page, typed)),
    }
}

/// `POST`: records the decision.
async fn submit(
    cx: &Context,
    flow: &DeviceFlow,
    page: &PageContext,
    request: &Request<Bytes>,
) -> Answer {
    let form = Form::from_request(request).map_err(|_| {
        page.message(
            StatusCode::BAD_REQUEST,
            "Something went wrong",
            "The form could not be read. Go back and try again.",
        )
    })?;
    check_csrf(page, &form)?;
    let user = signed_in(flow, page, request).await?;
    let approve = match form.get("action") {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return Err(page.message(
                StatusCode::BAD_REQUEST,
                "Something went wrong",
                "Choose Approve or Deny.",
            ));
        }
    };
    refuse_if_limited(flow, page, &user)?;
    let now = cx.now();
    let typed = form.get("user_code").unwrap_or_default();
    let decided = match UserCode::normalize(typed) {
        Some(code) if approve => flow.devices().approve(&code, &user, now).await,
        Some(code) => flow.devices().deny(&code, now).await,
        None => Ok(false),
    }
    .map_err(|error| unavailable(page, error.into()))?;
    if !decided {
        return Err(wrong_code(page, typed));
    }
    tracing::info!(subject = %user, approved = approve, "device authorization decided");
    Ok(if approve {
        page.message(
            StatusCode::OK,
            "Device connected",
            "You approved the request. You can return to your device.",
        )
    } else {
        page.message(
            StatusCode::OK,
            "Request denied",
            "You denied the request. The device will not get access.",
        )
    })
}

/// The user from the application's hook, or the page that says why there is none. (A missing
/// hook is refused at `build()`, [`DeviceFlow::of_setup`]: its 500 page is a safety net.)
async fn signed_in(
    flow: &DeviceFlow,
    page: &PageContext,
    request: &Request<Bytes>,
) -> Result<String, Response<Bytes>> {
    let Some(users) = flow.users() else {
        tracing::error!(
            "the device verification page has no user hook: configure DeviceFlow::with_users"
        );
        return Err(page.message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Not available",
            "This server cannot tell who you are, so it cannot approve devices. \
             (The application must configure DeviceFlow::with_users.)",
        ));
    };
    users.current_user(request).await.ok_or_else(|| {
        page.message(
            StatusCode::UNAUTHORIZED,
            "Sign in first",
            "Sign in to this site, then open this page again.",
        )
    })
}

/// Counts one code entry of `user` before any lookup (RFC 8628 §5.1); 429 past the limit.
fn refuse_if_limited(
    flow: &DeviceFlow,
    page: &PageContext,
    user: &str,
) -> Result<(), Response<Bytes>> {
    let Err(wait) = flow.limiter.attempt(user) else {
        return Ok(());
    };
    tracing::warn!(subject = %user, "too many user-code entries");
    let mut response = page.message(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        &format!("Too many codes entered. Wait {wait} seconds, then try again."),
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(wait));
    Err(response)
}

/// The double-submit check: the cookie and the field, both present, equal in constant time; and
/// not a request the browser labels cross-site.
fn check_csrf(page: &PageContext, form: &Form) -> Result<(), Response<Bytes>> {
    let matches = match (&page.presented, form.get(CSRF_FIELD)) {
        // Hashing both sides first makes the comparison constant-time whatever the lengths.
        (Some(cookie), Some(field)) => SecretHash::of(cookie).verify(field),
        _ => false,
    } && !page.foreign;
    if matches {
        return Ok(());
    }
    tracing::warn!("device verification form refused: CSRF check failed");
    Err(page.message(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form has expired or did not come from this page. Open the page again and retry.",
    ))
}

fn wrong_code(page: &PageContext, typed: &str) -> Response<Bytes> {
    page.entry_form(
        StatusCode::BAD_REQUEST,
        typed,
        Some("That code is not valid, was already used, or has expired. Check your device."),
    )
}

fn unavailable(page: &PageContext, error: OAuthError) -> Response<Bytes> {
    tracing::warn!(error = %error.report(), "device verification page: store unavailable");
    let mut response = page.message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again later",
        "The server cannot handle the request right now. Try again in a moment.",
    );
    if let Some(seconds) = error.retry_after() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The request's `device_csrf` cookie, if it is a well-formed token (43 base64url characters).
fn csrf_cookie(request: &Request<Bytes>) -> Option<String> {
    request
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == CSRF_COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .filter(|value| {
            value.len() == 43
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f5f5f5}\
main{max-width:32rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px}\
.error{color:#a00}.code{font-size:1.4rem;letter-spacing:.15em}\
input{font-size:1.2rem;text-transform:uppercase;letter-spacing:.1em}\
button{font-size:1rem;padding:.4rem 1rem}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_every_value() {
        let page = PageContext {
            path: "/device\"><script>".to_owned(),
            presented: None,
            token: generate_secret(),
            secure: false,
            foreign: false,
        };
        let response = page.entry_form(StatusCode::OK, "<img src=x onerror=alert(1)>", Some("'&'"));
        let body = String::from_utf8_lossy(response.body()).into_owned();
        for raw in ["<script>", "<img", "\"><script"] {
            assert!(!body.contains(raw), "{raw} in {body}");
        }
        assert!(
            body.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{body}"
        );
    }

    #[test]
    fn reads_only_a_well_formed_csrf_cookie() {
        let token = generate_secret();
        let request = Request::get("/device")
            .header(COOKIE, format!("a=b; {CSRF_COOKIE}={token}; c=d"))
            .body(Bytes::new())
            .unwrap_or_default();
        assert_eq!(csrf_cookie(&request), Some(token));
        let request = Request::get("/device")
            .header(COOKIE, format!("{CSRF_COOKIE}=short"))
            .body(Bytes::new())
            .unwrap_or_default();
        assert_eq!(csrf_cookie(&request), None);
    }
}
