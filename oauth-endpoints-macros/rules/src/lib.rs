//! The rules an endpoint or grant declaration must follow, defined once: `#[oauth_endpoint]`
//! and `#[oauth_grant]` (crate `oauth-endpoints-macros`) check them at compile time and turn a
//! broken rule into a spanned compile error; `AuthorizationServerBuilder` (crate
//! `oauth-endpoints`) checks explicit registrations against them at run time and turns a broken
//! rule into a `BuildError`. Each check answers the rule a value breaks, worded to follow the
//! name of what was checked (`path must start with /`).
//!
//! ```
//! use oauth_endpoints_rules::{check_path, list_entries};
//!
//! assert_eq!(check_path("oauth/revoke"), Err("must start with `/`"));
//! assert_eq!(list_entries("GET, POST").collect::<Vec<_>>(), ["GET", "POST"]);
//! assert_eq!(list_entries("GET POST").collect::<Vec<_>>(), ["GET", "POST"]);
//! ```

/// The HTTP methods an endpoint may answer.
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// The client authentication methods an endpoint may accept (RFC 6749 §2.3), by their
/// registered names (RFC 7591 §2).
pub const AUTH_METHODS: &[&str] = &[
    CLIENT_SECRET_BASIC,
    CLIENT_SECRET_POST,
    NONE,
    PRIVATE_KEY_JWT,
];

/// `client_secret_basic`: HTTP Basic (RFC 6749 §2.3.1).
pub const CLIENT_SECRET_BASIC: &str = "client_secret_basic";

/// `client_secret_post`: credentials in the body (RFC 6749 §2.3.1).
pub const CLIENT_SECRET_POST: &str = "client_secret_post";

/// `none`: a public client (RFC 7591 §2).
pub const NONE: &str = "none";

/// `private_key_jwt`: a JWT signed with one of the client's registered keys (RFC 7523 §2.2,
/// RFC 7591 §2).
pub const PRIVATE_KEY_JWT: &str = "private_key_jwt";

/// The path rule: starts with `/`, printable ASCII without whitespace, no query or fragment.
pub fn check_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        Err("must start with `/`")
    } else if path.chars().any(char::is_whitespace) {
        Err("must not contain whitespace")
    } else if path.contains(['?', '#']) {
        Err("must not contain a query (`?`) or a fragment (`#`)")
    } else if !path.bytes().all(|b| b.is_ascii_graphic()) {
        Err("must be printable ASCII (percent-encode other characters)")
    } else {
        Ok(())
    }
}

/// The endpoint-name rule: not empty, no whitespace.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("must not be empty")
    } else if name.chars().any(char::is_whitespace) {
        Err("must not contain whitespace")
    } else {
        Ok(())
    }
}

/// The metadata-name rule: lowercase snake_case (RFC 8414 §2 names, such as
/// `device_authorization_endpoint`).
pub fn is_metadata_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The `grant_type` rule (RFC 6749 §4.5, Appendix A.10): not empty, no whitespace, printable
/// ASCII (a name such as `client_credentials`, or a URI).
pub fn check_grant_type(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        Err("must not be empty, e.g. \"client_credentials\"")
    } else if value.chars().any(char::is_whitespace) {
        Err("must not contain whitespace")
    } else if !value.bytes().all(|b| b.is_ascii_graphic()) {
        Err("must be printable ASCII: a name such as \"client_credentials\" or a URI")
    } else {
        Ok(())
    }
}

/// The entries of a `methods` or `auth_methods` list: separated by commas, spaces or both
/// (`"GET, POST"`, `"GET POST"`). An empty entry (two commas in a row, a comma at either end)
/// is yielded as `""` for the caller to report; a blank list yields nothing.
pub fn list_entries(value: &str) -> impl Iterator<Item = &str> {
    let blank = value.trim().is_empty();
    value.split(',').filter(move |_| !blank).flat_map(|part| {
        let part = part.trim();
        let empty = part.is_empty().then_some("");
        empty.into_iter().chain(part.split_whitespace())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_take_commas_spaces_or_both_and_report_empty_entries() {
        let entries = |value| list_entries(value).collect::<Vec<_>>();
        assert_eq!(entries("GET"), ["GET"]);
        assert_eq!(entries("GET,POST"), ["GET", "POST"]);
        assert_eq!(entries(" GET  POST "), ["GET", "POST"]);
        assert_eq!(entries("GET, , POST"), ["GET", "", "POST"]);
        assert_eq!(entries("GET,"), ["GET", ""]);
        assert!(entries("").is_empty() && entries("  ").is_empty());
    }

    #[test]
    fn paths_names_metadata_and_grant_types() {
        assert!(check_path("/oauth/revoke").is_ok());
        for bad in ["oauth", "/a b", "/a?b", "/a#b", "/é"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        assert!(check_name("revocation").is_ok());
        assert!(check_name("").is_err() && check_name("a b").is_err());
        assert!(is_metadata_name("device_authorization_endpoint"));
        assert!(!is_metadata_name("Device") && !is_metadata_name(""));
        assert!(check_grant_type("urn:ietf:params:oauth:grant-type:device_code").is_ok());
        assert!(check_grant_type("").is_err() && check_grant_type("a b").is_err());
    }
}
