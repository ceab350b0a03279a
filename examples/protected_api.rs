//! Protecting your own API with the server's access tokens (RFC 6750): the authorization
//! server's routes and a protected `/api/me`, in one axum application.
//!
//! ```sh
//! cargo run --example protected_api            # on 127.0.0.1:8082
//! cargo run --example protected_api -- 127.0.0.1:9000
//! ```
//!
//! It prints a throwaway client's secret and the curl commands to try.

use axum::routing::get;
use http::header::CONTENT_TYPE;
use oauth_endpoints::purge::PurgeOptions;
use oauth_endpoints::resource::{Principal, ResourceProtector};
use oauth_endpoints::secret::generate_secret;
use oauth_endpoints::store::MemoryStore;
use oauth_endpoints::{AuthorizationServer, Client};

/// The caller, as its token says: `sub` (for a user), `client_id`, `scope`, `jti`, `iat`,
/// `exp`. Handlers taking a `Principal` run only for a valid token with the required scope.
async fn me(principal: Principal) -> ([(http::HeaderName, &'static str); 1], String) {
    let json = serde_json::to_string(&principal).unwrap_or_default();
    ([(CONTENT_TYPE, "application/json")], json)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8082".into());

    let server = AuthorizationServer::builder()
        .store(MemoryStore::new())
        .build()?;
    let secret = generate_secret();
    let client = Client::confidential("demo-client", &secret)
        .with_grant_types(["client_credentials"])
        .with_scope("profile".parse()?)
        .build()?;
    server.clients().save(&client).await?;
    let _purger = server.spawn_purger(PurgeOptions::default());

    // Every route of this router needs a valid access token with scope `profile`.
    let protector = ResourceProtector::new(&server).require_scope("profile");
    let app = axum::Router::new()
        .route("/api/me", get(me))
        .with_state(protector)
        .merge(server.into_router());

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let url = format!("http://{}", listener.local_addr()?);
    #[allow(clippy::print_stdout)]
    {
        println!("protected API on {url}; demo-client's secret (shown once): {secret}\n");
        println!("# a token for demo-client, with scope profile");
        println!(
            "TOKEN=$(curl -s -u 'demo-client:{secret}' -d grant_type=client_credentials \
             -d scope=profile {url}/oauth/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
        );
        println!("# the protected route with it: 200 and the principal as JSON");
        println!("curl -s -H \"Authorization: Bearer $TOKEN\" {url}/api/me");
        println!("# without it: 401 with WWW-Authenticate: Bearer realm=\"api\"");
        println!("curl -si {url}/api/me");
    }
    axum::serve(listener, app).await?;
    Ok(())
}
