//! Statements whose text is the same for SQLite and PostgreSQL (both take `$n` parameters).
//!
//! Parameters are numbered in the order they first appear: SQLite takes `$n` as a name and
//! numbers parameters by first appearance, so the SQLite store binds them by position.

/// The `oauth_tokens` columns, in the order [`bind_token`](super::row::bind_token) binds them.
macro_rules! token_columns {
    () => {
        "hash, id, kind, client_id, scope, subject, audience, grant_id, issued_at, expires_at, \
         not_before, revoked_at, rotated_at, jkt, delegation"
    };
}
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use token_columns;

/// The `oauth_clients` columns, in the order [`bind_client`](super::row::bind_client) binds
/// them.
macro_rules! client_columns {
    () => {
        "client_id, secret_hash, auth_method, grant_types, scope, introspect_any_token, \
         allowed_cors_origins, previous_secret_hash, previous_secret_until, \
         refresh_token_grace, redirect_uris, require_pushed_requests, jwks, access_token_format, \
         dpop_bound, allowed_resources, served_resources"
    };
}
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use client_columns;

/// Inserts one token row; fifteen parameters, see `bind_token`.
pub(crate) const INSERT_TOKEN: &str = concat!(
    "INSERT INTO oauth_tokens (",
    token_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
);

/// The token row whose hash is `$1` (the primary key).
pub(crate) const FIND_TOKEN: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM oauth_tokens WHERE hash = $1"
);

// The statements PostgreSQL extends (it also returns the transaction's id, see `postgres.rs`)
// are macros too, so that `concat!` can take them; without that store, they are used here only.

/// The text of [`REVOKE_TOKEN`].
macro_rules! revoke_token {
    () => {
        "UPDATE oauth_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE hash = $2"
    };
}
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use revoke_token;

/// Marks the token `$2` revoked at `$1` unless it already was.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // PostgreSQL extends it.
pub(crate) const REVOKE_TOKEN: &str = revoke_token!();

/// Marks every unrevoked token of grant `$2` revoked at `$1`. Run only while holding the
/// grant's row lock (see `lock_grant!`).
pub(crate) const REVOKE_GRANT: &str =
    "UPDATE oauth_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL";

/// The grant of the token whose hash is `$1`. A token's grant never changes, so this is read
/// before the grant is locked.
pub(crate) const GRANT_OF_TOKEN: &str = "SELECT grant_id FROM oauth_tokens WHERE hash = $1";

/// Locks the row of grant `$1` (creating it if missing), raises its `expires_at` to `$2`, and
/// returns its `revoked_at`: PostgreSQL's serialization point of every operation that creates or
/// revokes tokens of the grant. `ON CONFLICT DO UPDATE` takes the row lock, waiting for a
/// transaction that holds it, and then works on the latest committed version of the row (also
/// under READ COMMITTED). (SQLite holds the database's write lock already, and reads the flag.)
macro_rules! lock_grant {
    () => {
        "INSERT INTO oauth_grants (grant_id, expires_at) \
         VALUES ($1, $2) ON CONFLICT (grant_id) DO UPDATE SET expires_at = CASE \
         WHEN excluded.expires_at > oauth_grants.expires_at THEN excluded.expires_at \
         ELSE oauth_grants.expires_at END \
         RETURNING revoked_at"
    };
}
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use lock_grant;

/// The text of [`REVOKE_GRANT_ROW`].
macro_rules! revoke_grant_row {
    () => {
        "INSERT INTO oauth_grants (grant_id, revoked_at, expires_at) \
         VALUES ($1, $2, \
         COALESCE((SELECT MAX(expires_at) FROM oauth_tokens WHERE grant_id = $1), $3)) \
         ON CONFLICT (grant_id) DO UPDATE SET \
         revoked_at = COALESCE(oauth_grants.revoked_at, excluded.revoked_at) \
         RETURNING revoked_at"
    };
}
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use revoke_grant_row;

/// Marks grant `$1` revoked at `$2` unless it already was, creating its row if missing (kept
/// until `$3`, or until its newest token expires), and locks the row like `lock_grant!`.
/// Returns the grant's `revoked_at`.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // PostgreSQL extends it.
pub(crate) const REVOKE_GRANT_ROW: &str = revoke_grant_row!();

/// Marks the refresh token `$3` rotated at `$1` if it is active at `$1`, recording `$2` (the
/// hash of the refresh token that replaces it, or NULL) as its successor. Run while holding the
/// token's grant (see `lock_grant!`), so concurrent rotations of one token run one after the
/// other and only the first matches `rotated_at IS NULL`.
pub(crate) const ROTATE: &str = "UPDATE oauth_tokens SET rotated_at = $1, successor = $2 \
     WHERE hash = $3 AND kind = 'refresh' AND rotated_at IS NULL AND revoked_at IS NULL \
     AND expires_at > $1 AND (not_before IS NULL OR not_before <= $1)";

/// The successor recorded for the rotated token `$1` (see [`ROTATE`]).
pub(crate) const SUCCESSOR_OF: &str = "SELECT successor FROM oauth_tokens WHERE hash = $1";

/// Revokes the unused refresh token `$2` at `$1` (a grace redemption replaces it): only if it
/// is still active, so a successor used or revoked meanwhile is not superseded. Run while
/// holding the token's grant.
pub(crate) const SUPERSEDE: &str = "UPDATE oauth_tokens SET revoked_at = $1 \
     WHERE hash = $2 AND kind = 'refresh' AND rotated_at IS NULL AND revoked_at IS NULL \
     AND expires_at > $1";

/// Records `$1` as the successor of the rotated token `$2`.
pub(crate) const SET_SUCCESSOR: &str = "UPDATE oauth_tokens SET successor = $1 WHERE hash = $2";

/// The client whose id is `$1`.
pub(crate) const FIND_CLIENT: &str = concat!(
    "SELECT ",
    client_columns!(),
    " FROM oauth_clients WHERE client_id = $1"
);

/// The text of [`SAVE_CLIENT`].
macro_rules! save_client {
    () => {
        concat!(
            "INSERT INTO oauth_clients (",
            $crate::store::sql::queries::client_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17) ON CONFLICT (client_id) DO UPDATE SET \
             secret_hash = excluded.secret_hash, auth_method = excluded.auth_method, \
             grant_types = excluded.grant_types, \
             scope = excluded.scope, introspect_any_token = excluded.introspect_any_token, \
             allowed_cors_origins = excluded.allowed_cors_origins, \
             previous_secret_hash = excluded.previous_secret_hash, \
             previous_secret_until = excluded.previous_secret_until, \
             refresh_token_grace = excluded.refresh_token_grace, \
             redirect_uris = excluded.redirect_uris, \
             require_pushed_requests = excluded.require_pushed_requests, \
             jwks = excluded.jwks, access_token_format = excluded.access_token_format, \
             dpop_bound = excluded.dpop_bound, \
             allowed_resources = excluded.allowed_resources, \
             served_resources = excluded.served_resources"
        )
    };
}
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use save_client;

/// Inserts or replaces a client; seventeen parameters, see `bind_client`.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // PostgreSQL extends it.
pub(crate) const SAVE_CLIENT: &str = save_client!();

/// The text of [`DELETE_CLIENT`].
macro_rules! delete_client {
    () => {
        "DELETE FROM oauth_clients WHERE client_id = $1"
    };
}
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use delete_client;

/// Deletes the client `$1`.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // PostgreSQL extends it.
pub(crate) const DELETE_CLIENT: &str = delete_client!();

/// The grants with an unrevoked token of client `$1`, in the one lock order (ascending id).
pub(crate) const GRANTS_OF_CLIENT: &str = "SELECT DISTINCT grant_id FROM oauth_tokens \
     WHERE client_id = $1 AND revoked_at IS NULL ORDER BY grant_id";

/// The text of [`INSERT_CLIENT`].
macro_rules! insert_client {
    () => {
        concat!(
            "INSERT INTO oauth_clients (",
            $crate::store::sql::queries::client_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17) ON CONFLICT (client_id) DO NOTHING"
        )
    };
}
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use insert_client;

/// Inserts a client unless its id is taken; seventeen parameters, see `bind_client`.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // PostgreSQL extends it.
pub(crate) const INSERT_CLIENT: &str = insert_client!();

/// At most `$2` clients whose id sorts after `$1`, in id order (keyset paging).
pub(crate) const LIST_CLIENTS: &str = concat!(
    "SELECT ",
    client_columns!(),
    " FROM oauth_clients WHERE client_id > $1 ORDER BY client_id LIMIT $2"
);

/// The grants with an unrevoked token of subject `$1`, in the one lock order (ascending id).
pub(crate) const GRANTS_OF_SUBJECT: &str = "SELECT DISTINCT grant_id FROM oauth_tokens \
     WHERE subject = $1 AND revoked_at IS NULL ORDER BY grant_id";

/// The `oauth_authorizations` columns, in the order
/// [`bind_authorization`](super::row::bind_authorization) binds them.
macro_rules! authorization_columns {
    () => {
        "hash, kind, client_id, grant_id, payload, issued_at, expires_at, consumed_at"
    };
}
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use authorization_columns;

/// The text of [`INSERT_AUTHORIZATION`].
macro_rules! insert_authorization {
    () => {
        concat!(
            "INSERT INTO oauth_authorizations (",
            $crate::store::sql::queries::authorization_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (hash, kind) DO UPDATE SET client_id = excluded.client_id, \
             grant_id = excluded.grant_id, payload = excluded.payload, \
             issued_at = excluded.issued_at, expires_at = excluded.expires_at, \
             consumed_at = excluded.consumed_at"
        )
    };
}
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use insert_authorization;

/// Inserts an authorization record, or replaces the one of its hash and kind; eight
/// parameters, see `bind_authorization`.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // PostgreSQL extends it.
pub(crate) const INSERT_AUTHORIZATION: &str = insert_authorization!();

/// The authorization record whose hash is `$1` and kind `$2` (the primary key).
pub(crate) const FIND_AUTHORIZATION: &str = concat!(
    "SELECT ",
    authorization_columns!(),
    " FROM oauth_authorizations WHERE hash = $1 AND kind = $2"
);

/// The text of [`CONSUME_AUTHORIZATION`].
macro_rules! consume_authorization {
    () => {
        concat!(
            "UPDATE oauth_authorizations SET consumed_at = $1 \
             WHERE hash = $2 AND kind = $3 AND consumed_at IS NULL AND expires_at > $1 \
             RETURNING ",
            $crate::store::sql::queries::authorization_columns!()
        )
    };
}
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use consume_authorization;

/// Marks the record of hash `$2` and kind `$3` used at `$1` if it is unused and unexpired at
/// `$1`, and returns it as stored then; no row otherwise. One statement: its condition is
/// checked on the row it changes (see `sql::consume_authorization` for why exactly one of
/// concurrent calls matches).
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // PostgreSQL extends it.
pub(crate) const CONSUME_AUTHORIZATION: &str = consume_authorization!();

/// The text of [`REMEMBER_ONCE`].
macro_rules! remember_once {
    () => {
        "INSERT INTO oauth_replay_ids (hash, expires_at) VALUES ($1, $2) \
         ON CONFLICT (hash) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE oauth_replay_ids.expires_at <= $3"
    };
}
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use remember_once;

/// Remembers key `$1` until `$2` unless it is remembered past `$3` (now): inserts it, or
/// replaces a row whose time has passed; changes no row when the key is remembered. One
/// statement, whose condition is checked on the row it would change (see
/// `sql::consume_authorization` for the argument, which holds here as well: PostgreSQL makes a
/// concurrent insert of the same key wait for the first, then re-checks the `WHERE` on the row
/// as committed; SQLite runs it on its one writer).
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // PostgreSQL extends it.
pub(crate) const REMEMBER_ONCE: &str = remember_once!();
