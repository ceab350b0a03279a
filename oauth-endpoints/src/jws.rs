//! Reading a JWS in compact serialization (RFC 7515 §7.1) before its own checks: what client
//! assertions (RFC 7523), DPoP proofs (RFC 9449) and a trusted issuer's tokens share. Each
//! caller answers a `None` with its own error.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::clock::UnixTime;
use crate::keys::SigningAlgorithm;

/// The header, claims and signature segments of a JWS in compact serialization: three non-empty
/// base64url segments (RFC 7515 §7.1), so no JWE (five), no unsecured JWT (an empty signature),
/// no JSON serialization.
pub(crate) fn segments(jws: &str) -> Option<(&str, &str, &str)> {
    let mut segments = jws.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    let base64url = |segment: &str| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (base64url(header) && base64url(claims) && base64url(signature))
        .then_some((header, claims, signature))
}

/// A base64url segment holding a JSON object (RFC 7515 §4, RFC 7519 §7.2).
pub(crate) fn json_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A NumericDate (RFC 7519 §2): a non-negative JSON number of seconds, fractions dropped.
pub(crate) fn numeric_date(value: &Value) -> Option<UnixTime> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map(|seconds| seconds as u64)
    })
}

/// A JOSE `typ` without its optional `application/` prefix (RFC 7515 §4.1.9: the prefix may be
/// left out), to compare case-insensitively.
pub(crate) fn media_subtype(typ: &str) -> &str {
    typ.get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..])
}

/// The allow-listed signature algorithm named `name` (exact, case-sensitive, RFC 7515 §4.1.1):
/// ES256, EdDSA, RS256 or PS256; never `none`, never an HMAC, whose key would be a shared
/// secret (RFC 8725 §3.1).
pub(crate) fn allowed_algorithm(name: &str) -> Option<SigningAlgorithm> {
    match name {
        "ES256" => Some(SigningAlgorithm::Es256),
        "EdDSA" => Some(SigningAlgorithm::EdDsa),
        "RS256" => Some(SigningAlgorithm::Rs256),
        "PS256" => Some(SigningAlgorithm::Ps256),
        _ => None,
    }
}

/// Members only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037
/// §2): a public JWK has none.
pub(crate) const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What kind of public key a JWK holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// EC P-256 (RFC 7518 §6.2), for ES256.
    P256,
    /// OKP Ed25519 (RFC 8037 §2), for EdDSA.
    Ed25519,
    /// RSA (RFC 7518 §6.3), for RS256 and PS256.
    Rsa,
}

impl KeyKind {
    /// The kind a JWK's `kty` and `crv` name, if it is one of these.
    pub(crate) fn of(kty: Option<&str>, crv: Option<&str>) -> Option<Self> {
        match (kty, crv) {
            (Some("EC"), Some("P-256")) => Some(Self::P256),
            (Some("OKP"), Some("Ed25519")) => Some(Self::Ed25519),
            (Some("RSA"), _) => Some(Self::Rsa),
            _ => None,
        }
    }

    /// Whether a key of this kind signs with `algorithm`.
    pub(crate) fn fits(self, algorithm: SigningAlgorithm) -> bool {
        matches!(
            (self, algorithm),
            (Self::P256, SigningAlgorithm::Es256)
                | (Self::Ed25519, SigningAlgorithm::EdDsa)
                | (Self::Rsa, SigningAlgorithm::Rs256 | SigningAlgorithm::Ps256)
        )
    }
}
