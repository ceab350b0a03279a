//! The two token operations every request makes, batched: lookups (introspection, revocation,
//! refresh) and insertions (issuance). Each batch is one statement; see `batch.rs` for why and
//! for what batching keeps.

use sqlx::Row as _;

use super::batch::Batcher;
use super::db::Db;
use crate::secret::TokenHash;
use crate::store::StoreError;
use crate::store::sql::queries::token_columns;
use crate::store::sql::row::read_token;
use crate::store::sql::{self, Finish};
use crate::token::TokenRecord;

/// Lookups running at once, each on a connection of its own. With 32 requests in flight, four
/// lanes make batches of about eight (BENCHMARKS.md, "Batched statements").
const LOOKUP_LANES: usize = 4;

/// Insertions running at once.
const INSERT_LANES: usize = 4;

/// The most calls in one batch.
const MAX_BATCH: usize = 64;

/// The token rows whose hashes are in `$1` (a `bytea[]`), one primary-key lookup per hash.
///
/// Not `WHERE hash = ANY($1)`: a prepared statement's generic plan for that expects ten rows,
/// and on a table that looked small when the plan was made (a new deployment, before the first
/// `ANALYZE`) it is a sequential scan, kept by the connection as the table grows (measured: 800
/// lookups per second instead of 20,000 once 60,000 tokens were issued). The subquery with
/// `LIMIT 1` cannot be flattened into a join, so each hash gets the plan of the one-key lookup,
/// an index scan, whatever the table's statistics.
const FIND_TOKENS: &str = concat!(
    "SELECT t.* FROM unnest($1::bytea[]) AS k(key) CROSS JOIN LATERAL (SELECT ",
    token_columns!(),
    " FROM oauth_tokens WHERE hash = k.key LIMIT 1) AS t"
);

/// Stores the records of a batch of [`TokenStore::insert_tokens`](crate::store::TokenStore::insert_tokens)
/// calls in one statement, all or none per call, and answers the transaction id and the calls
/// refused because a grant of theirs is revoked. The parameters are one array per column (the
/// `token_columns!`), preceded by the call each record belongs to.
///
/// Grant serialization, as `sql/mod.rs` argues it for one call: `grants` locks the row of
/// every grant of the batch (creating it if new, raising its expiry) in ascending order of
/// grant id — the one lock order — through `ON CONFLICT DO UPDATE`, which waits for a
/// transaction holding the row and then works on its latest committed version (also under READ
/// COMMITTED), so `revoked_at` is the grant's current state. `refused` needs every row of
/// `grants` (a hashed subplan is built before its first use), so no token is inserted before
/// every grant is locked and checked; a call with a revoked grant stores nothing, the others
/// store their records. The locks are held until the batch's transaction commits, as one
/// call's would be.
const INSERT_BATCH: &str = concat!(
    "WITH input AS (SELECT * FROM unnest($1::int4[], $2::bytea[], $3::bytea[], $4::text[], \
     $5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[], $10::int8[], $11::int8[], \
     $12::int8[], $13::int8[], $14::int8[], $15::bytea[], $16::text[]) AS t(call, ",
    token_columns!(),
    ")), \
     grants AS (INSERT INTO oauth_grants (grant_id, expires_at) \
     SELECT grant_id, MAX(expires_at) FROM input GROUP BY grant_id ORDER BY grant_id \
     ON CONFLICT (grant_id) DO UPDATE SET expires_at = \
     GREATEST(oauth_grants.expires_at, excluded.expires_at) \
     RETURNING grant_id, revoked_at), \
     refused AS (SELECT DISTINCT input.call FROM input JOIN grants USING (grant_id) \
     WHERE grants.revoked_at IS NOT NULL), \
     inserted AS (INSERT INTO oauth_tokens (",
    token_columns!(),
    ") SELECT ",
    token_columns!(),
    " FROM input WHERE call NOT IN (SELECT call FROM refused) RETURNING 1) \
     SELECT txid_current(), ARRAY(SELECT call FROM refused)"
);

/// A batch failed as a whole: each of its calls gets this, of the batch's error's kind.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BatchFailed(String);

/// `error` (an unavailable or failing database: a batch never fails as a whole for a revoked
/// grant) for each of `count` calls, keeping its kind and its causes' messages.
fn for_each_call<T>(error: &StoreError, count: usize) -> Vec<Result<T, StoreError>> {
    let message = error.report().to_string();
    (0..count)
        .map(|_| {
            let cause = BatchFailed(message.clone());
            Err(match error {
                StoreError::Unavailable(_) => StoreError::unavailable(cause),
                _ => StoreError::backend(cause),
            })
        })
        .collect()
}

/// The batchers of one store.
#[derive(Clone, Debug)]
pub(super) struct Tokens {
    lookups: Batcher<TokenHash, Option<TokenRecord>>,
    inserts: Batcher<Vec<TokenRecord>, ()>,
}

impl Tokens {
    pub(super) fn new(db: &Db) -> Self {
        let lookup_db = db.clone();
        let insert_db = db.clone();
        Self {
            lookups: Batcher::new(LOOKUP_LANES, MAX_BATCH, move |hashes| {
                let db = lookup_db.clone();
                async move { find_tokens(&db, &hashes).await }
            }),
            inserts: Batcher::new(INSERT_LANES, MAX_BATCH, move |calls| {
                let db = insert_db.clone();
                async move { insert_batch(&db, &calls).await }
            }),
        }
    }

    /// [`TokenStore::find_token`](crate::store::TokenStore::find_token), in the next lookup batch.
    pub(super) async fn find(&self, hash: TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        self.lookups.call(hash).await
    }

    /// [`TokenStore::insert_tokens`](crate::store::TokenStore::insert_tokens), in the next insertion
    /// batch.
    pub(super) async fn insert(&self, records: Vec<TokenRecord>) -> Result<(), StoreError> {
        self.inserts.call(records).await
    }
}

/// One lookup statement for `hashes`; a row that cannot be read fails only its own lookup.
async fn find_tokens(
    db: &Db,
    hashes: &[TokenHash],
) -> Vec<Result<Option<TokenRecord>, StoreError>> {
    let keys: Vec<&[u8]> = hashes
        .iter()
        .map(|hash| hash.as_bytes().as_slice())
        .collect();
    let rows = db
        .bounded(sqlx::query(FIND_TOKENS).bind(keys).fetch_all(&db.pool))
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(failure) => return for_each_call(&failure, hashes.len()),
    };
    let found: Vec<(&[u8], &sqlx::postgres::PgRow)> = rows
        .iter()
        .filter_map(|row| Some((row.try_get::<&[u8], _>("hash").ok()?, row)))
        .collect();
    hashes
        .iter()
        .map(|hash| {
            found
                .iter()
                .find(|(key, _)| *key == hash.as_bytes().as_slice())
                .map(|(_, row)| read_token(*row))
                .transpose()
        })
        .collect()
}

/// One transaction for a batch of insertions (see [`INSERT_BATCH`]). If it fails for another
/// reason than the database being unavailable (a record breaking a constraint, say), each call
/// runs alone, so that only the call at fault fails.
async fn insert_batch(db: &Db, calls: &[Vec<TokenRecord>]) -> Vec<Result<(), StoreError>> {
    let mut columns = Columns::default();
    for (call, records) in calls.iter().enumerate() {
        for record in records {
            columns.push(i32::try_from(call).unwrap_or(i32::MAX), record);
        }
    }
    let outcome = db
        .write(|mut tx| {
            let columns = columns.clone();
            async move {
                let answer = tx
                    .deadline
                    .bound(
                        columns
                            .bind(sqlx::query(INSERT_BATCH))
                            .fetch_one(&mut *tx.tx),
                    )
                    .await;
                let answer = answer.and_then(|row| {
                    let xid: i64 = row.try_get(0).map_err(super::error)?;
                    let refused: Vec<i32> = row.try_get(1).map_err(super::error)?;
                    Ok((xid, refused))
                });
                let outcome = answer.map(|(xid, refused)| {
                    tx.xid = Some(xid);
                    Finish::Commit(refused)
                });
                (tx, outcome)
            }
        })
        .await;
    match outcome {
        Ok(refused) => (0..calls.len())
            .map(|call| {
                if refused.contains(&i32::try_from(call).unwrap_or(i32::MAX)) {
                    Err(StoreError::GrantRevoked)
                } else {
                    Ok(())
                }
            })
            .collect(),
        Err(failure @ StoreError::Unavailable(_)) => for_each_call(&failure, calls.len()),
        Err(_) if calls.len() > 1 => {
            let mut outcomes = Vec::with_capacity(calls.len());
            for records in calls {
                outcomes.push(insert_alone(db, records).await);
            }
            outcomes
        }
        Err(failure) => vec![Err(failure)],
    }
}

/// One call of [`TokenStore::insert_tokens`](crate::store::TokenStore::insert_tokens) in a
/// transaction of its own, statement by statement (`sql/mod.rs`).
async fn insert_alone(db: &Db, records: &[TokenRecord]) -> Result<(), StoreError> {
    db.write(|mut tx| async move {
        let outcome = sql::insert_tokens(&mut tx, records).await;
        (tx, outcome)
    })
    .await
}

/// The records of a batch, one array per column, as [`INSERT_BATCH`] takes them.
#[derive(Clone, Default)]
struct Columns {
    call: Vec<i32>,
    hash: Vec<Vec<u8>>,
    id: Vec<Vec<u8>>,
    kind: Vec<String>,
    client_id: Vec<String>,
    scope: Vec<String>,
    subject: Vec<Option<String>>,
    audience: Vec<String>,
    grant_id: Vec<Vec<u8>>,
    issued_at: Vec<i64>,
    expires_at: Vec<i64>,
    not_before: Vec<Option<i64>>,
    revoked_at: Vec<Option<i64>>,
    rotated_at: Vec<Option<i64>>,
    jkt: Vec<Option<Vec<u8>>>,
    delegation: Vec<Option<String>>,
}

impl Columns {
    fn push(&mut self, call: i32, record: &TokenRecord) {
        let row = sql::row::TokenRow::from_record(record);
        self.call.push(call);
        self.hash.push(row.hash);
        self.id.push(row.id);
        self.kind.push(row.kind);
        self.client_id.push(row.client_id);
        self.scope.push(row.scope);
        self.subject.push(row.subject);
        self.audience.push(row.audience);
        self.grant_id.push(row.grant_id);
        self.issued_at.push(row.issued_at);
        self.expires_at.push(row.expires_at);
        self.not_before.push(row.not_before);
        self.revoked_at.push(row.revoked_at);
        self.rotated_at.push(row.rotated_at);
        self.jkt.push(row.jkt);
        self.delegation.push(row.delegation);
    }

    fn bind<'q>(
        self,
        query: sql::row::SqlQuery<'q, sqlx::Postgres>,
    ) -> sql::row::SqlQuery<'q, sqlx::Postgres> {
        query
            .bind(self.call)
            .bind(self.hash)
            .bind(self.id)
            .bind(self.kind)
            .bind(self.client_id)
            .bind(self.scope)
            .bind(self.subject)
            .bind(self.audience)
            .bind(self.grant_id)
            .bind(self.issued_at)
            .bind(self.expires_at)
            .bind(self.not_before)
            .bind(self.revoked_at)
            .bind(self.rotated_at)
            .bind(self.jkt)
            .bind(self.delegation)
    }
}
