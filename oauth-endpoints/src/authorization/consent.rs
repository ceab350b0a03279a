//! The consent page: what it shows ([`Consent`]), who renders it ([`ConsentPage`]), and the
//! built-in one ([`DefaultConsentPage`]).

use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The name of the form field that carries the user's decision: `approve` or `deny`.
pub const DECISION_FIELD: &str = "decision";

/// What a consent page shows and what its form must post back.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Consent<'a> {
    /// The client asking (its `client_id`).
    pub client_id: &'a str,
    /// The scope tokens it asks for (RFC 6749 §3.3), in request order.
    pub scope: &'a [&'a str],
    /// The resources the tokens would be meant for (RFC 8707 §2.1), if the request named any.
    pub resources: &'a [String],
    /// The signed-in user's subject identifier.
    pub subject: &'a str,
    /// Where the form posts (the authorization endpoint's path), with `method="post"`.
    pub action: &'a str,
    /// The hidden fields the form must post back unchanged: the request's parameters and the
    /// CSRF token. Post them with a [`DECISION_FIELD`] of `approve` or `deny`.
    pub hidden: &'a [(&'a str, &'a str)],
}

/// Renders the consent page as a whole HTML document.
///
/// The server sends it with `Content-Type: text/html; charset=utf-8`, `Cache-Control:
/// no-store`, `X-Frame-Options: DENY` and a `Content-Security-Policy` with
/// `frame-ancestors 'none'` and `form-action` limited to this server and the client's redirect
/// URI's origin (browsers apply it to the redirect that follows the form; no inline scripts),
/// and sets the CSRF
/// cookie the hidden field matches: an application's page gets the same protection. Render it
/// with a template engine that escapes what it writes (the client id and scope come from the
/// request). Closures `Fn(&Consent<'_>) -> String` implement it.
pub trait ConsentPage: Send + Sync + 'static {
    /// The page for `consent`.
    fn render(&self, consent: &Consent<'_>) -> String;
}

impl<F> ConsentPage for F
where
    F: Fn(&Consent<'_>) -> String + Send + Sync + 'static,
{
    fn render(&self, consent: &Consent<'_>) -> String {
        self(consent)
    }
}

/// The built-in consent page: the client, the scopes, Approve and Deny. A `maud` template, so
/// every value is escaped where it is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultConsentPage;

impl ConsentPage for DefaultConsentPage {
    fn render(&self, consent: &Consent<'_>) -> String {
        document(
            "Authorize access",
            html! {
                p {
                    "Signed in as " strong { (consent.subject) } "."
                }
                p {
                    "The application " strong #client { (consent.client_id) }
                    " asks for access to your account"
                    @if consent.scope.is_empty() { "." } @else { " with these permissions:" }
                }
                @if !consent.scope.is_empty() {
                    ul #scopes {
                        @for token in consent.scope { li { code { (token) } } }
                    }
                }
                @if !consent.resources.is_empty() {
                    p { "for use at:" }
                    ul #resources {
                        @for resource in consent.resources { li { code { (resource) } } }
                    }
                }
                form method="post" action=(consent.action) {
                    @for (name, value) in consent.hidden {
                        input type="hidden" name=(name) value=(value);
                    }
                    button #approve type="submit" name=(DECISION_FIELD) value="approve" { "Approve" }
                    " "
                    button #deny type="submit" name=(DECISION_FIELD) value="deny" { "Deny" }
                }
            },
        )
        .into_string()
    }
}

/// A whole page around `body`, with `title` as its heading.
pub(crate) fn document(title: &str, body: Markup) -> Markup {
    html! {
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
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9}\
main{max-width:32rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:8px;\
box-shadow:0 1px 4px rgba(0,0,0,.1)}h1{font-size:1.4rem}button{font-size:1rem;\
padding:.5rem 1.2rem}.error{color:#a00}";
