//! Serving the endpoints with hyper alone, through the tower service (`OAuthService`), which
//! bounds each request body while reading it.
//!
//! ```sh
//! cargo run --example hyper_service
//! curl -s -u app:app-secret -d grant_type=client_credentials http://127.0.0.1:8082/oauth/token
//! ```

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use oauth_endpoints::purge::PurgeOptions;
use oauth_endpoints::server::OAuthService;
use oauth_endpoints::{AuthorizationServer, Client};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let server = AuthorizationServer::builder().build()?;
    server
        .clients()
        .save(&Client::confidential("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF").build()?)
        .await?;
    // Expired tokens purged in bounded passes for as long as `_purger` lives.
    let _purger = server.spawn_purger(PurgeOptions::default());
    let service = OAuthService::new(server);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8082").await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection closed");
            }
        });
    }
}
