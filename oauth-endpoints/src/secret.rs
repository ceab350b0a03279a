//! Hashes of secrets and tokens, constant-time comparison, and random values from a CSPRNG.
//!
//! Client secrets and tokens are long random values, so one SHA-256 is the right hash: a slow
//! password hash would cost milliseconds per request and protect nothing more.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

fn sha256(value: &[u8]) -> [u8; 32] {
    Sha256::digest(value).into()
}

/// A random value of `N` bytes from the thread's CSPRNG.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A new opaque secret value: 256 bits from a CSPRNG, base64url without padding (43 characters).
/// Used for tokens and generated client secrets.
pub fn generate_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// The SHA-256 of a client secret. The secret itself is never stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Hashes a secret.
    pub fn of(secret: &str) -> Self {
        Self(sha256(secret.as_bytes()))
    }

    /// A stored hash.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash's bytes (for storage).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `secret` hashes to this value, compared in constant time.
    pub fn verify(&self, secret: &str) -> bool {
        self.matches(&Self::of(secret))
    }

    /// Whether two hashes are equal, compared in constant time.
    pub fn matches(&self, other: &SecretHash) -> bool {
        other.0.ct_eq(&self.0).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

/// The SHA-256 of a token value: what stores keep and index. A leaked store reveals no usable
/// token.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a token value.
    pub fn of(token: &str) -> Self {
        Self(sha256(token.as_bytes()))
    }

    /// A stored hash.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash's bytes (for storage).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    /// The first bytes only: enough to correlate log lines, useless to an attacker.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TokenHash({:02x}{:02x}{:02x}{:02x}..)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// A 128-bit random identifier (token `jti`, grant id), rendered base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id([u8; 16]);

impl Id {
    /// A new random identifier.
    pub fn random() -> Self {
        Self(random_bytes())
    }

    /// A stored identifier.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The identifier's bytes (for storage).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl Id {
    /// The base64url rendering, written into `buffer`.
    pub(crate) fn encode<'a>(&self, buffer: &'a mut [u8; 22]) -> &'a str {
        let written = URL_SAFE_NO_PAD
            .encode_slice(self.0, buffer)
            .unwrap_or_default();
        std::str::from_utf8(&buffer[..written]).unwrap_or_default()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encode(&mut [0u8; 22]))
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_256_bits_base64url() {
        let secret = generate_secret();
        assert_eq!(secret.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(&secret).unwrap().len(), 32);
        assert_ne!(secret, generate_secret());
    }

    #[test]
    fn secret_hash_verifies_only_the_secret() {
        let hash = SecretHash::of("s3cret");
        assert!(hash.verify("s3cret"));
        assert!(!hash.verify("s3cret "));
        assert_eq!(format!("{hash:?}"), "SecretHash(<redacted>)");
    }

    #[test]
    fn ids_render_as_22_characters() {
        assert_eq!(Id::random().to_string().len(), 22);
    }
}
