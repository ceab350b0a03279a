//! Policies and hooks users replace or add: who may introspect what, extra introspection
//! claims, and events after revocation and introspection.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::client::Client;
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
/// it, or any token if it was registered with `introspect_any_token`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultIntrospectionPolicy;

impl IntrospectionPolicy for DefaultIntrospectionPolicy {
    fn may_introspect(&self, caller: &Client, token: &TokenRecord) -> bool {
        caller.introspect_any_token()
            || *token.client_id == *caller.client_id()
            || token.has_audience(caller.client_id())
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

/// Receives events after revocations and introspections, to audit, invalidate caches or publish
/// messages (as Authlib's `after_revoke_token` signal). Runs on the request path: hand slow work
/// to a task or a channel.
pub trait EventListener: Send + Sync + 'static {
    /// After a successful revocation.
    fn token_revoked(&self, _event: &TokenRevoked<'_>) {}

    /// After an introspection answer was decided.
    fn token_introspected(&self, _event: &TokenIntrospected<'_>) {}
}

impl<T: EventListener> EventListener for Arc<T> {
    fn token_revoked(&self, event: &TokenRevoked<'_>) {
        T::token_revoked(self, event);
    }

    fn token_introspected(&self, event: &TokenIntrospected<'_>) {
        T::token_introspected(self, event);
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
            policy: Arc::new(DefaultIntrospectionPolicy),
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
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("claims", &self.claims.len())
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}
