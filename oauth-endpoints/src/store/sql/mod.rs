//! What the SQL stores share: the statements whose text is the same in SQLite and PostgreSQL,
//! turning rows into records, the rotation decision, and the error mapping.

pub(crate) mod queries;
pub(crate) mod row;

use crate::store::{Rotation, StoreError};
use crate::token::{TokenKind, TokenRecord};

/// Connection and pool failures (and PostgreSQL's "connection exception" and "server shutting
/// down" answers) are `Unavailable`; anything else is `Backend`.
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

/// What a rotation does once the conditional update ran (`won`: it changed the row) and the
/// token's row was read back in the same transaction.
pub(crate) enum RotationStep {
    /// The update won: store the replacements, then answer `Rotated`.
    StoreReplacements(TokenRecord),
    /// The token was already rotated: revoke its grant, then answer `Reused`.
    RevokeGrant(TokenRecord),
    /// Nothing to do (unknown, not a refresh token, expired, revoked).
    Done(Rotation),
}

impl RotationStep {
    pub(crate) fn decide(won: bool, record: Option<TokenRecord>) -> Self {
        match record {
            Some(record) if won => Self::StoreReplacements(record),
            Some(record) if record.kind == TokenKind::Refresh && record.rotated_at.is_some() => {
                Self::RevokeGrant(record)
            }
            _ => Self::Done(Rotation::Invalid),
        }
    }
}
