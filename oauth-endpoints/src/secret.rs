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
/// Used for generated client secrets.
pub fn generate_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// The bytes of a token value [`generate_token`] makes: a 16-byte selector, then the secret.
const TOKEN_BYTES: usize = 48;

/// The length of a token value [`generate_token`] makes: base64url of [`TOKEN_BYTES`].
const TOKEN_CHARS: usize = 64;

/// A new access or refresh token value: a selector (an [`Id::time_ordered`]: when the token was
/// made, to the millisecond, and 80 random bits) followed by 256 random bits, base64url without
/// padding (64 characters). The selector is not secret (the token's `iat` tells as much); it
/// makes the token's [`TokenHash`] sort by creation time, so that stores append new tokens to
/// their indexes instead of writing a page at a random place per token (BENCHMARKS.md, "The
/// SQLite store"). The 256 random bits are the secret.
pub fn generate_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    bytes[..16].copy_from_slice(Id::time_ordered().as_bytes());
    bytes[16..].copy_from_slice(&random_bytes::<32>());
    URL_SAFE_NO_PAD.encode(bytes)
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

/// What stores keep and index for a token value, in place of the value: for a value
/// [`generate_token`] made, its selector (16 bytes, not secret) followed by the first 128 bits of
/// the SHA-256 of the whole value; for any other value, its SHA-256. A leaked store reveals no
/// usable token: finding a value whose hash has given 128 bits is a second preimage of SHA-256
/// truncated to 128 bits, and the value's secret part is 256 random bits. Keys of minted tokens
/// sort by creation time (see [`generate_token`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a token value (see [`TokenHash`]).
    pub fn of(token: &str) -> Self {
        let digest = sha256(token.as_bytes());
        let mut decoded = [0u8; TOKEN_BYTES];
        if token.len() == TOKEN_CHARS
            && URL_SAFE_NO_PAD.decode_slice(token, &mut decoded) == Ok(TOKEN_BYTES)
        {
            let mut key = [0u8; 32];
            key[..16].copy_from_slice(&decoded[..16]);
            key[16..].copy_from_slice(&digest[..16]);
            return Self(key);
        }
        Self(digest)
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

    /// A new identifier that sorts by creation time: the Unix time in milliseconds in the first
    /// 6 bytes (big-endian), then 80 random bits, as UUIDv7 lays them out. Unguessable like
    /// [`random`](Self::random), and it tells when it was made, to the millisecond.
    ///
    /// Grants get these ids: an index on them then grows at its end, so the SQL stores write
    /// about one index page per batch of new grants instead of one per grant (BENCHMARKS.md,
    /// "The SQLite store").
    pub fn time_ordered() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis());
        let mut bytes: [u8; 16] = random_bytes();
        let time = u64::try_from(millis).unwrap_or(u64::MAX).to_be_bytes();
        bytes[..6].copy_from_slice(&time[2..]);
        Self(bytes)
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
    fn minted_tokens_hash_to_keys_that_sort_by_creation() {
        let first = generate_token();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = generate_token();
        assert_eq!(first.len(), TOKEN_CHARS);
        assert!(TokenHash::of(&first) < TokenHash::of(&second));
        // The key holds the selector and 128 bits of the value's SHA-256: another secret after
        // the same selector is another key.
        let mut forged = first.clone();
        forged.replace_range(
            40..44,
            if &first[40..44] == "AAAA" {
                "BBBB"
            } else {
                "AAAA"
            },
        );
        assert_ne!(TokenHash::of(&forged), TokenHash::of(&first));
        assert_eq!(
            &TokenHash::of(&forged).as_bytes()[..16],
            &TokenHash::of(&first).as_bytes()[..16]
        );
        // Any other value: its SHA-256.
        for other in [
            "legacy-43-char-token-value-000000000000000",
            "x",
            &"!".repeat(64),
        ] {
            assert_eq!(TokenHash::of(other).as_bytes(), &sha256(other.as_bytes()));
        }
    }

    #[test]
    fn time_ordered_ids_sort_by_creation_and_differ() {
        let first = Id::time_ordered();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (second, third) = (Id::time_ordered(), Id::time_ordered());
        assert!(first.as_bytes() < second.as_bytes());
        assert_ne!(
            second, third,
            "80 random bits tell ids of one millisecond apart"
        );
    }

    #[test]
    fn ids_render_as_22_characters() {
        assert_eq!(Id::random().to_string().len(), 22);
        assert_eq!(Id::time_ordered().to_string().len(), 22);
    }
}
