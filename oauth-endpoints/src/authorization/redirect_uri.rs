//! [`RedirectUri`]: a client's registered redirect URI (RFC 6749 §3.1.2) and how a presented one
//! is matched against it (RFC 9700 §4.1.3, RFC 8252 §7.3).

use std::fmt;
use std::str::FromStr;

use http::uri::Authority;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::syntax::{Syntax, split_scheme};

/// A redirect URI registered for a client, checked when the client is registered.
///
/// Every registered URI obeys these rules:
///
/// - it is an absolute URI (RFC 6749 §3.1.2, RFC 3986 §4.3) written in URI characters
///   (RFC 3986 §2), without a fragment (RFC 6749 §3.1.2);
/// - its scheme is `https` (RFC 6749 §3.1.2.1; RFC 9700 §2.6 forbids sending codes over
///   plain `http`), with a host and without user information (`user@`, RFC 3986 §7.6);
/// - or `http` with a loopback IP literal host, `127.0.0.1` or `[::1]`, for a native app's
///   local listener (RFC 8252 §7.3). `localhost` is refused: it can resolve to something other
///   than the loopback interface, and a firewall may treat it differently, so RFC 8252 §8.3
///   recommends the IP literal;
/// - or a private-use scheme of a native app (RFC 8252 §7.1): a scheme holding a `.`, as the
///   reverse domain name `com.example.app` does. Schemes without a `.` other than `https` and
///   `http` (`javascript:`, `data:`, `file:`...) are refused;
/// - it has no `*`: there are no wildcards (RFC 9700 §4.1.3), and a `*` meant as one would
///   silently match nothing.
///
/// A presented `redirect_uri` [`matches`](Self::matches) only if it is the same string
/// (RFC 9700 §4.1.3), except that a loopback `http` URI matches on any port (RFC 8252 §7.3).
///
/// ```
/// use oauth_endpoints::authorization::{InvalidRedirectUri, RedirectUri};
///
/// let web: RedirectUri = "https://app.example.com/cb".parse().unwrap();
/// assert!(web.matches("https://app.example.com/cb"));
/// assert!(!web.matches("https://app.example.com/cb/"));
///
/// let native: RedirectUri = "http://127.0.0.1/cb".parse().unwrap();
/// assert!(native.matches("http://127.0.0.1:53124/cb"));
///
/// assert!("com.example.app:/cb".parse::<RedirectUri>().is_ok());
/// assert_eq!(
///     "http://localhost/cb".parse::<RedirectUri>(),
///     Err(InvalidRedirectUri::Localhost)
/// );
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedirectUri {
    text: Box<str>,
    /// Whether this is an `http` URI on a loopback IP literal, whose port is ignored when
    /// matching.
    loopback: bool,
}

/// A redirect URI that breaks a rule of [`RedirectUri`]; names the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRedirectUri {
    /// A character outside those of a URI (RFC 3986 §2): a space, a control character or
    /// non-ASCII text.
    #[error("a redirect URI is written in URI characters (RFC 3986 section 2)")]
    Syntax,
    /// Not an absolute URI: no scheme (RFC 6749 §3.1.2, RFC 3986 §4.3).
    #[error("a redirect URI must be an absolute URI (RFC 6749 section 3.1.2)")]
    NotAbsolute,
    /// A fragment (`#...`), which RFC 6749 §3.1.2 forbids.
    #[error("a redirect URI must not include a fragment (RFC 6749 section 3.1.2)")]
    Fragment,
    /// A `*`: redirect URIs match exactly, without wildcards (RFC 9700 §4.1.3).
    #[error("a redirect URI must not contain `*`: there are no wildcards (RFC 9700 section 4.1.3)")]
    Wildcard,
    /// A scheme that is neither `https`, `http` (loopback only) nor a private-use scheme with a
    /// `.` (RFC 8252 §7.1).
    #[error(
        "a redirect URI's scheme must be `https`, `http` on a loopback IP, or a private-use \
         scheme such as `com.example.app` (RFC 8252 section 7.1)"
    )]
    UnsupportedScheme,
    /// An `https` or `http` URI without a valid host, or with an invalid port (RFC 3986 §3.2).
    #[error(
        "a redirect URI with `https` or `http` needs a valid host and port (RFC 3986 section 3.2)"
    )]
    InvalidAuthority,
    /// User information (`user@host`), a means to disguise the host (RFC 3986 §7.6).
    #[error("a redirect URI must not include user information (RFC 3986 section 7.6)")]
    UserInfo,
    /// `http` with the host `localhost`: use `127.0.0.1` or `[::1]` (RFC 8252 §8.3).
    #[error(
        "use the loopback IP literal `127.0.0.1` or `[::1]`, not `localhost` (RFC 8252 section 8.3)"
    )]
    Localhost,
    /// `http` with a host other than a loopback IP literal (RFC 6749 §3.1.2.1, RFC 9700 §2.6).
    #[error(
        "`http` redirect URIs are only allowed on the loopback IP `127.0.0.1` or `[::1]` \
         (RFC 8252 section 7.3); use `https`"
    )]
    InsecureHttp,
}

impl RedirectUri {
    /// Checks `uri` against every rule of [`RedirectUri`]. The same as `uri.parse()`.
    pub fn new(uri: &str) -> Result<Self, InvalidRedirectUri> {
        uri.parse()
    }

    /// The URI as registered.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the `redirect_uri` of an authorization or token request is this one:
    ///
    /// - the same string, compared character by character, without any normalization
    ///   (RFC 9700 §4.1.3; RFC 6749 §3.1.2.3 compares as RFC 3986 §6.2.1 does): case, a
    ///   trailing slash, an added query or fragment all make another URI;
    /// - except for a loopback `http` URI, whose port the native app picks at run time
    ///   (RFC 8252 §7.3): there scheme, host, path and query must be the same strings and the
    ///   port may be any, or none.
    pub fn matches(&self, presented: &str) -> bool {
        if *self.text == *presented {
            return true;
        }
        if !self.loopback {
            return false;
        }
        match (split_port(&self.text), split_port(presented)) {
            (Some(registered), Some(presented)) => registered == presented,
            _ => false,
        }
    }
}

/// A URI `scheme://authority[path][?query][#fragment]` split into its authority and the
/// `scheme://`, and path, query and fragment around it.
fn split_authority(uri: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = split_scheme(uri)?;
    let after = rest.strip_prefix("//")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(end);
    Some((&uri[..scheme.len() + 3], authority, tail))
}

/// A loopback URI without its port: its `scheme://`, host, and the path and query (and
/// fragment, if any) after it. `None` if the port is not digits that fit a port number.
fn split_port(uri: &str) -> Option<(&str, &str, &str)> {
    let (scheme, authority, tail) = split_authority(uri)?;
    // The last `:` starts the port, unless it is inside an IPv6 literal (`[::1]`).
    let host = match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => {
            let port = &authority[colon + 1..];
            if !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err() {
                return None;
            }
            &authority[..colon]
        }
        _ => authority,
    };
    Some((scheme, host, tail))
}

/// The loopback IP literals an `http` redirect URI may name (RFC 8252 §7.3).
const LOOPBACK_HOSTS: [&str; 2] = ["127.0.0.1", "[::1]"];

impl FromStr for RedirectUri {
    type Err = InvalidRedirectUri;

    /// Checks every rule of [`RedirectUri`].
    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        if uri.is_empty() {
            return Err(InvalidRedirectUri::NotAbsolute);
        }
        if !Syntax::UriReference.accepts(uri) {
            return Err(InvalidRedirectUri::Syntax);
        }
        if uri.contains('#') {
            return Err(InvalidRedirectUri::Fragment);
        }
        if uri.contains('*') {
            return Err(InvalidRedirectUri::Wildcard);
        }
        let (scheme, _) = split_scheme(uri).ok_or(InvalidRedirectUri::NotAbsolute)?;
        let https = scheme.eq_ignore_ascii_case("https");
        if !https && !scheme.eq_ignore_ascii_case("http") {
            // RFC 8252 §7.1: a private-use scheme is a reverse domain name, so it has a `.`.
            if scheme.contains('.') {
                return Ok(Self {
                    text: uri.into(),
                    loopback: false,
                });
            }
            return Err(InvalidRedirectUri::UnsupportedScheme);
        }
        let host = checked_host(uri)?;
        let loopback = !https;
        if loopback && !LOOPBACK_HOSTS.contains(&host) {
            if host.eq_ignore_ascii_case("localhost") {
                return Err(InvalidRedirectUri::Localhost);
            }
            return Err(InvalidRedirectUri::InsecureHttp);
        }
        Ok(Self {
            text: uri.into(),
            loopback,
        })
    }
}

/// The host of an `https` or `http` URI, whose authority must be a host and an optional port
/// (RFC 3986 §3.2), without user information.
fn checked_host(uri: &str) -> Result<&str, InvalidRedirectUri> {
    let (_, authority, _) = split_authority(uri).ok_or(InvalidRedirectUri::InvalidAuthority)?;
    if authority.contains('@') {
        return Err(InvalidRedirectUri::UserInfo);
    }
    // `Authority` checks the host's characters (and brackets); `split_port` the port.
    Authority::from_str(authority).map_err(|_| InvalidRedirectUri::InvalidAuthority)?;
    match split_port(uri) {
        Some((_, host, _)) if !host.is_empty() => Ok(host),
        _ => Err(InvalidRedirectUri::InvalidAuthority),
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedirectUri({:?})", &*self.text)
    }
}

impl Serialize for RedirectUri {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for RedirectUri {
    /// A string, checked against every rule of [`RedirectUri`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> RedirectUri {
        text.parse().unwrap()
    }

    fn refused(text: &str) -> InvalidRedirectUri {
        text.parse::<RedirectUri>().unwrap_err()
    }

    #[test]
    fn https_matches_only_itself() {
        let registered = uri("https://app.example.com/cb");
        assert!(registered.matches("https://app.example.com/cb"));
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/CB",
            "https://APP.example.com/cb",
            "HTTPS://app.example.com/cb",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/cb#x",
            "https://app.example.com:443/cb",
            "https://app.example.com:8443/cb",
            "https://app.example.com/%63b",
            "https://app.example.com",
            "https://evil.example.com/cb",
            "http://app.example.com/cb",
            "https://app.example.com/cb ",
            "",
        ] {
            assert!(!registered.matches(other), "{other}");
        }
    }

    #[test]
    fn a_query_is_part_of_the_exact_match() {
        let registered = uri("https://app.example.com/cb?tenant=a");
        assert!(registered.matches("https://app.example.com/cb?tenant=a"));
        assert!(!registered.matches("https://app.example.com/cb"));
        assert!(!registered.matches("https://app.example.com/cb?tenant=b"));
        assert!(!registered.matches("https://app.example.com/cb?tenant=a&x=1"));
    }

    #[test]
    fn loopback_matches_on_any_port() {
        let registered = uri("http://127.0.0.1/cb");
        for presented in [
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53124/cb",
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:65535/cb",
        ] {
            assert!(registered.matches(presented), "{presented}");
        }
        for other in [
            "http://127.0.0.1:8080/other",
            "http://127.0.0.1:8080/cb/",
            "http://127.0.0.1:8080/cb?x=1",
            "http://127.0.0.1:8080/cb#x",
            "http://127.0.0.1:65536/cb",
            "http://127.0.0.1:80a/cb",
            "http://127.0.0.1:/cb",
            "http://[::1]:8080/cb",
            "http://localhost:8080/cb",
            "http://127.0.0.2:8080/cb",
            "https://127.0.0.1:8080/cb",
            "HTTP://127.0.0.1:8080/cb",
            "http://user@127.0.0.1:8080/cb",
            "http://127.0.0.1:8080@evil.example.com/cb",
            "http://evil.example.com:8080/cb",
            "http:127.0.0.1:8080/cb",
        ] {
            assert!(!registered.matches(other), "{other}");
        }
    }

    #[test]
    fn a_registered_loopback_port_is_ignored_too() {
        let registered = uri("http://127.0.0.1:8080/cb?x=1");
        assert!(registered.matches("http://127.0.0.1:53124/cb?x=1"));
        assert!(registered.matches("http://127.0.0.1/cb?x=1"));
        assert!(!registered.matches("http://127.0.0.1:53124/cb"));
    }

    #[test]
    fn ipv6_loopback_matches_on_any_port() {
        let registered = uri("http://[::1]/cb");
        assert!(registered.matches("http://[::1]:53124/cb"));
        assert!(registered.matches("http://[::1]/cb"));
        assert!(!registered.matches("http://[::1]:53124/other"));
        assert!(!registered.matches("http://127.0.0.1:53124/cb"));
        assert!(!registered.matches("http://[0:0:0:0:0:0:0:1]:53124/cb"));
    }

    #[test]
    fn private_use_schemes_match_exactly() {
        let registered = uri("com.example.app:/cb");
        assert!(registered.matches("com.example.app:/cb"));
        assert!(!registered.matches("com.example.app:/cb/"));
        assert!(!registered.matches("com.example.app:/other"));
        assert!(!registered.matches("com.example.evil:/cb"));
        assert!(uri("com.example.app://cb").matches("com.example.app://cb"));
    }

    #[test]
    fn only_https_loopback_http_and_private_use_schemes_are_accepted() {
        for accepted in [
            "https://app.example.com/cb",
            "https://app.example.com",
            "https://app.example.com:8443/cb?tenant=a",
            "https://192.0.2.1/cb",
            "https://[2001:db8::1]/cb",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "http://[::1]:8080/cb",
            "com.example.app:/cb",
            "com.example.app:/oauth2redirect/example-provider",
            "com.example.app://cb",
        ] {
            assert_eq!(uri(accepted).as_str(), accepted);
        }
        assert_eq!(
            refused("http://app.example.com/cb"),
            InvalidRedirectUri::InsecureHttp
        );
        assert_eq!(
            refused("http://127.0.0.2/cb"),
            InvalidRedirectUri::InsecureHttp
        );
        assert_eq!(refused("http://[::2]/cb"), InvalidRedirectUri::InsecureHttp);
        assert_eq!(
            refused("javascript:alert(1)"),
            InvalidRedirectUri::UnsupportedScheme
        );
        assert_eq!(
            refused("data:text/html,<script>alert(1)</script>"),
            InvalidRedirectUri::Syntax // `<` and `>` are no URI characters
        );
        assert_eq!(
            refused("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
            InvalidRedirectUri::UnsupportedScheme
        );
        assert_eq!(
            refused("file:///etc/passwd"),
            InvalidRedirectUri::UnsupportedScheme
        );
        assert_eq!(
            refused("ftp://app.example.com/cb"),
            InvalidRedirectUri::UnsupportedScheme
        );
        assert_eq!(refused("myapp:/cb"), InvalidRedirectUri::UnsupportedScheme);
    }

    #[test]
    fn localhost_is_refused() {
        for localhost in [
            "http://localhost/cb",
            "http://localhost:8080/cb",
            "http://LOCALHOST/cb",
        ] {
            assert_eq!(
                refused(localhost),
                InvalidRedirectUri::Localhost,
                "{localhost}"
            );
        }
    }

    #[test]
    fn fragments_are_refused() {
        for fragment in [
            "https://app.example.com/cb#",
            "https://app.example.com/cb#x",
            "http://127.0.0.1/cb#x",
            "com.example.app:/cb#x",
        ] {
            assert_eq!(
                refused(fragment),
                InvalidRedirectUri::Fragment,
                "{fragment}"
            );
        }
    }

    #[test]
    fn relative_uris_are_refused() {
        for relative in [
            "",
            "/cb",
            "cb",
            "//app.example.com/cb",
            "app.example.com/cb",
            "127.0.0.1:8080/cb",
            ":/cb",
            "?x=1",
        ] {
            assert_eq!(
                refused(relative),
                InvalidRedirectUri::NotAbsolute,
                "{relative}"
            );
        }
    }

    #[test]
    fn wildcards_are_refused() {
        for wildcard in [
            "https://*.example.com/cb",
            "https://app.example.com/*",
            "http://127.0.0.1:*/cb",
        ] {
            assert_eq!(
                refused(wildcard),
                InvalidRedirectUri::Wildcard,
                "{wildcard}"
            );
        }
    }

    #[test]
    fn authorities_are_checked() {
        for invalid in [
            "https:/cb",
            "https:cb",
            "https:///cb",
            "https://:443/cb",
            "https://app.example.com:99999/cb",
            "https://app.example.com:x/cb",
            "http://127.0.0.1:65536/cb",
        ] {
            assert_eq!(
                refused(invalid),
                InvalidRedirectUri::InvalidAuthority,
                "{invalid}"
            );
        }
        assert_eq!(
            refused("https://user@app.example.com/cb"),
            InvalidRedirectUri::UserInfo
        );
        assert_eq!(
            refused("https://app.example.com@evil.example.com/cb"),
            InvalidRedirectUri::UserInfo
        );
        assert_eq!(
            refused("http://user:pw@127.0.0.1/cb"),
            InvalidRedirectUri::UserInfo
        );
    }

    #[test]
    fn characters_outside_uris_are_refused() {
        for invalid in [
            "https://app.example.com/c b",
            "https://app.example.com/cb\n",
            "https://app.example.com/çb",
            "https://app.example.com/\"cb\"",
        ] {
            assert_eq!(refused(invalid), InvalidRedirectUri::Syntax, "{invalid:?}");
        }
    }

    #[test]
    fn display_and_serde_keep_the_string() {
        let registered = uri("http://127.0.0.1:8080/cb");
        assert_eq!(registered.to_string(), "http://127.0.0.1:8080/cb");
        assert_eq!(
            format!("{registered:?}"),
            "RedirectUri(\"http://127.0.0.1:8080/cb\")"
        );
        let json = serde_json::to_string(&registered).unwrap();
        assert_eq!(json, "\"http://127.0.0.1:8080/cb\"");
        let back: RedirectUri = serde_json::from_str(&json).unwrap();
        assert_eq!(back, registered);
        assert!(back.matches("http://127.0.0.1:1/cb"));
        assert!(serde_json::from_str::<RedirectUri>("\"http://localhost/cb\"").is_err());
        assert!(serde_json::from_str::<RedirectUri>("\"https://a.example/#x\"").is_err());
        assert!(serde_json::from_str::<RedirectUri>("42").is_err());
        assert_eq!(
            RedirectUri::new("https://a.example/cb").unwrap().as_str(),
            "https://a.example/cb"
        );
    }
}
