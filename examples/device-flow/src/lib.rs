//! The OAuth 2.0 Device Authorization Grant (RFC 8628) as an add-on to `oauth-endpoints`,
//! written as any user's crate would be: with the core's public API alone.
//!
//! Linking this crate adds, to every server built in the program:
//!
//! - [`DeviceAuthorizationEndpoint`]: `device_authorization` at `/oauth/device_authorization`
//!   (POST), published in the metadata document as `device_authorization_endpoint` (§3.1,
//!   §3.2, §4);
//! - [`VerificationPage`]: `device_verification` at `/device` (GET, POST), where the user enters
//!   the code and approves or denies (§3.3, §3.3.1), with CSRF protection and rate-limited
//!   code entry (§5.1);
//! - [`DeviceCodeGrant`]: `urn:ietf:params:oauth:grant-type:device_code` at the core's token
//!   endpoint (§3.4, §3.5).
//!
//! The application gives the server a [`DeviceFlow`] (the store, a [`CurrentUser`] hook, the
//! timings) with `.with_state(...)`, and lets clients opt in by listing [`GRANT_TYPE`] in their
//! `grant_types`. The three are mounted only when the flow is configured, as checked once at
//! `build()` (each one's `check_setup`): a `DeviceFlow` state, with a user hook
//! ([`DeviceFlow::with_users`]), on a server with an issuer (or a
//! [`DeviceFlow::verification_uri`]). A server that lacks any of these exposes none of them:
//! their paths answer 404, the metadata document and `grant_types_supported` leave them out,
//! and `server.unmounted()` lists each with the reason, naming what to give the builder (it is
//! logged at `build()` too); `.require_endpoint("device_authorization")` makes that a build
//! error:
//!
//! ```
//! use device_flow::{DeviceFlow, FixedUser, GRANT_TYPE, MemoryDeviceStore};
//! use oauth_endpoints::{AuthorizationServer, Client};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = AuthorizationServer::builder()
//!     .issuer("https://auth.example.com")
//!     .with_state(DeviceFlow::new(MemoryDeviceStore::new()).with_users(FixedUser::new("alice")))
//!     .build()
//!     .unwrap();
//! let tv = Client::public("living-room-tv")
//!     .with_grant_types([GRANT_TYPE])
//!     .with_scope("read".parse().unwrap())
//!     .build()
//!     .unwrap();
//! server.clients().save(&tv).await.unwrap();
//!
//! assert!(server.route("device_authorization").is_some());
//! assert!(server.grants().contains(GRANT_TYPE));
//! assert_eq!(
//!     server.metadata().unwrap()["device_authorization_endpoint"],
//!     "https://auth.example.com/oauth/device_authorization"
//! );
//!
//! // No user hook: nobody could approve a device, so nothing half-working is mounted.
//! let bare = AuthorizationServer::builder()
//!     .issuer("https://auth.example.com")
//!     .with_state(DeviceFlow::new(MemoryDeviceStore::new()))
//!     .build()
//!     .unwrap();
//! assert!(bare.route("device_authorization").is_none());
//! assert!(bare.route("device_verification").is_none());
//! assert!(!bare.grants().contains(GRANT_TYPE));
//! let left_out = bare
//!     .unmounted()
//!     .iter()
//!     .find(|u| u.name == "device_authorization")
//!     .unwrap();
//! assert!(left_out.reason.contains("DeviceFlow::with_users"));
//! # }
//! ```
//!
//! Registrations live in this crate: a program that depends on it but never names it loses
//! them at link time. Name it once, e.g. `use device_flow as _;`, or use any of its items.

mod config;
mod endpoint;
mod grant;
mod limiter;
mod page;
mod store;
mod user;
mod user_code;

pub use config::{DeviceFlow, VERIFICATION_ENDPOINT};
pub use endpoint::DeviceAuthorizationEndpoint;
pub use grant::DeviceCodeGrant;
pub use page::{CSRF_COOKIE, CSRF_FIELD, VerificationPage};
#[cfg(feature = "postgres")]
pub use store::PgDeviceStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteDeviceStore;
pub use store::{
    Created, DeviceAuthorization, DeviceStatus, DeviceStore, Devices, MemoryDeviceStore,
    PollOutcome, SLOW_DOWN_STEP,
};

pub use user::{CurrentUser, FixedUser};
pub use user_code::UserCode;

/// The `grant_type` of RFC 8628 §3.4.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
