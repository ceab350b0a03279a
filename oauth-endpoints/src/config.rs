//! [`ServerConfig`]: the settings every endpoint may read.

/// Server-wide settings, set through the builder and read by endpoints through
/// [`Context::config`](crate::Context::config).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The largest request body accepted, in bytes; larger bodies are refused with 413 before
    /// any endpoint runs. Default 64 KiB.
    pub body_limit: usize,
}

impl ServerConfig {
    /// The default body limit: 64 KiB.
    pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit: Self::DEFAULT_BODY_LIMIT,
        }
    }
}
