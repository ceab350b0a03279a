//! A client's DPoP key (RFC 9449 §4.2), and the proofs it signs, made with another JOSE
//! implementation than the server's: `jwt-simple` cannot put a public key as a JWK object in a
//! JWS header, so each proof is built in compact serialization (RFC 7515 §7.1) and signed with
//! `p256` (ES256) and `ed25519-dalek` (EdDSA); `jwt-simple` makes the keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::prelude::{ES256KeyPair, Ed25519KeyPair};
use serde_json::{Value, json};

/// A client's DPoP key, held by the client (here, the test) only.
pub enum Key {
    /// A P-256 key (ES256).
    Es256(p256::ecdsa::SigningKey),
    /// An Ed25519 key (EdDSA).
    EdDsa(ed25519_dalek::SigningKey),
}

impl Key {
    /// A new P-256 key.
    pub fn es256() -> Self {
        let bytes = ES256KeyPair::generate().to_bytes();
        Self::Es256(p256::ecdsa::SigningKey::from_slice(&bytes).expect("a valid key"))
    }

    /// A new Ed25519 key.
    pub fn eddsa() -> Self {
        let bytes = Ed25519KeyPair::generate().to_bytes();
        Self::EdDsa(ed25519_dalek::SigningKey::from_bytes(
            &bytes[..32].try_into().expect("a valid key"),
        ))
    }

    /// The key of RFC 8037 Appendix A.1, whose thumbprint is known (Appendix A.3).
    pub fn rfc8037() -> Self {
        let d = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .expect("a valid key");
        Self::EdDsa(ed25519_dalek::SigningKey::from_bytes(
            &d.try_into().expect("a valid key"),
        ))
    }

    /// The JWS `alg` of this key.
    pub fn alg(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::EdDsa(_) => "EdDSA",
        }
    }

    /// The public JWK (RFC 7518 §6.2.1, RFC 8037 §2).
    pub fn jwk(&self) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match self {
            Self::Es256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                json!({"kty": "EC", "crv": "P-256",
                    "x": b64(point.x().expect("a valid key")), "y": b64(point.y().expect("a valid key"))})
            }
            Self::EdDsa(key) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.verifying_key().as_bytes())})
            }
        }
    }

    /// The signature of `input` (RFC 7518 §3.4: ES256 as R || S, 64 bytes; RFC 8037 §3.1).
    pub fn signature(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Self::Es256(key) => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
            Self::EdDsa(key) => {
                use ed25519_dalek::Signer;
                key.sign(input).to_bytes().to_vec()
            }
        }
    }

    /// The header of a proof (RFC 9449 §4.2).
    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk()})
    }

    /// A proof with `claims`.
    pub fn proof(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }

    /// A compact JWS of `header` and `claims`, signed with this key (RFC 7515 §7.1).
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64_json(header), b64_json(claims));
        let signature = URL_SAFE_NO_PAD.encode(self.signature(input.as_bytes()));
        format!("{input}.{signature}")
    }
}

/// base64url of the JSON text of `value`.
pub fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}
