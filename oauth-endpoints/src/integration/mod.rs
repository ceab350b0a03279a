//! Framework integrations, each behind its cargo feature.

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "tower")]
mod protect;
#[cfg(feature = "tokio")]
mod purger;
#[cfg(feature = "axum")]
mod resource_axum;
#[cfg(feature = "tower")]
mod tower;

#[cfg(feature = "tower")]
pub use self::protect::{Protect, ProtectLayer};
#[cfg(feature = "tokio")]
pub use self::purger::Purger;
#[cfg(feature = "tower")]
pub use self::tower::OAuthService;
