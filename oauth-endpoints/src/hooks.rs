//! Policies and hooks users replace or add: who may introspect what, extra introspection
//! claims, and events after revocation, introspection and refresh.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::client::Client;
use crate::client_auth::ClientAuthMethod;
use crate::token::TokenRecord;

/// Decides whether `caller` may learn about `token` at the introspection endpoint
/// (RFC 7662 §4: "the authorization server MUST determine whether or not the caller is
/// authorized to receive information about the token").
///
/// Closures `Fn(&Client, &TokenRecord) -> bool` implement it.
pub trait IntrospectionPolicy: Send + Sync + 'static {
    /// Whether `caller` may see `token`. A refusal answers `{"active": false}`.
    fn may_introspect(&self, caller: &Client, token: &TokenRecord) -> bool;
}

impl<F> IntrospectionPolicy for F
where
    F: Fn(&Client, &TokenRecord) -> bool + Send + Sync + 'static,
{
    fn may_introspect(&self, caller: &Client, token: &TokenRecord) -> bool {
        self(caller, token)
    }
}

/// The default policy: a caller may see a token issued to itself, a token whose audience names
/// it, and, if it was registered with `introspect_any_token`, any token without an audience.
///
/// **The audience rule.** A token meant for given resources (its audience, from the `resource`
/// parameters of RFC 8707 or a token exchange's `audience`, RFC 8693) is shown only to its own
/// client and to the resource servers it is meant for: a caller whose `client_id`, or one of
/// whose [`served_resources`](Client::served_resources), the audience lists. An
/// `introspect_any_token` caller sees every token *without* an audience, but a token for
/// resource A introspected by the resource server of B is `{"active": false}`, so a token
/// stolen from A's traffic cannot be checked, nor replayed, at B (RFC 8707 §1, RFC 9700 §4.10).
///
/// Keycloak's introspection answers any confidential client about any token and leaves the
/// audience check to the resource server (its "audience" mappers only put client ids in `aud`);
/// [`without_audience_rule`](Self::without_audience_rule) behaves that way: an
/// `introspect_any_token` caller then sees every token, and must check `aud` itself.
#[derive(Debug, Clone, Copy)]
pub struct DefaultIntrospectionPolicy {
    audience_rule: bool,
}

impl Default for DefaultIntrospectionPolicy {
    fn default() -> Self {
        Self {
            audience_rule: true,
        }
    }
}

impl DefaultIntrospectionPolicy {
    /// The policy without the audience rule: an `introspect_any_token` caller sees every
    /// token, whatever its audience (Keycloak's behaviour).
    pub fn without_audience_rule() -> Self {
        Self {
            audience_rule: false,
        }
    }

    /// Whether the audience rule is on (it is by default).
    pub fn audience_rule(&self) -> bool {
        self.audience_rule
    }
}

impl IntrospectionPolicy for DefaultIntrospectionPolicy {
    fn may_introspect(&self, caller: &Client, token: &TokenRecord) -> bool {
        *token.client_id == *caller.client_id()
            || token.audience.iter().any(|aud| caller.is_audience(aud))
            || (caller.introspect_any_token() && (!self.audience_rule || token.audience.is_empty()))
    }
}

/// Adds members to an active introspection answer (RFC 7662 §2.2 allows extension members).
/// Members the endpoint already set (`active`, `scope`, `client_id`, ...) cannot be replaced.
pub trait IntrospectionClaims: Send + Sync + 'static {
    /// Inserts extra members into `claims` for `token`, shown to `caller`.
    fn add_claims(&self, token: &TokenRecord, caller: &Client, claims: &mut Map<String, Value>);
}

impl<F> IntrospectionClaims for F
where
    F: Fn(&TokenRecord, &Client, &mut Map<String, Value>) + Send + Sync + 'static,
{
    fn add_claims(&self, token: &TokenRecord, caller: &Client, claims: &mut Map<String, Value>) {
        self(token, caller, claims);
    }
}

/// A token was revoked (RFC 7009 §2.1).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TokenRevoked<'a> {
    /// The client that revoked it.
    pub client: &'a Client,
    /// The token's record as it was found (before revocation).
    pub token: &'a TokenRecord,
    /// Whether every token of its grant was revoked with it.
    pub grant_revoked: bool,
}

/// Client authentication failed (RFC 6749 §2.3): the endpoint answered `invalid_client` (or
/// `invalid_request` for credentials presented twice). For audit and alerting: the client got
/// one description whatever the reason; the operator gets the reason here (and in the server's
/// debug log). Never carries a secret.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ClientAuthenticationFailed<'a> {
    /// The endpoint's name.
    pub endpoint: &'a str,
    /// The client id the request presented, known or not; `None` if it presented none.
    pub client_id: Option<&'a str>,
    /// The method the request used, when it could be told.
    pub method: Option<ClientAuthMethod>,
    /// Why it failed.
    pub reason: AuthFailure,
}

/// Why client authentication failed, as [`ClientAuthenticationFailed`] tells the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No credentials, or a `client_secret` without a `client_id`.
    NoCredentials,
    /// An `Authorization: Basic` header that does not decode (RFC 7617, RFC 6749 §2.3.1).
    MalformedBasic,
    /// Two methods (or two `Authorization` headers) in one request (RFC 6749 §2.3).
    SeveralMethods,
    /// The method is not among the endpoint's `auth_methods`.
    MethodNotAccepted,
    /// No client has this id.
    UnknownClient,
    /// The secret does not match (nor the previous one within its overlap).
    WrongSecret,
    /// The client registered another method (`token_endpoint_auth_method`).
    MethodNotRegistered,
    /// A `client_assertion` (`private_key_jwt`, RFC 7523 §2.2) that breaks a rule: which one.
    InvalidAssertion(AssertionProblem),
    /// A valid `client_assertion` whose `jti` this client already used while it was unexpired
    /// (RFC 7523 §3 item 7): a replay, or a client that reuses its assertions.
    AssertionReplayed,
    /// A `client_assertion` reached a server that cannot check it: no issuer identifier (the
    /// `aud` it must carry) or no store to remember `jti` values in
    /// ([`AuthorizationServerBuilder::assertion_store`](crate::AuthorizationServerBuilder::assertion_store)).
    /// A configuration problem: the server also logs it as a warning.
    AssertionsUnavailable,
}

impl AuthFailure {
    /// A short name for logs: `unknown_client`, `wrong_secret`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoCredentials => "no_credentials",
            Self::MalformedBasic => "malformed_basic",
            Self::SeveralMethods => "several_methods",
            Self::MethodNotAccepted => "method_not_accepted",
            Self::UnknownClient => "unknown_client",
            Self::WrongSecret => "wrong_secret",
            Self::MethodNotRegistered => "method_not_registered",
            Self::InvalidAssertion(_) => "invalid_assertion",
            Self::AssertionReplayed => "assertion_replayed",
            Self::AssertionsUnavailable => "assertions_unavailable",
        }
    }

    /// What is wrong with a refused `client_assertion`, for [`InvalidAssertion`](Self::InvalidAssertion).
    pub fn assertion_problem(self) -> Option<AssertionProblem> {
        match self {
            Self::InvalidAssertion(problem) => Some(problem),
            _ => None,
        }
    }
}

/// Why a `client_assertion` (`private_key_jwt`) was refused, for the operator: the client is
/// answered `invalid_client` whatever the reason (RFC 7521 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssertionProblem {
    /// `client_assertion_type` is not `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
    /// or one of `client_assertion` and `client_assertion_type` is missing (RFC 7523 §2.2).
    UnsupportedType,
    /// Not one JWS in compact serialization with a JSON header and claims set (RFC 7515 §7.1,
    /// RFC 7519 §7.2), or a header naming a critical extension (RFC 7515 §4.1.11).
    Malformed,
    /// An `alg` outside the allow-list (ES256, EdDSA, RS256, PS256): `none`, HMAC, ... (RFC 8725
    /// §3.1).
    DisallowedAlgorithm,
    /// A `typ` that names another kind of JWT (RFC 8725 §3.11).
    WrongType,
    /// No registered key of the client has the header's `kid` (or, without a `kid`, the client
    /// registered several keys), or the key does not fit the `alg`.
    UnknownKey,
    /// The signature does not verify with the client's key (RFC 7523 §3 item 9).
    BadSignature,
    /// `iss` or `sub` is missing, or they differ (RFC 7523 §3 items 1 and 2).
    IssuerNotSubject,
    /// The `client_id` parameter names another client than `sub` (RFC 7521 §4.2).
    ClientIdMismatch,
    /// `aud` is not the server's issuer identifier as its sole value (RFC 7523 §3 item 3 as
    /// updated by draft-ietf-oauth-rfc7523bis).
    WrongAudience,
    /// `exp` is missing or has passed (RFC 7523 §3 item 4).
    Expired,
    /// `exp` is further ahead than the longest lifetime accepted
    /// ([`MAX_ASSERTION_LIFETIME`](crate::client_auth::MAX_ASSERTION_LIFETIME)).
    LifetimeTooLong,
    /// `nbf` or `iat` is in the future, beyond the clock skew allowed (RFC 7523 §3 items 5
    /// and 6).
    NotYetValid,
    /// No `jti`: the server could not refuse a replay (RFC 7523 §3 item 7).
    NoJti,
}

impl AssertionProblem {
    /// A short name for logs: `wrong_audience`, `expired`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnsupportedType => "unsupported_type",
            Self::Malformed => "malformed",
            Self::DisallowedAlgorithm => "disallowed_algorithm",
            Self::WrongType => "wrong_type",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::IssuerNotSubject => "issuer_not_subject",
            Self::ClientIdMismatch => "client_id_mismatch",
            Self::WrongAudience => "wrong_audience",
            Self::Expired => "expired",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::NotYetValid => "not_yet_valid",
            Self::NoJti => "no_jti",
        }
    }
}

/// A token was introspected (RFC 7662 §2).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TokenIntrospected<'a> {
    /// The caller.
    pub caller: &'a Client,
    /// The token's record, if the token is known (whatever the answer).
    pub token: Option<&'a TokenRecord>,
    /// Whether the answer said active.
    pub active: bool,
}

/// A rotated refresh token was presented again within the grace window while its successor
/// was unused, and was redeemed: most likely a lost answer or two requests racing, though a
/// thief replaying a token just rotated looks the same (see
/// [`AuthorizationServerBuilder::refresh_token_grace`](crate::AuthorizationServerBuilder::refresh_token_grace)).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RefreshGraceRedeemed<'a> {
    /// The client that presented it.
    pub client: &'a Client,
    /// The presented refresh token's record (rotated, not revoked).
    pub presented: &'a TokenRecord,
    /// The successor it replaced, now revoked: the refresh token the first exchange answered.
    pub superseded: &'a TokenRecord,
    /// How long after the token's rotation it was presented again.
    pub since_rotation: Duration,
    /// The grace window in effect for the client.
    pub grace: Duration,
}

/// A rotated refresh token was presented again outside the grace window (or with no window,
/// or after its successor was used): reuse, and its whole grant was revoked (RFC 9700
/// §4.14.2). A stolen token, or a client that kept an old one.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RefreshTokenReused<'a> {
    /// The client that presented it.
    pub client: &'a Client,
    /// The presented refresh token's record, after the grant's revocation.
    pub token: &'a TokenRecord,
    /// The grace window in effect for the client (zero when off).
    pub grace: Duration,
}

/// Receives events after revocations, introspections and refresh-token replays, to audit,
/// invalidate caches, count or publish messages (as Authlib's `after_revoke_token` signal).
/// Runs on the request path: hand slow work to a task or a channel.
pub trait EventListener: Send + Sync + 'static {
    /// After a successful revocation.
    fn token_revoked(&self, _event: &TokenRevoked<'_>) {}

    /// After an introspection answer was decided.
    fn token_introspected(&self, _event: &TokenIntrospected<'_>) {}

    /// After a grace redemption answered new tokens: a lost answer or racing requests.
    fn refresh_grace_redeemed(&self, _event: &RefreshGraceRedeemed<'_>) {}

    /// After reuse of a rotated refresh token revoked its grant: possible theft.
    fn refresh_token_reused(&self, _event: &RefreshTokenReused<'_>) {}

    /// Called when a request's client authentication failed.
    fn client_authentication_failed(&self, _event: &ClientAuthenticationFailed<'_>) {}
}

impl<T: EventListener> EventListener for Arc<T> {
    fn token_revoked(&self, event: &TokenRevoked<'_>) {
        T::token_revoked(self, event);
    }

    fn token_introspected(&self, event: &TokenIntrospected<'_>) {
        T::token_introspected(self, event);
    }

    fn refresh_grace_redeemed(&self, event: &RefreshGraceRedeemed<'_>) {
        T::refresh_grace_redeemed(self, event);
    }

    fn refresh_token_reused(&self, event: &RefreshTokenReused<'_>) {
        T::refresh_token_reused(self, event);
    }

    fn client_authentication_failed(&self, event: &ClientAuthenticationFailed<'_>) {
        T::client_authentication_failed(self, event);
    }
}

/// The server's policies and hooks.
#[derive(Clone)]
pub struct Hooks {
    pub(crate) policy: Arc<dyn IntrospectionPolicy>,
    pub(crate) claims: Vec<Arc<dyn IntrospectionClaims>>,
    pub(crate) listeners: Vec<Arc<dyn EventListener>>,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            policy: Arc::new(DefaultIntrospectionPolicy::default()),
            claims: Vec::new(),
            listeners: Vec::new(),
        }
    }
}

impl Hooks {
    /// Whether the introspection policy lets `caller` see `token`.
    pub fn may_introspect(&self, caller: &Client, token: &TokenRecord) -> bool {
        self.policy.may_introspect(caller, token)
    }

    /// Whether any claims hook is registered.
    pub fn has_claims(&self) -> bool {
        !self.claims.is_empty()
    }

    /// Runs every claims hook, keeping members already present.
    pub fn add_claims(
        &self,
        token: &TokenRecord,
        caller: &Client,
        claims: &mut Map<String, Value>,
    ) {
        for hook in &self.claims {
            let mut extra = Map::new();
            hook.add_claims(token, caller, &mut extra);
            for (name, value) in extra {
                if !claims.contains_key(&name) && !value.is_null() {
                    claims.insert(name, value);
                }
            }
        }
    }

    /// Tells every listener about a failed client authentication.
    pub fn client_authentication_failed(&self, event: &ClientAuthenticationFailed<'_>) {
        for listener in &self.listeners {
            listener.client_authentication_failed(event);
        }
    }

    /// Tells every listener about a revocation.
    pub fn token_revoked(&self, event: &TokenRevoked<'_>) {
        for listener in &self.listeners {
            listener.token_revoked(event);
        }
    }

    /// Tells every listener about an introspection.
    pub fn token_introspected(&self, event: &TokenIntrospected<'_>) {
        for listener in &self.listeners {
            listener.token_introspected(event);
        }
    }

    /// Tells every listener about a grace redemption.
    pub fn refresh_grace_redeemed(&self, event: &RefreshGraceRedeemed<'_>) {
        for listener in &self.listeners {
            listener.refresh_grace_redeemed(event);
        }
    }

    /// Tells every listener about a reuse that revoked a grant.
    pub fn refresh_token_reused(&self, event: &RefreshTokenReused<'_>) {
        for listener in &self.listeners {
            listener.refresh_token_reused(event);
        }
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("claims", &self.claims.len())
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}
