//! [`AuthorizationServerBuilder`]: collects, selects and validates endpoints.

// `BuildError` names two culprits with their sources; it is returned once, at startup, so its
// size does not matter.
#![allow(clippy::result_large_err)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use http::Method;

use crate::client_auth::ClientAuthMethod;
use crate::clock::{Clock, SystemClock};
use crate::config::ServerConfig;
use crate::context::{Context, Shared};
use crate::cors;
use crate::description::Source;
use crate::endpoint::{DynEndpoint, Endpoint};
use crate::grant::{self, DynGrant, Grant, GrantCandidate, GrantInstance, Grants};
use crate::hooks::{EventListener, Hooks, IntrospectionClaims, IntrospectionPolicy};
use crate::metadata;
use crate::registration;
use crate::route::{Route, check_methods, check_path};
use crate::server::spec::EndpointSpec;
use crate::server::table::Table;
use crate::server::{AuthorizationServer, BuildError, Inner, Setup, Unmounted};
use crate::state::StateMap;
use crate::store::client_store::DynClientStore;
use crate::store::{
    AuthorizationStore, Authorizations, ClientCacheOptions, ClientStore, Clients, MemoryStore,
    TokenStore, Tokens,
};
use crate::token::TokenIssuer;

/// How a candidate endpoint is obtained.
enum Instance {
    /// An annotated type, constructed by `Default` when the server is built.
    Factory(fn() -> Arc<dyn DynEndpoint>),
    /// An instance registered explicitly.
    Ready(Arc<dyn DynEndpoint>),
}

impl Instance {
    fn instantiate(self) -> Arc<dyn DynEndpoint> {
        match self {
            Self::Factory(factory) => factory(),
            Self::Ready(endpoint) => endpoint,
        }
    }
}

/// An endpoint that may be mounted.
struct Candidate {
    spec: EndpointSpec,
    source: Source,
    instance: Instance,
}

/// Builds an [`AuthorizationServer`]: starts from every endpoint annotated with
/// `#[oauth_endpoint]` in the linked crates, then applies your selections and registrations.
///
/// `exclude` and `only` select among the *collected* (annotated) endpoints; explicitly
/// registered instances are always mounted. `mount` moves any endpoint, collected or explicit.
#[must_use]
pub struct AuthorizationServerBuilder {
    explicit: Vec<Candidate>,
    exclude: Vec<String>,
    only: Option<Vec<String>>,
    mounts: Vec<(String, String)>,
    base_path: Option<String>,
    state: StateMap,
    config: ServerConfig,
    clients: Option<Arc<dyn DynClientStore>>,
    client_cache: Option<ClientCacheOptions>,
    tokens: Option<Tokens>,
    assertions: Option<Authorizations>,
    clock: Arc<dyn Clock>,
    grants: Vec<GrantCandidate>,
    excluded_grants: Vec<String>,
    required_endpoints: Vec<String>,
    required_grants: Vec<String>,
    hooks: Hooks,
    #[cfg(feature = "throttle")]
    throttle: Option<crate::throttle::Throttle>,
}

impl AuthorizationServerBuilder {
    pub(crate) fn new() -> Self {
        Self {
            explicit: Vec::new(),
            exclude: Vec::new(),
            only: None,
            mounts: Vec::new(),
            base_path: None,
            state: StateMap::default(),
            config: ServerConfig::default(),
            clients: None,
            client_cache: Some(ClientCacheOptions::default()),
            tokens: None,
            assertions: None,
            clock: Arc::new(SystemClock),
            grants: Vec::new(),
            excluded_grants: Vec::new(),
            required_endpoints: Vec::new(),
            required_grants: Vec::new(),
            hooks: Hooks::default(),
            #[cfg(feature = "throttle")]
            throttle: None,
        }
    }

    /// Registers an endpoint instance under `name` at `path` for `methods`, accepting
    /// `client_secret_basic`, as Authlib's `register_endpoint`. Every registration takes its
    /// declaration first and the instance last: [`register`](Self::register) takes a full
    /// [`EndpointSpec`], [`register_grant`](Self::register_grant) a `grant_type`.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use http::{Method, Request, StatusCode};
    /// # use oauth_endpoints::{AuthorizationServer, Context, Endpoint, EndpointResult};
    /// # use oauth_endpoints::endpoint::json_response;
    /// struct Health;
    ///
    /// impl Endpoint for Health {
    ///     async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
    ///         Ok(json_response(StatusCode::OK, &serde_json::json!({ "ok": true })))
    ///     }
    /// }
    ///
    /// let server = AuthorizationServer::builder()
    ///     .register_endpoint("health", "/health", [Method::GET], Health)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(server.route("health").unwrap().methods(), [Method::GET]);
    /// ```
    #[track_caller]
    pub fn register_endpoint<E: Endpoint>(
        self,
        name: impl Into<Cow<'static, str>>,
        path: impl Into<String>,
        methods: impl IntoIterator<Item = Method>,
        endpoint: E,
    ) -> Self {
        let spec = EndpointSpec::new(name, path).methods(methods);
        self.register(spec, endpoint)
    }

    /// Registers an endpoint instance with a full declaration.
    #[track_caller]
    pub fn register<E: Endpoint>(mut self, spec: EndpointSpec, endpoint: E) -> Self {
        self.explicit.push(Candidate {
            spec,
            source: Source::caller::<E>(),
            instance: Instance::Ready(Arc::new(endpoint)),
        });
        self
    }

    /// Leaves out the collected endpoint named `name` (e.g. to replace a built-in).
    pub fn exclude(mut self, name: impl Into<String>) -> Self {
        self.exclude.push(name.into());
        self
    }

    /// Mounts only the named collected endpoints (explicit registrations are kept).
    pub fn only<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Mounts the endpoint named `name` at `path` instead of its declared path.
    pub fn mount(mut self, name: impl Into<String>, path: impl Into<String>) -> Self {
        self.mounts.push((name.into(), path.into()));
        self
    }

    /// Serves every endpoint under `prefix` (e.g. `"/auth"`: the token endpoint at
    /// `/auth/oauth/token`), declared and [`mount`](Self::mount)ed paths alike; the metadata
    /// document advertises the prefixed URLs. The RFC 8414 metadata document itself stays at
    /// the well-known path that the issuer fixes (§3: between the host and the issuer's path),
    /// which is where clients look for it.
    ///
    /// Use it instead of `Router::nest` when the endpoints live under a prefix, and merge the
    /// router at the root:
    ///
    /// ```
    /// let server = oauth_endpoints::AuthorizationServer::builder()
    ///     .base_path("/auth")
    ///     .issuer("https://as.example.com")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(server.route("token").unwrap().path(), "/auth/oauth/token");
    /// assert_eq!(
    ///     server.metadata().unwrap()["token_endpoint"],
    ///     "https://as.example.com/auth/oauth/token"
    /// );
    /// assert_eq!(
    ///     server.route("metadata").unwrap().path(),
    ///     "/.well-known/oauth-authorization-server"
    /// );
    /// ```
    pub fn base_path(mut self, prefix: impl Into<String>) -> Self {
        self.base_path = Some(prefix.into());
        self
    }

    /// Stores a value that endpoints read with [`Context::state`], by its exact type: a value
    /// given as `Arc<T>` is read as `cx.state::<Arc<T>>()`, not `cx.state::<T>()`.
    pub fn with_state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// The largest request body accepted (default 64 KiB); larger ones are refused with 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// Uses one store for clients, tokens and the `jti` of `private_key_jwt` assertions (a
    /// [`MemoryStore`], `SqliteStore` or `PgStore`, or your own). Without any store the server
    /// keeps all three in memory.
    pub fn store<S: ClientStore + TokenStore + AuthorizationStore + Clone>(self, store: S) -> Self {
        self.client_store(store.clone())
            .token_store(store.clone())
            .assertion_store(store)
    }

    /// Uses `store` to remember the `jti` of each `private_key_jwt` assertion until it expires,
    /// so that an assertion is accepted once (RFC 7523 §3 item 7), on every instance that
    /// shares the store ([`AuthorizationStore::remember_once`]). [`store`](Self::store) sets it
    /// too; a server given its client and token stores one by one and no assertion store does
    /// not offer `private_key_jwt` (it is left out of every endpoint's accepted methods and of
    /// the metadata, with a warning at `build()`), nor does a server without an
    /// [`issuer`](Self::issuer), the audience every assertion must name (said at `build()`
    /// too).
    pub fn assertion_store(mut self, store: impl AuthorizationStore) -> Self {
        self.assertions = Some(Authorizations::new(store));
        self
    }

    /// Uses `store` for clients.
    pub fn client_store(mut self, store: impl ClientStore) -> Self {
        self.clients = Some(Arc::new(store));
        self
    }

    /// How clients are cached (default [`ClientCacheOptions::default`]: changes from other
    /// instances seen within 5 s, at once through a store's change feed such as `PgStore`'s),
    /// or `None` to ask the store on every request.
    pub fn client_cache(mut self, options: Option<ClientCacheOptions>) -> Self {
        self.client_cache = options;
        self
    }

    /// Uses `store` for tokens.
    pub fn token_store(mut self, store: impl TokenStore) -> Self {
        self.tokens = Some(Tokens::new(store));
        self
    }

    /// Uses `clock` instead of the system clock (e.g. a [`ManualClock`](crate::clock::ManualClock) in
    /// tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The issuer identifier (RFC 8414 §2), published as `iss` in introspection answers.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuer = Some(issuer.into());
        self
    }

    /// The keys the server signs JWTs with (JWT access tokens, RFC 9068) and publishes at the
    /// `jwks` endpoint (mounted with them, `jwks_uri` in the metadata). The active key signs;
    /// older ones stay for verification until what they signed expires.
    ///
    /// ```
    /// use oauth_endpoints::AuthorizationServer;
    /// use oauth_endpoints::keys::{KeySet, SigningAlgorithm, SigningKey};
    /// use oauth_endpoints::token::AccessTokenFormat;
    ///
    /// let key = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    /// let server = AuthorizationServer::builder()
    ///     .issuer("https://auth.example.com")
    ///     .signing_keys(KeySet::new(key))
    ///     .access_token_format(AccessTokenFormat::Jwt)
    ///     .build()
    ///     .unwrap();
    /// assert!(server.route("jwks").is_some());
    /// ```
    pub fn signing_keys(mut self, keys: crate::keys::KeySet) -> Self {
        self.config.signing_keys = Some(keys);
        self
    }

    /// What access tokens look like for clients that set nothing of their own: opaque (the
    /// default) or JWTs (RFC 9068, which needs [`signing_keys`](Self::signing_keys) and an
    /// issuer: `build()` fails without them). JWTs stay revocable: they are stored like opaque
    /// tokens, and introspection checks the store after the signature.
    pub fn access_token_format(mut self, format: crate::token::AccessTokenFormat) -> Self {
        self.config.access_token_format = format;
        self
    }

    /// The `aud` of JWT access tokens issued without an audience of their own (RFC 9068 §3:
    /// the default resource indicator). Default: the issuer identifier.
    pub fn access_token_audience(mut self, audience: impl Into<String>) -> Self {
        self.config.access_token_audience = Some(audience.into());
        self
    }

    /// Access token lifetime (default one hour).
    pub fn access_token_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.config.access_token_ttl = ttl;
        self
    }

    /// Refresh token lifetime (default 30 days), counted from the grant's first refresh token.
    pub fn refresh_token_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.config.refresh_token_ttl = ttl;
        self
    }

    /// Turns on the refresh-token grace window for every client that sets none of its own
    /// ([`ClientBuilder::with_refresh_token_grace`](crate::client::ClientBuilder::with_refresh_token_grace)).
    /// Default zero: off, as RFC 9700 §4.14.2 has it.
    ///
    /// Within `grace` (whole seconds, counted from a refresh token's rotation) a rotated refresh
    /// token presented again by its client, while the refresh token that replaced it is still
    /// unused, is taken for a lost answer or a concurrent request: the answer is a new access
    /// token and a new refresh token of the same grant, and the unused successor is revoked, so
    /// the grant keeps exactly one live refresh token. Once the successor has been used, or the
    /// window has passed, a second presentation is reuse and revokes the grant as without a
    /// window. Listeners hear of both ([`EventListener::refresh_grace_redeemed`],
    /// [`EventListener::refresh_token_reused`]).
    ///
    /// The trade-off: within the window, someone who stole a refresh token the client has
    /// just rotated can take the grant over (the legitimate client's next refresh then fails,
    /// or, if it used its token first, the thief's replay revokes the grant). Keep it short:
    /// seconds, enough for a retry or a racing tab.
    ///
    /// ```
    /// use std::time::Duration;
    /// use oauth_endpoints::AuthorizationServer;
    ///
    /// let server = AuthorizationServer::builder()
    ///     .refresh_token_grace(Duration::from_secs(10))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(server.config().refresh_token_grace, Duration::from_secs(10));
    /// ```
    pub fn refresh_token_grace(mut self, grace: std::time::Duration) -> Self {
        self.config.refresh_token_grace = grace;
        self
    }

    /// The window around the server's clock a DPoP proof's `iat` must fall in (RFC 9449 §4.3
    /// item 11): at most `max_age` in the past (default 60 s) and `max_skew` in the future
    /// (default 5 s), whole seconds. A proof's `jti` is remembered for `max_age` after its
    /// `iat`, in the assertion store.
    pub fn dpop_proof_window(
        mut self,
        max_age: std::time::Duration,
        max_skew: std::time::Duration,
    ) -> Self {
        self.config.dpop = self.config.dpop.proof_window(max_age, max_skew);
        self
    }

    /// Requires every DPoP proof to carry a nonce the server made with `secret` (RFC 9449 §8,
    /// §9; off by default). Nonces are stateless: give every instance the same secret, and any
    /// of them accepts the nonce another gave out. A proof without a nonce, or with a stale
    /// one, is answered `use_dpop_nonce` with a fresh nonce in the `DPoP-Nonce` header.
    ///
    /// ```
    /// use oauth_endpoints::AuthorizationServer;
    /// use oauth_endpoints::dpop::DpopNonceSecret;
    ///
    /// // In a deployment, 32 or more bytes from a CSPRNG, the same on every instance.
    /// let secret = DpopNonceSecret::new(*b"0123456789abcdef0123456789abcdef").unwrap();
    /// let server = AuthorizationServer::builder().dpop_nonce_secret(secret).build().unwrap();
    /// assert!(server.config().dpop.requires_nonces());
    /// ```
    pub fn dpop_nonce_secret(mut self, secret: crate::dpop::DpopNonceSecret) -> Self {
        self.config.dpop = self.config.dpop.require_nonces(secret);
        self
    }

    /// The length of a DPoP nonce period (default 5 minutes): a nonce is accepted in the
    /// period it was made in and its neighbours, so it lives one to two periods. Every
    /// instance sharing a [nonce secret](Self::dpop_nonce_secret) must use the same length.
    pub fn dpop_nonce_period(mut self, period: std::time::Duration) -> Self {
        self.config.dpop = self.config.dpop.nonce_period(period);
        self
    }

    /// Whether revoking an access token revokes its whole grant (RFC 7009 §2.1 MAY; default
    /// false).
    pub fn revoke_grant_with_access_token(mut self, revoke: bool) -> Self {
        self.config.revoke_grant_with_access_token = revoke;
        self
    }

    /// `scopes_supported` in the metadata document (RFC 8414 §2).
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// `service_documentation` in the metadata document (RFC 8414 §2).
    pub fn service_documentation(mut self, url: impl Into<String>) -> Self {
        self.config.service_documentation = Some(url.into());
        self
    }

    /// Adds a static member to the metadata document (fields computed from the registry, such
    /// as endpoint URLs and `grant_types_supported`, cannot be replaced).
    pub fn metadata_field(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
        self.config.metadata_fields.insert(name.into(), value);
        self
    }

    /// The scope a Bearer token must carry to call introspection (default `introspection`).
    pub fn introspection_scope(mut self, scope: impl Into<String>) -> Self {
        self.config.introspection_scope = scope.into();
        self
    }

    /// Replaces the introspection policy (who may see which token, RFC 7662 §4). The default
    /// is [`DefaultIntrospectionPolicy`](crate::hooks::DefaultIntrospectionPolicy).
    pub fn introspection_policy(mut self, policy: impl IntrospectionPolicy) -> Self {
        self.hooks.policy = Arc::new(policy);
        self
    }

    /// Adds a hook that puts extra members into active introspection answers.
    pub fn introspection_claims(mut self, hook: impl IntrospectionClaims) -> Self {
        self.hooks.claims.push(Arc::new(hook));
        self
    }

    /// Adds a listener for revocation, introspection and refresh events.
    pub fn on_event(mut self, listener: impl EventListener) -> Self {
        self.hooks.listeners.push(Arc::new(listener));
        self
    }

    /// Limits each client to `quota` requests at the introspection and revocation endpoints
    /// (feature `throttle`; no limit unless called). A client over its limit gets 429 with
    /// `Retry-After` (RFC 6585 §4); other clients are unaffected. The limit is counted after
    /// client authentication, per `client_id`, in this process (each server instance counts
    /// its own). Custom endpoints apply it with [`Context::throttle`].
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use oauth_endpoints::AuthorizationServer;
    /// use oauth_endpoints::throttle::Quota;
    ///
    /// const PER_SECOND: NonZeroU32 = NonZeroU32::new(10).unwrap();
    /// const BURST: NonZeroU32 = NonZeroU32::new(50).unwrap();
    /// let server = AuthorizationServer::builder()
    ///     .throttle(Quota::per_second(PER_SECOND).allow_burst(BURST))
    ///     .build()
    ///     .unwrap();
    /// ```
    #[cfg(feature = "throttle")]
    pub fn throttle(mut self, quota: crate::throttle::Quota) -> Self {
        self.throttle = Some(crate::throttle::Throttle::new(quota));
        self
    }

    /// Registers a grant type instance for `grant_type` at the token endpoint.
    #[track_caller]
    pub fn register_grant<G: Grant>(mut self, grant_type: impl Into<String>, grant: G) -> Self {
        self.grants.push(GrantCandidate {
            grant_type: grant_type.into(),
            source: Source::caller::<G>(),
            grant: GrantInstance::Ready(Arc::new(grant) as Arc<dyn DynGrant>),
        });
        self
    }

    /// Makes [`build`](Self::build) fail with [`BuildError::MissingEndpoint`] unless an endpoint
    /// named `name` is mounted. Annotated endpoints are collected at link time: a crate of
    /// endpoints that nothing in the program uses is not linked, and its endpoints are silently
    /// absent (`use my_endpoints as _;` links it). Requiring them turns that into an error.
    ///
    /// ```
    /// use oauth_endpoints::{AuthorizationServer, BuildError};
    ///
    /// let built = AuthorizationServer::builder().require_endpoint("revocation").build();
    /// assert!(built.is_ok());
    /// let missing = AuthorizationServer::builder().require_endpoint("userinfo").build();
    /// assert!(matches!(missing, Err(BuildError::MissingEndpoint { .. })));
    /// ```
    pub fn require_endpoint(mut self, name: impl Into<String>) -> Self {
        self.required_endpoints.push(name.into());
        self
    }

    /// Makes [`build`](Self::build) fail with [`BuildError::MissingGrant`] unless a grant is
    /// registered for `grant_type` (see [`require_endpoint`](Self::require_endpoint) for why).
    pub fn require_grant(mut self, grant_type: impl Into<String>) -> Self {
        self.required_grants.push(grant_type.into());
        self
    }

    /// Leaves out the collected (annotated) grant type `grant_type`.
    pub fn exclude_grant(mut self, grant_type: impl Into<String>) -> Self {
        self.excluded_grants.push(grant_type.into());
        self
    }

    /// Validates every endpoint and builds the dispatch table and route list.
    ///
    /// Fails, naming the culprits and their source locations, on two endpoints with one name,
    /// two endpoints answering one method on one path, an exclusion, `only` entry or mount that
    /// names no endpoint, an invalid name, path or method, and a required endpoint or grant that
    /// is missing.
    pub fn build(self) -> Result<AuthorizationServer, BuildError> {
        let Self {
            explicit,
            exclude,
            only,
            mounts,
            base_path,
            state,
            config,
            clients,
            client_cache,
            tokens,
            assertions,
            clock,
            grants,
            excluded_grants,
            required_endpoints,
            required_grants,
            hooks,
            #[cfg(feature = "throttle")]
            throttle,
        } = self;
        if config.access_token_format == crate::token::AccessTokenFormat::Jwt
            && (config.signing_keys.is_none() || config.issuer.is_none())
        {
            return Err(BuildError::JwtWithoutKeys);
        }
        let mut setup = Setup {
            state: &state,
            config: &config,
            published: serde_json::Map::new(),
        };
        let mut unmounted = Vec::new();
        let mut published = serde_json::Map::new();
        let grants = select_grants(
            grants,
            &excluded_grants,
            &mut setup,
            &mut unmounted,
            &mut published,
        )?;
        if let Some(grant_type) = required_grants
            .iter()
            .find(|required| !grants.grant_types().contains(required))
        {
            return Err(
                match unmounted.iter().find(|u| u.grant && u.name == **grant_type) {
                    Some(unmounted) => BuildError::Unmounted(unmounted.clone()),
                    None => BuildError::MissingGrant {
                        grant_type: grant_type.clone(),
                    },
                },
            );
        }
        let issuer_id = config
            .issuer
            .as_deref()
            .map(|text| {
                metadata::parse_issuer(text).map_err(|reason| BuildError::InvalidIssuer {
                    issuer: text.to_owned(),
                    reason,
                })
            })
            .transpose()?;
        let mounted_by_hand: Vec<String> = mounts.iter().map(|(name, _)| name.clone()).collect();

        let mut candidates = select(collect(), &exclude, only.as_deref())?;
        candidates.extend(explicit);
        let mut candidates = check_setups(candidates, &mut setup, &mut unmounted, &mut published);
        apply_mounts(&mut candidates, mounts)?;
        if let Some(prefix) = base_path {
            apply_base_path(&mut candidates, &prefix)?;
        }
        // RFC 8414 §3.1: an issuer with a path moves the well-known document under that path.
        if let Some(issuer) = issuer_id.as_ref().filter(|issuer| !issuer.path.is_empty()) {
            for candidate in candidates.iter_mut().filter(|c| {
                c.spec.path == metadata::WELL_KNOWN_PATH
                    && !mounted_by_hand
                        .iter()
                        .any(|name| c.spec.name == name.as_str())
            }) {
                candidate.spec.path = metadata::well_known_path(issuer);
            }
        }
        let routes = validate(&candidates)?;

        // Sort by path, then name, whatever the link order; endpoint indices follow.
        let mut mounted: Vec<(Route, Candidate)> = routes.into_iter().zip(candidates).collect();
        mounted.sort_by(|(a, _), (b, _)| (a.path(), a.name()).cmp(&(b.path(), b.name())));
        let (mut routes, candidates): (Vec<Route>, Vec<Candidate>) = mounted.into_iter().unzip();
        check_route_conflicts(&routes)?;
        // Without any store, assertions are remembered in memory, as everything else.
        let assertions = assertions.or_else(|| {
            (clients.is_none() && tokens.is_none()).then(|| Authorizations::new(MemoryStore::new()))
        });
        crate::client_auth::assertion::offer_only_if_checkable(
            &mut routes,
            assertions.is_some(),
            config.issuer.is_some(),
        );
        if let Some(name) = required_endpoints
            .iter()
            .find(|required| !routes.iter().any(|route| route.name() == required.as_str()))
        {
            return Err(
                match unmounted.iter().find(|u| !u.grant && u.name == *name) {
                    Some(unmounted) => BuildError::Unmounted(unmounted.clone()),
                    None => BuildError::MissingEndpoint { name: name.clone() },
                },
            );
        }

        let table = Table::new(&routes);
        let metadata = match (&issuer_id, &config.issuer) {
            (Some(issuer), Some(text)) => {
                let document =
                    metadata::document(issuer, text, &routes, &grants, &config, &published);
                if let Some(name) = config
                    .metadata_fields
                    .keys()
                    .find(|name| document.get(*name) != config.metadata_fields.get(*name))
                {
                    return Err(BuildError::ComputedMetadataField { name: name.clone() });
                }
                let bytes = metadata::to_bytes(&document);
                Some((document, bytes))
            }
            _ => None,
        };
        let (clients, tokens) = match (clients, tokens) {
            (Some(clients), Some(tokens)) => (clients, tokens),
            (clients, tokens) => {
                let memory = MemoryStore::new();
                (
                    clients.unwrap_or_else(|| Arc::new(memory.clone())),
                    tokens.unwrap_or_else(|| Tokens::new(memory)),
                )
            }
        };
        let clients = Clients::from_dyn(clients, client_cache);
        let issuer = TokenIssuer::new(tokens.clone(), Arc::clone(&clock), &config);
        let shared = Arc::new(Shared {
            state,
            config,
            routes,
            clients,
            tokens,
            assertions,
            clock,
            grants,
            issuer,
            hooks,
            metadata,
            #[cfg(feature = "throttle")]
            throttle,
        });
        let endpoints = candidates
            .into_iter()
            .enumerate()
            .map(|(index, candidate)| {
                let mut endpoint = candidate.instance.instantiate();
                // The `cors` declaration applies the CORS step around the endpoint, so routes
                // without it pay nothing for it.
                if candidate.spec.cors {
                    endpoint = Arc::new(cors::CrossOrigin(endpoint));
                }
                (endpoint, Context::new(Arc::clone(&shared), index))
            })
            .collect();
        for route in &shared.routes {
            let methods: Vec<&str> = route.methods().iter().map(Method::as_str).collect();
            tracing::info!(
                endpoint = route.name(),
                path = route.path(),
                methods = methods.join(", "),
                module = route.source().module_path(),
                "mounted OAuth endpoint"
            );
        }
        for left_out in &unmounted {
            tracing::info!("{left_out}");
        }
        Ok(AuthorizationServer {
            inner: Arc::new(Inner {
                endpoints,
                table,
                shared,
                unmounted,
            }),
        })
    }
}

/// Instantiates every candidate endpoint and keeps those whose `check_setup` accepts `setup`;
/// the others go to `unmounted`.
fn check_setups(
    candidates: Vec<Candidate>,
    setup: &mut Setup<'_>,
    unmounted: &mut Vec<Unmounted>,
    published: &mut serde_json::Map<String, serde_json::Value>,
) -> Vec<Candidate> {
    let mut kept = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let endpoint = candidate.instance.instantiate();
        setup.published.clear();
        match endpoint.check_setup_dyn(setup) {
            Ok(()) => {
                published.append(&mut setup.published);
                kept.push(Candidate {
                    instance: Instance::Ready(endpoint),
                    ..candidate
                });
            }
            Err(reason) => unmounted.push(Unmounted {
                name: candidate.spec.name.to_string(),
                grant: false,
                reason,
            }),
        }
    }
    kept
}

/// Every annotated grant plus the explicit ones, less exclusions and those whose `check_setup`
/// refuses `setup`; one grant per `grant_type`.
fn select_grants(
    explicit: Vec<GrantCandidate>,
    excluded: &[String],
    setup: &mut Setup<'_>,
    unmounted: &mut Vec<Unmounted>,
    published: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<Grants, BuildError> {
    let collected: Vec<GrantCandidate> = grant::collected()
        .map(|registration| GrantCandidate {
            grant_type: registration.description.grant_type().to_owned(),
            source: registration.description.source(),
            grant: GrantInstance::Factory(registration.factory),
        })
        .collect();
    if let Some(name) = excluded
        .iter()
        .find(|name| !collected.iter().any(|c| &c.grant_type == *name))
    {
        return Err(BuildError::UnknownGrantExclusion {
            grant_type: name.clone(),
        });
    }
    let mut candidates: Vec<GrantCandidate> = collected
        .into_iter()
        .filter(|c| !excluded.contains(&c.grant_type))
        .chain(explicit)
        .collect();
    candidates.sort_by(|a, b| (&a.grant_type, a.source).cmp(&(&b.grant_type, b.source)));
    if let Some(pair) = candidates
        .windows(2)
        .find(|pair| pair[0].grant_type == pair[1].grant_type)
    {
        return Err(BuildError::DuplicateGrant {
            grant_type: pair[0].grant_type.clone(),
            first: pair[0].source,
            second: pair[1].source,
        });
    }
    if let Some(bad) = candidates
        .iter()
        .find(|c| oauth_endpoints_rules::check_grant_type(&c.grant_type).is_err())
    {
        return Err(BuildError::InvalidGrantType {
            grant_type: bad.grant_type.clone(),
            at: bad.source,
        });
    }
    let mut mounted = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let grant = candidate.grant.instantiate();
        setup.published.clear();
        match grant.check_setup_dyn(setup) {
            Ok(()) => {
                published.append(&mut setup.published);
                mounted.push((candidate.grant_type, grant));
            }
            Err(reason) => unmounted.push(Unmounted {
                name: candidate.grant_type,
                grant: true,
                reason,
            }),
        }
    }
    Ok(Grants::new(mounted))
}

/// Every annotated endpoint linked into the program.
fn collect() -> Vec<Candidate> {
    registration::collected()
        .map(|registration| {
            let description = registration.description;
            Candidate {
                spec: EndpointSpec {
                    name: Cow::Borrowed(description.name()),
                    path: description.path().to_owned(),
                    methods: description
                        .methods()
                        .iter()
                        .filter_map(|method| Method::from_bytes(method.as_bytes()).ok())
                        .collect(),
                    auth_methods: description
                        .auth_methods()
                        .unwrap_or(ClientAuthMethod::DEFAULT)
                        .to_vec(),
                    metadata: description.metadata().map(Cow::Borrowed),
                    cors: description.cors(),
                },
                source: description.source(),
                instance: Instance::Factory(registration.factory),
            }
        })
        .collect()
}

/// Applies `exclude` and `only` to the collected endpoints.
fn select(
    collected: Vec<Candidate>,
    exclude: &[String],
    only: Option<&[String]>,
) -> Result<Vec<Candidate>, BuildError> {
    let known = |name: &String| collected.iter().any(|c| c.spec.name == name.as_str());
    if let Some(name) = exclude.iter().find(|name| !known(name)) {
        return Err(BuildError::UnknownExclusion { name: name.clone() });
    }
    if let Some(name) = only.and_then(|only| only.iter().find(|name| !known(name))) {
        return Err(BuildError::UnknownOnly { name: name.clone() });
    }
    Ok(collected
        .into_iter()
        .filter(|c| !exclude.iter().any(|name| c.spec.name == name.as_str()))
        .filter(|c| only.is_none_or(|only| only.iter().any(|name| c.spec.name == name.as_str())))
        .collect())
}

fn apply_mounts(
    candidates: &mut [Candidate],
    mounts: Vec<(String, String)>,
) -> Result<(), BuildError> {
    for (name, path) in mounts {
        let mut found = false;
        for candidate in candidates
            .iter_mut()
            .filter(|c| c.spec.name == name.as_str())
        {
            candidate.spec.path.clone_from(&path);
            found = true;
        }
        if !found {
            return Err(BuildError::UnknownMount { name, path });
        }
    }
    Ok(())
}

/// Prefixes every path but the well-known metadata document's with `prefix`.
fn apply_base_path(candidates: &mut [Candidate], prefix: &str) -> Result<(), BuildError> {
    let invalid = |reason| BuildError::InvalidBasePath {
        path: prefix.to_owned(),
        reason,
    };
    check_path(prefix).map_err(invalid)?;
    if prefix.ends_with('/') {
        return Err(invalid("must not end with `/`"));
    }
    for candidate in candidates
        .iter_mut()
        .filter(|c| c.spec.path != metadata::WELL_KNOWN_PATH)
    {
        candidate.spec.path.insert_str(0, prefix);
    }
    Ok(())
}

/// Checks names, paths and methods, and that names are unique; returns one route per candidate.
fn validate(candidates: &[Candidate]) -> Result<Vec<Route>, BuildError> {
    let mut routes = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let spec = &candidate.spec;
        let at = candidate.source;
        if oauth_endpoints_rules::check_name(&spec.name).is_err() {
            return Err(BuildError::InvalidName {
                name: spec.name.to_string(),
                at,
            });
        }
        check_path(&spec.path).map_err(|reason| BuildError::InvalidPath {
            name: spec.name.to_string(),
            path: spec.path.clone(),
            reason,
            at,
        })?;
        check_methods(&spec.methods).map_err(|method| BuildError::InvalidMethod {
            name: spec.name.to_string(),
            method,
            at,
        })?;
        if spec.auth_methods.is_empty() {
            return Err(BuildError::NoAuthMethods {
                name: spec.name.to_string(),
                at,
            });
        }
        if let Some(metadata) = spec
            .metadata
            .as_deref()
            .filter(|m| !oauth_endpoints_rules::is_metadata_name(m))
        {
            return Err(BuildError::InvalidMetadataName {
                name: spec.name.to_string(),
                metadata: metadata.to_owned(),
                at,
            });
        }
        routes.push(Route {
            name: spec.name.clone(),
            path: spec.path.clone(),
            methods: spec.methods.clone(),
            auth_methods: spec.auth_methods.clone(),
            metadata: spec.metadata.clone(),
            source: at,
            cors: spec.cors,
        });
    }

    let mut by_name: Vec<&Route> = routes.iter().collect();
    by_name.sort_by(|a, b| (a.name(), a.source()).cmp(&(b.name(), b.source())));
    if let Some(pair) = by_name
        .windows(2)
        .find(|pair| pair[0].name() == pair[1].name())
    {
        return Err(BuildError::DuplicateName {
            name: pair[0].name().to_owned(),
            first: pair[0].source(),
            second: pair[1].source(),
        });
    }
    Ok(routes)
}

/// Two endpoints may share a path, but not a method on it. `routes` is sorted by path then name.
fn check_route_conflicts(routes: &[Route]) -> Result<(), BuildError> {
    let mut seen: HashMap<(&str, &Method), &Route> = HashMap::new();
    for route in routes {
        for method in route.methods() {
            if let Some(first) = seen.insert((route.path(), method), route) {
                return Err(BuildError::DuplicateRoute {
                    method: method.clone(),
                    path: route.path().to_owned(),
                    first_name: first.name().to_owned(),
                    first: first.source(),
                    second_name: route.name().to_owned(),
                    second: route.source(),
                });
            }
        }
    }
    Ok(())
}
