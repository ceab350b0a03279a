//! DPoP proofs (RFC 9449): checking the `DPoP` header of a request, as the token endpoint
//! (§5) and resource servers (§7) both must, in one shared step; stateless server nonces (§8,
//! §9); each proof accepted once across every instance sharing the server's store.
//!
//! A client proves it holds a private key by sending, with each request, a JWT it signed with
//! that key (the proof), whose header carries the public key (`jwk`). The server checks the
//! proof against the request and binds the tokens it issues to the key's RFC 7638 thumbprint
//! (`jkt`); a resource server then requires a proof by the same key with each use of the token.
//!
//! # The checks (RFC 9449 §4.3)
//!
//! [`DpopProof::verify`] (at an endpoint of the server) and [`DpopVerifier::verify`] (given
//! every piece, for resource servers) run the same checks, in this order; the first that fails
//! is the [`DpopError`] (its [`problem`](DpopError::problem) says which):
//!
//! 1. exactly one `DPoP` header (item 1), at most [`MAX_PROOF_LEN`] bytes;
//! 2. a JWS in compact serialization, header and claims JSON objects, no `crit` (item 2);
//! 3. `typ` is `dpop+jwt` (item 4; case-insensitive, `application/` allowed: RFC 7515 §4.1.9);
//! 4. `alg` is one of [`DPOP_SIGNING_ALGS`] — never `none`, never an HMAC (item 5);
//! 5. `jwk` is present (item 3) and public: no `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`
//!    (item 7); an EC P-256, OKP Ed25519 or RSA (2048 to 8192 bits) key, its material valid,
//!    that the `alg` fits (its own `alg`, if any, is the header's) (item 5);
//! 6. the signature verifies with that key (item 6);
//! 7. `jti` present, 1 to [`MAX_JTI_LEN`] bytes (item 3);
//! 8. `htm` is the request's method (item 8);
//! 9. `htu` is the request's absolute URI, query and fragment ignored, both sides normalized
//!    as RFC 3986 §6.2.2 and §6.2.3 describe: the case of the scheme and the host, default and
//!    empty ports, percent-encoding of unreserved characters and its hex case, dot segments,
//!    an empty path (item 9);
//! 10. when the server requires nonces, `nonce` is one it made and still accepts; else
//!     `use_dpop_nonce` with a fresh one (item 10, §8, §9);
//! 11. `iat` within [`max_age`](DpopSettings::max_age) in the past and
//!     [`max_skew`](DpopSettings::max_skew) in the future of the server's clock (item 11);
//! 12. with an access token (at a resource server): `ath` present and equal to
//!     base64url(SHA-256(token)) (item 12). Without one, `ath` is not read;
//! 13. last, once every other check passed, the `jti` is remembered through
//!     [`AuthorizationStore::remember_once`](crate::store::AuthorizationStore::remember_once)
//!     (key: SHA-256 of the thumbprint and the `jti`; until `iat` + `max_age`), so that a
//!     proof is accepted once on every instance sharing the store (§11.1). A proof refused for
//!     another reason does not use up its `jti`.
//!
//! Binding (item 12's second half, §7.1): a resource server compares the token's `cnf.jkt`
//! with [`VerifiedProof::jkt`] ([`VerifiedProof::matches_thumbprint`]).
//!
//! # Nonces (§8, §9)
//!
//! Off by default. The builder's
//! [`dpop_nonce_secret`](crate::AuthorizationServerBuilder::dpop_nonce_secret) turns them on:
//! a nonce is the number of a time period and an HMAC-SHA256 of it under the secret, so any
//! instance with the same secret accepts any other's nonce with nothing stored (see
//! [`DpopSettings`]). The current, previous and next periods are accepted.
//!
//! # At the token endpoint (integration, RFC 9449 §5)
//!
//! The token endpoint is not changed here; it calls this module like so:
//!
//! ```ignore
//! use oauth_endpoints::dpop::{self, DpopProof, Expectation};
//!
//! // Endpoint::check_setup: publish `dpop_signing_alg_values_supported` (RFC 9449 §5.1).
//! fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
//!     dpop::publish(setup);
//!     Ok(())
//! }
//!
//! // Endpoint::handle, after client authentication and before the grant runs:
//! let proof = if dpop::is_present(request.headers()) {
//!     // The htu is the endpoint's URL as the metadata publishes it (issuer origin + path);
//!     // no access token, so `ath` is not read. `?` turns a DpopError into the 400
//!     // `invalid_dpop_proof` / `use_dpop_nonce` + `DPoP-Nonce` answer (§5, §8).
//!     Some(DpopProof::verify(cx, &request, Expectation::new()).await?)
//! } else {
//!     None
//! };
//! // Issue the tokens bound to `proof.jkt()` (`cnf.jkt`, token_type "DPoP", §5); for a public
//! // client bind the refresh token too (§5) and, on refresh, require a proof by the same key.
//! // A client registered with `dpop_bound_access_tokens` (§5.2) without a proof: invalid_request.
//! // On success, when `proof.fresh_nonce()` is `Some`, send it in `DPoP-Nonce` (§8.2).
//! ```
//!
//! # At a resource server (§7)
//!
//! ```ignore
//! use oauth_endpoints::dpop::{DpopVerifier, ProofRequest};
//!
//! // `Authorization: DPoP <token>` (§7.1) read; `parts` is the request's http::request::Parts.
//! let verifier = DpopVerifier::from_server(&server).expect("the server has a replay store");
//! let uri = format!("https://api.example.com{}", parts.uri.path()); // the public URI
//! let proof = verifier
//!     .verify(ProofRequest::new(&parts.method, &uri, &parts.headers).access_token(token))
//!     .await
//!     .map_err(|error| error.into_resource_response())?; // 401 + WWW-Authenticate: DPoP ...
//! // Then the token's `cnf.jkt` must be `proof.jkt()`, else 401 invalid_token.
//! ```

mod error;
mod htu;
mod nonce;
mod proof;

use std::borrow::Cow;
use std::fmt;

use http::header::HeaderName;
use http::{HeaderMap, Method, Request};
use jsonwebtoken::jwk::Jwk;
use subtle::ConstantTimeEq;

pub use error::{DPOP_NONCE, DpopError, DpopErrorKind, DpopProblem};
pub use nonce::{
    DEFAULT_NONCE_PERIOD, DEFAULT_PROOF_MAX_AGE, DEFAULT_PROOF_MAX_SKEW, DpopNonceSecret,
    DpopSettings, ShortNonceSecret,
};

use crate::clock::UnixTime;
use crate::context::Context;
use crate::keys::SigningAlgorithm;
use crate::server::{AuthorizationServer, Setup};
use crate::store::Authorizations;
use nonce::NonceCheck;

/// The algorithms a proof may be signed with (RFC 8725 §3.1: an allow-list; never `none`,
/// never an HMAC): what the metadata's `dpop_signing_alg_values_supported` (RFC 9449 §5.1) and
/// a resource server's challenge's `algs` (§7.1) publish.
pub const DPOP_SIGNING_ALGS: &[&str] = &["ES256", "EdDSA", "RS256", "PS256"];

/// The `DPoP` request header (RFC 9449 §4.1).
pub const DPOP: HeaderName = HeaderName::from_static("dpop");

/// The longest `DPoP` header accepted, in bytes: a proof with an RSA key of 8192 bits fits.
pub const MAX_PROOF_LEN: usize = 8192;

/// The longest `jti` accepted, in bytes (RFC 9449 §4.2 asks for 96 random bits or more: a UUID
/// or 43 base64url characters are common).
pub const MAX_JTI_LEN: usize = 256;

/// Publishes `dpop_signing_alg_values_supported` (RFC 9449 §5.1) in the metadata document: for
/// the token endpoint's [`check_setup`](crate::Endpoint::check_setup) once it accepts DPoP.
pub fn publish(setup: &mut Setup<'_>) {
    setup.publish(
        "dpop_signing_alg_values_supported",
        DPOP_SIGNING_ALGS.to_vec(),
    );
}

/// Whether the request carries a `DPoP` header (one or more): then the client asks for
/// DPoP-bound tokens (§5) and the proof must be checked.
pub fn is_present(headers: &HeaderMap) -> bool {
    headers.contains_key(DPOP)
}

/// What a proof must match at an endpoint of the server besides the request's method and
/// headers: the request's absolute URI, and the access token presented with it.
///
/// By default the URI is the endpoint's URL as the metadata publishes it: the issuer's origin
/// and the endpoint's path (the request's own URI when it is absolute and the server has no
/// issuer).
#[derive(Debug, Clone, Copy, Default)]
pub struct Expectation<'a> {
    uri: Option<&'a str>,
    access_token: Option<&'a str>,
}

impl<'a> Expectation<'a> {
    /// The endpoint's URL, no access token: what the token endpoint expects.
    pub fn new() -> Self {
        Self::default()
    }

    /// The absolute URI the client sent the request to (`htu`), when it is not the endpoint's
    /// URL as published (behind a proxy that rewrites paths, say).
    #[must_use]
    pub fn uri(mut self, uri: &'a str) -> Self {
        self.uri = Some(uri);
        self
    }

    /// The access token presented with the proof: `ath` must be its hash (§4.3 item 12).
    #[must_use]
    pub fn access_token(mut self, token: &'a str) -> Self {
        self.access_token = Some(token);
        self
    }
}

/// The request a proof must match, piece by piece: its method, the absolute URI it was sent to
/// (its query and fragment are ignored), its headers (where the `DPoP` header is), and the
/// access token presented with it, if any.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    method: &'a Method,
    uri: &'a str,
    headers: &'a HeaderMap,
    access_token: Option<&'a str>,
}

impl<'a> ProofRequest<'a> {
    /// A request with `method` to the absolute URI `uri` with `headers`.
    pub fn new(method: &'a Method, uri: &'a str, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            uri,
            headers,
            access_token: None,
        }
    }

    /// The access token presented with the proof (`Authorization: DPoP <token>`, §7.1): `ath`
    /// must be its hash.
    #[must_use]
    pub fn access_token(mut self, token: &'a str) -> Self {
        self.access_token = Some(token);
        self
    }
}

/// The server side of the check, given explicitly: the settings, the store that remembers
/// `jti` values (shared by every instance), and now. What a resource server holds.
#[derive(Clone, Copy)]
pub struct DpopVerifier<'a> {
    settings: &'a DpopSettings,
    replay: &'a Authorizations,
    now: UnixTime,
}

impl<'a> DpopVerifier<'a> {
    /// A verifier with `settings`, remembering `jti` values in `replay`, at `now`.
    pub fn new(settings: &'a DpopSettings, replay: &'a Authorizations, now: UnixTime) -> Self {
        Self {
            settings,
            replay,
            now,
        }
    }

    /// The verifier of `server`, now: its DPoP settings (`server.config().dpop`), its
    /// assertion store, its clock. `None` when the server has no assertion store (see
    /// [`assertion_store`](crate::AuthorizationServerBuilder::assertion_store)).
    pub fn from_server(server: &'a AuthorizationServer) -> Option<Self> {
        Some(Self::new(
            &server.config().dpop,
            server.assertions()?,
            server.now(),
        ))
    }

    /// Checks the request's proof (see the [module](self) for the checks) and remembers its
    /// `jti`.
    pub async fn verify(&self, request: ProofRequest<'_>) -> Result<VerifiedProof, DpopError> {
        let refuse = |problem: DpopProblem| {
            let error = DpopError::new(problem);
            match problem.kind() {
                DpopErrorKind::UseNonce => error.with_nonce(self.settings.nonce(self.now)),
                _ => error,
            }
        };
        let proof = proof::header_value(request.headers).map_err(refuse)?;
        let uri =
            htu::normalize(request.uri).ok_or_else(|| refuse(DpopProblem::UnknownTargetUri))?;
        let target = proof::Target {
            method: request.method,
            uri: &uri,
            access_token: request.access_token,
        };
        let checked = proof::check(proof, &target, self.settings, self.now).map_err(refuse)?;
        // §11.1: each proof once, on every instance sharing the store, until its `iat` leaves
        // the window (`until` is exclusive). Only now, so that a refused proof uses up nothing.
        let until = checked
            .issued_at
            .saturating_add(self.settings.max_age().as_secs())
            .saturating_add(1);
        let key = proof::replay_key(&checked.jkt, &checked.jti);
        if !self
            .replay
            .remember_once(&key, until, self.now)
            .await
            .map_err(DpopError::store)?
        {
            return Err(refuse(DpopProblem::Replayed));
        }
        let fresh_nonce = match checked.nonce {
            Some(NonceCheck::Accepted) => self.settings.nonce(self.now),
            _ => None,
        };
        Ok(VerifiedProof {
            algorithm: checked.algorithm,
            jwk: checked.jwk,
            jkt: checked.jkt,
            jti: checked.jti,
            issued_at: checked.issued_at,
            fresh_nonce,
        })
    }
}

impl fmt::Debug for DpopVerifier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("settings", self.settings)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// Checking a DPoP proof at an endpoint of the server: see [`DpopProof::verify`].
#[derive(Debug)]
#[non_exhaustive]
pub struct DpopProof;

impl DpopProof {
    /// Checks `request`'s proof at the endpoint `cx` is for, with the server's DPoP settings,
    /// assertion store and clock, and remembers its `jti`: what the token endpoint calls (see
    /// the [module](self)). The URI the proof must name is `expected`'s, else the endpoint's
    /// URL (the issuer's origin and the endpoint's path), else the request's URI if it is
    /// absolute.
    ///
    /// A server without an assertion store refuses every proof
    /// ([`DpopProblem::NoReplayStore`]): it could not accept each once.
    pub async fn verify<B>(
        cx: &Context,
        request: &Request<B>,
        expected: Expectation<'_>,
    ) -> Result<VerifiedProof, DpopError> {
        let Some(replay) = cx.assertions() else {
            return Err(DpopError::new(DpopProblem::NoReplayStore));
        };
        let uri: Cow<'_, str> = match expected.uri {
            Some(uri) => Cow::Borrowed(uri),
            None => endpoint_uri(cx, request)
                .ok_or_else(|| DpopError::new(DpopProblem::UnknownTargetUri))?
                .into(),
        };
        let mut checked = ProofRequest::new(request.method(), &uri, request.headers());
        if let Some(token) = expected.access_token {
            checked = checked.access_token(token);
        }
        DpopVerifier::new(&cx.config().dpop, replay, cx.now())
            .verify(checked)
            .await
    }
}

/// The URL of `cx`'s endpoint as the metadata publishes it, else the request's absolute URI.
fn endpoint_uri<B>(cx: &Context, request: &Request<B>) -> Option<String> {
    if let Some(issuer) = cx.config().issuer.as_deref() {
        let issuer = crate::metadata::parse_issuer(issuer).ok()?;
        return Some(format!("{}{}", issuer.origin, cx.route().path()));
    }
    let uri = request.uri();
    (uri.scheme().is_some() && uri.authority().is_some()).then(|| uri.to_string())
}

/// A proof that passed every check: the key it was made with, and what the server may send
/// back.
#[derive(Clone)]
pub struct VerifiedProof {
    algorithm: SigningAlgorithm,
    jwk: Jwk,
    jkt: String,
    jti: String,
    issued_at: UnixTime,
    fresh_nonce: Option<String>,
}

impl VerifiedProof {
    /// The key's JWK SHA-256 thumbprint (RFC 7638; base64url, 43 characters): what a token
    /// bound to the key carries as `cnf.jkt` (RFC 9449 §6.1).
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// Whether `jkt` (a token's `cnf.jkt`) is this proof's key's thumbprint, compared in
    /// constant time.
    pub fn matches_thumbprint(&self, jkt: &str) -> bool {
        self.jkt.as_bytes().ct_eq(jkt.as_bytes()).into()
    }

    /// The public key, as a JWK holding its required members only (RFC 7638 §3.2).
    pub fn public_jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The algorithm the proof was signed with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The proof's `jti`.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The proof's `iat`.
    pub fn issued_at(&self) -> UnixTime {
        self.issued_at
    }

    /// A fresh nonce to send in `DPoP-Nonce` with the answer (§8.2), when the server requires
    /// nonces and the proof's is not of the current period: the client uses it next time
    /// instead of getting a `use_dpop_nonce`.
    pub fn fresh_nonce(&self) -> Option<&str> {
        self.fresh_nonce.as_deref()
    }
}

impl fmt::Debug for VerifiedProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedProof")
            .field("algorithm", &self.algorithm)
            .field("jkt", &self.jkt)
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey};
    use serde_json::{Value, json};

    /// A 2048-bit RSA key made for this test only (`openssl genpkey -algorithm RSA`).
    const RSA_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDOS85CnGiicKHt\n\
ClRtkr8PgCnV+rtuOWiC6vFB+lK73VjgPqZd+YrGYZYyw0IFlj6bbSdxxYyw5CIA\n\
n6FRgF2iOhNbhVrqiliFV77zkLt+vObICBoNrxDAAIf/ow/20Dz5MdhJNMbe2oiB\n\
zMuXNaM6UsOjA+Sq+x9xgWYErFNi0B9Xvx2N/cubh5VNrqkREaN9CE5ktTcS+FEz\n\
KiyfU9jdtPhNgF/oAHrV7EidgS432frFleMwLZX6kO8V4lv16Oqqb/G3LDwYnOIz\n\
hRClx5ECKSeQfgJCpAKBQ00OwYnjI39+vLp22Gk+L755GjbJ5Kut+HYUJY0DuPyC\n\
eKBvZ7b5AgMBAAECggEAP5qjt2nd4Od1JU5gBYCPI8pSG8U4cJ2GmYayZ7M0OvPd\n\
6RWn2aWMoemIk5IcEvjlyKn41V0hKZDM4wBUjnpTZCcfvMH67AFHlaUeHJ5tEIBR\n\
by8ASWPGeEwxoiG2VFST2AkENF3vStp55/sqci55awwFgYc7w3O1mBtbRumStA4E\n\
juuCWvUOy4ugAGGZkxzxKT6rGBcNVnIcb9pKFcNjT36BoyIFqE+NAqH3AuVIL7WO\n\
F8seBq/gU3RyHIn7dNe0Ftiesfmi4BoIUzGb0QNQT88rFu1B8jMzT47HbCqda3XB\n\
vYFVn9BtK1fzSNagTgcPJDwG87M8iDHRy/yHwlKV2QKBgQD+HkLXiJiQ5NDPXR1k\n\
7XKa3EJ30gtoFVOAmq4x4UnZEyv4fRyz5V5xvKN4kkzv50zQY3qnMs/LN6k3/Ng/\n\
wNkVEoWizgL5Bx0Wwfdq0K4DeWrmpPLQYtc1hnNset518Fo4XVlYT+aHVt0OtKcS\n\
NASw8+fHxv84kMIJ1JmuTFCSlwKBgQDP0uMOxrBWWddW7e/u6j9GLJH9gmTRVA6L\n\
F1j2NLvQksqp5N4ZmOc+trqJ5P03/iB9MwlY52yNRaUHSIYLF85SOqImCAuUSH+p\n\
oDQJR7gbi4l8hCf7Roj/7Uekb61W0Sv7wZfYn25ix9z0Hz2WTHNWFThYwqTyKpEP\n\
Vw4n2E+E7wKBgAoyoLARlT3LUO3haLqSJNU+HZS9YyPMJ0uz6WWrCtGhSVRxgONf\n\
QwkBbvX5uQivmY+LTnLDQT+AflP2257DWHLWCXLdHZVsyagOJKWuti0BhF65I91k\n\
+gn12U/zJlZJTPWSGXHH0xJ/U+OxMDs0xzNqtlR4EentNTw7wecSvPEFAoGABiOk\n\
sXsNGn/s7JR60gP5eok2htajQ8vH4jP+XMeSBMdRVVN9fCQYMLIVMJ2jHVRUgV5Q\n\
mF+9xS6ZgW2TCCDb53Hz+Euki+zYWJpy7xM/TRECLrt4suOSiHzp8OGbrUTgl79Q\n\
TQXorOJalJuXpij7/z8BOx4E4WKAhoN715F8R+ECgYEAiNGCnACM/obOCAG2Mg9F\n\
tTVQIOr6EcT8ICOTC9GogHPj+2alsP7+Qbw40vxWtTGxBdl8bLBG5S/wsUknYrbR\n\
pwYcwZPPy0UjCivCjgjAMrYKW6KYk7zgh7W1p/gk+4ZPT8FDm4ZSvIVePrwq2quf\n\
/2EipCYAlacKPRKtCS0+JKM=\n\
-----END PRIVATE KEY-----";

    const NOW: UnixTime = 1_700_000_000;
    const URI: &str = "https://api.example.com/photos";

    fn proof(key: &EncodingKey, alg: Algorithm, jwk: &Value, claims: &Value) -> String {
        let b64 = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
        let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk});
        let input = format!("{}.{}", b64(&header), b64(claims));
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg)
            .unwrap_or_else(|e| panic!("{e}"));
        format!("{input}.{signature}")
    }

    #[tokio::test]
    async fn rsa_proofs_with_rs256_and_ps256_verify_and_are_bound_to_the_key() {
        let key =
            crate::keys::SigningKey::from_pem(RSA_PEM, None).unwrap_or_else(|e| panic!("{e}"));
        let mut jwk = serde_json::to_value(key.public_jwk()).unwrap_or_default();
        // Without its `alg`, the key serves both RS256 and PS256.
        jwk.as_object_mut().map(|members| members.remove("alg"));
        let encoding =
            EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let settings = DpopSettings::new();
        let store = Authorizations::new(MemoryStore::new());
        let verifier = DpopVerifier::new(&settings, &store, NOW);
        let token = "an-access-token";
        for (alg, jti) in [(Algorithm::RS256, "j1"), (Algorithm::PS256, "j2")] {
            let claims = json!({
                "jti": jti, "htm": "GET", "htu": URI, "iat": NOW,
                "ath": proof::access_token_hash(token),
            });
            let mut headers = HeaderMap::new();
            let value = proof(&encoding, alg, &jwk, &claims);
            headers.insert(DPOP, value.parse().unwrap_or_else(|e| panic!("{e}")));
            let request = ProofRequest::new(&Method::GET, URI, &headers).access_token(token);
            let verified = verifier
                .verify(request)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(verified.jkt(), key.kid());
            assert!(verified.matches_thumbprint(key.kid()));
            assert!(!verified.matches_thumbprint("other"));
            // Signed as RS256, claimed as PS256 (or the reverse): the signature does not hold.
            let other = if alg == Algorithm::RS256 {
                "PS256"
            } else {
                "RS256"
            };
            let mut header: Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(value.split('.').next().unwrap_or_default())
                    .unwrap_or_default(),
            )
            .unwrap_or_default();
            header["alg"] = other.into();
            let mut parts: Vec<String> = value.split('.').map(str::to_owned).collect();
            parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
            headers.insert(
                DPOP,
                parts.join(".").parse().unwrap_or_else(|e| panic!("{e}")),
            );
            let request = ProofRequest::new(&Method::GET, URI, &headers).access_token(token);
            let refused = verifier.verify(request).await.err().map(|e| e.problem());
            assert_eq!(refused, Some(DpopProblem::BadSignature));
        }
    }

    #[test]
    fn a_store_failure_is_503_with_its_cause_kept_for_the_log() {
        let error = DpopError::store(crate::store::StoreError::unavailable("down"));
        assert_eq!(error.kind(), DpopErrorKind::Unavailable);
        let oauth = crate::OAuthError::from(error.clone());
        assert_eq!(oauth.status(), 503);
        assert_eq!(oauth.code(), "temporarily_unavailable");
        assert!(std::error::Error::source(&oauth).is_some());
        let response = error.into_resource_response();
        assert_eq!(response.status(), 503);
        assert!(
            response
                .headers()
                .get(http::header::WWW_AUTHENTICATE)
                .is_none()
        );
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "5");
    }
}
