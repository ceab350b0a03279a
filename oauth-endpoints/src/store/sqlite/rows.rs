//! `rusqlite` rows and errors: reading and binding the shared row types of `sql/row.rs`.

use rusqlite::{Connection, Statement};

use crate::store::StoreError;
use crate::store::sql::row::{AuthorizationRow, ClientRow, TokenColumns, TokenRow};
use crate::token::TokenRecord;

/// Whether SQLite's answer means the database cannot be used now (busy or locked past the busy
/// timeout, cannot open, I/O or disk failure) rather than a failing statement.
pub(super) fn is_unavailable(cause: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{
        CannotOpen, DatabaseBusy, DatabaseLocked, DiskFull, OutOfMemory, SystemIoFailure,
    };
    match cause {
        rusqlite::Error::SqliteFailure(failure, _) => matches!(
            failure.code,
            DatabaseBusy | DatabaseLocked | CannotOpen | SystemIoFailure | DiskFull | OutOfMemory
        ),
        _ => false,
    }
}

/// `Unavailable` for [`is_unavailable`] answers, `Backend` for anything else.
pub(super) fn error(cause: rusqlite::Error) -> StoreError {
    if is_unavailable(&cause) {
        StoreError::unavailable(cause)
    } else {
        StoreError::backend(cause)
    }
}

/// Runs the cached statement `sql` and reads its first row, if any, through `read`.
pub(super) fn query_row<T>(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(error)?;
    let mut rows = statement.query(params).map_err(error)?;
    match rows.next().map_err(error)? {
        Some(row) => read(row).map(Some).map_err(error),
        None => Ok(None),
    }
}

/// Reads a token row holding the `token_columns!`, in their order, into a record, borrowing
/// each column from SQLite's row (one copy of each value, into the record). A row that holds
/// no valid record is the outer `Ok(Err(...))`.
pub(super) fn token_record(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<TokenRecord, StoreError>> {
    let blob = |index| row.get_ref(index).and_then(|value| Ok(value.as_blob()?));
    let text = |index| row.get_ref(index).and_then(|value| Ok(value.as_str()?));
    let columns = TokenColumns {
        hash: blob(0)?,
        id: blob(1)?,
        kind: text(2)?,
        client_id: text(3)?,
        scope: text(4)?,
        subject: row.get_ref(5)?.as_str_or_null()?,
        audience: text(6)?,
        grant_id: blob(7)?,
        issued_at: row.get(8)?,
        expires_at: row.get(9)?,
        not_before: row.get(10)?,
        revoked_at: row.get(11)?,
        rotated_at: row.get(12)?,
        jkt: row.get_ref(13)?.as_blob_or_null()?,
        delegation: row.get_ref(14)?.as_str_or_null()?,
    };
    Ok(columns.to_record())
}

/// Reads a client row holding the `client_columns!`, in their order.
pub(super) fn client(row: &rusqlite::Row<'_>) -> rusqlite::Result<ClientRow> {
    Ok(ClientRow {
        client_id: row.get(0)?,
        secret_hash: row.get(1)?,
        auth_method: row.get(2)?,
        grant_types: row.get(3)?,
        scope: row.get(4)?,
        introspect_any_token: row.get(5)?,
        allowed_cors_origins: row.get(6)?,
        previous_secret_hash: row.get(7)?,
        previous_secret_until: row.get(8)?,
        refresh_token_grace: row.get(9)?,
        redirect_uris: row.get(10)?,
        require_pushed_requests: row.get(11)?,
        jwks: row.get(12)?,
        access_token_format: row.get(13)?,
        dpop_bound: row.get(14)?,
        allowed_resources: row.get(15)?,
        served_resources: row.get(16)?,
    })
}

/// Runs `statement` (fifteen parameters in `token_columns!` order) for `record`.
pub(super) fn bind_token(
    statement: &mut Statement<'_>,
    record: &TokenRecord,
) -> rusqlite::Result<usize> {
    let row = TokenRow::from_record(record);
    statement.execute(rusqlite::params![
        row.hash,
        row.id,
        row.kind,
        row.client_id,
        row.scope,
        row.subject,
        row.audience,
        row.grant_id,
        row.issued_at,
        row.expires_at,
        row.not_before,
        row.revoked_at,
        row.rotated_at,
        row.jkt,
        row.delegation,
    ])
}

/// Runs `statement` (seventeen parameters in `client_columns!` order) for `row`.
pub(super) fn bind_client(
    statement: &mut Statement<'_>,
    row: &ClientRow,
) -> rusqlite::Result<usize> {
    statement.execute(rusqlite::params![
        row.client_id,
        row.secret_hash,
        row.auth_method,
        row.grant_types,
        row.scope,
        row.introspect_any_token,
        row.allowed_cors_origins,
        row.previous_secret_hash,
        row.previous_secret_until,
        row.refresh_token_grace,
        row.redirect_uris,
        row.require_pushed_requests,
        row.jwks,
        row.access_token_format,
        row.dpop_bound,
        row.allowed_resources,
        row.served_resources,
    ])
}

/// Reads an authorization row holding the `authorization_columns!`, in their order.
pub(super) fn authorization(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuthorizationRow> {
    Ok(AuthorizationRow {
        hash: row.get(0)?,
        kind: row.get(1)?,
        client_id: row.get(2)?,
        grant_id: row.get(3)?,
        payload: row.get(4)?,
        issued_at: row.get(5)?,
        expires_at: row.get(6)?,
        consumed_at: row.get(7)?,
    })
}

/// Runs `statement` (eight parameters in `authorization_columns!` order) for `row`.
pub(super) fn bind_authorization(
    statement: &mut Statement<'_>,
    row: &AuthorizationRow,
) -> rusqlite::Result<usize> {
    statement.execute(rusqlite::params![
        row.hash,
        row.kind,
        row.client_id,
        row.grant_id,
        row.payload,
        row.issued_at,
        row.expires_at,
        row.consumed_at,
    ])
}
