//! `private_key_jwt`: a client authenticates with a JWT it signed with one of its registered
//! public keys (RFC 7523 §2.2, §3; RFC 7521 §4.2), each `jti` accepted once.
//!
//! The rules, each with its clause:
//!
//! - the request carries `client_assertion_type` =
//!   `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and `client_assertion`, one JWT
//!   (RFC 7523 §2.2); `client_id` is optional and, when present, names the client of the
//!   assertion's `sub` (RFC 7521 §4.2);
//! - the JWT is a JWS in compact serialization (RFC 7515 §7.1; RFC 7519 §7.2): no JWE, no JSON
//!   serialization, no unsecured JWT; a header naming a critical extension is refused, as none
//!   is understood here (RFC 7515 §4.1.11);
//! - `alg` is on an allow-list, ES256, EdDSA, RS256, PS256 (RFC 8725 §3.1): never `none`, never
//!   an HMAC (`client_secret_jwt` needs the plaintext secret, which this library never keeps);
//! - `typ`, when present, is `JWT` or `client-authentication+jwt` (RFC 8725 §3.11, explicit
//!   typing as draft-ietf-oauth-rfc7523bis registers it);
//! - the key is the client's registered key (`jwks`) with the header's `kid`, or its only key
//!   when it registered one and the header names none; the key must fit the `alg`, and the
//!   signature must verify (RFC 7523 §3 item 9). Keys named by the header (`jwk`, `jku`,
//!   `x5u`, `x5c`) are never used;
//! - `iss` and `sub` are both the `client_id` of a registered client whose
//!   `token_endpoint_auth_method` is `private_key_jwt` (RFC 7523 §3 items 1 and 2);
//! - `aud` is the server's issuer identifier as its sole value, compared as strings (RFC 7523
//!   §3 item 3 as updated by draft-ietf-oauth-rfc7523bis). **Nothing else is accepted, not even
//!   the token endpoint's URL** that RFC 7523 §3 allowed: a client that sends an assertion for
//!   the token endpoint URL an authorization server *claims* in its metadata can be made to
//!   sign one for another server's endpoint (the audience injection attack that
//!   draft-ietf-oauth-rfc7523bis fixes), and only the issuer identifier, which the client
//!   checked when it read the metadata (RFC 8414 §3.3), names this server. A one-element array
//!   holding the issuer is accepted too (its sole value is the issuer; the draft asks clients
//!   for a plain string);
//! - `exp` is present and has not passed (RFC 7523 §3 item 4), and is at most
//!   [`MAX_ASSERTION_LIFETIME`] ahead (plus [`ASSERTION_CLOCK_SKEW`]) and, when `iat` is
//!   present, at most that after `iat`: assertions are single-use credentials made for one
//!   request, and the lifetime bounds how long their `jti` is remembered;
//! - `nbf` and `iat`, when present, are not ahead of the server's clock by more than
//!   [`ASSERTION_CLOCK_SKEW`] (RFC 7523 §3 items 5 and 6);
//! - `jti` is present (RFC 7523 §3 item 7 lets a server require it, as OpenID Connect Core §9
//!   does), and each `(client_id, jti)` is accepted once until the assertion expires, on every
//!   instance sharing the assertion store
//!   ([`AuthorizationStore::remember_once`](crate::store::AuthorizationStore::remember_once)).
//!   The id is remembered only once everything else held, so an invalid assertion cannot
//!   burn a `jti`.

use std::borrow::Cow;
use std::time::Duration;

use jsonwebtoken::Validation;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::client::{Client, ClientKey};
use crate::client_auth::ClientAuthMethod;
use crate::clock::UnixTime;
use crate::context::Context;
use crate::error::OAuthError;
use crate::form::Form;
use crate::hooks::{AssertionProblem, AuthFailure};
use crate::jws::{self, allowed_algorithm, media_subtype};
use crate::keys::SigningAlgorithm;
use crate::route::Route;
use crate::secret::TokenHash;
use crate::syntax::is_vschar;

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How far ahead of the server's clock an assertion's `exp` may be (and how long after its
/// `iat`): five minutes. An assertion is made for one request; a longer-lived one would be a
/// bearer credential worth stealing, and its `jti` would have to be remembered longer.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

/// How far ahead of the server's clock a client's clock may be: `iat` and `nbf` may be up to
/// this much in the future, and `exp` this much further than [`MAX_ASSERTION_LIFETIME`]. `exp`
/// itself gets no leeway: an assertion is refused from its expiry on, the moment its `jti` is
/// forgotten.
pub const ASSERTION_CLOCK_SKEW: Duration = Duration::from_secs(30);

/// A `client_assertion` whose form was read, not yet verified.
pub(crate) struct Assertion<'a> {
    jwt: &'a str,
    algorithm: SigningAlgorithm,
    kid: Option<String>,
}

/// Whether the request attempts assertion-based client authentication (RFC 7521 §4.2).
pub(crate) fn attempted(form: &Form) -> bool {
    form.contains("client_assertion") || form.contains("client_assertion_type")
}

/// Reads the assertion of a request that [`attempted`] it, and the client it names: the
/// `client_id` parameter if present (it must then be the assertion's `sub`), else `sub`. The
/// signature and the claims are checked by [`verify`].
pub(crate) fn read(form: &Form) -> Result<(Assertion<'_>, Cow<'_, str>), AssertionProblem> {
    // RFC 7523 §2.2: this type, and one JWT.
    let (Some(CLIENT_ASSERTION_TYPE_JWT_BEARER), Some(jwt)) = (
        form.get("client_assertion_type"),
        form.get("client_assertion"),
    ) else {
        return Err(AssertionProblem::UnsupportedType);
    };
    let (JwsHeader { algorithm, kid }, claims) = read_header(jwt, is_assertion_type)?;
    let claims = jws::json_object(claims).ok_or(AssertionProblem::Malformed)?;
    // RFC 7523 §3 item 2: `sub` is the client_id. RFC 7521 §4.2: a `client_id` parameter, if
    // sent, names the same client.
    let Some(Value::String(subject)) = claims.get("sub") else {
        return Err(AssertionProblem::IssuerNotSubject);
    };
    // A client_id is `VSCHAR` (RFC 6749 A.1): an unverified `sub` outside it is looked up
    // nowhere, and logged nowhere.
    if subject.is_empty() || !is_vschar(subject) {
        return Err(AssertionProblem::Malformed);
    }
    let client_id = match form.get("client_id") {
        Some(client_id) if client_id != subject => {
            return Err(AssertionProblem::ClientIdMismatch);
        }
        Some(client_id) => Cow::Borrowed(client_id),
        None => Cow::Owned(subject.clone()),
    };
    Ok((
        Assertion {
            jwt,
            algorithm,
            kid,
        },
        client_id,
    ))
}

/// What a JWS header of a JWT from a client or a trusted issuer says, once checked.
pub(crate) struct JwsHeader {
    /// The allow-listed algorithm it is signed with.
    pub(crate) algorithm: SigningAlgorithm,
    /// The key it names, if any.
    pub(crate) kid: Option<String>,
}

/// Reads the header of `jwt`, a compact JWS, and returns it with the claims segment: no
/// critical extension (RFC 7515 §4.1.11: none is understood), an `alg` from the allow-list,
/// never `none` nor an HMAC (RFC 8725 §3.1), a `typ`, if any, that `typ_allowed` accepts
/// (explicit typing, RFC 8725 §3.11), and a string `kid` if any.
pub(crate) fn read_header(
    jwt: &str,
    typ_allowed: fn(&str) -> bool,
) -> Result<(JwsHeader, &str), AssertionProblem> {
    let (header, claims, _) = jws::segments(jwt).ok_or(AssertionProblem::Malformed)?;
    let header = jws::json_object(header).ok_or(AssertionProblem::Malformed)?;
    if header.contains_key("crit") {
        return Err(AssertionProblem::Malformed);
    }
    let algorithm = match header.get("alg") {
        Some(Value::String(name)) => {
            allowed_algorithm(name).ok_or(AssertionProblem::DisallowedAlgorithm)?
        }
        _ => return Err(AssertionProblem::Malformed),
    };
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if typ_allowed(typ) => {}
        Some(_) => return Err(AssertionProblem::WrongType),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(AssertionProblem::Malformed),
    };
    Ok((JwsHeader { algorithm, kid }, claims))
}

/// The claims of `jwt` if its signature verifies with `key` under `algorithm` (the allow-listed
/// one its header named); the claims themselves are the caller's to check, against its clock.
pub(crate) fn verified_claims(
    jwt: &str,
    key: &ClientKey,
    algorithm: SigningAlgorithm,
) -> Option<Map<String, Value>> {
    let mut validation = Validation::new(algorithm.jose());
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Map<String, Value>>(jwt, key.decoding(), &validation)
        .ok()
        .map(|verified| verified.claims)
}

/// `JWT` or `client-authentication+jwt`, with or without `application/`, in any case (RFC 7515
/// §4.1.9: media type names are case-insensitive and the prefix may be left out).
fn is_assertion_type(typ: &str) -> bool {
    let typ = media_subtype(typ);
    typ.eq_ignore_ascii_case("jwt") || typ.eq_ignore_ascii_case("client-authentication+jwt")
}

/// Verifies `assertion` as the credential of `client_id` at `cx`'s server, then remembers its
/// `jti` until it expires. `Ok(Err(reason))` is a refusal (`invalid_client`); `Err` is a
/// store failure.
pub(crate) async fn verify(
    cx: &Context,
    client_id: &str,
    assertion: &Assertion<'_>,
) -> Result<Result<Client, AuthFailure>, OAuthError> {
    let (Some(store), Some(issuer)) = (cx.assertions(), cx.config().issuer.as_deref()) else {
        return Ok(Err(AuthFailure::AssertionsUnavailable));
    };
    let invalid = |problem| Ok(Err(AuthFailure::InvalidAssertion(problem)));
    let Some(client) = cx.clients().find(client_id).await? else {
        return Ok(Err(AuthFailure::UnknownClient));
    };
    if client.token_endpoint_auth_method() != ClientAuthMethod::PrivateKeyJwt {
        return Ok(Err(AuthFailure::MethodNotRegistered));
    }
    // The key the header names among the client's registered keys, fitting the `alg`.
    let Some(key) = client
        .keys()
        .and_then(|keys| keys.select(assertion.kid.as_deref(), assertion.algorithm))
    else {
        return invalid(AssertionProblem::UnknownKey);
    };
    // RFC 7523 §3 item 9: the signature, with the allow-listed algorithm only; the claims are
    // checked below against the server's clock.
    let Some(claims) = verified_claims(assertion.jwt, key, assertion.algorithm) else {
        return invalid(AssertionProblem::BadSignature);
    };
    let now = cx.now();
    let (jti, expires_at) = match check_claims(&claims, client_id, issuer, now) {
        Ok(checked) => checked,
        Err(problem) => return invalid(problem),
    };
    // RFC 7523 §3 item 7: each `jti` of the client once, until the assertion expires.
    if !store
        .remember_once(&replay_key(client_id, jti), expires_at, now)
        .await?
    {
        return Ok(Err(AuthFailure::AssertionReplayed));
    }
    Ok(Ok(client))
}

/// The claims' rules (RFC 7523 §3), at `now`: the `jti` and the `exp` to remember it until.
fn check_claims<'c>(
    claims: &'c Map<String, Value>,
    client_id: &str,
    issuer: &str,
    now: UnixTime,
) -> Result<(&'c str, UnixTime), AssertionProblem> {
    let string = |name: &str| match claims.get(name) {
        Some(Value::String(value)) => Some(value.as_str()),
        _ => None,
    };
    let date = |value: &Value| jws::numeric_date(value).ok_or(AssertionProblem::Malformed);
    // Items 1 and 2: `iss` and `sub` are both the client_id.
    if string("iss") != Some(client_id) || string("sub") != Some(client_id) {
        return Err(AssertionProblem::IssuerNotSubject);
    }
    // Item 3 (draft-ietf-oauth-rfc7523bis): the issuer identifier as the sole audience, by
    // simple string comparison (RFC 3986 §6.2.1).
    let audience_ok = match claims.get("aud") {
        Some(Value::String(audience)) => audience == issuer,
        Some(Value::Array(audiences)) => {
            matches!(audiences.as_slice(), [Value::String(audience)] if audience == issuer)
        }
        _ => false,
    };
    if !audience_ok {
        return Err(AssertionProblem::WrongAudience);
    }
    let skew = ASSERTION_CLOCK_SKEW.as_secs();
    let lifetime = MAX_ASSERTION_LIFETIME.as_secs();
    // Item 4: `exp` required and not passed (RFC 7519 §4.1.4: now before `exp`), and near.
    let expires_at = match claims.get("exp") {
        None => return Err(AssertionProblem::Expired),
        Some(exp) => date(exp)?,
    };
    if expires_at <= now {
        return Err(AssertionProblem::Expired);
    }
    if expires_at > now.saturating_add(lifetime + skew) {
        return Err(AssertionProblem::LifetimeTooLong);
    }
    // Item 6: `iat`, if present, not in the future; `exp` at most the lifetime after it.
    if let Some(iat) = claims.get("iat") {
        let issued_at = date(iat)?;
        if issued_at > now.saturating_add(skew) {
            return Err(AssertionProblem::NotYetValid);
        }
        if expires_at.saturating_sub(issued_at) > lifetime {
            return Err(AssertionProblem::LifetimeTooLong);
        }
    }
    // Item 5: not before `nbf` (RFC 7519 §4.1.5).
    if let Some(nbf) = claims.get("nbf")
        && date(nbf)? > now.saturating_add(skew)
    {
        return Err(AssertionProblem::NotYetValid);
    }
    // Item 7: a `jti`, which the caller remembers.
    match string("jti") {
        Some(jti) if !jti.is_empty() => Ok((jti, expires_at)),
        _ => Err(AssertionProblem::NoJti),
    }
}

/// What the assertion store remembers for a `jti`: the SHA-256 of the client id (after its
/// length, so that the pair is read back unambiguously) and the `jti`, so that two clients'
/// `jti` values never collide and no `jti` is stored as sent.
pub(crate) fn replay_key(client_id: &str, jti: &str) -> TokenHash {
    let mut hash = Sha256::new();
    hash.update(b"oauth-endpoints private_key_jwt jti\0");
    hash.update((client_id.len() as u64).to_be_bytes());
    hash.update(client_id.as_bytes());
    hash.update(jti.as_bytes());
    TokenHash::from_bytes(hash.finalize().into())
}

/// At `build()`: without an issuer identifier (the `aud` an assertion must carry) or a store
/// to remember `jti` values in, `private_key_jwt` cannot be checked, so it is taken out of the
/// methods every route accepts (the metadata does not offer it, and a client that tries it
/// fails with [`AuthFailure::AssertionsUnavailable`]), with a log line naming the routes (a
/// warning when the store is what is missing).
pub(crate) fn offer_only_if_checkable(routes: &mut [Route], store: bool, issuer: bool) {
    if store && issuer {
        return;
    }
    let mut withdrawn = Vec::new();
    for route in routes.iter_mut() {
        if route
            .auth_methods
            .contains(&ClientAuthMethod::PrivateKeyJwt)
        {
            route
                .auth_methods
                .retain(|method| *method != ClientAuthMethod::PrivateKeyJwt);
            withdrawn.push(route.name().to_owned());
        }
    }
    if !withdrawn.is_empty() {
        let missing = match (store, issuer) {
            (false, false) => "an assertion store (`assertion_store`) and an issuer (`issuer`)",
            (false, true) => "an assertion store (`assertion_store`, or a `store` that is one)",
            _ => "an issuer identifier (`issuer`), the `aud` of every assertion",
        };
        // A server without an issuer is a common development set-up (it serves no metadata
        // either): said as the endpoints `check_setup` leaves out are. Stores given one by one
        // without an assertion store are a choice worth a warning.
        let endpoints = withdrawn.join(", ");
        if store {
            tracing::info!(
                endpoints,
                "private_key_jwt is not offered: the server has no {missing}"
            );
        } else {
            tracing::warn!(
                endpoints,
                "private_key_jwt is not offered: the server has no {missing}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const ISSUER: &str = "https://as.example.com";
    const NOW: UnixTime = 1_700_000_000;

    fn claims(extra: Value) -> Map<String, Value> {
        let mut claims = serde_json::json!({
            "iss": "c1", "sub": "c1", "aud": ISSUER, "exp": NOW + 60, "iat": NOW, "jti": "j1"
        });
        for (name, value) in extra.as_object().cloned().unwrap_or_default() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(&name);
            } else {
                claims[name] = value;
            }
        }
        claims.as_object().cloned().unwrap_or_default()
    }

    fn check(extra: Value) -> Result<(String, UnixTime), AssertionProblem> {
        let claims = claims(extra);
        check_claims(&claims, "c1", ISSUER, NOW).map(|(jti, exp)| (jti.to_owned(), exp))
    }

    #[test]
    fn the_claims_follow_rfc_7523_section_3() {
        use serde_json::json;
        assert_eq!(check(json!({})), Ok(("j1".to_owned(), NOW + 60)));
        assert_eq!(
            check(json!({"aud": [ISSUER]})),
            Ok(("j1".to_owned(), NOW + 60))
        );
        assert_eq!(
            check(json!({"iat": null, "exp": NOW + 330})),
            Ok(("j1".to_owned(), NOW + 330))
        );
        assert_eq!(
            check(json!({"exp": (NOW + 60) as f64 + 0.5})),
            Ok(("j1".to_owned(), NOW + 60))
        );
        for (extra, problem) in [
            (json!({"iss": "c2"}), AssertionProblem::IssuerNotSubject),
            (json!({"sub": null}), AssertionProblem::IssuerNotSubject),
            (
                json!({"aud": "https://as.example.com/oauth/token"}),
                AssertionProblem::WrongAudience,
            ),
            (
                json!({"aud": [ISSUER, "https://other.example"]}),
                AssertionProblem::WrongAudience,
            ),
            (
                json!({"aud": "https://as.example.com/"}),
                AssertionProblem::WrongAudience,
            ),
            (json!({"aud": null}), AssertionProblem::WrongAudience),
            (json!({"exp": null}), AssertionProblem::Expired),
            (json!({"exp": NOW}), AssertionProblem::Expired),
            (json!({"exp": "soon"}), AssertionProblem::Malformed),
            (
                json!({"exp": NOW + 331, "iat": null}),
                AssertionProblem::LifetimeTooLong,
            ),
            (json!({"exp": NOW + 301}), AssertionProblem::LifetimeTooLong),
            (json!({"iat": NOW + 31}), AssertionProblem::NotYetValid),
            (json!({"nbf": NOW + 31}), AssertionProblem::NotYetValid),
            (json!({"jti": null}), AssertionProblem::NoJti),
            (json!({"jti": ""}), AssertionProblem::NoJti),
            (json!({"jti": 7}), AssertionProblem::NoJti),
        ] {
            assert_eq!(check(extra.clone()), Err(problem), "{extra}");
        }
        assert!(check(json!({"nbf": NOW + 30, "iat": NOW + 30})).is_ok());
    }

    #[test]
    fn only_compact_jws_with_an_allowed_alg_and_type_is_read() {
        let encode = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
        let body = encode(serde_json::json!({"sub": "c1"}));
        let bad_subject = encode(serde_json::json!({"sub": "c1\nforged log line"}));
        let form = |jwt: &str| {
            Form::parse_body(
                format!(
                    "client_assertion_type={}&client_assertion={jwt}",
                    CLIENT_ASSERTION_TYPE_JWT_BEARER.replace(':', "%3A")
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let read_with = |header: Value| {
            let jwt = format!("{}.{body}.c2ln", encode(header));
            read(&form(&jwt)).map(|(assertion, client)| (assertion.algorithm, client.into_owned()))
        };
        assert_eq!(
            read_with(serde_json::json!({"alg": "EdDSA", "typ": "client-authentication+jwt"})),
            Ok((SigningAlgorithm::EdDsa, "c1".to_owned()))
        );
        assert!(read_with(serde_json::json!({"alg": "ES256", "typ": "application/JWT"})).is_ok());
        for (header, problem) in [
            (
                serde_json::json!({"alg": "none"}),
                AssertionProblem::DisallowedAlgorithm,
            ),
            (
                serde_json::json!({"alg": "HS256"}),
                AssertionProblem::DisallowedAlgorithm,
            ),
            (
                serde_json::json!({"alg": "es256"}),
                AssertionProblem::DisallowedAlgorithm,
            ),
            (
                serde_json::json!({"typ": "JWT"}),
                AssertionProblem::Malformed,
            ),
            (
                serde_json::json!({"alg": "ES256", "typ": "at+jwt"}),
                AssertionProblem::WrongType,
            ),
            (
                serde_json::json!({"alg": "ES256", "crit": ["exp"]}),
                AssertionProblem::Malformed,
            ),
            (
                serde_json::json!({"alg": "ES256", "kid": 1}),
                AssertionProblem::Malformed,
            ),
        ] {
            assert_eq!(read_with(header.clone()).err(), Some(problem), "{header}");
        }
        let header = encode(serde_json::json!({"alg": "ES256"}));
        for jwt in [
            format!("{header}.{body}."),
            format!("{header}.{body}"),
            format!("{header}.{body}.c2ln.c2ln.c2ln"),
            format!("{header}.{body}.c2ln="),
            format!("{header}.bm90IGpzb24.c2ln"),
            format!("{header}.{bad_subject}.c2ln"),
        ] {
            assert_eq!(
                read(&form(&jwt)).err(),
                Some(AssertionProblem::Malformed),
                "{jwt}"
            );
        }
        let wrong_type =
            Form::parse_body(b"client_assertion_type=saml&client_assertion=a.b.c").unwrap();
        assert_eq!(
            read(&wrong_type).err(),
            Some(AssertionProblem::UnsupportedType)
        );
    }

    #[test]
    fn replay_keys_separate_clients_and_ids() {
        assert_ne!(replay_key("a", "b\0c"), replay_key("a\0b", "c"));
        assert_ne!(replay_key("c1", "j"), replay_key("c2", "j"));
        assert_eq!(replay_key("c1", "j"), replay_key("c1", "j"));
    }
}
