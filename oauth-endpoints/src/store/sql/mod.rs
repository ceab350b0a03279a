//! What the SQL stores share: the statements whose text is the same in SQLite and PostgreSQL,
//! turning rows into records, the rotation decision, and the error mapping.

pub(crate) mod queries;
pub(crate) mod row;

use std::future::Future;
use std::time::Duration;

use crate::clock::UnixTime;
use crate::secret::{Id, TokenHash};
use crate::store::rotation::{RotationStep, successor_among, successor_unused};
use crate::store::{AuthorizationKind, AuthorizationRecord, Consumption, Rotation, StoreError};
use crate::token::TokenRecord;

/// Connection and pool failures (and PostgreSQL's "connection exception" and "server shutting
/// down" answers) are `Unavailable`; anything else is `Backend`.
#[cfg(feature = "postgres")] // The SQLite store maps `rusqlite` errors (`sqlite/rows.rs`).
pub(crate) fn error(error: sqlx::Error) -> StoreError {
    let unavailable = match &error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            // SQLSTATE class 08 (connection exception), 57P01-57P03 (shutting down, cannot
            // connect now), 53300 (too many connections).
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    };
    if unavailable {
        StoreError::unavailable(error)
    } else {
        StoreError::backend(error)
    }
}

/// Whether `error` is PostgreSQL's answer to a conflict between transactions (SQLSTATE 40001
/// `serialization_failure`, 40P01 `deadlock_detected`): the transaction was rolled back and
/// running it again is safe.
#[cfg(feature = "postgres")]
pub(crate) fn is_conflict(error: &StoreError) -> bool {
    let StoreError::Backend(source) = error else {
        return false;
    };
    match source.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(database)) => database
            .code()
            .is_some_and(|code| matches!(&*code, "40001" | "40P01")),
        _ => false,
    }
}

/// How a write transaction ends.
pub(crate) enum Finish<T> {
    /// Commit, then answer `T`.
    Commit(T),
    /// Nothing to keep: roll back, then answer `T`.
    Rollback(T),
}

/// The statements of a write transaction, one method each, as a store runs them in its
/// dialect; the logic that strings them together (below) is written once.
pub(crate) trait WriteTx: Send {
    /// [`queries::DELETE_CLIENT`]: whether the client existed.
    fn delete_client_row(
        &mut self,
        client_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// [`queries::GRANTS_OF_CLIENT`] or [`queries::GRANTS_OF_SUBJECT`], in the one lock order.
    fn grants_of(
        &mut self,
        holder: Holder<'_>,
    ) -> impl Future<Output = Result<Vec<Id>, StoreError>> + Send;
    /// Locks the grant (PostgreSQL: `queries::lock_grant!`; SQLite holds the write lock
    /// already): whether the grant is revoked.
    fn lock_grant(
        &mut self,
        grant_id: &Id,
        expires_at: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// [`queries::REVOKE_GRANT_ROW`].
    fn mark_grant_revoked(
        &mut self,
        grant_id: &Id,
        now: UnixTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// [`queries::REVOKE_GRANT`]: how many tokens changed.
    fn revoke_grant_tokens(
        &mut self,
        grant_id: &Id,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// [`queries::GRANT_OF_TOKEN`].
    fn grant_of(
        &mut self,
        hash: &TokenHash,
    ) -> impl Future<Output = Result<Option<Id>, StoreError>> + Send;
    /// [`queries::ROTATE`]: whether the token was rotated.
    fn mark_rotated(
        &mut self,
        hash: &TokenHash,
        now: UnixTime,
        successor: Option<&TokenHash>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// [`queries::SUCCESSOR_OF`].
    fn successor_of(
        &mut self,
        hash: &TokenHash,
    ) -> impl Future<Output = Result<Option<TokenHash>, StoreError>> + Send;
    /// [`queries::SUPERSEDE`]: whether the successor was still active and is now revoked.
    fn supersede(
        &mut self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// [`queries::SET_SUCCESSOR`].
    fn set_successor(
        &mut self,
        hash: &TokenHash,
        successor: &TokenHash,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// [`queries::FIND_TOKEN`].
    fn find_token(
        &mut self,
        hash: &TokenHash,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;
    /// [`queries::INSERT_TOKEN`].
    fn insert_token(
        &mut self,
        record: &TokenRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// [`queries::CONSUME_AUTHORIZATION`]: the record as it is now used, or `None` if no
    /// unused, unexpired record of `kind` has this hash.
    fn mark_consumed(
        &mut self,
        hash: &TokenHash,
        kind: AuthorizationKind,
        now: UnixTime,
    ) -> impl Future<Output = Result<Option<AuthorizationRecord>, StoreError>> + Send;
    /// [`queries::FIND_AUTHORIZATION`].
    fn find_authorization(
        &mut self,
        hash: &TokenHash,
        kind: AuthorizationKind,
    ) -> impl Future<Output = Result<Option<AuthorizationRecord>, StoreError>> + Send;
}

// Grant serialization, the isolation argument (both SQL stores).
//
// Every transaction that creates tokens of a grant or revokes them (insert, rotation, grant
// revocation, reuse detection) first locks the rows of the grants it touches in `oauth_grants`,
// in ascending order of grant id, and only then reads or writes their tokens; it holds those
// locks until it commits. A lone `revoke_token` or purge statement waits for at most one row
// while holding nothing else. So every wait is for a lock ranked above all the waiter holds:
// no cycle, no deadlock.
//
// A grant revocation locks the grant row, sets `revoked_at` on it, then revokes the grant's
// tokens in a later statement. Under PostgreSQL's READ COMMITTED each statement sees what was
// committed before it started; every transaction that inserted tokens of the grant held the
// grant row until it committed, so it committed before the revocation got the row, and its
// tokens are seen and revoked. Every later one gets the row after the revocation committed,
// sees `revoked_at` and stores nothing. (SQLite: one writer at a time, each write transaction
// holding the write lock from its first statement, `BEGIN IMMEDIATE`.) Hence a revocation
// that returned leaves no active token in its grant, now or later.
//
// A grace redemption (`store/rotation.rs`) reads the presented token, then its successor, after
// locking their grant, and writes both before it commits. Every write that could change either
// (the successor's own rotation, a grant revocation, reuse detection, another redemption)
// locks the same grant row first, so what the redemption read stays true until it commits:
// concurrent redemptions of one token run one after the other, each replacing the successor
// the previous one stored, and the grant never has two live refresh tokens. A lone
// `revoke_token` of the successor takes no grant lock; `SUPERSEDE` only revokes a successor
// still active, and a redemption that finds it revoked is reuse.

/// The grants of `records` (and `also`), each once, in the one lock order (ascending id),
/// each with the latest expiry among its records.
fn grants_in_lock_order(records: &[TokenRecord], also: Option<&Id>) -> Vec<(Id, UnixTime)> {
    let mut grants: Vec<(Id, UnixTime)> = records
        .iter()
        .map(|record| (record.grant_id, record.expires_at))
        .chain(also.map(|grant| (*grant, 0)))
        .collect();
    grants.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(b.1.cmp(&a.1)));
    grants.dedup_by(|later, first| later.0 == first.0);
    grants
}

/// [`TokenStore::insert_tokens`](crate::store::TokenStore::insert_tokens): locks the records'
/// grants, refuses a revoked one, inserts.
pub(crate) async fn insert_tokens(
    tx: &mut impl WriteTx,
    records: &[TokenRecord],
) -> Result<Finish<()>, StoreError> {
    for (grant_id, expires_at) in grants_in_lock_order(records, None) {
        if tx.lock_grant(&grant_id, expires_at).await? {
            return Err(StoreError::GrantRevoked);
        }
    }
    for record in records {
        tx.insert_token(record).await?;
    }
    Ok(Finish::Commit(()))
}

/// [`TokenStore::revoke_grant`](crate::store::TokenStore::revoke_grant): marks the grant revoked
/// (which locks it), then revokes its tokens.
pub(crate) async fn revoke_grant(
    tx: &mut impl WriteTx,
    grant_id: &Id,
    now: UnixTime,
) -> Result<Finish<u64>, StoreError> {
    tx.mark_grant_revoked(grant_id, now).await?;
    Ok(Finish::Commit(tx.revoke_grant_tokens(grant_id, now).await?))
}

/// Whose tokens [`WriteTx::grants_of`] looks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Holder<'a> {
    /// Tokens issued to this client.
    Client(&'a str),
    /// Tokens of this subject.
    Subject(&'a str),
}

/// Revokes each grant holding a live token of `holder`, in the one lock order, as
/// [`revoke_grant`] does. Returns how many tokens changed. A token request that stores its
/// tokens in a new grant after the grants were listed is not affected: its grant was not yet
/// known here.
pub(crate) async fn revoke_grants_of(
    tx: &mut impl WriteTx,
    holder: Holder<'_>,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let mut changed = 0;
    for grant_id in tx.grants_of(holder).await? {
        tx.mark_grant_revoked(&grant_id, now).await?;
        changed += tx.revoke_grant_tokens(&grant_id, now).await?;
    }
    Ok(changed)
}

/// [`ClientStore::delete_client`](crate::store::ClientStore::delete_client): deletes the client, then
/// revokes its grants ([`revoke_grants_of`]).
pub(crate) async fn delete_client(
    tx: &mut impl WriteTx,
    client_id: &str,
    now: UnixTime,
) -> Result<Finish<bool>, StoreError> {
    let deleted = tx.delete_client_row(client_id).await?;
    revoke_grants_of(tx, Holder::Client(client_id), now).await?;
    Ok(Finish::Commit(deleted))
}

/// [`TokenStore::rotate_refresh_token`](crate::store::TokenStore::rotate_refresh_token): locks the
/// token's grant (and the replacements'), then rotates, redeems within the grace window,
/// detects reuse, or refuses, as [`RotationStep`] decides (the memory store takes the same
/// decisions). Every read below happens while holding the grant's lock, so the token and its
/// successor cannot change between the decision and the writes that carry it out.
pub(crate) async fn rotate(
    tx: &mut impl WriteTx,
    hash: &TokenHash,
    now: UnixTime,
    replacements: &[TokenRecord],
    grace: Duration,
) -> Result<Finish<Rotation>, StoreError> {
    let Some(grant_id) = tx.grant_of(hash).await? else {
        return Ok(Finish::Rollback(Rotation::Invalid));
    };
    let mut revoked = false;
    for (grant, expires_at) in grants_in_lock_order(replacements, Some(&grant_id)) {
        revoked |= tx.lock_grant(&grant, expires_at.max(now)).await?;
    }
    let successor = successor_among(replacements);
    // Tokens are never stored into (or rotated within) a revoked grant; a rotated token
    // presented again is still reuse.
    let won = !revoked && tx.mark_rotated(hash, now, successor).await?;
    let record = tx.find_token(hash).await?;
    Ok(
        match RotationStep::decide(won, revoked, record, now, grace, successor) {
            RotationStep::StoreReplacements(record) => {
                insert_all(tx, replacements).await?;
                Finish::Commit(Rotation::Rotated(record))
            }
            RotationStep::ReplaceSuccessor(presented) => {
                let current = match tx.successor_of(hash).await? {
                    Some(current) => tx.find_token(&current).await?,
                    None => None,
                };
                match (current, successor) {
                    (Some(mut current), Some(successor))
                        if successor_unused(&presented, Some(&current), now)
                            && tx.supersede(&current.hash, now).await? =>
                    {
                        tx.set_successor(hash, successor).await?;
                        insert_all(tx, replacements).await?;
                        current.revoked_at = Some(now);
                        Finish::Commit(Rotation::Reissued {
                            presented,
                            superseded: current,
                        })
                    }
                    _ => revoke_for_reuse(tx, presented, now).await?,
                }
            }
            RotationStep::RevokeGrant(record) => revoke_for_reuse(tx, record, now).await?,
            RotationStep::Done(outcome) => Finish::Rollback(outcome),
        },
    )
}

async fn insert_all(tx: &mut impl WriteTx, records: &[TokenRecord]) -> Result<(), StoreError> {
    for record in records {
        tx.insert_token(record).await?;
    }
    Ok(())
}

/// Reuse detection (RFC 9700 §4.14.2): revokes the grant of the replayed `record`.
async fn revoke_for_reuse(
    tx: &mut impl WriteTx,
    mut record: TokenRecord,
    now: UnixTime,
) -> Result<Finish<Rotation>, StoreError> {
    tx.mark_grant_revoked(&record.grant_id, now).await?;
    tx.revoke_grant_tokens(&record.grant_id, now).await?;
    record.revoked_at = record.revoked_at.or(Some(now));
    Ok(Finish::Commit(Rotation::Reused(record)))
}

// Single use of an authorization, the isolation argument (both SQL stores).
//
// A consumption is one statement, `CONSUME_AUTHORIZATION`: an `UPDATE` whose condition
// (`consumed_at IS NULL AND expires_at > now`) is checked on the row it changes, and which
// returns the row as changed. Nothing is read before it, so no decision rests on a read that
// another transaction could make stale.
//
// PostgreSQL (READ COMMITTED): the `UPDATE` takes the row's lock. Of concurrent consumptions,
// on one instance or several, one gets the lock first and sets `consumed_at`; the others wait
// for that lock, and when its holder commits, PostgreSQL re-evaluates their `WHERE` against
// the row's latest committed version (EvalPlanQual), where `consumed_at IS NULL` is now false:
// they change nothing. (Had the first rolled back, the next would find the row unused and win.)
// So exactly one caller sees `Consumed`. A loser then reads the row in a new statement, whose
// snapshot includes the winner's commit: it sees `consumed_at` set and answers
// `AlreadyConsumed`. An `UPDATE` that changed nothing for another reason (no such row, or
// expired unused) reads a row without `consumed_at`, or none: `Unknown`.
//
// SQLite: every consumption runs on a store's one writer, inside a batch transaction that
// holds the database's write lock from its first statement (`BEGIN IMMEDIATE`); consumptions
// of one store run one after the other, those of other stores (or processes) on the file wait
// for the lock, and each sees every earlier one committed. The first sets `consumed_at`; the
// others find it set.

/// [`AuthorizationStore::consume_authorization`](crate::store::AuthorizationStore::consume_authorization):
/// one conditional `UPDATE` ([`WriteTx::mark_consumed`]); when it changed nothing, a read tells
/// a replay ([`Consumption::AlreadyConsumed`], a used record) from [`Consumption::Unknown`]
/// (none, or expired unused), and the transaction, which changed nothing, is rolled back. See
/// the isolation argument above.
pub(crate) async fn consume_authorization(
    tx: &mut impl WriteTx,
    hash: &TokenHash,
    kind: AuthorizationKind,
    now: UnixTime,
) -> Result<Finish<Consumption>, StoreError> {
    if let Some(record) = tx.mark_consumed(hash, kind, now).await? {
        return Ok(Finish::Commit(Consumption::Consumed(record)));
    }
    Ok(Finish::Rollback(
        match tx.find_authorization(hash, kind).await? {
            Some(record) if record.consumed_at.is_some() => Consumption::AlreadyConsumed(record),
            _ => Consumption::Unknown,
        },
    ))
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use std::borrow::Cow;

    use super::{error, is_conflict};

    /// A database answer with a SQLSTATE code.
    #[derive(Debug, thiserror::Error)]
    #[error("database error {0}")]
    struct Answer(&'static str);

    impl sqlx::error::DatabaseError for Answer {
        fn message(&self) -> &str {
            self.0
        }

        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }

        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }

        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn answered(code: &'static str) -> crate::store::StoreError {
        error(sqlx::Error::Database(Box::new(Answer(code))))
    }

    #[test]
    fn deadlocks_and_serialization_failures_are_conflicts_to_run_again() {
        assert!(is_conflict(&answered("40P01")));
        assert!(is_conflict(&answered("40001")));
        for code in ["23505", "57014", "08006", "25P02"] {
            assert!(!is_conflict(&answered(code)), "{code}");
        }
        assert!(!is_conflict(&error(sqlx::Error::PoolTimedOut)));
        assert!(!is_conflict(&crate::store::StoreError::GrantRevoked));
    }

    #[test]
    fn a_lost_connection_is_unavailable_and_a_database_error_is_not() {
        // `PgStore::commit` settles a commit that failed as `Unavailable` (its answer may be
        // lost) and reports one the database refused.
        let lost = error(sqlx::Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        assert!(matches!(lost, crate::store::StoreError::Unavailable(_)));
        assert!(matches!(
            answered("08006"),
            crate::store::StoreError::Unavailable(_)
        ));
        assert!(matches!(
            answered("40001"),
            crate::store::StoreError::Backend(_)
        ));
    }
}
