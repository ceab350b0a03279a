//! Converting between records and SQL column values, shared by the SQL stores.

use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "postgres")]
use sqlx::query::Query;
#[cfg(feature = "postgres")]
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};

use crate::client::{Client, PreviousSecret};
use crate::client_auth::ClientAuthMethod;
use crate::scope::Scope;
use crate::secret::{Id, SecretHash, TokenHash};
#[cfg(feature = "postgres")]
use crate::store::sql::error;
use crate::store::{AuthorizationKind, AuthorizationRecord, StoreError};
use crate::token::{AccessTokenFormat, Delegation, Jkt, TokenKind, TokenRecord};

/// A `oauth_tokens` row, as plain column values.
pub(crate) struct TokenRow {
    pub(crate) hash: Vec<u8>,
    pub(crate) id: Vec<u8>,
    pub(crate) kind: String,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) subject: Option<String>,
    pub(crate) audience: String,
    pub(crate) grant_id: Vec<u8>,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) not_before: Option<i64>,
    pub(crate) revoked_at: Option<i64>,
    pub(crate) rotated_at: Option<i64>,
    /// The SHA-256 thumbprint of the key the token is bound to (`cnf.jkt`, 32 bytes); NULL: a
    /// bearer token.
    pub(crate) jkt: Option<Vec<u8>>,
    /// The token's delegation (`act`, `may_act`: RFC 8693 §4.1, §4.4), compact JSON; NULL:
    /// none.
    pub(crate) delegation: Option<String>,
}

/// A `oauth_clients` row, as plain column values.
pub(crate) struct ClientRow {
    pub(crate) client_id: String,
    pub(crate) secret_hash: Option<Vec<u8>>,
    pub(crate) auth_method: String,
    pub(crate) grant_types: String,
    pub(crate) scope: String,
    pub(crate) introspect_any_token: bool,
    pub(crate) allowed_cors_origins: String,
    pub(crate) previous_secret_hash: Option<Vec<u8>>,
    pub(crate) previous_secret_until: Option<i64>,
    /// Seconds; NULL: the server's window applies.
    pub(crate) refresh_token_grace: Option<i64>,
    /// A JSON array of strings.
    pub(crate) redirect_uris: String,
    pub(crate) require_pushed_requests: bool,
    /// The client's JWK Set, compact JSON; NULL: none.
    pub(crate) jwks: Option<String>,
    /// `opaque` or `jwt`; NULL: the server's.
    pub(crate) access_token_format: Option<String>,
    pub(crate) dpop_bound: bool,
    /// The targets the client may ask tokens for (RFC 8707 §2, RFC 8693 §2.1), a JSON array of
    /// strings.
    pub(crate) allowed_resources: String,
    /// The resources the client serves, a JSON array of strings.
    pub(crate) served_resources: String,
}

/// A `oauth_authorizations` row, as plain column values.
pub(crate) struct AuthorizationRow {
    pub(crate) hash: Vec<u8>,
    /// [`AuthorizationKind::as_str`].
    pub(crate) kind: String,
    pub(crate) client_id: String,
    pub(crate) grant_id: Vec<u8>,
    /// Opaque to the store (the endpoint's JSON).
    pub(crate) payload: String,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) consumed_at: Option<i64>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::backend(format!("stored {what} is malformed"))
}

fn array<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], StoreError> {
    bytes.try_into().map_err(|_| corrupt(what))
}

/// A stored grant or token id.
pub(crate) fn id(bytes: &[u8]) -> Result<Id, StoreError> {
    Ok(Id::from_bytes(array(bytes, "id")?))
}

/// A stored token hash.
pub(crate) fn hash(bytes: &[u8]) -> Result<TokenHash, StoreError> {
    Ok(TokenHash::from_bytes(array(bytes, "token hash")?))
}

/// Times are stored as signed 64-bit seconds.
pub(crate) fn time(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn unix(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(crate) fn kind_name(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Access => "access",
        TokenKind::Refresh => "refresh",
    }
}

impl TokenRow {
    pub(crate) fn from_record(record: &TokenRecord) -> Self {
        Self {
            hash: record.hash.as_bytes().to_vec(),
            id: record.id.as_bytes().to_vec(),
            kind: kind_name(record.kind).to_owned(),
            client_id: record.client_id.to_string(),
            scope: record.scope.to_string(),
            subject: record.subject.as_deref().map(str::to_owned),
            audience: serde_json::to_string(&*record.audience).unwrap_or_else(|_| "[]".into()),
            grant_id: record.grant_id.as_bytes().to_vec(),
            issued_at: time(record.issued_at),
            expires_at: time(record.expires_at),
            not_before: record.not_before.map(time),
            revoked_at: record.revoked_at.map(time),
            rotated_at: record.rotated_at.map(time),
            jkt: record.confirmation.map(|jkt| jkt.as_bytes().to_vec()),
            // Strings and options only: serializing cannot fail.
            delegation: record
                .delegation
                .as_deref()
                .and_then(|delegation| serde_json::to_string(delegation).ok()),
        }
    }

    pub(crate) fn into_record(self) -> Result<TokenRecord, StoreError> {
        TokenColumns {
            hash: &self.hash,
            id: &self.id,
            kind: &self.kind,
            client_id: &self.client_id,
            scope: &self.scope,
            subject: self.subject.as_deref(),
            audience: &self.audience,
            grant_id: &self.grant_id,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            not_before: self.not_before,
            revoked_at: self.revoked_at,
            rotated_at: self.rotated_at,
            jkt: self.jkt.as_deref(),
            delegation: self.delegation.as_deref(),
        }
        .to_record()
    }
}

/// A `oauth_tokens` row's columns borrowed from the driver's row, so that a lookup copies each
/// value once, into the record (the SQLite store reads its rows this way).
pub(crate) struct TokenColumns<'a> {
    pub(crate) hash: &'a [u8],
    pub(crate) id: &'a [u8],
    pub(crate) kind: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) subject: Option<&'a str>,
    pub(crate) audience: &'a str,
    pub(crate) grant_id: &'a [u8],
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) not_before: Option<i64>,
    pub(crate) revoked_at: Option<i64>,
    pub(crate) rotated_at: Option<i64>,
    pub(crate) jkt: Option<&'a [u8]>,
    pub(crate) delegation: Option<&'a str>,
}

impl TokenColumns<'_> {
    /// The record these columns hold: the one mapping from a token row to a record.
    pub(crate) fn to_record(&self) -> Result<TokenRecord, StoreError> {
        let audience: Vec<String> = if self.audience == "[]" {
            Vec::new()
        } else {
            serde_json::from_str(self.audience).map_err(|_| corrupt("audience"))?
        };
        Ok(TokenRecord {
            id: Id::from_bytes(array(self.id, "token id")?),
            hash: TokenHash::from_bytes(array(self.hash, "token hash")?),
            kind: match self.kind {
                "access" => TokenKind::Access,
                "refresh" => TokenKind::Refresh,
                _ => return Err(corrupt("token kind")),
            },
            client_id: Arc::from(self.client_id),
            scope: self.scope.parse::<Scope>().map_err(|_| corrupt("scope"))?,
            subject: self.subject.map(Arc::from),
            audience: Arc::from(audience),
            grant_id: Id::from_bytes(array(self.grant_id, "grant id")?),
            issued_at: unix(self.issued_at),
            expires_at: unix(self.expires_at),
            not_before: self.not_before.map(unix),
            revoked_at: self.revoked_at.map(unix),
            rotated_at: self.rotated_at.map(unix),
            confirmation: self
                .jkt
                .map(|jkt| array(jkt, "key thumbprint").map(Jkt::from_bytes))
                .transpose()?,
            delegation: self
                .delegation
                .map(|json| {
                    serde_json::from_str::<Delegation>(json)
                        .map(Arc::new)
                        .map_err(|_| corrupt("delegation"))
                })
                .transpose()?,
        })
    }
}

impl AuthorizationRow {
    pub(crate) fn from_record(record: &AuthorizationRecord) -> Self {
        Self {
            hash: record.hash.as_bytes().to_vec(),
            kind: record.kind.as_str().to_owned(),
            client_id: record.client_id.to_string(),
            grant_id: record.grant_id.as_bytes().to_vec(),
            payload: record.payload.to_string(),
            issued_at: time(record.issued_at),
            expires_at: time(record.expires_at),
            consumed_at: record.consumed_at.map(time),
        }
    }

    pub(crate) fn into_record(self) -> Result<AuthorizationRecord, StoreError> {
        Ok(AuthorizationRecord {
            hash: TokenHash::from_bytes(array(&self.hash, "authorization hash")?),
            kind: AuthorizationKind::from_name(&self.kind)
                .ok_or_else(|| corrupt("authorization kind"))?,
            client_id: Arc::from(self.client_id),
            grant_id: Id::from_bytes(array(&self.grant_id, "grant id")?),
            payload: Arc::from(self.payload),
            issued_at: unix(self.issued_at),
            expires_at: unix(self.expires_at),
            consumed_at: self.consumed_at.map(unix),
        })
    }
}

impl ClientRow {
    pub(crate) fn from_client(client: &Client) -> Self {
        Self {
            client_id: client.client_id().to_owned(),
            secret_hash: client.secret_hash().map(|hash| hash.as_bytes().to_vec()),
            auth_method: client.token_endpoint_auth_method().as_str().to_owned(),
            grant_types: serde_json::to_string(client.grant_types())
                .unwrap_or_else(|_| "[]".into()),
            scope: client.scope().to_string(),
            introspect_any_token: client.introspect_any_token(),
            allowed_cors_origins: serde_json::to_string(client.allowed_cors_origins())
                .unwrap_or_else(|_| "[]".into()),
            previous_secret_hash: client
                .previous_secret()
                .map(|previous| previous.hash.as_bytes().to_vec()),
            previous_secret_until: client
                .previous_secret()
                .map(|previous| time(previous.until)),
            refresh_token_grace: client
                .refresh_token_grace()
                .map(|grace| time(crate::store::rotation::grace_seconds(grace))),
            redirect_uris: serde_json::to_string(client.redirect_uris())
                .unwrap_or_else(|_| "[]".into()),
            require_pushed_requests: client.require_pushed_authorization_requests(),
            jwks: client.jwks().map(str::to_owned),
            access_token_format: client
                .access_token_format()
                .map(|format| format.as_str().to_owned()),
            dpop_bound: client.dpop_bound_access_tokens(),
            allowed_resources: serde_json::to_string(client.allowed_resources())
                .unwrap_or_else(|_| "[]".into()),
            served_resources: serde_json::to_string(client.served_resources())
                .unwrap_or_else(|_| "[]".into()),
        }
    }

    pub(crate) fn into_client(self) -> Result<Client, StoreError> {
        let method: ClientAuthMethod = self
            .auth_method
            .parse()
            .map_err(|_| corrupt("auth method"))?;
        let grant_types: Vec<String> =
            serde_json::from_str(&self.grant_types).map_err(|_| corrupt("grant types"))?;
        let origins: Vec<String> = serde_json::from_str(&self.allowed_cors_origins)
            .map_err(|_| corrupt("allowed origins"))?;
        let redirect_uris: Vec<String> =
            serde_json::from_str(&self.redirect_uris).map_err(|_| corrupt("redirect URIs"))?;
        let allowed_resources: Vec<String> = serde_json::from_str(&self.allowed_resources)
            .map_err(|_| corrupt("allowed resources"))?;
        let served_resources: Vec<String> = serde_json::from_str(&self.served_resources)
            .map_err(|_| corrupt("served resources"))?;
        let previous = match (self.previous_secret_hash, self.previous_secret_until) {
            (Some(hash), Some(until)) => Some(PreviousSecret {
                hash: SecretHash::from_bytes(array(&hash, "previous secret hash")?),
                until: unix(until),
            }),
            _ => None,
        };
        let grace = self
            .refresh_token_grace
            .map(|seconds| Duration::from_secs(unix(seconds)));
        let client = match self.secret_hash {
            Some(hash) => Client::with_secret_hash(
                self.client_id,
                SecretHash::from_bytes(array(&hash, "secret hash")?),
            ),
            None => Client::public(self.client_id),
        };
        let client = match grace {
            Some(grace) => client.with_refresh_token_grace(grace),
            None => client,
        };
        let client = match self.jwks {
            Some(jwks) => client.with_jwks(jwks),
            None => client,
        };
        let format = self
            .access_token_format
            .map(|format| format.parse::<AccessTokenFormat>())
            .transpose()
            .map_err(|_| corrupt("access token format"))?;
        // Through the builder, so a row that breaks a client rule (say a secret hash with
        // method `none`) is refused rather than let authenticate by its id alone.
        client
            .with_auth_method(method)
            .with_grant_types(grant_types)
            .with_scope(self.scope.parse().map_err(|_| corrupt("scope"))?)
            .with_introspect_any_token(self.introspect_any_token)
            .with_allowed_cors_origins(origins)
            .with_redirect_uris(redirect_uris)
            .with_require_pushed_authorization_requests(self.require_pushed_requests)
            .with_access_token_format(format)
            .with_dpop_bound_access_tokens(self.dpop_bound)
            .with_allowed_resources(allowed_resources)
            .with_served_resources(served_resources)
            .with_previous_secret(previous)
            .build()
            .map_err(|_| corrupt("client"))
    }
}

/// A query of database `DB` with its arguments.
#[cfg(feature = "postgres")] // sqlx rows; the SQLite store reads its own (`sqlite/rows.rs`).
pub(crate) type SqlQuery<'q, DB> = Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// Binds a token row's fifteen columns in `token_columns!` order.
#[cfg(feature = "postgres")] // sqlx rows; the SQLite store reads its own (`sqlite/rows.rs`).
pub(crate) fn bind_token<'q, DB>(query: SqlQuery<'q, DB>, row: TokenRow) -> SqlQuery<'q, DB>
where
    DB: Database,
    Vec<u8>: Encode<'q, DB> + Type<DB>,
    Option<Vec<u8>>: Encode<'q, DB>,
    String: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB>,
{
    query
        .bind(row.hash)
        .bind(row.id)
        .bind(row.kind)
        .bind(row.client_id)
        .bind(row.scope)
        .bind(row.subject)
        .bind(row.audience)
        .bind(row.grant_id)
        .bind(row.issued_at)
        .bind(row.expires_at)
        .bind(row.not_before)
        .bind(row.revoked_at)
        .bind(row.rotated_at)
        .bind(row.jkt)
        .bind(row.delegation)
}

/// Binds a client row's seventeen columns in `client_columns!` order.
#[cfg(feature = "postgres")] // sqlx rows; the SQLite store reads its own (`sqlite/rows.rs`).
pub(crate) fn bind_client<'q, DB>(query: SqlQuery<'q, DB>, row: ClientRow) -> SqlQuery<'q, DB>
where
    DB: Database,
    Vec<u8>: Encode<'q, DB> + Type<DB>,
    Option<Vec<u8>>: Encode<'q, DB>,
    String: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB>,
    bool: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB>,
    i64: Type<DB>,
{
    query
        .bind(row.client_id)
        .bind(row.secret_hash)
        .bind(row.auth_method)
        .bind(row.grant_types)
        .bind(row.scope)
        .bind(row.introspect_any_token)
        .bind(row.allowed_cors_origins)
        .bind(row.previous_secret_hash)
        .bind(row.previous_secret_until)
        .bind(row.refresh_token_grace)
        .bind(row.redirect_uris)
        .bind(row.require_pushed_requests)
        .bind(row.jwks)
        .bind(row.access_token_format)
        .bind(row.dpop_bound)
        .bind(row.allowed_resources)
        .bind(row.served_resources)
}

/// Binds an authorization row's eight columns in `authorization_columns!` order.
#[cfg(feature = "postgres")] // sqlx rows; the SQLite store reads its own (`sqlite/rows.rs`).
pub(crate) fn bind_authorization<'q, DB>(
    query: SqlQuery<'q, DB>,
    row: AuthorizationRow,
) -> SqlQuery<'q, DB>
where
    DB: Database,
    Vec<u8>: Encode<'q, DB> + Type<DB>,
    String: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB>,
{
    query
        .bind(row.hash)
        .bind(row.kind)
        .bind(row.client_id)
        .bind(row.grant_id)
        .bind(row.payload)
        .bind(row.issued_at)
        .bind(row.expires_at)
        .bind(row.consumed_at)
}

/// Reads an authorization record from a row holding the `authorization_columns!`.
#[cfg(feature = "postgres")] // sqlx rows; the SQLite store reads its own (`sqlite/rows.rs`).
pub(crate) fn read_authorization<'r, R>(row: &'r R) -> Result<AuthorizationRecord, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    AuthorizationRow {
        hash: row.try_get("hash").map_err(error)?,
        kind: row.try_get("kind").map_err(error)?,
        client_id: row.try_get("client_id").map_err(error)?,
        grant_id: row.try_get("grant_id").map_err(error)?,
        payload: row.try_get("payload").map_err(error)?,
        issued_at: row.try_get("issued_at").map_err(error)?,
        expires_at: row.try_get("expires_at").map_err(error)?,
        consumed_at: row.try_get("consumed_at").map_err(error)?,
    }
    .into_record()
}

/// Reads a token record from a row holding the `token_columns!`.
#[cfg(feature = "postgres")] // sqlx rows; the SQLite store reads its own (`sqlite/rows.rs`).
pub(crate) fn read_token<'r, R>(row: &'r R) -> Result<TokenRecord, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    TokenRow {
        hash: row.try_get("hash").map_err(error)?,
        id: row.try_get("id").map_err(error)?,
        kind: row.try_get("kind").map_err(error)?,
        client_id: row.try_get("client_id").map_err(error)?,
        scope: row.try_get("scope").map_err(error)?,
        subject: row.try_get("subject").map_err(error)?,
        audience: row.try_get("audience").map_err(error)?,
        grant_id: row.try_get("grant_id").map_err(error)?,
        issued_at: row.try_get("issued_at").map_err(error)?,
        expires_at: row.try_get("expires_at").map_err(error)?,
        not_before: row.try_get("not_before").map_err(error)?,
        revoked_at: row.try_get("revoked_at").map_err(error)?,
        rotated_at: row.try_get("rotated_at").map_err(error)?,
        jkt: row.try_get("jkt").map_err(error)?,
        delegation: row.try_get("delegation").map_err(error)?,
    }
    .into_record()
}

/// Reads a client from a row holding the `client_columns!`.
#[cfg(feature = "postgres")] // sqlx rows; the SQLite store reads its own (`sqlite/rows.rs`).
pub(crate) fn read_client<'r, R>(row: &'r R) -> Result<Client, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    ClientRow {
        client_id: row.try_get("client_id").map_err(error)?,
        secret_hash: row.try_get("secret_hash").map_err(error)?,
        auth_method: row.try_get("auth_method").map_err(error)?,
        grant_types: row.try_get("grant_types").map_err(error)?,
        scope: row.try_get("scope").map_err(error)?,
        introspect_any_token: row.try_get("introspect_any_token").map_err(error)?,
        allowed_cors_origins: row.try_get("allowed_cors_origins").map_err(error)?,
        previous_secret_hash: row.try_get("previous_secret_hash").map_err(error)?,
        previous_secret_until: row.try_get("previous_secret_until").map_err(error)?,
        refresh_token_grace: row.try_get("refresh_token_grace").map_err(error)?,
        redirect_uris: row.try_get("redirect_uris").map_err(error)?,
        require_pushed_requests: row.try_get("require_pushed_requests").map_err(error)?,
        jwks: row.try_get("jwks").map_err(error)?,
        access_token_format: row.try_get("access_token_format").map_err(error)?,
        dpop_bound: row.try_get("dpop_bound").map_err(error)?,
        allowed_resources: row.try_get("allowed_resources").map_err(error)?,
        served_resources: row.try_get("served_resources").map_err(error)?,
    }
    .into_client()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Actor;

    fn token_row() -> TokenRow {
        TokenRow::from_record(&TokenRecord {
            id: Id::from_bytes([2; 16]),
            hash: TokenHash::of("t"),
            kind: TokenKind::Access,
            client_id: Arc::from("c"),
            scope: "read".parse().unwrap(),
            subject: Some(Arc::from("alice")),
            audience: Arc::from(["rs".to_owned()]),
            grant_id: Id::from_bytes([1; 16]),
            issued_at: 10,
            expires_at: 1_000,
            not_before: None,
            revoked_at: None,
            rotated_at: None,
            confirmation: None,
            delegation: Some(Arc::new(Delegation {
                act: Some(Actor::new("svc-b").acting_after(Actor::new("svc-a").issued_by("x"))),
                may_act: None,
                exchanged: false,
            })),
        })
    }

    #[test]
    fn a_delegation_is_stored_as_compact_json() {
        let row = token_row();
        assert_eq!(
            row.delegation.as_deref(),
            Some(r#"{"act":{"sub":"svc-b","act":{"sub":"svc-a","iss":"x"}}}"#)
        );
        let record = token_row().into_record().unwrap();
        assert_eq!(record.act().map(Actor::depth), Some(2));
    }

    #[test]
    fn a_malformed_delegation_is_a_store_error() {
        for malformed in [
            "",
            "{",
            "null",
            r#"{"act":{"iss":"x"}}"#,
            r#"{"act":"svc"}"#,
        ] {
            let row = TokenRow {
                delegation: Some(malformed.to_owned()),
                ..token_row()
            };
            assert!(
                matches!(row.into_record(), Err(StoreError::Backend(_))),
                "{malformed:?}"
            );
        }
    }

    #[test]
    fn malformed_resources_are_a_store_error() {
        let client = Client::public("c")
            .with_allowed_resources(["https://api.example/"])
            .with_served_resources(["rs"])
            .build()
            .unwrap();
        let row = ClientRow::from_client(&client);
        assert_eq!(row.allowed_resources, r#"["https://api.example/"]"#);
        assert_eq!(row.served_resources, r#"["rs"]"#);
        assert_eq!(row.into_client().unwrap(), client);
        for malformed in ["", "{}", "[1]", "rs", r#"["a b"]"#] {
            let allowed = ClientRow {
                allowed_resources: malformed.to_owned(),
                ..ClientRow::from_client(&client)
            };
            assert!(allowed.into_client().is_err(), "{malformed:?}");
            let served = ClientRow {
                served_resources: malformed.to_owned(),
                ..ClientRow::from_client(&client)
            };
            assert!(served.into_client().is_err(), "{malformed:?}");
        }
    }
}
