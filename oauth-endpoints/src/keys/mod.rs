//! Signing keys and the JWKS (RFC 7517): the key set the server signs JWT access tokens and
//! signed introspection answers with, and publishes for verifiers.
//!
//! JOSE is [`jsonwebtoken`] on its pure-Rust RustCrypto backend (`p256`, `ed25519-dalek`,
//! `rsa`): maintained, the most used JOSE crate of the ecosystem, every algorithm offered here
//! (ES256, EdDSA, RS256, PS256), no C toolchain. Nothing of JOSE is written by hand here.

mod signing_key;

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use signing_key::{InvalidKey, SigningAlgorithm, SigningKey};

/// The server's keys: one active signing key, and older ones kept so that what they signed
/// still verifies until it expires (rotation). Every key is published in the JWKS.
///
/// ```
/// use oauth_endpoints::keys::{KeySet, SigningAlgorithm, SigningKey};
///
/// let old = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
/// let new = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
/// let keys = KeySet::new(new.clone()).with_previous(old.clone());
/// assert_eq!(keys.active().kid(), new.kid());
/// assert_eq!(keys.jwks()["keys"].as_array().unwrap().len(), 2);
/// ```
#[derive(Clone)]
pub struct KeySet(Arc<Inner>);

struct Inner {
    active: SigningKey,
    previous: Vec<SigningKey>,
    /// The public keys by `kid`, ready to verify.
    verifiers: Vec<(String, SigningAlgorithm, DecodingKey)>,
    jwks: serde_json::Value,
}

/// Why a JWT was not accepted. Callers answer the same whatever the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the JWT is not valid: {0}")]
pub struct InvalidJwt(pub(crate) &'static str);

impl KeySet {
    /// A key set signing with `active`.
    pub fn new(active: SigningKey) -> Self {
        Self::build(active, Vec::new())
    }

    /// Keeps `key` for verification only: what it signed still verifies, and it stays in the
    /// JWKS. Drop it once the tokens it signed have expired.
    #[must_use]
    pub fn with_previous(self, key: SigningKey) -> Self {
        let mut previous = self.0.previous.clone();
        if key.kid() != self.0.active.kid() && previous.iter().all(|p| p.kid() != key.kid()) {
            previous.push(key);
        }
        Self::build(self.0.active.clone(), previous)
    }

    fn build(active: SigningKey, previous: Vec<SigningKey>) -> Self {
        let all = || std::iter::once(&active).chain(previous.iter());
        let verifiers = all()
            .filter_map(|key| {
                let decoding = DecodingKey::from_jwk(key.public_jwk()).ok()?;
                Some((key.kid().to_owned(), key.algorithm(), decoding))
            })
            .collect();
        let set = JwkSet {
            keys: all().map(|key| key.public_jwk().clone()).collect(),
        };
        let jwks = serde_json::to_value(&set).unwrap_or_default();
        Self(Arc::new(Inner {
            active,
            previous,
            verifiers,
            jwks,
        }))
    }

    /// The key new signatures use.
    pub fn active(&self) -> &SigningKey {
        &self.0.active
    }

    /// The JWK Set document (RFC 7517 §5): every key's public half.
    pub fn jwks(&self) -> &serde_json::Value {
        &self.0.jwks
    }

    /// The algorithms of the keys, active first, each once.
    pub fn algorithms(&self) -> Vec<SigningAlgorithm> {
        let mut algorithms = vec![self.0.active.algorithm()];
        for key in &self.0.previous {
            if !algorithms.contains(&key.algorithm()) {
                algorithms.push(key.algorithm());
            }
        }
        algorithms
    }

    /// Signs `claims` with the active key, with `typ` in the header (RFC 8725 §3.11: explicit
    /// typing) and the key's `kid`.
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> Result<String, InvalidKey> {
        let key = &self.0.active;
        let mut header = Header::new(key.algorithm().jose());
        header.typ = Some(typ.to_owned());
        header.kid = Some(key.kid().to_owned());
        jsonwebtoken::encode(&header, claims, key.encoding())
            .map_err(|_| InvalidKey("signing failed"))
    }

    /// Whether the header of the compact JWS `token` names one of this set's keys by `kid`,
    /// with that key's `alg`, and has type `typ`: what a JWT this set signed carries. The
    /// signature is not checked (see [`verify`](Self::verify)): use it where the token's bytes
    /// are authenticated otherwise, as introspection does by the stored hash of every issued
    /// value.
    pub fn names_signer(&self, token: &str, typ: &str) -> bool {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return false;
        };
        header
            .typ
            .as_deref()
            .is_some_and(|found| found.eq_ignore_ascii_case(typ))
            && header.kid.is_some_and(|kid| {
                self.0
                    .verifiers
                    .iter()
                    .any(|(known, algorithm, _)| *known == kid && algorithm.jose() == header.alg)
            })
    }

    /// Verifies a JWT this key set signed: the `kid` names one of its keys, the `alg` is that
    /// key's, the header's `typ` is `typ`, the signature holds, and `exp` has not passed at
    /// `now` (no leeway). Other claims are the caller's to check.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        now: u64,
    ) -> Result<T, InvalidJwt> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| InvalidJwt("malformed"))?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|found| found.eq_ignore_ascii_case(typ))
        {
            return Err(InvalidJwt("wrong typ"));
        }
        let kid = header.kid.ok_or(InvalidJwt("no kid"))?;
        let (_, algorithm, key) = self
            .0
            .verifiers
            .iter()
            .find(|(known, _, _)| *known == kid)
            .ok_or(InvalidJwt("unknown kid"))?;
        if header.alg != algorithm.jose() {
            return Err(InvalidJwt("wrong alg"));
        }
        let mut validation = Validation::new(algorithm.jose());
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims: serde_json::Value = jsonwebtoken::decode(token, key, &validation)
            .map_err(|_| InvalidJwt("bad signature"))?
            .claims;
        match claims.get("exp").and_then(serde_json::Value::as_u64) {
            Some(exp) if now < exp => {}
            _ => return Err(InvalidJwt("expired or no exp")),
        }
        serde_json::from_value(claims).map_err(|_| InvalidJwt("unexpected claims"))
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("active", &self.0.active)
            .field("previous", &self.0.previous)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "alice".into(),
            exp,
        }
    }

    #[test]
    fn what_a_key_signs_verifies_with_the_set_and_after_rotation() {
        for algorithm in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let old = SigningKey::generate(algorithm).unwrap_or_else(|e| panic!("{e}"));
            let keys = KeySet::new(old.clone());
            let token = keys.sign("at+jwt", &claims(100)).unwrap_or_default();
            assert_eq!(keys.verify::<Claims>(&token, "at+jwt", 99), Ok(claims(100)));
            // Rotation: a new active key; the old one's tokens still verify.
            let rotated = KeySet::new(
                SigningKey::generate(SigningAlgorithm::Es256).unwrap_or_else(|e| panic!("{e}")),
            )
            .with_previous(old.clone());
            assert_eq!(
                rotated.verify::<Claims>(&token, "at+jwt", 99),
                Ok(claims(100))
            );
            let newer = rotated.sign("at+jwt", &claims(100)).unwrap_or_default();
            let header = jsonwebtoken::decode_header(&newer).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(header.kid.as_deref(), Some(rotated.active().kid()));
            // Dropped from the set: no longer verifies.
            let without = KeySet::new(rotated.active().clone());
            assert_eq!(
                without.verify::<Claims>(&token, "at+jwt", 99),
                Err(InvalidJwt("unknown kid"))
            );
        }
    }

    #[test]
    fn typ_expiry_and_tampering_are_refused() {
        let keys = KeySet::new(
            SigningKey::generate(SigningAlgorithm::Es256).unwrap_or_else(|e| panic!("{e}")),
        );
        let token = keys.sign("at+jwt", &claims(100)).unwrap_or_default();
        assert!(keys.verify::<Claims>(&token, "jwt", 99).is_err());
        assert!(keys.verify::<Claims>(&token, "at+jwt", 100).is_err());
        let mut tampered = token.clone();
        tampered.insert(token.find('.').map_or(0, |i| i + 3), 'A');
        assert!(keys.verify::<Claims>(&tampered, "at+jwt", 99).is_err());
        assert!(keys.verify::<Claims>("not.a.jwt", "at+jwt", 99).is_err());
    }

    #[test]
    fn private_jwks_are_read_and_checked() {
        // RFC 8037 Appendix A.1 and A.2.
        let okp = r#"{"kty":"OKP","crv":"Ed25519",
            "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
            "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let key = SigningKey::from_jwk(okp).unwrap_or_else(|e| panic!("{e}"));
        let token = KeySet::new(key)
            .sign("at+jwt", &claims(100))
            .unwrap_or_default();
        assert!(!token.is_empty());
        for bad in [
            // Another public key than `d`'s.
            okp.replace("11qYAYKx", "21qYAYKx"),
            // No private part.
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#
                .to_owned(),
            okp.replace(r#""kty":"OKP""#, r#""kty":"OKP","alg":"ES256""#),
            r#"{"kty":"oct","k":"c2VjcmV0"}"#.to_owned(),
            "not json".to_owned(),
        ] {
            assert!(SigningKey::from_jwk(&bad).is_err(), "{bad}");
        }
        // A P-256 key: read with its own public members, refused with another key's.
        let d = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI";
        let read = SigningKey::from_jwk(&format!(r#"{{"kty":"EC","crv":"P-256","d":"{d}"}}"#))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.algorithm(), SigningAlgorithm::Es256);
        let own = serde_json::to_value(read.public_jwk()).unwrap_or_default();
        let with = |x: &serde_json::Value, y: &serde_json::Value| {
            format!(r#"{{"kty":"EC","crv":"P-256","d":"{d}","x":{x},"y":{y}}}"#)
        };
        let again =
            SigningKey::from_jwk(&with(&own["x"], &own["y"])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.kid(), read.kid());
        let other = SigningKey::generate(SigningAlgorithm::Es256).unwrap_or_else(|e| panic!("{e}"));
        let other = serde_json::to_value(other.public_jwk()).unwrap_or_default();
        assert!(SigningKey::from_jwk(&with(&other["x"], &other["y"])).is_err());
    }

    #[test]
    fn the_kid_is_the_thumbprint_and_debug_hides_the_key() {
        let key = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap_or_else(|e| panic!("{e}"));
        let jwk = serde_json::to_value(key.public_jwk()).unwrap_or_default();
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(jwk["crv"], "Ed25519");
        assert!(jwk.get("d").is_none());
        assert_eq!(key.kid().len(), 43);
        let debug = format!("{key:?}");
        assert!(
            debug.contains(key.kid()) && !debug.contains("encoding"),
            "{debug}"
        );
    }
}
