//! Stateless DPoP nonces (RFC 9449 §8, §9) and the DPoP settings of a server.
//!
//! A nonce is `base64url(period || HMAC-SHA256(secret, label || period length || period))`:
//! the number of the time period it was made in (8 bytes, big-endian: `now / period length`),
//! then a MAC of it under the server's secret. Nothing is stored: every instance given the same
//! secret (and period length) makes the same nonce in the same period and accepts the others'
//! nonces. A nonce of the current period, of the previous one, or of the next one (two
//! instances' clocks may disagree by a little around the turn of a period) is accepted, so a
//! nonce lives between one and two period lengths.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::clock::UnixTime;

/// How far in the past a proof's `iat` may be by default: one minute (RFC 9449 §4.3 item 11,
/// §11.1: "a reasonable value").
pub const DEFAULT_PROOF_MAX_AGE: Duration = Duration::from_secs(60);

/// How far ahead of the server's clock a proof's `iat` may be by default: five seconds of clock
/// skew.
pub const DEFAULT_PROOF_MAX_SKEW: Duration = Duration::from_secs(5);

/// The default length of a nonce period: five minutes (a nonce lives five to ten minutes).
pub const DEFAULT_NONCE_PERIOD: Duration = Duration::from_secs(300);

/// What the MAC of a nonce covers besides the period: nonces of this library, version 1.
const LABEL: &[u8] = b"oauth-endpoints dpop nonce v1\0";

/// The length of a nonce's period number.
const PERIOD_BYTES: usize = 8;

/// The length of a nonce's MAC.
const MAC_BYTES: usize = 32;

/// The key DPoP nonces are made and checked with (RFC 9449 §8, §9): give every instance of a
/// deployment the same one, so that a nonce one instance gave out is accepted by all.
///
/// At least [`MIN_LEN`](Self::MIN_LEN) bytes, from a CSPRNG (e.g. `openssl rand 32`).
/// `Debug` never shows it.
///
/// ```
/// use oauth_endpoints::dpop::DpopNonceSecret;
///
/// assert!(DpopNonceSecret::new([7u8; 32]).is_ok());
/// assert!(DpopNonceSecret::new(b"short").is_err());
/// ```
#[derive(Clone)]
pub struct DpopNonceSecret {
    /// The keyed MAC, ready to clone per nonce.
    mac: Arc<Hmac<Sha256>>,
}

/// A nonce secret that was refused: shorter than [`DpopNonceSecret::MIN_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a DPoP nonce secret must be at least 32 bytes")]
pub struct ShortNonceSecret;

impl DpopNonceSecret {
    /// The shortest secret accepted: 32 bytes (256 bits, the strength of HMAC-SHA256).
    pub const MIN_LEN: usize = 32;

    /// The secret `bytes`, at least [`MIN_LEN`](Self::MIN_LEN) of them.
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<Self, ShortNonceSecret> {
        let bytes = bytes.as_ref();
        if bytes.len() < Self::MIN_LEN {
            return Err(ShortNonceSecret);
        }
        // HMAC takes keys of any length.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(bytes).map_err(|_| ShortNonceSecret)?;
        Ok(Self { mac: Arc::new(mac) })
    }

    /// A random secret, for a single instance: nonces it made stop being accepted when the
    /// process ends (clients then get `use_dpop_nonce` once and retry), and other instances do
    /// not accept them. Give a deployment of several instances one secret with
    /// [`new`](Self::new).
    pub fn generate() -> Self {
        // A key of HMAC-SHA256's block size (64 bytes), which it takes as it is.
        let mut bytes = [0u8; 64];
        rand::rng().fill_bytes(&mut bytes);
        let mac = <Hmac<Sha256> as KeyInit>::new(&bytes.into());
        bytes.fill(0);
        Self { mac: Arc::new(mac) }
    }

    /// The MAC of `period` (a period number) for periods of `length` seconds.
    fn mac(&self, length: u64, period: u64) -> [u8; MAC_BYTES] {
        let mut mac = (*self.mac).clone();
        mac.update(LABEL);
        mac.update(&length.to_be_bytes());
        mac.update(&period.to_be_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for DpopNonceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DpopNonceSecret(..)")
    }
}

/// How a server checks DPoP proofs: the window around its clock a proof's `iat` must fall in,
/// and whether proofs must carry a nonce it gave out (RFC 9449 §8: off by default).
///
/// Set on the server with the builder's `dpop_proof_window`, `dpop_nonce_secret` and
/// `dpop_nonce_period` (read back as `server.config().dpop`), or made here for a resource
/// server of its own.
///
/// ```
/// use std::time::Duration;
/// use oauth_endpoints::dpop::{DpopNonceSecret, DpopSettings};
///
/// let settings = DpopSettings::new()
///     .proof_window(Duration::from_secs(30), Duration::from_secs(2))
///     .require_nonces(DpopNonceSecret::new([7u8; 32]).unwrap());
/// assert!(settings.requires_nonces());
/// let nonce = settings.nonce(1_700_000_000).unwrap();
/// assert_eq!(nonce.len(), 54);
/// ```
#[derive(Clone, Debug)]
pub struct DpopSettings {
    max_age: Duration,
    max_skew: Duration,
    nonces: Option<DpopNonceSecret>,
    nonce_period: Duration,
}

impl Default for DpopSettings {
    fn default() -> Self {
        Self {
            max_age: DEFAULT_PROOF_MAX_AGE,
            max_skew: DEFAULT_PROOF_MAX_SKEW,
            nonces: None,
            nonce_period: DEFAULT_NONCE_PERIOD,
        }
    }
}

/// What a proof's `nonce` claim is, for a server that requires nonces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// A nonce of the current period.
    Current,
    /// A nonce of the previous or next period: accepted, and a fresh one is worth sending.
    Accepted,
    /// Not a nonce of this secret in an accepted period: too old, made with another secret or
    /// period length, or not a nonce at all.
    Stale,
}

impl DpopSettings {
    /// The defaults: `iat` at most [`DEFAULT_PROOF_MAX_AGE`] in the past and
    /// [`DEFAULT_PROOF_MAX_SKEW`] in the future; no nonce required.
    pub fn new() -> Self {
        Self::default()
    }

    /// How far in the past (`max_age`) and in the future (`max_skew`, the clients' clock
    /// skew) of the server's clock a proof's `iat` may be (RFC 9449 §4.3 item 11), in whole
    /// seconds. A proof's `jti` is remembered for `max_age` after its `iat`.
    #[must_use]
    pub fn proof_window(mut self, max_age: Duration, max_skew: Duration) -> Self {
        self.max_age = max_age;
        self.max_skew = max_skew;
        self
    }

    /// Requires every proof to carry a nonce made with `secret` (RFC 9449 §8, §9): a proof
    /// without one, or with a stale one, is refused with `use_dpop_nonce` and a fresh nonce in
    /// the `DPoP-Nonce` header.
    #[must_use]
    pub fn require_nonces(mut self, secret: DpopNonceSecret) -> Self {
        self.nonces = Some(secret);
        self
    }

    /// The length of a nonce period (default [`DEFAULT_NONCE_PERIOD`], at least one second):
    /// a nonce is accepted in the period it was made in, the one before and the one after, so
    /// it lives one to two periods. Every instance sharing a secret must use the same length.
    #[must_use]
    pub fn nonce_period(mut self, period: Duration) -> Self {
        self.nonce_period = period.max(Duration::from_secs(1));
        self
    }

    /// How far in the past a proof's `iat` may be.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// How far in the future a proof's `iat` may be.
    pub fn max_skew(&self) -> Duration {
        self.max_skew
    }

    /// Whether proofs must carry a nonce.
    pub fn requires_nonces(&self) -> bool {
        self.nonces.is_some()
    }

    /// The length of a nonce period.
    pub fn nonce_period_length(&self) -> Duration {
        self.nonce_period
    }

    /// A fresh nonce at `now`, for a `DPoP-Nonce` header (RFC 9449 §8.1: `1*NQCHAR`; this one
    /// is 54 base64url characters), or `None` when nonces are not required.
    pub fn nonce(&self, now: UnixTime) -> Option<String> {
        let secret = self.nonces.as_ref()?;
        let length = self.period_length();
        let period = now / length;
        let mut bytes = [0u8; PERIOD_BYTES + MAC_BYTES];
        bytes[..PERIOD_BYTES].copy_from_slice(&period.to_be_bytes());
        bytes[PERIOD_BYTES..].copy_from_slice(&secret.mac(length, period));
        Some(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Checks `nonce` at `now`; `None` when nonces are not required.
    pub(crate) fn check_nonce(&self, nonce: &str, now: UnixTime) -> Option<NonceCheck> {
        let secret = self.nonces.as_ref()?;
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return Some(NonceCheck::Stale);
        };
        let Ok(bytes) = <[u8; PERIOD_BYTES + MAC_BYTES]>::try_from(bytes.as_slice()) else {
            return Some(NonceCheck::Stale);
        };
        let (period, mac) = bytes.split_at(PERIOD_BYTES);
        let mut number = [0u8; PERIOD_BYTES];
        number.copy_from_slice(period);
        let period = u64::from_be_bytes(number);
        let length = self.period_length();
        let current = now / length;
        let window = current.saturating_sub(1)..=current.saturating_add(1);
        // The MAC first, in constant time: a forged nonce says nothing about the periods.
        let authentic: bool = secret.mac(length, period).ct_eq(mac).into();
        Some(match (authentic, period == current) {
            (true, true) => NonceCheck::Current,
            (true, false) if window.contains(&period) => NonceCheck::Accepted,
            _ => NonceCheck::Stale,
        })
    }

    fn period_length(&self) -> u64 {
        self.nonce_period.as_secs().max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = 1_700_000_000;

    fn settings(secret: u8) -> DpopSettings {
        DpopSettings::new().require_nonces(DpopNonceSecret::new([secret; 32]).unwrap())
    }

    #[test]
    fn nonces_are_accepted_in_their_period_and_the_neighbours() {
        let settings = settings(1);
        let nonce = settings.nonce(NOW).unwrap();
        assert!(
            nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(settings.check_nonce(&nonce, NOW), Some(NonceCheck::Current));
        let period = 300;
        let start = NOW - NOW % period;
        assert_eq!(
            settings.check_nonce(&nonce, start + period),
            Some(NonceCheck::Accepted)
        );
        assert_eq!(
            settings.check_nonce(&nonce, start - 1),
            Some(NonceCheck::Accepted)
        );
        assert_eq!(
            settings.check_nonce(&nonce, start + 2 * period),
            Some(NonceCheck::Stale)
        );
        assert_eq!(
            settings.check_nonce(&nonce, start - period - 1),
            Some(NonceCheck::Stale)
        );
    }

    #[test]
    fn foreign_and_forged_nonces_are_stale() {
        let ours = settings(1);
        let theirs = settings(2);
        let nonce = theirs.nonce(NOW).unwrap();
        assert_eq!(ours.check_nonce(&nonce, NOW), Some(NonceCheck::Stale));
        // Another period length: another MAC.
        let shorter = settings(1).nonce_period(Duration::from_secs(60));
        let nonce = shorter.nonce(NOW).unwrap();
        assert_eq!(ours.check_nonce(&nonce, NOW), Some(NonceCheck::Stale));
        let mut forged = ours.nonce(NOW).unwrap().into_bytes();
        forged[20] = if forged[20] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(ours.check_nonce(&forged, NOW), Some(NonceCheck::Stale));
        for junk in ["", "abc", "not base64!", &"A".repeat(54)] {
            assert_eq!(ours.check_nonce(junk, NOW), Some(NonceCheck::Stale));
        }
        assert_eq!(DpopSettings::new().check_nonce("x", NOW), None);
        assert_eq!(DpopSettings::new().nonce(NOW), None);
    }

    #[test]
    fn secrets_are_long_and_never_shown() {
        assert_eq!(
            DpopNonceSecret::new([0u8; 31]).err(),
            Some(ShortNonceSecret)
        );
        let secret = DpopNonceSecret::generate();
        assert_eq!(format!("{secret:?}"), "DpopNonceSecret(..)");
        let settings = DpopSettings::new().require_nonces(secret);
        assert!(format!("{settings:?}").contains("DpopNonceSecret(..)"));
        // Two random secrets do not accept each other's nonces.
        let other = DpopSettings::new().require_nonces(DpopNonceSecret::generate());
        let nonce = settings.nonce(NOW).unwrap();
        assert_eq!(other.check_nonce(&nonce, NOW), Some(NonceCheck::Stale));
    }
}
