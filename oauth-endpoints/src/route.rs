//! [`Route`]: one mounted endpoint as a web framework sees it.

use std::borrow::Cow;

use http::Method;

use crate::client_auth::ClientAuthMethod;
use crate::description::Source;

/// A mounted endpoint: its name, path and methods, ready to hand to any web framework, plus the
/// client authentication methods it accepts and where it was defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub(crate) name: Cow<'static, str>,
    pub(crate) path: String,
    pub(crate) methods: Vec<Method>,
    pub(crate) auth_methods: Vec<ClientAuthMethod>,
    pub(crate) metadata: Option<Cow<'static, str>>,
    pub(crate) source: Source,
    pub(crate) cors: bool,
}

impl Route {
    /// The endpoint's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path it is mounted at.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The HTTP methods it answers.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// The client authentication methods it accepts (RFC 6749 §2.3).
    pub fn auth_methods(&self) -> &[ClientAuthMethod] {
        &self.auth_methods
    }

    /// The RFC 8414 metadata name under which its URL is published, if any.
    pub fn metadata(&self) -> Option<&str> {
        self.metadata.as_deref()
    }

    /// Where the endpoint was defined.
    pub fn source(&self) -> Source {
        self.source
    }

    /// Whether the route answers CORS preflights (RFC 7009 §2.3).
    pub fn cors(&self) -> bool {
        self.cors
    }
}

/// The path rule, the same the attribute checks at compile time: starts with `/`, printable
/// ASCII without whitespace, no query or fragment.
pub(crate) fn check_path(path: &str) -> Result<(), &'static str> {
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

/// The entries of a method list: separated by commas, spaces or both (`"GET, POST"`,
/// `"GET POST"`); an empty entry (two commas in a row, a comma at either end) is yielded as
/// `""`. The same rule as the attribute's (`oauth-endpoints-macros`, `validate.rs`).
fn list_entries(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').flat_map(|part| {
        let part = part.trim();
        let empty = part.is_empty().then_some("");
        empty.into_iter().chain(part.split_whitespace())
    })
}

/// Parses `"GET, POST"` (or `"GET POST"`) into methods. Only the methods the attribute accepts
/// are allowed; the error is the offending entry.
pub(crate) fn parse_methods(list: &str) -> Result<Vec<Method>, String> {
    const KNOWN: &[Method] = &[
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
    ];
    let mut methods: Vec<Method> = Vec::new();
    for entry in list_entries(list) {
        match KNOWN.iter().find(|known| known.as_str() == entry) {
            Some(method) if !methods.contains(method) => methods.push(method.clone()),
            _ => return Err(entry.to_owned()),
        }
    }
    Ok(methods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_parsed_and_checked() {
        assert_eq!(
            parse_methods("GET, POST").unwrap(),
            vec![Method::GET, Method::POST]
        );
        assert_eq!(
            parse_methods("GET POST").unwrap(),
            vec![Method::GET, Method::POST]
        );
        assert_eq!(parse_methods("GET, , POST"), Err(String::new()));
        assert_eq!(parse_methods("post"), Err("post".to_owned()));
        assert_eq!(parse_methods(""), Err(String::new()));
        assert_eq!(parse_methods("GET,GET"), Err("GET".to_owned()));
    }

    #[test]
    fn paths_are_checked() {
        assert!(check_path("/oauth/revoke").is_ok());
        assert!(check_path("oauth").is_err());
        assert!(check_path("/a b").is_err());
        assert!(check_path("/a?b").is_err());
        assert!(check_path("/\u{e9}").is_err());
    }
}
