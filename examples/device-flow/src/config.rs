//! [`DeviceFlow`]: the add-on's settings and store, handed to the server with
//! `.with_state(...)` and read by its endpoints and grant through `cx.state()`; and the rule,
//! checked once at `build()`, that decides whether they are mounted at all.

use std::fmt;
use std::time::Duration;

use http::{StatusCode, Uri};
use oauth_endpoints::server::Setup;
use oauth_endpoints::{Context, OAuthError};

use crate::limiter::AttemptLimiter;
use crate::store::{DeviceStore, Devices};
use crate::user::{CurrentUser, Users};

/// The name of the verification page's endpoint.
pub const VERIFICATION_ENDPOINT: &str = "device_verification";

/// The device flow's configuration and state.
///
/// The add-on's endpoints and grant are mounted only on a server that can complete the flow,
/// as checked once at `build()`: one given a `DeviceFlow` with `.with_state(...)`, whose flow
/// has a user hook ([`DeviceFlow::with_users`]: without one nobody could ever approve a
/// device), and that has an issuer or a [`DeviceFlow::verification_uri`] (to tell users where to
/// go). Otherwise none of the three is mounted: they answer 404 like any unknown path, are not
/// in the metadata document, and
/// [`AuthorizationServer::unmounted`](oauth_endpoints::AuthorizationServer::unmounted) lists
/// each with the reason (also logged at `build()`), which `.require_endpoint(...)` or
/// `.require_grant(...)` turns into a build error.
///
/// ```
/// use std::time::Duration;
/// use device_flow::{DeviceFlow, FixedUser, MemoryDeviceStore};
/// use oauth_endpoints::AuthorizationServer;
///
/// let server = AuthorizationServer::builder()
///     .issuer("https://auth.example.com")
///     .with_state(
///         DeviceFlow::new(MemoryDeviceStore::new())
///             .with_users(FixedUser::new("demo-user"))
///             .expires_in(Duration::from_secs(600))
///             .interval(Duration::from_secs(5)),
///     )
///     .build()
///     .unwrap();
/// # drop(server);
/// ```
pub struct DeviceFlow {
    devices: Devices,
    users: Option<Users>,
    expires_in: u64,
    interval: u64,
    verification_uri: Option<String>,
    max_pending_per_client: u32,
    pub(crate) limiter: AttemptLimiter,
}

impl fmt::Debug for DeviceFlow {
    /// The settings; of the limiter, how many users it tracks, never who they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceFlow")
            .field("devices", &self.devices)
            .field("user_hook", &self.users.is_some())
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .field("verification_uri", &self.verification_uri)
            .field("max_pending_per_client", &self.max_pending_per_client)
            .field("limiter", &self.limiter)
            .finish()
    }
}

impl DeviceFlow {
    /// Default lifetime of device and user codes: 10 minutes.
    pub const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(600);
    /// Default polling interval (RFC 8628 §3.2: clients use 5 seconds when none is given).
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
    /// Default limit on user-code entries (RFC 8628 §5.1): 10 per user at once, then one more
    /// every 30 seconds (10 per 5 minutes). Approving a device takes two entries.
    pub const DEFAULT_MAX_CODE_ENTRIES: (u32, Duration) = (10, Duration::from_secs(300));
    /// Default bound on one client's pending device authorizations: 100 (see
    /// [`DeviceFlow::max_pending_per_client`]).
    pub const DEFAULT_MAX_PENDING_PER_CLIENT: u32 = 100;

    /// A device flow keeping its state in `store`, with the defaults and no user hook: give it
    /// one with [`DeviceFlow::with_users`], or the server mounts none of the add-on's endpoints.
    pub fn new(store: impl DeviceStore) -> Self {
        let (max, window) = Self::DEFAULT_MAX_CODE_ENTRIES;
        Self {
            devices: Devices::new(store),
            users: None,
            expires_in: Self::DEFAULT_EXPIRES_IN.as_secs(),
            interval: Self::DEFAULT_INTERVAL.as_secs(),
            verification_uri: None,
            max_pending_per_client: Self::DEFAULT_MAX_PENDING_PER_CLIENT,
            limiter: AttemptLimiter::new(max, window),
        }
    }

    /// Who the user at the verification page is (RFC 8628 §3.3). Required: without a hook
    /// nobody could approve a device, so the server leaves the add-on's endpoints and grant
    /// out (see [`DeviceFlow`]).
    #[must_use]
    pub fn with_users(mut self, hook: impl CurrentUser) -> Self {
        self.users = Some(Users::new(hook));
        self
    }

    /// How long device and user codes live (`expires_in`, RFC 8628 §3.2).
    #[must_use]
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.expires_in = lifetime.as_secs().max(1);
        self
    }

    /// The minimum polling interval (`interval`, RFC 8628 §3.2).
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.as_secs();
        self
    }

    /// The `verification_uri` to publish instead of the issuer's origin followed by the
    /// verification page's path (e.g. a short URL that redirects there). With it, the flow needs
    /// no issuer.
    #[must_use]
    pub fn verification_uri(mut self, uri: impl Into<String>) -> Self {
        self.verification_uri = Some(uri.into());
        self
    }

    /// At most `max` user-code entries per signed-in user at once, refilled evenly over
    /// `window` (one more every `window / max`), against brute forcing (RFC 8628 §5.1). Every
    /// entry that looks a code up counts, right or wrong, before the lookup; past the limit the
    /// page answers 429 with `Retry-After`. `max` is at least 1.
    #[must_use]
    pub fn max_code_entries(mut self, max: u32, window: Duration) -> Self {
        self.limiter = AttemptLimiter::new(max, window);
        self
    }

    /// At most `max` pending, unexpired device authorizations per client (at least 1). One more
    /// is refused with 429 `temporarily_unavailable` and `Retry-After` (see
    /// [`DeviceAuthorizationEndpoint`](crate::DeviceAuthorizationEndpoint)) until one is
    /// approved, denied or expires. The count and the insertion are one atomic store call
    /// ([`DeviceStore::create`]).
    ///
    /// A public client proves nothing but its `client_id`, so anyone can fill its slots: size
    /// the bound for how many of its users may start a flow within one code lifetime.
    #[must_use]
    pub fn max_pending_per_client(mut self, max: u32) -> Self {
        self.max_pending_per_client = max.max(1);
        self
    }

    /// The bound on one client's pending device authorizations.
    pub fn pending_bound(&self) -> u32 {
        self.max_pending_per_client
    }

    /// The store.
    pub fn devices(&self) -> &Devices {
        &self.devices
    }

    /// The lifetime of codes, in seconds.
    pub fn expires_in_secs(&self) -> u64 {
        self.expires_in
    }

    /// The initial polling interval, in seconds.
    pub fn interval_secs(&self) -> u64 {
        self.interval
    }

    pub(crate) fn users(&self) -> Option<&Users> {
        self.users.as_ref()
    }

    /// The `DeviceFlow` the application gave the server, if it can complete a flow there: the
    /// rule of [`Endpoint::check_setup`](oauth_endpoints::Endpoint::check_setup) of both
    /// endpoints and of [`Grant::check_setup`](oauth_endpoints::Grant::check_setup) of the
    /// grant, so the three are mounted together or not at all. `Err` is the reason
    /// [`AuthorizationServer::unmounted`](oauth_endpoints::AuthorizationServer::unmounted)
    /// reports, naming what to give the builder.
    pub(crate) fn of_setup<'a>(setup: &'a Setup<'_>) -> Result<&'a Self, String> {
        let flow = setup.state::<Self>().ok_or_else(|| {
            "no DeviceFlow state: give the builder \
             `.with_state(DeviceFlow::new(store).with_users(hook))`"
                .to_owned()
        })?;
        if flow.users.is_none() {
            return Err(
                "the DeviceFlow has no user hook, so nobody could approve a device: give it one \
                 with `DeviceFlow::with_users(hook)`"
                    .to_owned(),
            );
        }
        if flow.verification_uri.is_none() && setup.config().issuer.is_none() {
            return Err(
                "the server has no issuer to build the verification_uri from, so devices could \
                 not tell users where to go: give the builder `.issuer(...)`, or the flow \
                 `DeviceFlow::verification_uri(...)`"
                    .to_owned(),
            );
        }
        Ok(flow)
    }

    /// The `DeviceFlow` the application gave the server, or a clear error. Unreachable from the
    /// add-on's endpoints and grant, which are not mounted without it ([`DeviceFlow::of_setup`]),
    /// but kept as an error rather than a panic.
    pub(crate) fn of(cx: &Context) -> Result<&Self, OAuthError> {
        cx.state::<Self>().ok_or_else(|| {
            server_error(
                "the device flow is not configured: give the server builder \
                 .with_state(DeviceFlow::new(store).with_users(hook))",
            )
        })
    }

    /// Where users go (RFC 8628 §3.2 `verification_uri`): the configured URI, or the issuer's
    /// origin followed by the verification page's path. The request's `Host` header is never
    /// used: a client could make it point users anywhere.
    ///
    /// A missing issuer is refused at `build()` ([`DeviceFlow::of_setup`]); what remains
    /// possible here is an application that left the verification page out (`.exclude(...)`,
    /// `.only(...)`) without setting [`DeviceFlow::verification_uri`]: a 500 `server_error`
    /// that says so.
    pub(crate) fn verification_uri_for(&self, cx: &Context) -> Result<String, OAuthError> {
        if let Some(uri) = &self.verification_uri {
            return Ok(uri.clone());
        }
        let origin = cx
            .config()
            .issuer
            .as_deref()
            .and_then(|issuer| issuer.parse::<Uri>().ok())
            .and_then(|issuer| {
                Some(format!(
                    "{}://{}",
                    issuer.scheme_str()?,
                    issuer.authority()?.as_str()
                ))
            })
            .ok_or_else(|| {
                server_error(
                    "the device flow needs the server's issuer (or DeviceFlow::verification_uri) \
                     to tell users where to go",
                )
            })?;
        let page = cx
            .routes()
            .iter()
            .find(|route| route.name() == VERIFICATION_ENDPOINT)
            .ok_or_else(|| {
                server_error(
                    "the verification page is not mounted: mount it, or set \
                     DeviceFlow::verification_uri",
                )
            })?;
        Ok(format!("{origin}{}", page.path()))
    }
}

/// `server_error` (RFC 6749 §5.2): a configuration mistake, logged and answered 500.
pub(crate) fn server_error(description: &'static str) -> OAuthError {
    tracing::error!("{description}");
    OAuthError::new("server_error", StatusCode::INTERNAL_SERVER_ERROR).with_description(description)
}
