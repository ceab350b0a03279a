//! The runnable server of `cargo run --example server`, with the same options, plus the device
//! flow add-on (RFC 8628, the `device-flow` crate) linked in. It prints a tour: the command
//! that starts a flow, the page to open, and the polling command.
//!
//! ```sh
//! cargo run --example device_flow -- --store memory --addr 127.0.0.1:8097
//! ```
//!
//! Clients opt in by listing `urn:ietf:params:oauth:grant-type:device_code` in `grant_types`;
//! without a clients file a public demo device client is made. The verification page signs
//! everybody in as one demo user.

use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
// The add-on's endpoints and grant register themselves; naming the crate keeps them linked.
use device_flow as _;
use device_flow::{
    DeviceFlow, Devices, FixedUser, GRANT_TYPE, MemoryDeviceStore, PgDeviceStore, SqliteDeviceStore,
};
use oauth_endpoints::Client;
use oauth_endpoints::clock::{Clock, SystemClock};
use oauth_endpoints_examples::server::{
    OpenedStore, Options, Prepared, banner, bind, endpoint_url, init_logging, prepare_with, serve,
    shutdown_signal,
};

/// The public client made for the tour when no clients file is given.
const DEMO_DEVICE: &str = "demo-device";
/// Who the verification page says is signed in.
const DEMO_USER: &str = "demo-user";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Flushes the log when `main` returns, after the last line.
    let _log = init_logging();
    let command = Options::command().name("device_flow").about(
        "Serve the OAuth endpoints linked into this program, with the device flow (RFC 8628).",
    );
    let options = match Options::from_arg_matches(&command.get_matches()) {
        Ok(options) => options,
        Err(error) => error.exit(),
    };
    match run(options).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    let mut devices = None;
    let prepared = prepare_with(&options, async |builder, store| {
        // The device flow keeps its state beside the server's: in memory, or in a table of the
        // same SQLite or PostgreSQL database (shared by every instance on it).
        let flow = match store {
            OpenedStore::Memory(_) => DeviceFlow::new(MemoryDeviceStore::new()),
            OpenedStore::Sqlite(sqlite) => DeviceFlow::new(SqliteDeviceStore::open(sqlite).await?),
            OpenedStore::Postgres(postgres) => {
                DeviceFlow::new(PgDeviceStore::open(postgres).await?)
            }
        };
        devices = Some(flow.devices().clone());
        Ok(builder.with_state(flow.with_users(FixedUser::new(DEMO_USER))))
    })
    .await?;
    let now = prepared.server.now();
    if prepared.demo.is_some() {
        // Like the demo client, the demo device is deleted at the next start without a demo.
        let device = Client::public(DEMO_DEVICE)
            .with_grant_types([GRANT_TYPE])
            .with_scope("read write".parse().unwrap_or_default())
            .build()?;
        prepared.server.clients().save(&device).await?;
    } else {
        prepared.server.clients().delete(DEMO_DEVICE, now).await?;
    }
    let listener = bind(options.addr).await?;
    let addr = listener.local_addr()?;
    // The banner and the tour are the program's output, not log lines.
    #[allow(clippy::print_stdout)]
    {
        println!("{}", banner(addr, &prepared));
        println!("{}", tour(addr, &prepared));
    }
    let purger = devices.map(|devices| tokio::spawn(purge_periodically(devices)));
    serve(listener, prepared.server, shutdown_signal()).await?;
    if let Some(purger) = purger {
        purger.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// The device flow, step by step, with commands to paste.
fn tour(addr: std::net::SocketAddr, prepared: &Prepared) -> String {
    let url = |name| endpoint_url(addr, &prepared.server, name);
    let (start, page) = (url("device_authorization"), url("device_verification"));
    let (token, revoke) = (url("token"), url("revocation"));
    let mut out = String::from("device flow (RFC 8628):\n");
    if prepared.server.route("device_authorization").is_none() {
        // The add-on refused this setup (say, no issuer): the banner lists why.
        out.push_str("  not mounted on this server (see `not mounted` above); pass --issuer\n");
        return out;
    }
    let client = match &prepared.demo {
        Some(_) => DEMO_DEVICE,
        None => {
            out.push_str(
                "  (CLIENT_ID: a public client of the clients file whose grant_types list the \
                 device_code grant; a confidential one authenticates with -u ID:SECRET instead)\n",
            );
            "CLIENT_ID"
        }
    };
    let auth_line = format!("-d client_id={client}");
    out.push_str(&format!(
        "  1. start a flow, as the device ({client}):\n\
         \x20    FLOW=$(curl -s {auth_line} -d scope=read {start}); echo \"$FLOW\"\n\
         \x20    DEVICE_CODE=$(echo \"$FLOW\" | sed -E 's/.*\"device_code\":\"([^\"]+)\".*/\\1/')\n"
    ));
    out.push_str(&format!(
        "  2. open the printed verification_uri_complete ({page}?user_code=...) in a browser,\n\
         \x20    check the code and approve (the page signs you in as `{DEMO_USER}`); or with curl:\n\
         \x20    URI=$(echo \"$FLOW\" | sed -E 's/.*\"verification_uri_complete\":\"([^\"]+)\".*/\\1/'); JAR=$(mktemp)\n\
         \x20    CSRF=$(curl -s -c $JAR \"$URI\" | sed -nE 's/.*name=\"csrf\" value=\"([^\"]+)\".*/\\1/p')\n\
         \x20    curl -s -b $JAR -d csrf=$CSRF -d user_code=${{URI##*=}} -d action=approve {page} \\\n\
         \x20        | grep -o '<h1>.*</h1>'\n\
         \x20 3. poll for the token (authorization_pending until you approve; wait `interval` seconds\n\
         \x20    between polls or get slow_down):\n\
         \x20    TOKEN=$(curl -s {auth_line} -d grant_type={GRANT_TYPE} \\\n\
         \x20        -d device_code=$DEVICE_CODE {token} | tee /dev/stderr \\\n\
         \x20        | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')\n"
    ));
    out.push_str(&format!(
        "  then revoke it (as the device); a resource server registered with \
         introspect_any_token in a\n\
         \x20    clients file introspects it like any other token:\n\
         \x20    curl -s {auth_line} -d token=$TOKEN {revoke}; echo\n"
    ));
    out
}

/// Drops expired device authorizations every minute.
async fn purge_periodically(devices: Devices) {
    let mut interval = tokio::time::interval(Duration::from_secs(60));
    loop {
        interval.tick().await;
        let now = SystemClock.now();
        match devices.purge_expired(now.saturating_sub(3600)).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired device authorizations"),
            Err(error) => {
                tracing::warn!(error = %error.report(), "could not purge expired device authorizations")
            }
        }
    }
}
