//! Framework integrations, each behind its cargo feature.

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "tokio")]
mod purger;
#[cfg(feature = "tower")]
mod tower;

#[cfg(feature = "tokio")]
pub use self::purger::Purger;
#[cfg(feature = "tower")]
pub use self::tower::OAuthService;
