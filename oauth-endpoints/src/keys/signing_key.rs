//! [`SigningKey`]: one private key the server signs with, and its public JWK.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, EncodingKey};
use rand::RngCore;

/// A signing algorithm the server offers (RFC 7518 §3, RFC 8037 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// ECDSA with P-256 and SHA-256: the default (compact keys and signatures).
    Es256,
    /// EdDSA with Ed25519.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256, for verifiers that know nothing else.
    Rs256,
    /// RSASSA-PSS with SHA-256.
    Ps256,
}

impl SigningAlgorithm {
    /// The JWS `alg` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }

    pub(crate) const fn jose(self) -> Algorithm {
        match self {
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
            Self::Rs256 => Algorithm::RS256,
            Self::Ps256 => Algorithm::PS256,
        }
    }
}

/// A key that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing key: {0}")]
pub struct InvalidKey(pub(crate) &'static str);

/// A private signing key with its public JWK, whose `kid` is the key's RFC 7638 thumbprint
/// (SHA-256): the same key always gets the same `kid`, on every instance.
///
/// `Debug` shows the algorithm and the `kid`, never the private key.
#[derive(Clone)]
pub struct SigningKey {
    algorithm: SigningAlgorithm,
    encoding: EncodingKey,
    public: Jwk,
    kid: String,
}

impl SigningKey {
    /// A new random key, for development: the tokens it signs stop verifying when the process
    /// ends, and other instances do not know it; load a key with [`from_pem`](Self::from_pem)
    /// in a deployment. `Es256` and `EdDsa` only (RSA keys are slow to make: load one).
    pub fn generate(algorithm: SigningAlgorithm) -> Result<Self, InvalidKey> {
        let der = match algorithm {
            SigningAlgorithm::Es256 => loop {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                // A value outside the curve's order (about 2^-128 of them) is drawn again.
                if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                    break secret
                        .to_pkcs8_der()
                        .map_err(|_| InvalidKey("cannot encode a P-256 key"))?;
                }
            },
            SigningAlgorithm::EdDsa => {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                ed25519_dalek::SigningKey::from_bytes(&bytes)
                    .to_pkcs8_der()
                    .map_err(|_| InvalidKey("cannot encode an Ed25519 key"))?
            }
            SigningAlgorithm::Rs256 | SigningAlgorithm::Ps256 => {
                return Err(InvalidKey("RSA keys are loaded from PEM, not generated"));
            }
        };
        let pem = pkcs8_pem(der.as_bytes());
        Self::from_pem(&pem, Some(algorithm))
    }

    /// Reads a private key in PEM: PKCS#8 (`BEGIN PRIVATE KEY`) for P-256 (`ES256`) and Ed25519
    /// (`EdDSA`), SEC 1 (`BEGIN EC PRIVATE KEY`) for P-256, PKCS#1 or PKCS#8 for RSA (`RS256`
    /// unless `algorithm` says `Ps256`). `algorithm` may be left out; when given, it must fit
    /// the key.
    pub fn from_pem(pem: &str, algorithm: Option<SigningAlgorithm>) -> Result<Self, InvalidKey> {
        let p256 = p256::SecretKey::from_pkcs8_pem(pem)
            .ok()
            .or_else(|| p256::SecretKey::from_sec1_pem(pem).ok());
        let (found, encoding) = if let Some(secret) = p256 {
            let der = secret
                .to_pkcs8_der()
                .map_err(|_| InvalidKey("cannot encode a P-256 key"))?;
            (
                SigningAlgorithm::Es256,
                EncodingKey::from_ec_der(der.as_bytes()),
            )
        } else if let Ok(ed) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            let der = ed
                .to_pkcs8_der()
                .map_err(|_| InvalidKey("cannot encode an Ed25519 key"))?;
            if algorithm.is_some_and(|wanted| wanted != SigningAlgorithm::EdDsa) {
                return Err(InvalidKey("the key does not fit the algorithm asked for"));
            }
            // jsonwebtoken derives no JWK from an Ed25519 key (it panics): RFC 8037 §2 by hand
            // is two members.
            let public = Jwk {
                common: CommonParameters {
                    key_algorithm: Some(KeyAlgorithm::EdDSA),
                    ..CommonParameters::default()
                },
                algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(ed.verifying_key().as_bytes()),
                }),
            };
            return Ok(Self::with_public(
                SigningAlgorithm::EdDsa,
                EncodingKey::from_ed_der(der.as_bytes()),
                public,
            ));
        } else if let Ok(rsa) = EncodingKey::from_rsa_pem(pem.as_bytes()) {
            let algorithm = match algorithm {
                Some(SigningAlgorithm::Ps256) => SigningAlgorithm::Ps256,
                _ => SigningAlgorithm::Rs256,
            };
            (algorithm, rsa)
        } else {
            return Err(InvalidKey(
                "not a PEM private key of P-256, Ed25519 or RSA (PKCS#8, SEC 1 or PKCS#1)",
            ));
        };
        if algorithm.is_some_and(|wanted| wanted != found) {
            return Err(InvalidKey("the key does not fit the algorithm asked for"));
        }
        Self::new(found, encoding)
    }

    /// Reads a private key in JWK form (RFC 7517 §4, RFC 7518 §6.2.2, RFC 8037 §2): an `EC`
    /// key on `P-256` (`ES256`) or an `OKP` key on `Ed25519` (`EdDSA`), with its private `d`.
    /// The public members, when present, must be those of `d`; an `alg`, when present, must
    /// fit. RSA keys are read from PEM ([`from_pem`](Self::from_pem)).
    ///
    /// ```
    /// use oauth_endpoints::keys::{SigningAlgorithm, SigningKey};
    ///
    /// // RFC 8037 Appendix A.1.
    /// let key = SigningKey::from_jwk(
    ///     r#"{"kty":"OKP","crv":"Ed25519",
    ///         "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    ///         "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
    /// )
    /// .unwrap();
    /// assert_eq!(key.algorithm(), SigningAlgorithm::EdDsa);
    /// // RFC 8037 Appendix A.3: the thumbprint of that key.
    /// assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    /// ```
    pub fn from_jwk(jwk: &str) -> Result<Self, InvalidKey> {
        #[derive(serde::Deserialize)]
        struct PrivateJwk {
            kty: String,
            crv: Option<String>,
            d: Option<String>,
            x: Option<String>,
            y: Option<String>,
            alg: Option<String>,
        }
        let jwk: PrivateJwk =
            serde_json::from_str(jwk).map_err(|_| InvalidKey("not a JSON Web Key"))?;
        let d = jwk
            .d
            .as_deref()
            .ok_or(InvalidKey("the JWK has no private `d`"))
            .and_then(|d| {
                URL_SAFE_NO_PAD
                    .decode(d)
                    .map_err(|_| InvalidKey("`d` is not base64url"))
            })?;
        let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("EC", Some("P-256")) => {
                let secret = p256::SecretKey::from_slice(&d)
                    .map_err(|_| InvalidKey("`d` is not a P-256 private key"))?;
                let der = secret
                    .to_pkcs8_der()
                    .map_err(|_| InvalidKey("cannot encode a P-256 key"))?;
                Self::new(
                    SigningAlgorithm::Es256,
                    EncodingKey::from_ec_der(der.as_bytes()),
                )?
            }
            ("OKP", Some("Ed25519")) => {
                let bytes: [u8; 32] = d
                    .as_slice()
                    .try_into()
                    .map_err(|_| InvalidKey("`d` is not an Ed25519 private key"))?;
                let pem = pkcs8_pem(
                    ed25519_dalek::SigningKey::from_bytes(&bytes)
                        .to_pkcs8_der()
                        .map_err(|_| InvalidKey("cannot encode an Ed25519 key"))?
                        .as_bytes(),
                );
                Self::from_pem(&pem, Some(SigningAlgorithm::EdDsa))?
            }
            _ => {
                return Err(InvalidKey(
                    "only EC P-256 and OKP Ed25519 private JWKs are read (RSA: use PEM)",
                ));
            }
        };
        let public = serde_json::to_value(key.public_jwk()).unwrap_or_default();
        let given = [("x", &jwk.x), ("y", &jwk.y)];
        if given
            .iter()
            .any(|(name, value)| value.as_deref().is_some_and(|v| public[*name] != v))
        {
            return Err(InvalidKey("the JWK's public members are not those of `d`"));
        }
        if jwk
            .alg
            .as_deref()
            .is_some_and(|alg| alg != key.algorithm().as_str())
        {
            return Err(InvalidKey("the JWK's `alg` does not fit the key"));
        }
        Ok(key)
    }

    /// An ECDSA or RSA key, whose public JWK jsonwebtoken derives.
    fn new(algorithm: SigningAlgorithm, encoding: EncodingKey) -> Result<Self, InvalidKey> {
        let public = Jwk::from_encoding_key(&encoding, algorithm.jose())
            .map_err(|_| InvalidKey("cannot derive the public key"))?;
        Ok(Self::with_public(algorithm, encoding, public))
    }

    fn with_public(algorithm: SigningAlgorithm, encoding: EncodingKey, mut public: Jwk) -> Self {
        // RFC 7638: the thumbprint covers the key's required members only.
        let kid = public.thumbprint(ThumbprintHash::SHA256);
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        Self {
            algorithm,
            encoding,
            public,
            kid,
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The `kid`: the RFC 7638 SHA-256 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (`kty`, the key, `kid`, `alg`, `use: sig`).
    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }
}

/// PKCS#8 DER as PEM.
fn pkcs8_pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}
