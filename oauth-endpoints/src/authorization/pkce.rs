//! [`CodeChallenge`]: Proof Key for Code Exchange (RFC 7636), with the `S256` method only.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::OAuthError;
use crate::secret::SecretHash;

/// The length of an `S256` challenge: BASE64URL of a SHA-256 (32 bytes) without padding.
const CHALLENGE_CHARS: usize = 43;

/// The shortest `code_verifier` (RFC 7636 §4.1).
const MIN_VERIFIER_CHARS: usize = 43;

/// The longest `code_verifier` (RFC 7636 §4.1).
const MAX_VERIFIER_CHARS: usize = 128;

/// A PKCE code challenge (RFC 7636 §4.2), made with the `S256` method: the BASE64URL of the
/// SHA-256 of the client's `code_verifier`.
///
/// The authorization endpoint parses it from the request's `code_challenge` and
/// `code_challenge_method` ([`from_request`](Self::from_request)), keeps it with the code
/// ([`as_str`](Self::as_str), read back with [`from_stored`](Self::from_stored)), and the token
/// endpoint [`verify`](Self::verify)s the `code_verifier` of the code's exchange against it
/// (RFC 7636 §4.6).
///
/// Only `S256` is accepted: `plain` protects nothing once the request is seen, and RFC 9700
/// §2.1.1 forbids it; a request without `code_challenge_method` asks for `plain` (RFC 7636 §4.3),
/// so it is refused too.
///
/// The challenge is not secret (it travels in the front channel), so `Debug` shows it. The
/// verifier is; this type never keeps or prints one.
///
/// ```
/// use oauth_endpoints::authorization::CodeChallenge;
///
/// // RFC 7636 Appendix B.
/// let challenge =
///     CodeChallenge::from_request("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256"))
///         .unwrap();
/// assert!(challenge.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
/// assert!(!challenge.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl"));
///
/// // What a store keeps, and reads back.
/// let stored = challenge.as_str().to_owned();
/// assert_eq!(CodeChallenge::from_stored(&stored).unwrap(), challenge);
///
/// // `plain`, asked for or implied, is refused.
/// let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// assert!(CodeChallenge::from_request(verifier, Some("plain")).is_err());
/// assert!(CodeChallenge::from_request(verifier, None).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CodeChallenge {
    /// The 43 base64url characters of the challenge.
    text: Box<str>,
    /// The SHA-256 they encode, which a verifier's hash must equal.
    digest: SecretHash,
}

/// A `code_challenge` or `code_challenge_method` the authorization endpoint refuses. Each one
/// is an `invalid_request` (RFC 7636 §4.4.1), through `From<InvalidChallenge> for OAuthError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidChallenge {
    /// `code_challenge_method` is missing, which means `plain` (RFC 7636 §4.3); only `S256` is
    /// accepted (RFC 9700 §2.1.1).
    #[error(
        "`code_challenge_method` is missing, which means `plain` (RFC 7636 section 4.3); \
         only `S256` is supported"
    )]
    MissingMethod,
    /// `code_challenge_method` is `plain`, which RFC 9700 §2.1.1 forbids.
    #[error("`code_challenge_method` `plain` is not allowed (RFC 9700 section 2.1.1); use `S256`")]
    PlainMethod,
    /// `code_challenge_method` is neither `S256` nor `plain` (RFC 7636 §4.2, §4.4.1).
    #[error("`code_challenge_method` is not supported; use `S256` (RFC 7636 section 4.2)")]
    UnknownMethod,
    /// The `code_challenge` is not 43 characters long, the length of an `S256` challenge
    /// (RFC 7636 §4.2).
    #[error("`code_challenge` must be 43 characters, the S256 of the code verifier")]
    WrongLength,
    /// The `code_challenge` is not base64url without padding (RFC 7636 §4.2, Appendix A).
    #[error("`code_challenge` must be base64url without padding (RFC 7636 section 4.2)")]
    NotBase64Url,
}

impl From<InvalidChallenge> for OAuthError {
    /// `invalid_request` (RFC 7636 §4.4.1), described by the error.
    fn from(error: InvalidChallenge) -> Self {
        OAuthError::invalid_request(error.to_string())
    }
}

impl CodeChallenge {
    /// The one `code_challenge_method` accepted (RFC 7636 §4.2, RFC 9700 §2.1.1), as the
    /// authorization server metadata's `code_challenge_methods_supported` lists it
    /// (RFC 8414 §2).
    pub const METHOD: &'static str = "S256";

    /// Parses the authorization request's `code_challenge` and `code_challenge_method`
    /// (RFC 7636 §4.3).
    ///
    /// - The method must be `S256`. Missing (or empty, which RFC 6749 §3.1 treats as missing),
    ///   it means `plain` (RFC 7636 §4.3), refused as `plain` itself is (RFC 9700 §2.1.1).
    /// - The challenge must be an `S256` challenge: exactly 43 characters of base64url without
    ///   padding, decoding to 32 bytes (RFC 7636 §4.2, Appendix A).
    pub fn from_request(challenge: &str, method: Option<&str>) -> Result<Self, InvalidChallenge> {
        match method {
            None | Some("") => Err(InvalidChallenge::MissingMethod),
            Some("plain") => Err(InvalidChallenge::PlainMethod),
            Some(Self::METHOD) => Self::from_stored(challenge),
            Some(_) => Err(InvalidChallenge::UnknownMethod),
        }
    }

    /// A challenge read back from a store, checked again as
    /// [`from_request`](Self::from_request) checks the challenge (the method is `S256`, the only
    /// one a `CodeChallenge` can have).
    pub fn from_stored(challenge: &str) -> Result<Self, InvalidChallenge> {
        if challenge.len() != CHALLENGE_CHARS {
            return Err(InvalidChallenge::WrongLength);
        }
        // 43 characters carry 258 bits: 32 bytes and 2 bits that must be zero. The decoder
        // refuses non-zero trailing bits, so each SHA-256 has exactly one accepted rendering.
        let mut digest = [0u8; 33];
        match URL_SAFE_NO_PAD.decode_slice(challenge, &mut digest) {
            Ok(32) => {
                let mut sha256 = [0u8; 32];
                sha256.copy_from_slice(&digest[..32]);
                Ok(Self {
                    text: challenge.into(),
                    digest: SecretHash::from_bytes(sha256),
                })
            }
            _ => Err(InvalidChallenge::NotBase64Url),
        }
    }

    /// The `S256` challenge of `verifier` (RFC 7636 §4.2), as a client computes it; `None` for
    /// a verifier outside RFC 7636 §4.1's syntax (43 to 128 unreserved characters).
    ///
    /// ```
    /// use oauth_endpoints::authorization::CodeChallenge;
    ///
    /// // RFC 7636 Appendix B.
    /// let challenge =
    ///     CodeChallenge::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
    /// assert_eq!(challenge.as_str(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    /// assert!(CodeChallenge::from_verifier("too-short").is_none());
    /// ```
    pub fn from_verifier(verifier: &str) -> Option<Self> {
        if !is_code_verifier(verifier) {
            return None;
        }
        let digest = SecretHash::of(verifier);
        Some(Self {
            text: URL_SAFE_NO_PAD.encode(digest.as_bytes()).into(),
            digest,
        })
    }

    /// The challenge (43 base64url characters), for storage.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `verifier` is the `code_verifier` this challenge was made from (RFC 7636 §4.6):
    ///
    /// - the verifier is 43 to 128 characters of the unreserved set `[A-Z] / [a-z] / [0-9] /
    ///   "-" / "." / "_" / "~"` (RFC 7636 §4.1), else it is refused whatever its hash;
    /// - `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))` equals the challenge (RFC 7636 §4.6),
    ///   compared in constant time.
    ///
    /// `false` is the token endpoint's `invalid_grant` (RFC 7636 §4.6).
    pub fn verify(&self, verifier: &str) -> bool {
        // The challenge is the verifier's SHA-256, base64url-encoded: compared as hashes, in
        // constant time, as client secrets are.
        is_code_verifier(verifier) && self.digest.verify(verifier)
    }
}

/// Whether `verifier` is `code-verifier = 43*128unreserved`, `unreserved = ALPHA / DIGIT / "-" /
/// "." / "_" / "~"` (RFC 7636 §4.1).
fn is_code_verifier(verifier: &str) -> bool {
    (MIN_VERIFIER_CHARS..=MAX_VERIFIER_CHARS).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl fmt::Debug for CodeChallenge {
    /// The challenge itself: it is not secret (RFC 7636 §7.1 sends it in the front channel).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeChallenge({:?})", &*self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use sha2::{Digest, Sha256};

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    /// RFC 7636 §4.1's unreserved characters.
    const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

    /// The S256 challenge of `verifier`, computed here rather than by the code under test.
    fn s256(verifier: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    }

    fn challenge_of(verifier: &str) -> CodeChallenge {
        CodeChallenge::from_request(&s256(verifier), Some("S256")).unwrap()
    }

    #[test]
    fn rfc_7636_appendix_b() {
        assert_eq!(s256(VERIFIER), CHALLENGE);
        let challenge = CodeChallenge::from_request(CHALLENGE, Some("S256")).unwrap();
        assert_eq!(challenge.as_str(), CHALLENGE);
        assert!(challenge.verify(VERIFIER));
    }

    #[test]
    fn plain_and_a_missing_method_are_refused() {
        assert_eq!(
            CodeChallenge::from_request(CHALLENGE, Some("plain")),
            Err(InvalidChallenge::PlainMethod)
        );
        assert_eq!(
            CodeChallenge::from_request(CHALLENGE, None),
            Err(InvalidChallenge::MissingMethod)
        );
        assert_eq!(
            CodeChallenge::from_request(CHALLENGE, Some("")),
            Err(InvalidChallenge::MissingMethod)
        );
        // Method names are case-sensitive (RFC 7636 §4.2 registers `S256`).
        for method in ["s256", "S384", "PLAIN"] {
            assert_eq!(
                CodeChallenge::from_request(CHALLENGE, Some(method)),
                Err(InvalidChallenge::UnknownMethod),
                "{method}"
            );
        }
    }

    #[test]
    fn a_challenge_of_the_wrong_length_is_refused() {
        for challenge in [
            "",
            &CHALLENGE[..42],
            &format!("{CHALLENGE}A"),
            &s256("x")[..40],
        ] {
            assert_eq!(
                CodeChallenge::from_request(challenge, Some("S256")),
                Err(InvalidChallenge::WrongLength),
                "{challenge}"
            );
        }
        // A verifier sent as its own challenge (what `plain` would do) is refused too.
        let long = "a".repeat(64);
        assert_eq!(
            CodeChallenge::from_request(&long, Some("S256")),
            Err(InvalidChallenge::WrongLength)
        );
    }

    #[test]
    fn a_challenge_outside_base64url_is_refused() {
        let padded = format!("{}=", &CHALLENGE[..42]);
        let standard = CHALLENGE.replace('-', "+");
        let slash = CHALLENGE.replace('-', "/");
        let space = CHALLENGE.replace('-', " ");
        // 43 characters carry two bits more than 32 bytes: they must be zero (`M` ends in 00,
        // `N` in 01).
        let trailing_bits = CHALLENGE.replace("cM", "cN");
        let non_ascii = format!("{}é", &CHALLENGE[..41]);
        for challenge in [
            &padded,
            &standard,
            &slash,
            &space,
            &trailing_bits,
            &non_ascii,
        ] {
            assert_eq!(challenge.len(), 43, "{challenge}");
            assert_eq!(
                CodeChallenge::from_request(challenge, Some("S256")),
                Err(InvalidChallenge::NotBase64Url),
                "{challenge}"
            );
        }
    }

    #[test]
    fn verifier_length_is_43_to_128() {
        for (length, accepted) in [(42, false), (43, true), (128, true), (129, false)] {
            let verifier = "a1-._~Z".repeat(20)[..length].to_owned();
            // The challenge is the verifier's own S256: only the length rule can refuse it.
            assert_eq!(
                challenge_of(&verifier).verify(&verifier),
                accepted,
                "{length}"
            );
        }
    }

    #[test]
    fn a_verifier_outside_the_unreserved_set_is_refused() {
        for bad in ['+', '/', '=', ' ', '%', '!', 'é', '\0'] {
            let mut verifier = VERIFIER[..42].to_owned();
            verifier.push(bad);
            assert!(!challenge_of(&verifier).verify(&verifier), "{bad:?}");
        }
    }

    #[test]
    fn a_wrong_verifier_is_refused() {
        let challenge = CodeChallenge::from_stored(CHALLENGE).unwrap();
        assert!(!challenge.verify(&VERIFIER.replace('d', "e")));
        assert!(!challenge.verify(&VERIFIER[..42]));
        assert!(!challenge.verify(&format!("{VERIFIER}a")));
        assert!(!challenge.verify(CHALLENGE)); // the challenge is not its own verifier
        assert!(!challenge.verify(""));
    }

    #[test]
    fn random_verifiers_round_trip_through_s256() {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let length = rng.random_range(MIN_VERIFIER_CHARS..=MAX_VERIFIER_CHARS);
            let verifier: String = (0..length)
                .map(|_| char::from(UNRESERVED[rng.random_range(0..UNRESERVED.len())]))
                .collect();
            let challenge = challenge_of(&verifier);
            assert!(challenge.verify(&verifier), "{verifier}");
            let stored = CodeChallenge::from_stored(challenge.as_str()).unwrap();
            assert!(stored.verify(&verifier), "{verifier}");
            // Changing one character breaks it.
            let mut other = verifier.into_bytes();
            other[0] = if other[0] == b'a' { b'b' } else { b'a' };
            let other = String::from_utf8(other).unwrap();
            assert!(!challenge.verify(&other), "{other}");
        }
    }

    #[test]
    fn stored_challenges_are_checked_again() {
        assert_eq!(
            CodeChallenge::from_stored(CHALLENGE).unwrap(),
            CodeChallenge::from_request(CHALLENGE, Some("S256")).unwrap()
        );
        assert_eq!(
            CodeChallenge::from_stored(&CHALLENGE[1..]),
            Err(InvalidChallenge::WrongLength)
        );
        assert_eq!(
            CodeChallenge::from_stored(&CHALLENGE.replace('-', "+")),
            Err(InvalidChallenge::NotBase64Url)
        );
    }

    #[test]
    fn errors_are_invalid_request() {
        for error in [
            InvalidChallenge::MissingMethod,
            InvalidChallenge::PlainMethod,
            InvalidChallenge::UnknownMethod,
            InvalidChallenge::WrongLength,
            InvalidChallenge::NotBase64Url,
        ] {
            let oauth = OAuthError::from(error);
            assert_eq!(oauth.code(), "invalid_request");
            assert_eq!(oauth.status(), 400);
            // The description passes RFC 6749 §5.2's character set unchanged.
            assert_eq!(oauth.description(), Some(error.to_string().as_str()));
        }
    }

    #[test]
    fn debug_shows_the_challenge() {
        let challenge = CodeChallenge::from_stored(CHALLENGE).unwrap();
        assert_eq!(
            format!("{challenge:?}"),
            format!("CodeChallenge({CHALLENGE:?})")
        );
    }
}
