//! Framework integrations, each behind its cargo feature.

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "tower")]
mod tower;

#[cfg(feature = "tower")]
pub use self::tower::OAuthService;
