//! User codes (RFC 8628 §6.1): short, typed by a person, hard to guess within their lifetime.
//!
//! Eight characters from the twenty consonants `BCDFGHJKLMNPQRSTVWXZ` (no vowels, so no words;
//! no digits, so no `0`/`O` or `1`/`I` confusion), about 34.5 bits of entropy, as §6.1
//! suggests. They are shown as `WDJB-MJHT`; what a person types is compared
//! case-insensitively with punctuation and whitespace ignored, so `wdjb mjht` and `WDJB-MJHT`
//! are the same code.

use std::fmt;

use rand::Rng;

const ALPHABET: &[u8; 20] = UserCode::ALPHABET;
const LENGTH: usize = UserCode::LENGTH;

/// A user code in canonical form: eight upper-case characters of [`UserCode::ALPHABET`], no separator.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserCode(String);

impl UserCode {
    /// The alphabet of RFC 8628 §6.1's example: twenty consonants, no vowels.
    pub const ALPHABET: &'static [u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

    /// The number of characters in a user code.
    pub const LENGTH: usize = 8;

    /// A new random code, drawn uniformly from a CSPRNG (the thread's ChaCha generator).
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let code = (0..LENGTH)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        Self(code)
    }

    /// Reads what a person typed: letters are upper-cased; hyphens, spaces and other
    /// punctuation are ignored. `None` unless exactly eight characters of [`UserCode::ALPHABET`] remain.
    ///
    /// ```
    /// use device_flow::UserCode;
    ///
    /// let code = UserCode::normalize(" wdjb-mjht ").unwrap();
    /// assert_eq!(code.as_str(), "WDJBMJHT");
    /// assert_eq!(code.to_string(), "WDJB-MJHT");
    /// assert_eq!(UserCode::normalize("WDJB.MJHT"), Some(code));
    /// assert_eq!(UserCode::normalize("WDJB-MJH"), None); // too short
    /// assert_eq!(UserCode::normalize("WDJB-MJHA"), None); // a vowel is never in a code
    /// ```
    pub fn normalize(typed: &str) -> Option<Self> {
        let mut code = String::with_capacity(LENGTH);
        for c in typed.chars() {
            if c.is_ascii_punctuation() || c.is_whitespace() {
                continue;
            }
            let upper = c.to_ascii_uppercase();
            if code.len() == LENGTH || !upper.is_ascii() || !ALPHABET.contains(&(upper as u8)) {
                return None;
            }
            code.push(upper);
        }
        (code.len() == LENGTH).then_some(Self(code))
    }

    /// A code read back from a store, which keeps the canonical form.
    pub fn from_canonical(code: impl Into<String>) -> Option<Self> {
        let code = code.into();
        let canonical = code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b));
        canonical.then_some(Self(code))
    }

    /// The canonical form (`WDJBMJHT`): what stores keep and compare.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserCode {
    /// The form shown to people: `WDJB-MJHT`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (left, right) = self.0.split_at(LENGTH / 2);
        write!(f, "{left}-{right}")
    }
}

impl fmt::Debug for UserCode {
    /// Redacted: a user code in a log line is one an attacker could approve (RFC 8628 §5.1), so
    /// `Debug` (and every `Debug` that contains one, e.g. of
    /// [`DeviceAuthorization`](crate::DeviceAuthorization)) never shows it. `Display` does:
    /// that is the form shown to the user.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_canonical_and_vary() {
        let codes: Vec<UserCode> = (0..64).map(|_| UserCode::generate()).collect();
        for code in &codes {
            assert_eq!(UserCode::from_canonical(code.as_str()), Some(code.clone()));
            assert_eq!(UserCode::normalize(&code.to_string()), Some(code.clone()));
        }
        assert!(codes.iter().any(|code| *code != codes[0]));
    }

    #[test]
    fn debug_never_shows_the_code() {
        let code = UserCode::generate();
        let debug = format!("{code:?}");
        assert!(!debug.contains(code.as_str()), "{debug}");
        assert!(!debug.contains(&code.to_string()), "{debug}");
        assert!(!debug.contains(&code.as_str()[..LENGTH / 2]), "{debug}");
    }

    #[test]
    fn normalization_ignores_case_and_punctuation() {
        let expected = UserCode::from_canonical("BCDFGHJK");
        for typed in [
            "BCDF-GHJK",
            "bcdfghjk",
            "bcdf ghjk",
            " b.c,d_f-g h:j k ",
            "BcDf\tGhJk",
        ] {
            assert_eq!(UserCode::normalize(typed), expected, "{typed:?}");
        }
        for typed in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "BCDF-GHJ0",
            "BCDF-GHJÉ",
            "ABCD-EFGH",
        ] {
            assert_eq!(UserCode::normalize(typed), None, "{typed:?}");
        }
    }
}
