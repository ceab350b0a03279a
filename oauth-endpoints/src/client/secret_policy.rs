//! [`SecretPolicy`]: how strong a client secret the server did not generate must be.

use crate::client::InvalidClient;
use crate::syntax::is_vschar;

/// The least a client secret chosen outside the server must be, because secrets are stored as
/// unsalted SHA-256.
///
/// SHA-256 is the right hash for high-entropy secrets: a secret of 32 random characters cannot
/// be found by hashing guesses, and one hash per request keeps client authentication as fast as
/// the rest of the request path (a password hash such as Argon2 would cost tens of milliseconds
/// of CPU on every token, revocation and introspection request). It is the wrong hash for
/// human-chosen secrets, which a leaked store would give up to a dictionary: so such secrets
/// are refused here. Secrets from [`generate_secret`](crate::secret::generate_secret) (256 random bits)
/// always pass.
///
/// The default asks for at least 32 characters of `VSCHAR` (RFC 6749 A.2), none of them a
/// space, with at least 10 distinct characters (so `aaaa…` or `abab…` are refused).
///
/// ```
/// use oauth_endpoints::client::SecretPolicy;
/// use oauth_endpoints::secret::generate_secret;
///
/// let policy = SecretPolicy::default();
/// assert!(policy.check(&generate_secret()).is_ok());
/// assert!(policy.check("correct horse battery staple").is_err());
/// assert!(SecretPolicy::with_min_length(16).check("x7Kq2mPw9ZrT4vBn").is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretPolicy {
    min_length: usize,
}

/// Distinct characters a secret must hold, whatever its length.
const MIN_DISTINCT: usize = 10;

impl SecretPolicy {
    /// The default minimum length, in characters.
    pub const DEFAULT_MIN_LENGTH: usize = 32;

    /// A policy asking for at least `min_length` non-space characters (at least 16: shorter
    /// secrets stored as unsalted SHA-256 are within reach of brute force).
    pub fn with_min_length(min_length: usize) -> Self {
        Self {
            min_length: min_length.max(16),
        }
    }

    /// The minimum length, in characters.
    pub fn min_length(&self) -> usize {
        self.min_length
    }

    /// Whether `secret` is strong enough.
    pub fn check(&self, secret: &str) -> Result<(), InvalidClient> {
        let invalid = |problem| {
            Err(InvalidClient {
                field: "client_secret",
                problem,
            })
        };
        if !is_vschar(secret) {
            return invalid("must be printable ASCII (RFC 6749 A.2)");
        }
        if secret.bytes().filter(|&b| b != b' ').count() < self.min_length {
            return invalid(
                "too short: a secret chosen outside the server needs at least the policy's \
                 minimum of characters (default 32); use a generated secret",
            );
        }
        let mut seen = [false; 128];
        for b in secret.bytes() {
            seen[usize::from(b & 0x7f)] = true;
        }
        if seen.iter().filter(|&&s| s).count() < MIN_DISTINCT {
            return invalid("too repetitive: use a generated secret");
        }
        Ok(())
    }
}

impl Default for SecretPolicy {
    fn default() -> Self {
        Self {
            min_length: Self::DEFAULT_MIN_LENGTH,
        }
    }
}
