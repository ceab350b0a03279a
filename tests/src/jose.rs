//! Checking what the server signs with another JOSE implementation than the server's
//! (`jwt-simple`), from the JWKS as the server publishes it.

use jwt_simple::prelude::*;
use serde_json::Value;

/// The header of a compact JWS, decoded.
pub fn header(token: &str) -> Value {
    let first = token.split('.').next().unwrap_or_default();
    let bytes = Base64UrlSafeNoPadding::decode_to_vec(first, None).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// Verifies `token` with the key of `jwks` its header's `kid` names (ES256 or EdDSA), at `now`
/// (seconds since the epoch, the server's clock), and returns its claims. Panics, with the
/// reason, if it does not verify.
pub fn verify(jwks: &Value, token: &str, now: u64) -> Value {
    let header = header(token);
    let kid = header["kid"].as_str().expect("a kid");
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|key| key["kid"] == kid)
        .expect("the kid is in the JWKS");
    let b64 = |name: &str| {
        Base64UrlSafeNoPadding::decode_to_vec(key[name].as_str().expect("a member"), None)
            .expect("base64url")
    };
    let options = VerificationOptions {
        accept_future: false,
        time_tolerance: Some(Duration::from_secs(0)),
        artificial_time: Some(Duration::from_secs(now)),
        ..VerificationOptions::default()
    };
    let kty = key["kty"].as_str();
    assert!(matches!(kty, Some("EC" | "OKP")), "unexpected kty {kty:?}");
    let claims: JWTClaims<Value> = match kty {
        Some("EC") => {
            let mut point = vec![4u8];
            point.extend(b64("x"));
            point.extend(b64("y"));
            ES256PublicKey::from_bytes(&point)
                .expect("a P-256 key")
                .verify_token::<Value>(token, Some(options))
                .expect("the token verifies")
        }
        _ => Ed25519PublicKey::from_bytes(&b64("x"))
            .expect("an Ed25519 key")
            .verify_token::<Value>(token, Some(options))
            .expect("the token verifies"),
    };
    let mut all = claims.custom;
    let object = all.as_object_mut().expect("claims");
    if let Some(subject) = claims.subject {
        object.insert("sub".into(), subject.into());
    }
    if let Some(issuer) = claims.issuer {
        object.insert("iss".into(), issuer.into());
    }
    if let Some(id) = claims.jwt_id {
        object.insert("jti".into(), id.into());
    }
    if let Some(audiences) = claims.audiences {
        let audiences: Value = match audiences {
            Audiences::AsString(one) => one.into(),
            Audiences::AsSet(set) => set.into_iter().collect::<Vec<_>>().into(),
        };
        object.insert("aud".into(), audiences);
    }
    if let Some(issued) = claims.issued_at {
        object.insert("iat".into(), issued.as_secs().into());
    }
    if let Some(expires) = claims.expires_at {
        object.insert("exp".into(), expires.as_secs().into());
    }
    all
}
