//! The client change feed of a [`PgStore`](super::PgStore): `LISTEN` on the schema's channel.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPool;

use crate::store::ClientWatcher;

/// The task behind [`PgStore::watch_clients`]: listens on `channel`, tells `watcher` what
/// changed, and reconnects when the connection is lost, until the server is gone.
pub(super) async fn relay_client_changes(pool: PgPool, channel: Arc<str>, watcher: ClientWatcher) {
    let mut backoff = Duration::from_millis(100);
    while !watcher.is_closed() {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(&channel).await {
                Ok(()) => {
                    watcher.up();
                    backoff = Duration::from_millis(100);
                    loop {
                        // Wake up now and then to notice that the server is gone.
                        match tokio::time::timeout(Duration::from_secs(1), listener.try_recv())
                            .await
                        {
                            Err(_) if watcher.is_closed() => return,
                            Err(_) => {}
                            Ok(Ok(Some(notification))) => watcher.changed(notification.payload()),
                            Ok(Ok(None) | Err(_)) => break,
                        }
                    }
                    tracing::warn!("lost the client change feed; reconnecting");
                }
                Err(failure) => {
                    tracing::warn!(error = %failure, "cannot listen for client changes")
                }
            },
            Err(failure) => {
                tracing::warn!(error = %failure, "cannot connect the client change feed")
            }
        }
        watcher.down();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
