//! PostgreSQL test fixtures: the database URL from `OAUTH_ENDPOINTS_TEST_POSTGRES`, and a fresh
//! schema per test, dropped when the test ends (pass or fail), so tests run in parallel.

use std::fmt::Write as _;

use oauth_endpoints::secret::Id;
use oauth_endpoints::store::{PgStore, PgStoreOptions};
use sqlx::Connection as _;

/// The environment variable naming the test database, e.g.
/// `postgres://postgres@127.0.0.1:5432/test`. `.ci/run` sets it.
pub const ENV: &str = "OAUTH_ENDPOINTS_TEST_POSTGRES";

/// The database URL, or `None` after printing that the calling test is skipped.
pub fn url() -> Option<String> {
    match std::env::var(ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: {ENV} is not set");
            None
        }
    }
}

/// A schema of its own for one test: created on [`TestSchema::create`], dropped with all it
/// holds when the value is dropped.
#[derive(Debug)]
pub struct TestSchema {
    url: String,
    name: String,
}

impl TestSchema {
    /// A new empty schema named after `test` with a random suffix, or `None` (the test is
    /// skipped) when the environment variable is not set.
    pub async fn create(test: &str) -> Option<Self> {
        let schema = Self::reserve(test)?;
        let mut connection = sqlx::PgConnection::connect(&schema.url)
            .await
            .expect("the test database is reachable");
        sqlx::raw_sql(&format!("CREATE SCHEMA \"{}\"", schema.name))
            .execute(&mut connection)
            .await
            .expect("schema created");
        connection.close().await.expect("closed");
        Some(schema)
    }

    /// A unique schema name for `test`, not created yet (a store creates it on open), or `None`
    /// as for [`TestSchema::create`]. It is dropped all the same.
    pub fn reserve(test: &str) -> Option<Self> {
        let url = url()?;
        let mut name = format!("oauth_test_{test}_");
        for byte in &Id::random().as_bytes()[..6] {
            write!(name, "{byte:02x}").expect("writing to a string");
        }
        Some(Self { url, name })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database URL (without the schema).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database URL with the schema as `search_path`, as `--store` takes it.
    pub fn url_with_schema(&self) -> String {
        with_search_path(&self.url, &self.name)
    }

    /// A new store (a pool of its own) over this schema, as one server instance has.
    pub async fn store(&self) -> PgStore {
        self.options().connect().await.expect("the store opens")
    }

    /// Store options for this schema.
    pub fn options(&self) -> PgStoreOptions {
        PgStoreOptions::new(&self.url).schema(&self.name)
    }

    /// A plain connection whose `search_path` is this schema, for looking behind the store.
    pub async fn connection(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url_with_schema())
            .await
            .expect("connected")
    }
}

/// `url` with `options=-c search_path=<schema>` added to its query.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

impl Drop for TestSchema {
    /// Drops the schema from a thread of its own (a drop cannot await), also when the test
    /// panicked.
    fn drop(&mut self) {
        let url = self.url.clone();
        let statement = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut connection = sqlx::PgConnection::connect(&url).await?;
                sqlx::raw_sql(&statement).execute(&mut connection).await?;
                connection.close().await
            })?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop schema {}: {error}", self.name),
            Err(_) => eprintln!("could not drop schema {}: the thread panicked", self.name),
        }
    }
}
