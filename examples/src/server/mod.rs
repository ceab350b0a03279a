//! The runnable server: options, start-up, the HTTP router with request logs, and the banner.

mod clients_file;
pub mod demo;
mod log_writer;
mod logging;
mod options;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use http::Method;
use oauth_endpoints::authorization::AuthorizationCodeFlow;
use oauth_endpoints::client::SecretPolicy;
use oauth_endpoints::exchange::{ForwardedTokens, TokenExchange};
use oauth_endpoints::keys::{KeySet, SigningAlgorithm, SigningKey};
use oauth_endpoints::purge::PurgeOptions;
use oauth_endpoints::secret::generate_secret;
use oauth_endpoints::store::{MemoryStore, PgStore, SqliteStore, StoreError};
use oauth_endpoints::token::AccessTokenFormat;
use oauth_endpoints::{AuthorizationServer, AuthorizationServerBuilder, BuildError, Client};
use tokio::net::TcpListener;

pub use clients_file::{load as load_clients, parse as parse_clients};
pub use log_writer::{BatchWriter, FlushGuard, batch_writer};
pub use logging::init as init_logging;
pub use options::{Options, StoreChoice};

/// Why the server could not start. Each message is whole (a store error's causes included):
/// print it with `Display`.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `--store` names no known store.
    #[error("--store `{0}`: expected `memory`, `sqlite:PATH` or `postgres://...`")]
    InvalidStore(String),
    /// The store could not be opened.
    #[error("could not open the store: {}", .0.report())]
    Store(StoreError),
    /// The clients file is unreadable or invalid.
    #[error("clients file {path}: {message}")]
    ClientsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the entry and the field.
        message: String,
    },
    /// A client the program makes is invalid.
    #[error("invalid client: {0}")]
    Client(String),
    /// The registry is inconsistent.
    #[error(transparent)]
    Build(Box<BuildError>),
    /// A signing key file is unreadable or not a key.
    #[error("signing key {path}: {message}")]
    SigningKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The address could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl From<StoreError> for StartError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<BuildError> for StartError {
    fn from(error: BuildError) -> Self {
        Self::Build(Box::new(error))
    }
}

/// A server ready to serve, and the demo client's credentials if one was made.
#[derive(Debug)]
pub struct Prepared {
    /// The server.
    pub server: AuthorizationServer,
    /// `(client_id, client_secret)` of the demo client, when `--demo-client` asked for one (or
    /// the store is `memory` and no clients file was given).
    pub demo: Option<(String, String)>,
    /// Demo mode's user, sessions and PKCE pair, when the authorization code flow is mounted
    /// for the demo.
    pub demo_flow: Option<demo::Demo>,
}

/// The demo client's id.
pub const DEMO_CLIENT: &str = "demo-client";

/// The demo client: confidential, `client_credentials` and `refresh_token`, scope `read write`,
/// with `secret`; with a `redirect_uri`, also `authorization_code` to it. Returns the client
/// and its secret.
pub fn demo_client(
    redirect_uri: Option<&str>,
    secret: String,
    resources: &[String],
) -> Result<(Client, String), StartError> {
    let mut grants = vec!["client_credentials", "refresh_token"];
    if redirect_uri.is_some() {
        grants.push("authorization_code");
    }
    let client = Client::confidential(DEMO_CLIENT, &secret)
        .with_grant_types(grants)
        .with_scope("read write".parse().unwrap_or_default())
        .with_redirect_uris(redirect_uri)
        .with_allowed_resources(resources)
        .build()
        .map_err(|error| StartError::Client(error.to_string()))?;
    Ok((client, secret))
}

/// The store `--store` opened, for add-ons that keep their own state beside it (e.g. a table in
/// the same SQLite database).
#[derive(Debug, Clone)]
pub enum OpenedStore {
    /// In process memory.
    Memory(MemoryStore),
    /// A SQLite file.
    Sqlite(SqliteStore),
    /// A PostgreSQL database.
    Postgres(PgStore),
}

/// Opens the store, builds the server, and loads the clients (or makes the demo client).
pub async fn prepare(options: &Options) -> Result<Prepared, StartError> {
    prepare_with(options, async |builder, _store| Ok(builder)).await
}

/// Like [`prepare`], letting `extend` add to the builder before the server is built: state,
/// registrations, exclusions. It sees the opened store, so an add-on can keep its own state in
/// the same database.
///
/// ```no_run
/// # async fn run(options: oauth_endpoints_examples::server::Options) {
/// use oauth_endpoints_examples::server::prepare_with;
///
/// let prepared = prepare_with(&options, async |builder, _store| {
///     Ok(builder.with_state("shared settings"))
/// })
/// .await;
/// # }
/// ```
pub async fn prepare_with<F>(options: &Options, extend: F) -> Result<Prepared, StartError>
where
    F: AsyncFnOnce(
        AuthorizationServerBuilder,
        &OpenedStore,
    ) -> Result<AuthorizationServerBuilder, StartError>,
{
    let policy = SecretPolicy::with_min_length(options.client_secret_min_length);
    let clients = options
        .clients
        .as_deref()
        .map(|path| load_clients(path, policy))
        .transpose()?;
    let mut builder = AuthorizationServer::builder()
        .access_token_ttl(Duration::from_secs(options.access_token_ttl))
        .refresh_token_ttl(Duration::from_secs(options.refresh_token_ttl))
        .refresh_token_grace(Duration::from_secs(options.refresh_token_grace));
    // Without --issuer, a server on loopback calls itself by its address (RFC 8414 accepts
    // http only there); elsewhere the metadata document needs an explicit issuer.
    let issuer = options.issuer.clone().or_else(|| {
        (options.addr.ip().is_loopback() && options.addr.port() != 0)
            .then(|| format!("http://{}", options.addr))
    });
    if let Some(issuer) = &issuer {
        builder = builder.issuer(issuer);
    }
    if let Some(prefix) = &options.base_path {
        builder = builder.base_path(prefix);
    }
    if let Some(keys) = signing_keys(options)? {
        builder = builder.signing_keys(keys);
    }
    builder = builder.access_token_format(options.access_token_format);
    let choice = StoreChoice::parse(&options.store);
    let demo_wanted =
        options.demo_client || (clients.is_none() && choice == Some(StoreChoice::Memory));
    // With a clients file, the demo client may ask tokens for what its clients serve.
    let demo_resources: Vec<String> = clients
        .iter()
        .flatten()
        .flat_map(|client| client.served_resources().iter().cloned())
        .collect();
    if options.token_exchange {
        builder = builder.with_state(TokenExchange::new(ForwardedTokens));
    }
    let store = match choice {
        Some(StoreChoice::Memory) => OpenedStore::Memory(MemoryStore::new()),
        Some(StoreChoice::Sqlite(path)) => OpenedStore::Sqlite(SqliteStore::open(path).await?),
        Some(StoreChoice::Postgres(url)) => OpenedStore::Postgres(PgStore::connect(&url).await?),
        None => return Err(StartError::InvalidStore(options.store.clone())),
    };
    builder = match &store {
        OpenedStore::Memory(memory) => builder.store(memory.clone()),
        OpenedStore::Sqlite(sqlite) => builder.store(sqlite.clone()),
        OpenedStore::Postgres(postgres) => builder.store(postgres.clone()),
    };
    // Demo mode, with an issuer: the authorization code flow with the DEMO user.
    let demo_flow = match (&issuer, demo_wanted) {
        (Some(issuer), true) => {
            let redirect_uri = format!(
                "{}{}{}",
                issuer.trim_end_matches('/'),
                options.base_path.as_deref().unwrap_or_default(),
                demo::CALLBACK_PATH
            );
            Some(
                demo::Demo::new(redirect_uri, generate_secret())
                    .with_resources(demo_resources.clone()),
            )
        }
        _ => None,
    };
    if let Some(flow) = &demo_flow {
        builder = with_demo_flow(builder, &store, flow.clone());
    }
    let server = extend(builder, &store).await?.build()?;
    if let Some(flow) = &demo_flow {
        let path = server.route("token").map_or("", |route| route.path());
        let origin = issuer.as_deref().unwrap_or_default();
        let origin = origin
            .find("://")
            .and_then(|scheme| {
                origin[scheme + 3..]
                    .find('/')
                    .map(|end| &origin[..scheme + 3 + end])
            })
            .unwrap_or(origin);
        flow.set_token_url(format!("{origin}{path}"));
    }
    let demo = if demo_wanted {
        let (client, secret) = match &demo_flow {
            Some(flow) => demo_client(
                Some(&flow.redirect_uri),
                flow.client_secret.clone(),
                &demo_resources,
            )?,
            None => demo_client(None, generate_secret(), &demo_resources)?,
        };
        server.clients().save(&client).await?;
        for client in clients.iter().flatten() {
            server.clients().save(client).await?;
        }
        tracing::warn!(
            client_id = DEMO_CLIENT,
            "a DEMO CLIENT with full token rights is registered; it is deleted, with its tokens, \
             at the next start without --demo-client. Never use --demo-client in a deployment"
        );
        Some((DEMO_CLIENT.to_owned(), secret))
    } else {
        // A demo client from an earlier `--demo-client` run must not outlive the demo.
        if server.clients().delete(DEMO_CLIENT, server.now()).await? {
            tracing::warn!(
                client_id = DEMO_CLIENT,
                "deleted the demo client of an earlier --demo-client run, and revoked its tokens"
            );
        }
        for client in clients.iter().flatten() {
            server.clients().save(client).await?;
        }
        None
    };
    Ok(Prepared {
        server,
        demo,
        demo_flow,
    })
}

/// The `--signing-key` files as a key set (the first active), or a key generated for
/// development when JWT access tokens are asked for without one; `None` otherwise.
fn signing_keys(options: &Options) -> Result<Option<KeySet>, StartError> {
    let mut keys = Vec::new();
    for path in &options.signing_keys {
        let failed = |message: String| StartError::SigningKey {
            path: path.clone(),
            message,
        };
        let pem = std::fs::read_to_string(path).map_err(|error| failed(error.to_string()))?;
        // A JSON Web Key, or PEM.
        let key = if pem.trim_start().starts_with('{') {
            SigningKey::from_jwk(&pem)
        } else {
            SigningKey::from_pem(&pem, None)
        };
        keys.push(key.map_err(|error| failed(error.to_string()))?);
    }
    let mut keys = keys.into_iter();
    let Some(active) = keys.next() else {
        if options.access_token_format != AccessTokenFormat::Jwt {
            return Ok(None);
        }
        let key = SigningKey::generate(SigningAlgorithm::Es256).map_err(|error| {
            StartError::SigningKey {
                path: PathBuf::from("(generated)"),
                message: error.to_string(),
            }
        })?;
        tracing::warn!(
            kid = key.kid(),
            "JWT access tokens are signed with a key generated at start-up: they stop verifying \
             when the server stops, and other instances do not know it; pass --signing-key FILE"
        );
        return Ok(Some(KeySet::new(key)));
    };
    tracing::info!(
        kid = active.kid(),
        algorithm = active.algorithm().as_str(),
        "signing key"
    );
    Ok(Some(keys.fold(KeySet::new(active), KeySet::with_previous)))
}

/// Mounts the authorization code flow with the DEMO user, its sign-in page and the demo
/// client's callback page.
fn with_demo_flow(
    builder: AuthorizationServerBuilder,
    store: &OpenedStore,
    flow: demo::Demo,
) -> AuthorizationServerBuilder {
    let code_flow = match store {
        OpenedStore::Memory(memory) => AuthorizationCodeFlow::new(memory.clone(), flow.clone()),
        OpenedStore::Sqlite(sqlite) => AuthorizationCodeFlow::new(sqlite.clone(), flow.clone()),
        OpenedStore::Postgres(postgres) => {
            AuthorizationCodeFlow::new(postgres.clone(), flow.clone())
        }
    };
    tracing::warn!(
        user = demo::DEMO_USER,
        "DEMO MODE: anyone can sign in as the demo user at {}; never run it in a deployment",
        demo::SIGN_IN_PATH
    );
    builder
        .with_state(code_flow)
        .with_state(flow)
        .register_endpoint(
            "demo_sign_in",
            demo::SIGN_IN_PATH,
            [Method::GET, Method::POST],
            demo::DemoSignInPage,
        )
        .register_endpoint(
            "demo_callback",
            demo::CALLBACK_PATH,
            [Method::GET],
            demo::DemoCallback,
        )
}

/// The HTTP application: every route of the server, with request logs.
pub fn router(server: AuthorizationServer) -> axum::Router {
    logging::layer(server.clone(), server.into_router())
}

/// Serves `server` on `listener` until `shutdown` completes, then finishes in-flight requests.
/// Expired tokens are purged meanwhile, in bounded passes ([`PurgeOptions::default`]: a pass a
/// minute of up to 100 batches of 1,000 tokens that expired over an hour ago).
pub async fn serve(
    listener: TcpListener,
    server: AuthorizationServer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let purger = server.spawn_purger(PurgeOptions::default());
    let result = axum::serve(listener, router(server))
        .with_graceful_shutdown(shutdown)
        .await;
    purger.stop().await;
    result
}

/// The URL of the endpoint named `name` as the server mounts it (a base path or a `mount`
/// moves it), for the commands a tour prints.
pub fn endpoint_url(
    addr: std::net::SocketAddr,
    server: &AuthorizationServer,
    name: &str,
) -> String {
    let path = server.route(name).map_or("", |route| route.path());
    format!("http://{addr}{path}")
}

/// What the server prints at start: the address, the routes, and how to try it.
pub fn banner(addr: std::net::SocketAddr, prepared: &Prepared) -> String {
    let mut out = format!("oauth-endpoints listening on http://{addr}\n\nroutes:\n");
    for route in prepared.server.routes() {
        let methods: Vec<&str> = route.methods().iter().map(http::Method::as_str).collect();
        out.push_str(&format!(
            "  {:<8} {:<40} {}\n",
            methods.join(","),
            route.path(),
            route.name()
        ));
    }
    for unmounted in prepared.server.unmounted() {
        out.push_str(&format!("  (not mounted) {unmounted}\n"));
    }
    let url = |name| endpoint_url(addr, &prepared.server, name);
    let (token, introspect, revoke) = (url("token"), url("introspection"), url("revocation"));
    match &prepared.demo {
        Some((id, secret)) => {
            out.push_str(&format!(
                "\nDEMO CLIENT, for trying the server only; it is deleted at the next start without \
                 --demo-client (its secret is shown only now):\n  client_id     {id}\n  client_secret {secret}\n\ntry it:\n"
            ));
            out.push_str(&format!(
                "  TOKEN=$(curl -s -u '{id}:{secret}' -d grant_type=client_credentials -d scope=read \\\n      {token} | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')\n"
            ));
            for endpoint in [&introspect, &revoke, &introspect] {
                out.push_str(&format!(
                    "  curl -s -u '{id}:{secret}' -d token=$TOKEN {endpoint}; echo\n"
                ));
            }
            if let (Some(flow), Some(_)) = (&prepared.demo_flow, prepared.server.route("authorization")) {
                out.push_str(&format!(
                    "\nthe authorization code flow, as the DEMO user `{}` (demo mode only):\n  \
                     open in a browser:\n    {}\n  sign in, approve; the callback page shows the \
                     code and this command, filled in:\n    curl -s -u '{id}:{secret}' -d \
                     grant_type=authorization_code -d code=CODE \\\n      -d redirect_uri={} \
                     -d code_verifier={} \\\n      {token}\n",
                    demo::DEMO_USER,
                    flow.authorization_url(&url("authorization")),
                    flow.redirect_uri,
                    flow.verifier,
                ));
            }
        }
        None => out.push_str(&format!(
            "\nclients: those of --clients FILE and any already in the store (pass --demo-client \
             for a throwaway demo client); try:\n  curl -s -u CLIENT_ID:SECRET -d grant_type=client_credentials {token}\n"
        )),
    }
    out
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down; finishing in-flight requests");
}

/// Binds `addr`.
pub async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}
