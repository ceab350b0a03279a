//! [`Scope`]: a set of scope tokens (RFC 6749 §3.3).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of scope tokens, parsed from and rendered as a space-delimited string (RFC 6749 §3.3).
///
/// Tokens are case-sensitive; duplicates collapse; the set is kept sorted so that equal scopes
/// render identically.
///
/// ```
/// use oauth_endpoints::scope::Scope;
///
/// let allowed: Scope = "read write admin".parse().unwrap();
/// let asked: Scope = "write read".parse().unwrap();
/// assert!(asked.is_subset(&allowed));
/// assert_eq!(asked.to_string(), "read write");
/// assert!("bad\"token".parse::<Scope>().is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The canonical rendering: sorted, deduplicated tokens joined by one space. Shared, because
    /// every token of a grant carries the same scope.
    text: Arc<str>,
}

/// A scope string with a character RFC 6749 §3.3 does not allow in a scope token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope tokens are printable ASCII without `\"` or `\\`")]
pub struct InvalidScope;

impl Scope {
    /// The empty scope.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Whether the scope has no token.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.text.split(' ').filter(|t| !t.is_empty())
    }

    /// Whether the scope holds `token`.
    pub fn contains(&self, token: &str) -> bool {
        self.iter().any(|t| t == token)
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset(&self, other: &Scope) -> bool {
        self.iter().all(|t| other.contains(t))
    }

    /// The space-delimited rendering.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether no other `Scope` shares this one's text (for interning stores).
    pub(crate) fn is_unshared(&self) -> bool {
        Arc::strong_count(&self.text) == 1
    }

    fn from_tokens<'a>(tokens: impl Iterator<Item = &'a str>) -> Self {
        let mut tokens: Vec<&str> = tokens.collect();
        tokens.sort_unstable();
        tokens.dedup();
        Self {
            text: Arc::from(tokens.join(" ")),
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = InvalidScope;

    /// Parses `scope = scope-token *( SP scope-token )`, `scope-token = 1*( %x21 / %x23-5B /
    /// %x5D-7E )` (RFC 6749 §3.3). Extra spaces are tolerated.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let allowed = |b: u8| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e | b' ');
        if !text.bytes().all(allowed) {
            return Err(InvalidScope);
        }
        Ok(Self::from_tokens(text.split(' ').filter(|t| !t.is_empty())))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({:?})", &*self.text)
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
