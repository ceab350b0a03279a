//! A browser over plain HTTP, enough of one for the demo sign-in and the consent page: a
//! cookie jar kept by hand (names, values, paths), no redirects followed, `Sec-Fetch-Site` on
//! every request. The end-to-end tests of the example server play the user with it.

use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE, X_FRAME_OPTIONS};
use http::{HeaderMap, StatusCode};
use oauth2::url::Url;

/// A cookie the browser keeps.
struct Cookie {
    name: String,
    value: String,
    path: String,
}

/// A browser, enough of one: a cookie jar (names, values, paths), no redirects followed, and
/// `Sec-Fetch-Site` on every request.
pub struct Browser {
    http: reqwest::Client,
    jar: Vec<Cookie>,
}

/// A response, read.
pub struct Page {
    /// The URL it answered.
    pub url: Url,
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: String,
}

impl Browser {
    /// A browser with an empty cookie jar.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a well-formed page");
        Self {
            http,
            jar: Vec::new(),
        }
    }

    /// A navigation to `url`, from a page `site` (`cross-site` from the application,
    /// `same-origin` after a redirect of the server's).
    pub async fn get(&mut self, url: &Url, site: &str) -> Page {
        let request = self.http.get(url.as_str()).header("sec-fetch-site", site);
        self.send(url, request).await
    }

    /// A form post to `url` from one of the server's own pages.
    pub async fn post(&mut self, url: &Url, fields: &[(String, String)]) -> Page {
        let request = self
            .http
            .post(url.as_str())
            .header("sec-fetch-site", "same-origin")
            .form(fields);
        self.send(url, request).await
    }

    async fn send(&mut self, url: &Url, mut request: reqwest::RequestBuilder) -> Page {
        let cookies: Vec<String> = self
            .jar
            .iter()
            .filter(|cookie| path_matches(url.path(), &cookie.path))
            .map(|cookie| format!("{}={}", cookie.name, cookie.value))
            .collect();
        if !cookies.is_empty() {
            request = request.header(http::header::COOKIE, cookies.join("; "));
        }
        let response = request.send().await.expect("a well-formed page");
        let page = Page {
            url: url.clone(),
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("a well-formed page"),
        };
        for set in page.headers.get_all(SET_COOKIE) {
            self.remember(set.to_str().expect("a well-formed page"));
        }
        page
    }

    /// Stores a `Set-Cookie`, replacing a cookie of the same name and path.
    fn remember(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .expect("a well-formed page")
            .split_once('=')
            .expect("a well-formed page");
        let path = parts
            .filter_map(|attribute| attribute.split_once('='))
            .find(|(key, _)| key.eq_ignore_ascii_case("path"))
            .map_or("/", |(_, path)| path)
            .to_owned();
        self.jar
            .retain(|cookie| !(cookie.name == name && cookie.path == path));
        self.jar.push(Cookie {
            name: name.to_owned(),
            value: value.to_owned(),
            path,
        });
    }

    /// The browser's part of the flow, from the client's authorization URL to the redirect back
    /// to the client: sign in as the demo user, see the consent page, approve. The URL the
    /// server sent the browser back to.
    pub async fn sign_in_and_approve(
        &mut self,
        authorization_url: &Url,
        client_id: &str,
        user: &str,
    ) -> Url {
        // Nobody is signed in: to the demo sign-in page, with the request to come back to.
        let answer = self.get(authorization_url, "cross-site").await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let sign_in_url = answer.location();
        assert_eq!(sign_in_url.path(), "/demo/sign-in");
        let sign_in = self.get(&sign_in_url, "same-origin").await;
        assert_eq!(sign_in.status, StatusCode::OK, "{}", sign_in.body);

        // The sign-in form posts `next` back; the session cookie comes with the redirect.
        let fields = sign_in.hidden_fields();
        let next = fields
            .iter()
            .find(|(name, _)| name == "next")
            .map(|(_, next)| next.clone())
            .expect("the sign-in form carries `next`");
        let signed_in = self.post(&sign_in.form_action(), &fields).await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_in.body
        );
        assert!(
            signed_in
                .set_cookies()
                .iter()
                .any(|c| c.starts_with("demo_session=")),
            "the sign-in sets the session cookie"
        );
        let back = signed_in.location();
        assert_eq!(
            back.as_str(),
            signed_in
                .url
                .join(&next)
                .expect("a well-formed page")
                .as_str()
        );
        assert_eq!(back.path(), authorization_url.path());

        // Signed in: the consent page, which cannot be framed nor cached.
        let consent = self.get(&back, "same-origin").await;
        assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
        assert_eq!(consent.header(X_FRAME_OPTIONS.as_str()), "DENY");
        assert_eq!(consent.header(CACHE_CONTROL.as_str()), "no-store");
        let policy = consent.header(CONTENT_SECURITY_POLICY.as_str());
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(
            consent
                .header("content-type")
                .starts_with("text/html; charset=utf-8")
        );
        assert!(consent.body.contains(user), "{}", consent.body);
        assert!(consent.body.contains(client_id), "{}", consent.body);
        // The double-submit CSRF cookie: HttpOnly, SameSite=Strict, for the endpoint only, and
        // not `Secure` on this http issuer (a browser would not send it back otherwise).
        let csrf = consent
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("oauth_csrf="))
            .expect("the consent page sets the CSRF cookie");
        let attributes: Vec<&str> = csrf.split(';').skip(1).map(str::trim).collect();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/oauth/authorize"] {
            assert!(attributes.contains(&attribute), "{csrf}");
        }
        assert!(!attributes.contains(&"Secure"), "{csrf}");

        // The hidden fields carry the request back, with the CSRF token; approve.
        let mut fields = consent.hidden_fields();
        let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
        for name in [
            "client_id",
            "redirect_uri",
            "state",
            "code_challenge",
            "csrf",
        ] {
            assert!(names.contains(&name), "{names:?}");
        }
        fields.push(("decision".to_owned(), "approve".to_owned()));
        let decided = self.post(&consent.form_action(), &fields).await;
        assert_eq!(decided.status, StatusCode::SEE_OTHER, "{}", decided.body);
        assert_eq!(decided.header(CACHE_CONTROL.as_str()), "no-store");
        decided.location()
    }
}

/// Whether a cookie scoped to `cookie_path` goes with a request for `request_path` (RFC 6265
/// §5.1.4).
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || request_path[cookie_path.len()..].starts_with('/')))
}

impl Page {
    /// A header's value as text (empty if absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    /// Every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|value| value.to_str().expect("a well-formed page").to_owned())
            .collect()
    }

    /// Where a redirect goes, resolved against the page's URL.
    pub fn location(&self) -> Url {
        let location = self.headers.get(LOCATION).expect("a Location");
        self.url
            .join(location.to_str().expect("a well-formed page"))
            .expect("a well-formed page")
    }

    /// The page's hidden inputs, unescaped.
    pub fn hidden_fields(&self) -> Vec<(String, String)> {
        self.body
            .split("<input type=\"hidden\" ")
            .skip(1)
            .map(|input| {
                (
                    unescape(between(input, "name=\"", "\"")),
                    unescape(between(input, "value=\"", "\"")),
                )
            })
            .collect()
    }

    /// Where the page's (only) form posts, resolved against the page's URL.
    pub fn form_action(&self) -> Url {
        let form = self.body.split("<form ").nth(1).expect("a form");
        self.url
            .join(&unescape(between(form, "action=\"", "\"")))
            .expect("a well-formed page")
    }
}

/// The text of `text` between `start` and the next `end` (an attribute's value).
pub(crate) fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).expect("the attribute") + start.len();
    let to = from + text[from..].find(end).expect("the attribute's end");
    &text[from..to]
}

/// HTML text with the five escapes a template writes undone.
pub(crate) fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}
