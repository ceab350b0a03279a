//! The PostgreSQL schema: its versioned migrations and how they are applied.

use sqlx::Executor as _;
use sqlx::postgres::PgPool;

use crate::store::StoreError;
use crate::store::sql::error;

/// Schema migrations, applied in order on open; `oauth_endpoints_migrations` records which ran.
/// Never edit one that has shipped: append a new one.
pub(super) const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE IF NOT EXISTS oauth_clients (
    client_id            TEXT PRIMARY KEY,
    secret_hash          BYTEA,
    auth_method          TEXT NOT NULL,
    grant_types          TEXT NOT NULL,
    scope                TEXT NOT NULL,
    introspect_any_token BOOLEAN NOT NULL,
    allowed_cors_origins TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth_tokens (
    hash       BYTEA PRIMARY KEY,
    id         BYTEA NOT NULL,
    kind       TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    subject    TEXT,
    audience   TEXT NOT NULL,
    grant_id   BYTEA NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    not_before BIGINT,
    revoked_at BIGINT,
    rotated_at BIGINT
);
CREATE INDEX IF NOT EXISTS oauth_tokens_grant ON oauth_tokens (grant_id);
CREATE INDEX IF NOT EXISTS oauth_tokens_expires ON oauth_tokens (expires_at);
",
    r"
-- 2: one row per grant, the lock every write of the grant's tokens takes first, and its
-- revoked flag (see `sql/mod.rs`). Grants are backfilled from their tokens; a grant all of
-- whose tokens are revoked is taken as revoked.
CREATE TABLE oauth_grants (
    grant_id   BYTEA PRIMARY KEY,
    revoked_at BIGINT,
    expires_at BIGINT NOT NULL
);
INSERT INTO oauth_grants (grant_id, revoked_at, expires_at)
    SELECT grant_id, CASE WHEN COUNT(*) = COUNT(revoked_at) THEN MAX(revoked_at) END,
           MAX(expires_at)
    FROM oauth_tokens GROUP BY grant_id;
CREATE INDEX oauth_grants_expires ON oauth_grants (expires_at);
",
    r"
-- 3: the refresh-token grace window (`store/rotation.rs`): each rotated refresh token records
-- the hash of its successor, the refresh token that replaced it; a client may have a window
-- of its own, in seconds (NULL: the server's). Tokens rotated before it have no successor: a
-- second presentation of one stays reuse.
ALTER TABLE oauth_tokens ADD COLUMN IF NOT EXISTS successor BYTEA;
ALTER TABLE oauth_clients ADD COLUMN IF NOT EXISTS refresh_token_grace BIGINT;
",
    r"
-- 4: a rotated secret kept for an overlap; an index for revoking a subject's tokens (partial:
-- tokens without a subject, such as client_credentials ones, cost nothing to index).
ALTER TABLE oauth_clients ADD COLUMN previous_secret_hash BYTEA;
ALTER TABLE oauth_clients ADD COLUMN previous_secret_until BIGINT;
CREATE INDEX oauth_tokens_subject ON oauth_tokens (subject) WHERE subject IS NOT NULL;
",
    r"
-- 5: the client's redirect URIs (RFC 7591 `redirect_uris`), a JSON array like the origins.
ALTER TABLE oauth_clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
",
    r"
-- 6: authorization codes and pushed authorization requests (`AuthorizationStore`), by the
-- hash of their secret and their kind (`code`, `pushed_request`), each used once: a
-- consumption sets `consumed_at` in one conditional UPDATE (see `sql/mod.rs`). The payload is
-- the endpoint's JSON, opaque to the store. An index on the expiry for the purge.
CREATE TABLE oauth_authorizations (
    hash        BYTEA NOT NULL,
    kind        TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    grant_id    BYTEA NOT NULL,
    payload     TEXT NOT NULL,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT,
    PRIMARY KEY (hash, kind)
);
CREATE INDEX oauth_authorizations_expires ON oauth_authorizations (expires_at);
-- And the client's `require_pushed_authorization_requests` (RFC 9126 §6).
ALTER TABLE oauth_clients ADD COLUMN require_pushed_requests BOOLEAN NOT NULL DEFAULT FALSE;
",
    r"
-- 7: the client's public keys (RFC 7591 `jwks`, a JWK Set as compact JSON; NULL: none) for
-- `private_key_jwt`, and the format of its access tokens (`opaque`, `jwt`; NULL: the
-- server's). The ids remembered once (`AuthorizationStore::remember_once`: the `jti` of
-- `private_key_jwt` assertions, by the hash of client id and `jti`) until `expires_at`,
-- shared by every instance: `INSERT ... ON CONFLICT DO UPDATE ... WHERE` the row's time has
-- passed, so of instances remembering one key at once exactly one inserts it (see
-- `sql/queries.rs`). An index on the expiry for the purge.
ALTER TABLE oauth_clients ADD COLUMN jwks TEXT;
ALTER TABLE oauth_clients ADD COLUMN access_token_format TEXT;
CREATE TABLE oauth_replay_ids (
    hash       BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_replay_ids_expires ON oauth_replay_ids (expires_at);
",
    r"
-- 8: the key a sender-constrained token is bound to (DPoP, RFC 9449 §6): the 32-byte SHA-256
-- JWK thumbprint (RFC 7638) its `cnf.jkt` carries; NULL for a bearer token, as every token
-- stored before is. A nullable column without a default: adding it rewrites no row.
ALTER TABLE oauth_tokens ADD COLUMN jkt BYTEA;
",
    r"
-- 9: the client's `dpop_bound_access_tokens` (RFC 9449 §5.2).
ALTER TABLE oauth_clients ADD COLUMN dpop_bound BOOLEAN NOT NULL DEFAULT FALSE;
",
    r"
-- 10: delegation (token exchange, RFC 8693): the acting party (`act`, §4.1) and the party
-- allowed to act (`may_act`, §4.4) a token records, its `Delegation` as compact JSON; NULL
-- for a token without, as every token stored before is (a nullable column without a default:
-- adding it rewrites no row). The client's targets: the `resource` and `audience` values it
-- may ask tokens for (RFC 8707 §2, RFC 8693 §2.1) and the resources it serves, JSON arrays
-- like the redirect URIs.
ALTER TABLE oauth_tokens ADD COLUMN delegation TEXT;
ALTER TABLE oauth_clients ADD COLUMN allowed_resources TEXT NOT NULL DEFAULT '[]';
ALTER TABLE oauth_clients ADD COLUMN served_resources TEXT NOT NULL DEFAULT '[]';
",
];

/// The transaction-scoped advisory lock that serializes migrations of instances opening at
/// once (the ASCII bytes of `oauthend`).
const MIGRATION_LOCK: i64 = 0x6f61_7574_6865_6e64;

/// Applies the migrations that have not run yet, in one transaction holding [`MIGRATION_LOCK`],
/// creating `schema` first if given.
pub(super) async fn migrate(pool: &PgPool, schema: Option<&str>) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(error)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(error)?;
    // A plain string runs as a simple query: several statements, no parameters.
    if let Some(schema) = schema {
        // `valid_schema` admits no quote, so the name needs no escaping.
        let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
        (&mut *tx).execute(create.as_str()).await.map_err(error)?;
    }
    (&mut *tx)
        .execute(
            "CREATE TABLE IF NOT EXISTS oauth_endpoints_migrations (\
                 version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(error)?;
    let version: i32 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM oauth_endpoints_migrations")
            .fetch_one(&mut *tx)
            .await
            .map_err(error)?;
    let applied = usize::try_from(version).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        (&mut *tx).execute(*migration).await.map_err(error)?;
        sqlx::query("INSERT INTO oauth_endpoints_migrations (version) VALUES ($1)")
            .bind(i32::try_from(index + 1).unwrap_or(i32::MAX))
            .execute(&mut *tx)
            .await
            .map_err(error)?;
    }
    tx.commit().await.map_err(error)
}
