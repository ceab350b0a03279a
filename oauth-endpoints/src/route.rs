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

pub(crate) use oauth_endpoints_rules::check_path;

/// Checks a route's methods: at least one, each among those the attribute accepts, none twice.
/// The error is the offending method (empty for an empty list).
pub(crate) fn check_methods(methods: &[Method]) -> Result<(), String> {
    if methods.is_empty() {
        return Err(String::new());
    }
    for (i, method) in methods.iter().enumerate() {
        if !oauth_endpoints_rules::METHODS.contains(&method.as_str())
            || methods[..i].contains(method)
        {
            return Err(method.as_str().to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_checked() {
        assert_eq!(check_methods(&[Method::GET, Method::POST]), Ok(()));
        assert_eq!(check_methods(&[]), Err(String::new()));
        assert_eq!(
            check_methods(&[Method::GET, Method::GET]),
            Err("GET".to_owned())
        );
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(check_methods(&[custom]), Err("PURGE".to_owned()));
        assert_eq!(check_methods(&[Method::TRACE]), Err("TRACE".to_owned()));
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
