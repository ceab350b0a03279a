//! [`ClientKeys`]: a client's public keys (RFC 7591 §2 `jwks`), checked when the client is built
//! and kept ready to verify its `private_key_jwt` assertions (RFC 7523 §2.2).

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use serde_json::{Map, Value};

use crate::jws::{KeyKind, PRIVATE_MEMBERS, allowed_algorithm};
use crate::keys::SigningAlgorithm;

/// The signature algorithms a client may sign its assertions with (RFC 8725 §3.1: an explicit
/// allow-list; never `none`, never an HMAC, whose key would be a shared secret), by their JWS
/// `alg` names: what the metadata's `*_auth_signing_alg_values_supported` publish.
pub const ASSERTION_SIGNING_ALGORITHMS: &[&str] = &["ES256", "EdDSA", "RS256", "PS256"];

/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3: "A key of size 2048 bits or
/// larger MUST be used").
const MIN_RSA_BITS: usize = 2048;

/// One registered public key, ready to verify with.
#[derive(Clone)]
pub(crate) struct ClientKey {
    kid: Option<String>,
    kind: KeyKind,
    /// The key's own `alg`, if it declares one (RFC 7517 §4.4): then only that one.
    algorithm: Option<SigningAlgorithm>,
    decoding: DecodingKey,
}

impl ClientKey {
    /// Whether this key may verify a signature made with `algorithm`.
    pub(crate) fn fits(&self, algorithm: SigningAlgorithm) -> bool {
        self.kind.fits(algorithm) && self.algorithm.is_none_or(|own| own == algorithm)
    }

    /// The key, for `jsonwebtoken`.
    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

/// A client's JWK Set (RFC 7517 §5), as registered: its text (compact JSON) and its keys.
/// Two sets are equal when their texts are.
#[derive(Clone)]
pub(crate) struct ClientKeys {
    text: Arc<str>,
    keys: Arc<[ClientKey]>,
}

impl ClientKeys {
    /// Reads and checks a JWK Set: a JSON object whose `keys` is a non-empty array of public
    /// keys, each an EC P-256, OKP Ed25519 or RSA (2048 bits or more) key usable with an
    /// allow-listed algorithm ([`ASSERTION_SIGNING_ALGORITHMS`]): no private member (`d`, ...),
    /// no symmetric key, `use` (if present) `sig`, `key_ops` (if present) holding `verify`,
    /// `alg` (if present) allow-listed and fitting the key. With several keys, each has a
    /// `kid` of its own, so that an assertion's `kid` names exactly one (RFC 7517 §4.5). The
    /// error is the rule broken.
    pub(crate) fn parse(text: &str) -> Result<Self, &'static str> {
        let value: Value =
            serde_json::from_str(text).map_err(|_| "must be a JSON object (a JWK Set)")?;
        let Some(Value::Array(entries)) = value.get("keys") else {
            return Err("must be a JWK Set: a JSON object with a `keys` array (RFC 7517 §5)");
        };
        if entries.is_empty() {
            return Err("must hold at least one key");
        }
        let mut keys = Vec::with_capacity(entries.len());
        for entry in entries {
            keys.push(key(entry)?);
        }
        if keys.len() > 1 {
            let mut kids = Vec::with_capacity(keys.len());
            for key in &keys {
                let Some(kid) = key.kid.as_deref() else {
                    return Err("each key of a set of several must have a `kid`");
                };
                if kids.contains(&kid) {
                    return Err("two keys have the same `kid`");
                }
                kids.push(kid);
            }
        }
        Ok(Self {
            // Compact, so that a set read back from a store equals the one saved.
            text: Arc::from(value.to_string()),
            keys: Arc::from(keys),
        })
    }

    /// The JWK Set as JSON text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The key an assertion signed with `algorithm` names: the one whose `kid` is `kid`, or,
    /// without a `kid`, the only key; `None` if there is none, or it does not fit `algorithm`.
    pub(crate) fn select(
        &self,
        kid: Option<&str>,
        algorithm: SigningAlgorithm,
    ) -> Option<&ClientKey> {
        let key = match kid {
            Some(kid) => self.keys.iter().find(|key| key.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }?;
        key.fits(algorithm).then_some(key)
    }

    /// How many keys the set holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

impl PartialEq for ClientKeys {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ClientKeys {}

impl fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<Option<&str>> = self.keys.iter().map(|key| key.kid.as_deref()).collect();
        f.debug_struct("ClientKeys").field("kids", &kids).finish()
    }
}

/// One key of the set, checked.
fn key(entry: &Value) -> Result<ClientKey, &'static str> {
    let Value::Object(members) = entry else {
        return Err("each key must be a JSON object (a JWK, RFC 7517 §4)");
    };
    if PRIVATE_MEMBERS
        .iter()
        .any(|member| members.contains_key(*member))
    {
        return Err(
            "must hold public keys only: a key has a private or symmetric member \
                    (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth` or `k`)",
        );
    }
    let text = |name: &str| match members.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.as_str())),
        Some(_) => Err("a key member that must be a string is not"),
    };
    let Some(kind) = KeyKind::of(text("kty")?, text("crv")?) else {
        return Err("each key must be an EC P-256, OKP Ed25519 or RSA public key (`kty`, `crv`)");
    };
    check_material(kind, members)?;
    let algorithm = match text("alg")? {
        None => None,
        Some(name) => match allowed_algorithm(name) {
            Some(algorithm) if kind.fits(algorithm) => Some(algorithm),
            Some(_) => return Err("a key's `alg` does not fit the key"),
            None => {
                return Err("a key's `alg` is not one of the accepted ES256, EdDSA, RS256, PS256");
            }
        },
    };
    if text("use")?.is_some_and(|usage| usage != "sig") {
        return Err("a key's `use` must be `sig`");
    }
    if let Some(operations) = members.get("key_ops") {
        let verifies = operations
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op == "verify"));
        if !verifies {
            return Err("a key's `key_ops` must include `verify`");
        }
    }
    let kid = text("kid")?.map(str::to_owned);
    let jwk: Jwk = serde_json::from_value(entry.clone()).map_err(|_| "a key is not a valid JWK")?;
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| "a key is not a valid JWK")?;
    Ok(ClientKey {
        kid,
        kind,
        algorithm,
        decoding,
    })
}

/// Checks the key material itself: a point on P-256 or Ed25519, or an RSA modulus of at least
/// [`MIN_RSA_BITS`] bits.
fn check_material(kind: KeyKind, members: &Map<String, Value>) -> Result<(), &'static str> {
    let bytes = |name: &str| {
        members
            .get(name)
            .and_then(Value::as_str)
            .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
            .ok_or("a key's coordinates or modulus are not base64url")
    };
    match kind {
        KeyKind::P256 => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("a P-256 key's `x` and `y` must be 32 bytes each");
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            p256::PublicKey::from_sec1_bytes(&point)
                .map_err(|_| "a P-256 key is not a point on the curve")?;
        }
        KeyKind::Ed25519 => {
            let x: [u8; 32] = bytes("x")?
                .try_into()
                .map_err(|_| "an Ed25519 key's `x` must be 32 bytes")?;
            ed25519_dalek::VerifyingKey::from_bytes(&x)
                .map_err(|_| "an Ed25519 key is not a valid public key")?;
        }
        KeyKind::Rsa => {
            let modulus = bytes("n")?;
            let exponent = bytes("e")?;
            let significant = modulus.iter().skip_while(|&&b| b == 0).count();
            if significant * 8 < MIN_RSA_BITS || exponent.is_empty() {
                return Err("an RSA key must have a modulus of 2048 bits or more");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;

    fn public_jwk(algorithm: SigningAlgorithm) -> Value {
        let key = SigningKey::generate(algorithm).unwrap();
        serde_json::to_value(key.public_jwk()).unwrap()
    }

    fn set(keys: &[Value]) -> String {
        serde_json::json!({ "keys": keys }).to_string()
    }

    #[test]
    fn public_p256_and_ed25519_keys_are_read_and_selected_by_kid() {
        let (ec, ed) = (
            public_jwk(SigningAlgorithm::Es256),
            public_jwk(SigningAlgorithm::EdDsa),
        );
        let keys = ClientKeys::parse(&set(&[ec.clone(), ed.clone()])).unwrap();
        assert_eq!(keys.len(), 2);
        let ec_kid = ec["kid"].as_str().unwrap();
        assert!(keys.select(Some(ec_kid), SigningAlgorithm::Es256).is_some());
        // The kid names a P-256 key: not for EdDSA; no kid with two keys names none.
        assert!(keys.select(Some(ec_kid), SigningAlgorithm::EdDsa).is_none());
        assert!(keys.select(None, SigningAlgorithm::Es256).is_none());
        assert!(
            keys.select(Some("other"), SigningAlgorithm::Es256)
                .is_none()
        );
        // One key: chosen without a kid.
        let one = ClientKeys::parse(&set(&[ed])).unwrap();
        assert!(one.select(None, SigningAlgorithm::EdDsa).is_some());
        assert!(one.select(None, SigningAlgorithm::Rs256).is_none());
    }

    #[test]
    fn private_symmetric_foreign_and_ambiguous_keys_are_refused() {
        let mut private = public_jwk(SigningAlgorithm::Es256);
        private["d"] = "AAAA".into();
        assert!(ClientKeys::parse(&set(&[private])).is_err());
        let oct = serde_json::json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(ClientKeys::parse(&set(&[oct])).is_err());
        let mut p384 = public_jwk(SigningAlgorithm::Es256);
        p384["crv"] = "P-384".into();
        assert!(ClientKeys::parse(&set(&[p384])).is_err());
        let mut hs = public_jwk(SigningAlgorithm::Es256);
        hs["alg"] = "HS256".into();
        assert!(ClientKeys::parse(&set(&[hs])).is_err());
        let mut encryption = public_jwk(SigningAlgorithm::EdDsa);
        encryption["use"] = "enc".into();
        assert!(ClientKeys::parse(&set(&[encryption])).is_err());
        let mut off_curve = public_jwk(SigningAlgorithm::Es256);
        off_curve["y"] = URL_SAFE_NO_PAD.encode([1u8; 32]).into();
        assert!(ClientKeys::parse(&set(&[off_curve])).is_err());
        let short_rsa = serde_json::json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128]), "e": "AQAB"});
        assert!(ClientKeys::parse(&set(&[short_rsa])).is_err());
        let mut a = public_jwk(SigningAlgorithm::Es256);
        let mut b = public_jwk(SigningAlgorithm::Es256);
        a.as_object_mut().unwrap().remove("kid");
        b.as_object_mut().unwrap().remove("kid");
        assert!(ClientKeys::parse(&set(&[a, b])).is_err());
        assert!(ClientKeys::parse(&set(&[])).is_err());
        assert!(ClientKeys::parse("[]").is_err());
        assert!(ClientKeys::parse("not json").is_err());
    }

    #[test]
    fn the_text_is_compact_and_decides_equality() {
        let ed = public_jwk(SigningAlgorithm::EdDsa);
        let spaced = serde_json::to_string_pretty(&serde_json::json!({ "keys": [ed] })).unwrap();
        let a = ClientKeys::parse(&spaced).unwrap();
        let b = ClientKeys::parse(a.text()).unwrap();
        assert_eq!(a, b);
        assert!(!a.text().contains('\n'));
    }
}
