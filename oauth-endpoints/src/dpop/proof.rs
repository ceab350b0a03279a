//! The checks of RFC 9449 §4.3 that need no store: reading the `DPoP` header, the JWS, its
//! `jwk`, its signature and its claims. The `jti` is remembered by the caller, last.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method};
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::DpopProblem;
use super::htu;
use super::nonce::{DpopSettings, NonceCheck};
use super::{DPOP, MAX_JTI_LEN, MAX_PROOF_LEN};
use crate::clock::UnixTime;
use crate::jws::{self, KeyKind, PRIVATE_MEMBERS, allowed_algorithm, media_subtype};
use crate::keys::SigningAlgorithm;
use crate::secret::TokenHash;

/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3).
const MIN_RSA_BITS: usize = 2048;

/// The largest RSA modulus accepted, in bits: a bound on the work one proof can cost.
const MAX_RSA_BITS: usize = 8192;

/// What the proof must match, besides the settings.
pub(crate) struct Target<'a> {
    pub(crate) method: &'a Method,
    /// The request's absolute URI, normalized ([`htu::normalize`]).
    pub(crate) uri: &'a str,
    pub(crate) access_token: Option<&'a str>,
}

/// A proof that passed every check but the replay check.
pub(crate) struct Checked {
    pub(crate) algorithm: SigningAlgorithm,
    pub(crate) jwk: Jwk,
    pub(crate) jkt: String,
    pub(crate) jti: String,
    pub(crate) issued_at: UnixTime,
    pub(crate) nonce: Option<NonceCheck>,
}

/// The one `DPoP` header's value.
pub(crate) fn header_value(headers: &HeaderMap) -> Result<&str, DpopProblem> {
    let mut values = headers.get_all(DPOP).iter();
    let Some(value) = values.next() else {
        return Err(DpopProblem::Missing);
    };
    // §4.3 item 1: "There is not more than one DPoP HTTP request header field."
    if values.next().is_some() {
        return Err(DpopProblem::SeveralHeaders);
    }
    if value.len() > MAX_PROOF_LEN {
        return Err(DpopProblem::Malformed);
    }
    value.to_str().map_err(|_| DpopProblem::Malformed)
}

/// Every check of §4.3 but the `jti`'s replay, in the order of the list.
pub(crate) fn check(
    proof: &str,
    target: &Target<'_>,
    settings: &DpopSettings,
    now: UnixTime,
) -> Result<Checked, DpopProblem> {
    // §4.3 item 2: "The DPoP HTTP request header field value is a single and well-formed JWT":
    // a JWS in compact serialization (RFC 7515 §7.1), three non-empty base64url segments.
    let (signing_input, header, claims, signature) = split(proof)?;
    let header = jws::json_object(header).ok_or(DpopProblem::Malformed)?;
    // RFC 7515 §4.1.11: a critical extension not understood makes the JWS invalid; none is.
    if header.contains_key("crit") {
        return Err(DpopProblem::Malformed);
    }
    // §4.3 item 4: "The typ JOSE Header Parameter has the value dpop+jwt" (RFC 7515 §4.1.9:
    // case-insensitive, the `application/` prefix may be there).
    match header.get("typ") {
        Some(Value::String(typ)) if is_dpop_type(typ) => {}
        _ => return Err(DpopProblem::WrongType),
    }
    // §4.3 item 5: "The alg JOSE Header Parameter indicates a registered asymmetric digital
    // signature algorithm, is not none, is supported by the application, and is acceptable per
    // local policy": the allow-list ES256, EdDSA, RS256, PS256 (RFC 8725 §3.1); never `none`,
    // never an HMAC (its key would be in the `jwk`, for anyone to sign with).
    let algorithm = match header.get("alg") {
        Some(Value::String(name)) => {
            allowed_algorithm(name).ok_or(DpopProblem::DisallowedAlgorithm)?
        }
        _ => return Err(DpopProblem::DisallowedAlgorithm),
    };
    // §4.3 items 3 and 7: a `jwk` (§4.2), which "does not contain a private key"; item 5: the
    // `alg` fits it.
    let key = public_key(&header, algorithm)?;
    // §4.3 item 6: "The JWT signature verifies with the public key contained in the jwk JOSE
    // Header Parameter."
    let verified = jsonwebtoken::crypto::verify(
        signature,
        signing_input.as_bytes(),
        &key.decoding,
        algorithm.jose(),
    );
    if !matches!(verified, Ok(true)) {
        return Err(DpopProblem::BadSignature);
    }
    let claims = jws::json_object(claims).ok_or(DpopProblem::Malformed)?;
    let string = |name: &str| match claims.get(name) {
        Some(Value::String(value)) => Some(value.as_str()),
        _ => None,
    };
    // §4.3 item 3 (§4.2): a `jti`, bounded so that what is hashed and remembered is small.
    let jti = match string("jti") {
        Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => jti,
        _ => return Err(DpopProblem::BadJti),
    };
    // §4.3 item 8: "The htm claim matches the HTTP method of the current request" (methods are
    // case-sensitive, RFC 9110 §9.1).
    if string("htm") != Some(target.method.as_str()) {
        return Err(DpopProblem::WrongMethod);
    }
    // §4.3 item 9: "The htu claim matches the HTTP URI value for the HTTP request in which the
    // JWT was received, ignoring any query and fragment parts", both normalized (see `htu`).
    match string("htu").and_then(htu::normalize) {
        Some(htu) if htu == target.uri => {}
        _ => return Err(DpopProblem::WrongUri),
    }
    // §4.3 item 10: "If the server provided a nonce value to the client, the nonce claim
    // matches the server-provided nonce value" (§8, §9): a nonce of this server's secret in
    // an accepted period.
    let nonce = if settings.requires_nonces() {
        let Some(nonce) = string("nonce") else {
            return Err(DpopProblem::NonceRequired);
        };
        match settings.check_nonce(nonce, now) {
            Some(NonceCheck::Stale) | None => return Err(DpopProblem::StaleNonce),
            found => found,
        }
    } else {
        None
    };
    // §4.3 item 11: "The creation time of the JWT, as determined by ... the iat claim, is
    // within an acceptable window" (§11.1): at most `max_age` in the past, `max_skew` ahead.
    let issued_at = claims
        .get("iat")
        .and_then(jws::numeric_date)
        .ok_or(DpopProblem::BadIssuedAt)?;
    if issued_at.saturating_add(settings.max_age().as_secs()) < now {
        return Err(DpopProblem::TooOld);
    }
    if issued_at > now.saturating_add(settings.max_skew().as_secs()) {
        return Err(DpopProblem::FromTheFuture);
    }
    // §4.3 item 12: "If presented to a protected resource in conjunction with an access
    // token, ensure that the value of the ath claim equals the hash of that access token"
    // (§4.2: base64url of its SHA-256). Without an access token (at the token endpoint) `ath`
    // is not read. The token's binding to the key (`cnf.jkt`) is the caller's to compare with
    // the thumbprint.
    if let Some(token) = target.access_token {
        let Some(ath) = string("ath") else {
            return Err(DpopProblem::MissingAth);
        };
        let expected = access_token_hash(token);
        if !bool::from(ath.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(DpopProblem::WrongAth);
        }
    }
    Ok(Checked {
        algorithm,
        jwk: key.jwk,
        jkt: key.thumbprint,
        jti: jti.to_owned(),
        issued_at,
        nonce,
    })
}

/// `ath` of `token` (RFC 9449 §4.2): base64url of the SHA-256 of its ASCII bytes.
pub(crate) fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// What the replay store remembers for a proof: the SHA-256 of the key's thumbprint (after its
/// length, so that the pair reads back unambiguously) and the `jti`, under a label of its own
/// so that it never collides with an assertion's key. Two keys' `jti` values never collide,
/// and no `jti` is stored as sent.
pub(crate) fn replay_key(jkt: &str, jti: &str) -> TokenHash {
    let mut hash = Sha256::new();
    hash.update(b"oauth-endpoints dpop jti\0");
    hash.update((jkt.len() as u64).to_be_bytes());
    hash.update(jkt.as_bytes());
    hash.update(jti.as_bytes());
    TokenHash::from_bytes(hash.finalize().into())
}

/// `dpop+jwt`, with or without `application/`, in any case.
fn is_dpop_type(typ: &str) -> bool {
    media_subtype(typ).eq_ignore_ascii_case("dpop+jwt")
}

/// The signing input, header, claims and signature of a JWS in compact serialization
/// ([`jws::segments`]).
fn split(proof: &str) -> Result<(&str, &str, &str, &str), DpopProblem> {
    let (header, claims, signature) = jws::segments(proof).ok_or(DpopProblem::Malformed)?;
    let signing_input = &proof[..header.len() + 1 + claims.len()];
    Ok((signing_input, header, claims, signature))
}

/// The header's `jwk`, checked.
struct PublicKey {
    decoding: DecodingKey,
    jwk: Jwk,
    thumbprint: String,
}

/// The `jwk` of the header (§4.2): a public EC P-256, OKP Ed25519 or RSA key that `algorithm`
/// fits, its material checked, and its RFC 7638 thumbprint.
fn public_key(
    header: &Map<String, Value>,
    algorithm: SigningAlgorithm,
) -> Result<PublicKey, DpopProblem> {
    let members = match header.get("jwk") {
        None => return Err(DpopProblem::NoKey),
        Some(Value::Object(members)) => members,
        Some(_) => return Err(DpopProblem::UnsupportedKey),
    };
    // §4.3 item 7: "The jwk JOSE Header Parameter does not contain a private key."
    if PRIVATE_MEMBERS
        .iter()
        .any(|member| members.contains_key(*member))
    {
        return Err(DpopProblem::PrivateKey);
    }
    let text = |name: &str| match members.get(name) {
        Some(Value::String(value)) => Some(value.as_str()),
        _ => None,
    };
    let kind = KeyKind::of(text("kty"), text("crv")).ok_or(DpopProblem::UnsupportedKey)?;
    // §4.3 item 5: the `alg` is one the key is for; a key naming its own `alg` (RFC 7517
    // §4.4) is used with that one only.
    if !kind.fits(algorithm)
        || members
            .get("alg")
            .is_some_and(|own| own != algorithm.as_str())
    {
        return Err(DpopProblem::KeyMismatch);
    }
    // The members as base64url of their exact length, canonical (no trailing bits), so that one
    // key has one thumbprint.
    let bytes = |name: &str| {
        text(name)
            .and_then(|value| URL_SAFE_NO_PAD.decode(value).ok())
            .ok_or(DpopProblem::UnsupportedKey)
    };
    let (decoding, canonical) = match kind {
        KeyKind::P256 => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(DpopProblem::UnsupportedKey);
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            p256::PublicKey::from_sec1_bytes(&point).map_err(|_| DpopProblem::UnsupportedKey)?;
            let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
            let decoding =
                DecodingKey::from_ec_components(&x, &y).map_err(|_| DpopProblem::UnsupportedKey)?;
            // RFC 7638 §3.2: the required members, in lexicographic order.
            (
                decoding,
                json!({"crv": "P-256", "kty": "EC", "x": x, "y": y}),
            )
        }
        KeyKind::Ed25519 => {
            let x: [u8; 32] = bytes("x")?
                .try_into()
                .map_err(|_| DpopProblem::UnsupportedKey)?;
            ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|_| DpopProblem::UnsupportedKey)?;
            let x = URL_SAFE_NO_PAD.encode(x);
            let decoding =
                DecodingKey::from_ed_components(&x).map_err(|_| DpopProblem::UnsupportedKey)?;
            (decoding, json!({"crv": "Ed25519", "kty": "OKP", "x": x}))
        }
        KeyKind::Rsa => {
            let (n, e) = (bytes("n")?, bytes("e")?);
            let bits = n.iter().skip_while(|&&b| b == 0).count() * 8;
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) || e.is_empty() || e.len() > 8 {
                return Err(DpopProblem::UnsupportedKey);
            }
            let (n, e) = (URL_SAFE_NO_PAD.encode(n), URL_SAFE_NO_PAD.encode(e));
            let decoding = DecodingKey::from_rsa_components(&n, &e)
                .map_err(|_| DpopProblem::UnsupportedKey)?;
            (decoding, json!({"e": e, "kty": "RSA", "n": n}))
        }
    };
    // RFC 7638 §3: SHA-256 of the required members' JSON, with no whitespace, members sorted
    // (serde_json's map keeps them sorted), base64url.
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.to_string().as_bytes()));
    let jwk: Jwk = serde_json::from_value(canonical).map_err(|_| DpopProblem::UnsupportedKey)?;
    Ok(PublicKey {
        decoding,
        jwk,
        thumbprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::ThumbprintHash;

    fn header(jwk: Value, alg: &str) -> Map<String, Value> {
        json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn thumbprints_follow_rfc_7638_and_rfc_8037() {
        // RFC 7638 §3.1.
        let rsa = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let key = public_key(&header(rsa.clone(), "RS256"), SigningAlgorithm::Rs256)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            key.thumbprint,
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // RFC 8037 Appendix A.3.
        let okp = json!({"kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let key = public_key(&header(okp, "EdDSA"), SigningAlgorithm::EdDsa)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            key.thumbprint,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        // And as jsonwebtoken computes it, for an EC key.
        let ec = crate::keys::SigningKey::generate(SigningAlgorithm::Es256)
            .unwrap_or_else(|e| panic!("{e}"));
        let jwk = serde_json::to_value(ec.public_jwk()).unwrap_or_default();
        let key = public_key(&header(jwk, "ES256"), SigningAlgorithm::Es256)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            key.thumbprint,
            ec.public_jwk().thumbprint(ThumbprintHash::SHA256)
        );
        assert_eq!(key.thumbprint, ec.kid());
    }

    #[test]
    fn keys_must_be_public_supported_and_fit_the_algorithm() {
        let ec = crate::keys::SigningKey::generate(SigningAlgorithm::Es256)
            .unwrap_or_else(|e| panic!("{e}"));
        let jwk = serde_json::to_value(ec.public_jwk()).unwrap_or_default();
        let with = |name: &str, value: Value| {
            let mut jwk = jwk.clone();
            jwk[name] = value;
            jwk
        };
        let check = |jwk: Value, alg: SigningAlgorithm| {
            public_key(&header(jwk, alg.as_str()), alg)
                .map(|_| ())
                .err()
        };
        assert_eq!(check(jwk.clone(), SigningAlgorithm::Es256), None);
        for member in PRIVATE_MEMBERS {
            assert_eq!(
                check(with(member, "AAAA".into()), SigningAlgorithm::Es256),
                Some(DpopProblem::PrivateKey),
                "{member}"
            );
        }
        assert_eq!(
            check(jwk.clone(), SigningAlgorithm::EdDsa),
            Some(DpopProblem::KeyMismatch)
        );
        assert_eq!(
            check(with("alg", "ES384".into()), SigningAlgorithm::Es256),
            Some(DpopProblem::KeyMismatch)
        );
        for (name, value) in [
            ("crv", Value::from("P-384")),
            ("crv", Value::from("Ed25519")),
            ("kty", Value::from("oct")),
            ("x", Value::from("AAAA")),
            ("x", Value::from(7)),
            // A point off the curve.
            ("y", Value::from(URL_SAFE_NO_PAD.encode([1u8; 32]))),
        ] {
            assert_eq!(
                check(with(name, value.clone()), SigningAlgorithm::Es256),
                Some(DpopProblem::UnsupportedKey),
                "{name}: {value}"
            );
        }
        // An RSA key of 1024 bits.
        let small = json!({"kty": "RSA", "e": "AQAB", "n": URL_SAFE_NO_PAD.encode([0xc3u8; 128])});
        assert_eq!(
            check(small, SigningAlgorithm::Rs256),
            Some(DpopProblem::UnsupportedKey)
        );
        let no_key = json!({"typ": "dpop+jwt", "alg": "ES256"});
        assert!(matches!(
            public_key(
                no_key.as_object().unwrap_or(&Map::new()),
                SigningAlgorithm::Es256
            ),
            Err(DpopProblem::NoKey)
        ));
    }

    #[test]
    fn types_and_segments() {
        for typ in ["dpop+jwt", "DPoP+JWT", "application/dpop+jwt"] {
            assert!(is_dpop_type(typ), "{typ}");
        }
        for typ in [
            "jwt",
            "at+jwt",
            "dpop",
            "application/jwt",
            "xapplication/dpop+jwt",
        ] {
            assert!(!is_dpop_type(typ), "{typ}");
        }
        assert_eq!(
            split("aGVhZA.Y2xhaW1z.c2ln").map(|(input, ..)| input),
            Ok("aGVhZA.Y2xhaW1z")
        );
        for bad in ["a.b", "a.b.", "a.b.c.d.e", "a.b.c=", "a b.c.d", ".b.c"] {
            assert_eq!(split(bad).err(), Some(DpopProblem::Malformed), "{bad}");
        }
    }

    #[test]
    fn replay_keys_separate_keys_and_ids() {
        assert_ne!(replay_key("a", "b\0c"), replay_key("a\0b", "c"));
        assert_ne!(replay_key("k1", "j"), replay_key("k2", "j"));
        assert_eq!(replay_key("k1", "j"), replay_key("k1", "j"));
        assert_ne!(
            replay_key("c1", "j"),
            crate::client_auth::assertion::replay_key("c1", "j")
        );
    }
}
