//! What every page of the authorization endpoint carries: the security headers, and a
//! double-submit CSRF token.
//!
//! The token is 256 random bits in an `oauth_csrf` cookie (`HttpOnly; SameSite=Strict`,
//! `Secure` when the issuer is `https`, scoped to the endpoint's path), repeated in the consent
//! form's hidden `csrf` field. A decision is accepted only when both are present and equal,
//! compared in constant time, and the browser does not label the post `cross-site` or
//! `same-site` (`Sec-Fetch-Site`; the form posts to its own origin). Another site can neither
//! make the browser send the cookie with its post nor read it to forge the field.

use bytes::Bytes;
use cookie::{Cookie, SameSite};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HeaderValue, LOCATION,
    REFERRER_POLICY, SET_COOKIE, X_FRAME_OPTIONS,
};
use http::{Request, Response, StatusCode};
use maud::html;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::authorization::consent::document;
use crate::context::Context;
use crate::form::Form;
use crate::secret::{SecretHash, generate_secret};

/// The name of the CSRF cookie.
pub const CSRF_COOKIE: &str = "oauth_csrf";
/// The name of the consent form's hidden CSRF field.
pub const CSRF_FIELD: &str = "csrf";

/// Percent-encodes all but the unreserved characters (RFC 3986 §2.3) in query values.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A page's CSRF token and where its cookie lives.
pub(crate) struct Page {
    path: String,
    /// The token from the request's cookie, if it carried a well-formed one.
    presented: Option<String>,
    /// The token the rendered form carries.
    token: String,
    secure: bool,
    /// `Sec-Fetch-Site: cross-site` or `same-site`.
    foreign: bool,
}

impl Page {
    pub(crate) fn new(cx: &Context, request: &Request<Bytes>) -> Self {
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

    /// The endpoint's path: where the consent form posts.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The token the consent form must carry.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The double-submit check (see the module's documentation).
    pub(crate) fn csrf_holds(&self, form: &Form) -> bool {
        let matches = match (&self.presented, form.get(CSRF_FIELD)) {
            // Hashing both sides first makes the comparison constant-time whatever the lengths.
            (Some(cookie), Some(field)) => SecretHash::of(cookie).verify(field),
            _ => false,
        };
        matches && !self.foreign
    }

    /// `html` as a page: the security headers, and the CSRF cookie when it is new. A page whose
    /// form's answer redirects to a client names that client's `redirect_uri` as
    /// `form_target`: browsers apply `form-action` to the redirects that follow a form post
    /// (Chromium does), so the policy must allow its origin besides `'self'`.
    pub(crate) fn html(
        &self,
        status: StatusCode,
        html: String,
        form_target: Option<&str>,
    ) -> Response<Bytes> {
        let mut response = Response::new(Bytes::from(html));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        let form_action = match form_target.and_then(csp_source) {
            Some(source) => format!("'self' {source}"),
            None => "'self'".to_owned(),
        };
        let policy = format!(
            "default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; \
             frame-ancestors 'none'; base-uri 'none'"
        );
        if let Ok(value) = HeaderValue::from_str(&policy) {
            headers.insert(CONTENT_SECURITY_POLICY, value);
        }
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

    /// A page with a title and one paragraph.
    pub(crate) fn message(&self, status: StatusCode, title: &str, text: &str) -> Response<Bytes> {
        self.html(
            status,
            document(title, html! { p.error role="alert" { (text) } }).into_string(),
            None,
        )
    }
}

/// The CSP source (CSP3 §2.3.1) allowing redirects to `uri`: its origin (`https://host:port`)
/// for a hierarchical URI, its scheme (`com.example.app:`) for a native app's private-use one.
/// `None` for anything holding a character a source cannot (which a registered redirect URI
/// does not: they are checked at registration), so no policy can be injected through it.
fn csp_source(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let source = match rest.strip_prefix("//") {
        Some(hierarchical) => {
            let authority = hierarchical
                .split(['/', '?', '#'])
                .next()
                .filter(|authority| !authority.is_empty())?;
            format!("{scheme}://{authority}")
        }
        None => format!("{scheme}:"),
    };
    source
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.:/[]".contains(&b))
        .then_some(source)
}

/// A `303 See Other` to `uri` with `params` added to its query (RFC 6749 §3.1.2 keeps an
/// existing query; RFC 9700 §4.11 asks for 303 after a form post).
pub(crate) fn redirect(uri: &str, params: &[(&str, &str)]) -> Response<Bytes> {
    let mut location = uri.to_owned();
    let mut separator = if uri.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        location.push(separator);
        location.push_str(name);
        location.push('=');
        location.extend(utf8_percent_encode(value, QUERY_VALUE));
        separator = '&';
    }
    see_other(&location)
}

/// A `303 See Other` to `location`, not cached.
pub(crate) fn see_other(location: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(LOCATION, value);
    }
    response
}

/// `path` with `params` as its query.
pub(crate) fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    let mut uri = path.to_owned();
    for (index, (name, value)) in params.iter().enumerate() {
        uri.push(if index == 0 { '?' } else { '&' });
        uri.push_str(name);
        uri.push('=');
        uri.extend(utf8_percent_encode(value, QUERY_VALUE));
    }
    uri
}

/// The request's CSRF cookie, if it is a well-formed token (43 base64url characters).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_registered_query_and_encode_values() {
        let response = redirect(
            "https://app.example/cb?tenant=a",
            &[("code", "x y&z"), ("state", "s/é")],
        );
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()[LOCATION],
            "https://app.example/cb?tenant=a&code=x%20y%26z&state=s%2F%C3%A9"
        );
    }

    #[test]
    fn the_form_may_lead_to_the_clients_origin_and_nowhere_else() {
        assert_eq!(
            csp_source("https://app.example:8443/cb?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            csp_source("http://[::1]:5000/cb").as_deref(),
            Some("http://[::1]:5000")
        );
        assert_eq!(
            csp_source("com.example.app:/oauth").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(csp_source("https://a.example;script-src *"), None);
        assert_eq!(csp_source("https://a.example 'unsafe-inline'/"), None);
        assert_eq!(csp_source("https:///path"), None);
    }

    #[test]
    fn reads_only_a_well_formed_csrf_cookie() {
        let token = generate_secret();
        let request = Request::get("/")
            .header(COOKIE, format!("a=b; {CSRF_COOKIE}={token}; c=d"))
            .body(Bytes::new())
            .unwrap_or_default();
        assert_eq!(csrf_cookie(&request), Some(token));
        let request = Request::get("/")
            .header(COOKIE, format!("{CSRF_COOKIE}=short"))
            .body(Bytes::new())
            .unwrap_or_default();
        assert_eq!(csrf_cookie(&request), None);
    }
}
