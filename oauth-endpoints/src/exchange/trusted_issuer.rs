//! [`TrustedIssuer`]: JWTs of another issuer, checked against its public keys.

use std::fmt;

use serde_json::{Map, Value};

use crate::client::ClientKeys;
use crate::client_auth::assertion::{JwsHeader, read_header, verified_claims};
use crate::clock::UnixTime;
use crate::exchange::token_type::{ID_TOKEN, JWT};
use crate::exchange::{TokenValidator, ValidatedToken};
use crate::hooks::AssertionProblem;
use crate::jws::{media_subtype, numeric_date};
use crate::scope::Scope;
use crate::token::{Actor, Delegation};

/// The clock skew allowed on `nbf` and `iat` of a foreign token.
const SKEW: u64 = 60;

/// The longest `sub` accepted from a foreign token.
const MAX_SUBJECT: usize = 255;

/// A [`TokenValidator`] for JWTs signed by a trusted issuer (an identity provider, another
/// authorization server), presented as `urn:ietf:params:oauth:token-type:jwt` or
/// `...:id_token` (RFC 8693 §3).
///
/// A token is accepted when it is one compact JWS (RFC 7515 §7.1) with an allow-listed `alg`
/// (ES256, EdDSA, RS256, PS256: never `none` nor HMAC, RFC 8725 §3.1), signed by a key of the
/// issuer's JWK Set (chosen by `kid`), with no `crit` header, a `typ` that is absent, `JWT` or
/// `at+jwt` (RFC 8725 §3.11: another kind of JWT is refused), `iss` equal to the issuer
/// (RFC 7519 §4.1.1), a `sub` (at most 255 characters), an `exp` not passed, `nbf` and `iat`
/// not in the future beyond 60 seconds, and, when [`require_audience`](Self::require_audience)
/// was given, that value in `aud`. Its `scope` (RFC 8693 §4.2), `client_id` (§4.3), `aud`,
/// `act` (§4.1) and `may_act` (§4.4) are read into the [`ValidatedToken`].
///
/// ```
/// use oauth_endpoints::exchange::{TokenExchange, TrustedIssuer};
///
/// let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"idp-1",
///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let idp = TrustedIssuer::new("https://idp.example.com", jwks)
///     .unwrap()
///     .require_audience("https://as.example.com");
/// let exchange = TokenExchange::default().with_validator(idp);
/// ```
#[derive(Clone)]
pub struct TrustedIssuer {
    issuer: String,
    keys: ClientKeys,
    audience: Option<String>,
}

impl TrustedIssuer {
    /// Trusts JWTs from `issuer` signed by a key of `jwks`, a JWK Set (RFC 7517 §5) of public
    /// keys, checked as a client's `jwks` is (EC P-256, OKP Ed25519 or RSA of 2048 bits or
    /// more; no private member; a distinct `kid` each when there are several).
    pub fn new(issuer: impl Into<String>, jwks: &str) -> Result<Self, &'static str> {
        Ok(Self {
            issuer: issuer.into(),
            keys: ClientKeys::parse(jwks)?,
            audience: None,
        })
    }

    /// Requires `audience` in the token's `aud` (RFC 7519 §4.1.3): usually this server's
    /// issuer identifier, so that only tokens meant to be exchanged here are.
    #[must_use]
    pub fn require_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Checks `token` at `now`; the reason of a refusal otherwise.
    fn check(
        &self,
        token: &str,
        token_type: &str,
        now: UnixTime,
    ) -> Result<ValidatedToken, String> {
        let refused = |problem: AssertionProblem| problem.as_str().to_owned();
        let (JwsHeader { algorithm, kid }, _) =
            read_header(token, is_token_typ).map_err(refused)?;
        let key = self
            .keys
            .select(kid.as_deref(), algorithm)
            .ok_or("no key of the issuer has this kid and algorithm")?;
        let claims = verified_claims(token, key, algorithm)
            .ok_or_else(|| refused(AssertionProblem::BadSignature))?;
        self.read_claims(&claims, token_type, now)
    }

    fn read_claims(
        &self,
        claims: &Map<String, Value>,
        token_type: &str,
        now: UnixTime,
    ) -> Result<ValidatedToken, String> {
        let string = |name: &str| match claims.get(name) {
            Some(Value::String(value)) => Some(value.as_str()),
            _ => None,
        };
        let date = |name: &str| {
            claims
                .get(name)
                .map(|value| numeric_date(value).ok_or_else(|| format!("{name} is not a date")))
                .transpose()
        };
        if string("iss") != Some(&self.issuer) {
            return Err("another issuer".to_owned());
        }
        let subject = string("sub")
            .filter(|sub| !sub.is_empty() && sub.len() <= MAX_SUBJECT)
            .ok_or("no sub")?;
        let expires_at = date("exp")?.ok_or("no exp")?;
        if expires_at <= now {
            return Err("expired".to_owned());
        }
        for name in ["nbf", "iat"] {
            if date(name)?.is_some_and(|at| at > now.saturating_add(SKEW)) {
                return Err(format!("{name} is in the future"));
            }
        }
        let audience: Vec<String> = match claims.get("aud") {
            None => Vec::new(),
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many
                .iter()
                .map(|aud| aud.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or("an aud that is not strings")?,
            Some(_) => return Err("an aud that is not strings".to_owned()),
        };
        if let Some(required) = &self.audience
            && !audience.contains(required)
        {
            return Err("not meant for this server (aud)".to_owned());
        }
        let party = |name: &str| -> Result<Option<Actor>, String> {
            let Some(value) = claims.get(name) else {
                return Ok(None);
            };
            let actor: Actor =
                serde_json::from_value(value.clone()).map_err(|_| format!("a malformed {name}"))?;
            if actor.depth() > Actor::MAX_DEPTH {
                return Err(format!("{name} nests too deep"));
            }
            Ok(Some(actor))
        };
        let mut validated = ValidatedToken::foreign(token_type, subject, &self.issuer)
            .with_audience(audience)
            .expiring_at(expires_at)
            .with_delegation(Delegation {
                act: party("act")?,
                may_act: party("may_act")?,
                exchanged: false,
            });
        if let Some(scope) = string("scope") {
            let scope: Scope = scope.parse().map_err(|_| "a malformed scope".to_owned())?;
            validated = validated.with_scope(scope);
        }
        if let Some(client_id) = string("client_id") {
            validated = validated.with_client_id(client_id);
        }
        Ok(validated)
    }
}

/// A `typ` of a token that may be exchanged: `JWT` or `at+jwt`, with or without
/// `application/`, in any case (RFC 7515 §4.1.9).
fn is_token_typ(typ: &str) -> bool {
    let typ = media_subtype(typ);
    typ.eq_ignore_ascii_case("jwt") || typ.eq_ignore_ascii_case("at+jwt")
}

impl TokenValidator for TrustedIssuer {
    fn accepts(&self, token_type: &str) -> bool {
        token_type == JWT || token_type == ID_TOKEN
    }

    async fn validate(
        &self,
        token: &str,
        token_type: &str,
        now: UnixTime,
    ) -> Result<ValidatedToken, String> {
        self.check(token, token_type, now)
    }
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}
