//! [`Jkt`]: the key a sender-constrained token is bound to (DPoP, RFC 9449 §6).

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Serialize, Serializer};

/// The JWK SHA-256 thumbprint (RFC 7638) of the public key a token is bound to: the token's
/// confirmation, `cnf.jkt` (RFC 9449 §6). A bound token is usable only with a DPoP proof signed
/// by that key.
///
/// Kept as the 32 bytes of the SHA-256; rendered, parsed and published as base64url without
/// padding (43 characters). Not secret: it names a public key, and every resource server that
/// sees the token learns it.
///
/// ```
/// use oauth_endpoints::token::Jkt;
///
/// // RFC 7638 §3.1's example key.
/// let jkt = Jkt::from_thumbprint("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").unwrap();
/// assert_eq!(jkt.to_string(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
/// assert!(Jkt::from_thumbprint("not a thumbprint").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jkt([u8; 32]);

/// The length of a thumbprint's base64url rendering: 32 bytes, no padding.
const THUMBPRINT_CHARS: usize = 43;

/// A string that is not the base64url rendering of a SHA-256 (43 characters, no padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a JWK SHA-256 thumbprint is 43 base64url characters without padding")]
pub struct InvalidJkt;

impl Jkt {
    /// The thumbprint whose SHA-256 bytes are `bytes` (a stored one, or one just computed).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses a thumbprint's base64url rendering (43 characters, no padding), as DPoP proofs'
    /// keys and `dpop_jkt` (RFC 9449 §10) carry it. Each SHA-256 has exactly one accepted
    /// rendering: the decoder refuses padding and non-zero trailing bits.
    pub fn from_thumbprint(thumbprint: &str) -> Result<Self, InvalidJkt> {
        if thumbprint.len() != THUMBPRINT_CHARS {
            return Err(InvalidJkt);
        }
        // 43 characters carry 258 bits: room for the 32 bytes and the decoder's slack.
        let mut decoded = [0u8; 33];
        match URL_SAFE_NO_PAD.decode_slice(thumbprint, &mut decoded) {
            Ok(32) => {
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(&decoded[..32]);
                Ok(Self(bytes))
            }
            _ => Err(InvalidJkt),
        }
    }

    /// The SHA-256 bytes (for storage).
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The base64url rendering, written into `buffer`.
    fn encode<'a>(&self, buffer: &'a mut [u8; THUMBPRINT_CHARS]) -> &'a str {
        let written = URL_SAFE_NO_PAD
            .encode_slice(self.0, buffer)
            .unwrap_or_default();
        std::str::from_utf8(&buffer[..written]).unwrap_or_default()
    }
}

impl FromStr for Jkt {
    type Err = InvalidJkt;

    fn from_str(thumbprint: &str) -> Result<Self, Self::Err> {
        Self::from_thumbprint(thumbprint)
    }
}

impl fmt::Display for Jkt {
    /// The base64url rendering (43 characters), as `cnf.jkt` carries it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encode(&mut [0u8; THUMBPRINT_CHARS]))
    }
}

impl fmt::Debug for Jkt {
    /// The whole thumbprint: it is not secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jkt({self})")
    }
}

impl Serialize for Jkt {
    /// The base64url rendering, as a string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.encode(&mut [0u8; THUMBPRINT_CHARS]))
    }
}

/// The confirmation member of a bound token's introspection answer and JWT (RFC 7800 §3.1,
/// RFC 9449 §6.1, §6.2): `{"jkt": "..."}`.
#[derive(Serialize)]
pub(crate) struct Confirmation {
    pub(crate) jkt: Jkt,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thumbprint_round_trips_through_its_rendering() {
        let jkt = Jkt::from_bytes([0xfb; 32]);
        let text = jkt.to_string();
        assert_eq!(text.len(), THUMBPRINT_CHARS);
        assert_eq!(Jkt::from_thumbprint(&text), Ok(jkt));
        assert_eq!(text.parse::<Jkt>(), Ok(jkt));
        assert_eq!(format!("{jkt:?}"), format!("Jkt({text})"));
        assert_eq!(
            serde_json::to_string(&Confirmation { jkt }).unwrap(),
            format!(r#"{{"jkt":"{text}"}}"#)
        );
    }

    #[test]
    fn only_the_canonical_rendering_of_32_bytes_is_a_thumbprint() {
        // RFC 7638 §3.1's thumbprint, then altered.
        let good = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        assert!(Jkt::from_thumbprint(good).is_ok());
        for bad in [
            "",
            &good[..42],
            &format!("{good}="),
            &format!("{good}A"),
            // Standard base64's alphabet.
            "NzbLsXh8uDCcd+6MNwXF4W/7noWXFZAfHkxZsRGC9Xs",
            // Non-zero trailing bits: another rendering of the same 32 bytes.
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xt",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X ",
        ] {
            assert_eq!(Jkt::from_thumbprint(bad), Err(InvalidJkt), "{bad:?}");
        }
    }
}
