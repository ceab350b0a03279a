//! The server's command-line options (each with an environment-variable equivalent).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Serve the OAuth endpoints linked into this program.
#[derive(Clone, Parser)]
#[command(name = "server", version, about)]
pub struct Options {
    /// Address to listen on.
    #[arg(long, env = "OAUTH_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Where clients and tokens live: `memory`, `sqlite:PATH`, or `postgres://...`.
    #[arg(long, env = "OAUTH_STORE", default_value = "sqlite:oauth-endpoints.db")]
    pub store: String,

    /// A JSON array of clients (RFC 7591 names), upserted into the store at start-up. A demo
    /// client left in the store by an earlier `--demo-client` run is deleted, unless
    /// `--demo-client` is given too.
    #[arg(long, env = "OAUTH_CLIENTS")]
    pub clients: Option<PathBuf>,

    /// Demo mode: create a throwaway demo client (`demo-client`, a new random secret printed
    /// once) for trying the server, and mount the authorization code flow with a DEMO user
    /// anyone can sign in as. The client is deleted, with its tokens, at the next start without
    /// this flag. Always on with `--store memory` unless `--clients` is given. With
    /// `--clients`, the demo client may ask tokens for every resource a client of the file
    /// serves (`served_resources`). Never in a deployment.
    #[arg(long, env = "OAUTH_DEMO_CLIENT")]
    pub demo_client: bool,

    /// The least length of a client secret in the clients file (secrets are stored as
    /// unsalted SHA-256, so they must not be guessable; generated secrets always pass).
    #[arg(long, env = "OAUTH_CLIENT_SECRET_MIN_LENGTH", default_value_t = 32)]
    pub client_secret_min_length: usize,

    /// The issuer identifier, published as `iss` in introspection answers.
    #[arg(long, env = "OAUTH_ISSUER")]
    pub issuer: Option<String>,

    /// Serve every endpoint under this path prefix (e.g. `/auth`); the metadata document
    /// follows, and stays at its RFC 8414 well-known path.
    #[arg(long, env = "OAUTH_BASE_PATH")]
    pub base_path: Option<String>,

    /// Access token lifetime in seconds.
    #[arg(long, env = "OAUTH_ACCESS_TOKEN_TTL", default_value_t = 3600)]
    pub access_token_ttl: u64,

    /// Refresh token lifetime in seconds.
    #[arg(long, env = "OAUTH_REFRESH_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl: u64,

    /// Refresh-token grace window in seconds for clients without their own (0: off, RFC 9700
    /// §4.14.2 reuse detection on every second presentation).
    #[arg(long, env = "OAUTH_REFRESH_TOKEN_GRACE", default_value_t = 0)]
    pub refresh_token_grace: u64,

    /// Access tokens as `opaque` values or `jwt`s (RFC 9068, signed with the signing keys and
    /// published at the JWKS endpoint; still revocable through introspection).
    #[arg(long, env = "OAUTH_ACCESS_TOKEN_FORMAT", default_value = "opaque")]
    pub access_token_format: oauth_endpoints::token::AccessTokenFormat,

    /// A private key to sign JWTs with: PEM (P-256, Ed25519 or RSA) or a JWK (P-256, Ed25519). Repeat it to rotate: the
    /// first signs, the others stay in the JWKS so what they signed still verifies. With
    /// `--access-token-format jwt` and no key, one is generated at start-up: for development
    /// only, since its tokens stop verifying when the server stops.
    #[arg(
        long = "signing-key",
        env = "OAUTH_SIGNING_KEYS",
        value_delimiter = ','
    )]
    pub signing_keys: Vec<PathBuf>,

    /// Offer token exchange (RFC 8693): a client whose `grant_types` list
    /// `urn:ietf:params:oauth:grant-type:token-exchange` may exchange a token sent to it (its
    /// audience names the client or a resource it serves) for one meant for a resource it
    /// registered (`allowed_resources`), acting as itself.
    #[arg(long, env = "OAUTH_TOKEN_EXCHANGE")]
    pub token_exchange: bool,
}

impl std::fmt::Debug for Options {
    /// Every option, with the password of a store URL redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("addr", &self.addr)
            .field("store", &redact_url_password(&self.store))
            .field("clients", &self.clients)
            .field("demo_client", &self.demo_client)
            .field("client_secret_min_length", &self.client_secret_min_length)
            .field("issuer", &self.issuer)
            .field("base_path", &self.base_path)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("refresh_token_grace", &self.refresh_token_grace)
            .field("access_token_format", &self.access_token_format)
            .field("signing_keys", &self.signing_keys)
            .field("token_exchange", &self.token_exchange)
            .finish()
    }
}

/// `scheme://user:password@host...` with the password replaced by `<redacted>`; other text as
/// it is.
pub(crate) fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:<redacted>@{host}{path}"),
        None => url.to_owned(),
    }
}

/// Which store `--store` names.
#[derive(Clone, PartialEq, Eq)]
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

impl std::fmt::Debug for StoreChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&redact_url_password(url))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url_password;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url_password("postgres://app:s3cr%40t@db:5432/oauth?sslmode=require"),
            "postgres://app:<redacted>@db:5432/oauth?sslmode=require"
        );
        assert_eq!(
            redact_url_password("postgres://app@db/oauth"),
            "postgres://app@db/oauth"
        );
        assert_eq!(redact_url_password("sqlite:oauth.db"), "sqlite:oauth.db");
    }
}
