//! Mounting the OAuth endpoints in an existing axum application, beside its own routes, state
//! and layers.
//!
//! ```sh
//! cargo run --example axum_app
//! curl -s http://127.0.0.1:8081/hello
//! ```

use axum::extract::State;
use axum::routing::get;
use oauth_endpoints::purge::PurgeOptions;
use oauth_endpoints::store::MemoryStore;
use oauth_endpoints::{AuthorizationServer, Client};

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let oauth = AuthorizationServer::builder()
        .store(MemoryStore::new())
        .build()?;
    oauth
        .clients()
        .save(&Client::confidential("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF").build()?)
        .await?;

    // Expired tokens purged in bounded passes for as long as `_purger` lives.
    let _purger = oauth.spawn_purger(PurgeOptions::default());

    // The application's own router, with its own state…
    let app = axum::Router::new()
        .route(
            "/hello",
            get(|State(state): State<AppState>| async move { state.greeting }),
        )
        // …merged with every OAuth route in one call.
        .merge(oauth.into_router())
        .with_state(AppState { greeting: "hello" });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
