//! [`DeviceFlow`]: the add-on's settings and store, handed to the server with
//! `.with_state(...)` and read by its endpoints and grant through `cx.state()`.

use std::time::Duration;

use http::{StatusCode, Uri};
use oauth_endpoints::{Context, OAuthError};

use crate::limiter::AttemptLimiter;
use crate::store::{DeviceStore, Devices};
use crate::user::{CurrentUser, Users};

/// The name of the verification page's endpoint.
pub const VERIFICATION_ENDPOINT: &str = "device_verification";

/// The device flow's configuration and state.
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
#[derive(Debug)]
pub struct DeviceFlow {
    devices: Devices,
    users: Option<Users>,
    expires_in: u64,
    interval: u64,
    verification_uri: Option<String>,
    pub(crate) limiter: AttemptLimiter,
}

impl DeviceFlow {
    /// Default lifetime of device and user codes: 10 minutes.
    pub const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(600);
    /// Default polling interval (RFC 8628 §3.2: clients use 5 seconds when none is given).
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
    /// Default limit on wrong user-code entries: 5 per user per 5 minutes (RFC 8628 §5.1).
    pub const DEFAULT_MAX_FAILED_ENTRIES: (u32, Duration) = (5, Duration::from_secs(300));

    /// A device flow keeping its state in `store`, with the defaults and no user hook (the
    /// verification page then refuses to approve anything; see [`DeviceFlow::with_users`]).
    pub fn new(store: impl DeviceStore) -> Self {
        let (max, window) = Self::DEFAULT_MAX_FAILED_ENTRIES;
        Self {
            devices: Devices::new(store),
            users: None,
            expires_in: Self::DEFAULT_EXPIRES_IN.as_secs(),
            interval: Self::DEFAULT_INTERVAL.as_secs(),
            verification_uri: None,
            limiter: AttemptLimiter::new(max, window.as_secs()),
        }
    }

    /// Who the user at the verification page is (RFC 8628 §3.3).
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
    /// verification page's path (e.g. a short URL that redirects there).
    #[must_use]
    pub fn verification_uri(mut self, uri: impl Into<String>) -> Self {
        self.verification_uri = Some(uri.into());
        self
    }

    /// At most `max` wrong user-code entries per user within `window` (RFC 8628 §5.1).
    #[must_use]
    pub fn max_failed_entries(mut self, max: u32, window: Duration) -> Self {
        self.limiter = AttemptLimiter::new(max, window.as_secs());
        self
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

    /// The `DeviceFlow` the application gave the server, or a clear error.
    pub(crate) fn of(cx: &Context) -> Result<&Self, OAuthError> {
        cx.state::<Self>().ok_or_else(|| {
            server_error(
                "the device flow is not configured: give the server builder \
                 .with_state(DeviceFlow::new(store))",
            )
        })
    }

    /// Where users go (RFC 8628 §3.2 `verification_uri`): the configured URI, or the issuer's
    /// origin followed by the verification page's path. The request's `Host` header is never
    /// used: a client could make it point users anywhere.
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
