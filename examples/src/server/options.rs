//! The server's command-line options (each with an environment-variable equivalent).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Serve the OAuth endpoints linked into this program.
#[derive(Debug, Clone, Parser)]
#[command(name = "server", version, about)]
pub struct Options {
    /// Address to listen on.
    #[arg(long, env = "OAUTH_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Where clients and tokens live: `memory`, `sqlite:PATH`, or `postgres://...`.
    #[arg(long, env = "OAUTH_STORE", default_value = "sqlite:oauth-endpoints.db")]
    pub store: String,

    /// A JSON array of clients (RFC 7591 names), upserted into the store at start-up. Without
    /// it, a demo client with a random secret is created and its secret printed once.
    #[arg(long, env = "OAUTH_CLIENTS")]
    pub clients: Option<PathBuf>,

    /// The issuer identifier, published as `iss` in introspection answers.
    #[arg(long, env = "OAUTH_ISSUER")]
    pub issuer: Option<String>,

    /// Access token lifetime in seconds.
    #[arg(long, env = "OAUTH_ACCESS_TOKEN_TTL", default_value_t = 3600)]
    pub access_token_ttl: u64,

    /// Refresh token lifetime in seconds.
    #[arg(long, env = "OAUTH_REFRESH_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl: u64,
}

/// Which store `--store` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// In process memory; lost on exit.
    Memory,
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl StoreChoice {
    /// Parses `memory`, `sqlite:PATH` or `postgres://...`.
    pub fn parse(value: &str) -> Option<Self> {
        if value == "memory" {
            Some(Self::Memory)
        } else if let Some(path) = value.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            (!path.is_empty()).then(|| Self::Sqlite(PathBuf::from(path)))
        } else if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            Some(Self::Postgres(value.to_owned()))
        } else {
            None
        }
    }
}
