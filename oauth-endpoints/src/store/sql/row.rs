//! Converting between records and SQL column values, shared by the SQL stores.

use std::sync::Arc;

use crate::client::Client;
use crate::client_auth::ClientAuthMethod;
use crate::scope::Scope;
use crate::secret::{Id, SecretHash, TokenHash};
use crate::store::StoreError;
use crate::token::{TokenKind, TokenRecord};

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
}

fn corrupt(what: &str) -> StoreError {
    StoreError::backend(format!("stored {what} is malformed"))
}

fn array<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], StoreError> {
    bytes.try_into().map_err(|_| corrupt(what))
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
        }
    }

    pub(crate) fn into_record(self) -> Result<TokenRecord, StoreError> {
        let audience: Vec<String> =
            serde_json::from_str(&self.audience).map_err(|_| corrupt("audience"))?;
        Ok(TokenRecord {
            id: Id::from_bytes(array(&self.id, "token id")?),
            hash: TokenHash::from_bytes(array(&self.hash, "token hash")?),
            kind: match self.kind.as_str() {
                "access" => TokenKind::Access,
                "refresh" => TokenKind::Refresh,
                _ => return Err(corrupt("token kind")),
            },
            client_id: Arc::from(self.client_id),
            scope: self.scope.parse::<Scope>().map_err(|_| corrupt("scope"))?,
            subject: self.subject.map(Arc::from),
            audience: Arc::from(audience),
            grant_id: Id::from_bytes(array(&self.grant_id, "grant id")?),
            issued_at: unix(self.issued_at),
            expires_at: unix(self.expires_at),
            not_before: self.not_before.map(unix),
            revoked_at: self.revoked_at.map(unix),
            rotated_at: self.rotated_at.map(unix),
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
        let client = match self.secret_hash {
            Some(hash) => Client::with_secret_hash(
                self.client_id,
                SecretHash::from_bytes(array(&hash, "secret hash")?),
            ),
            None => Client::public(self.client_id),
        };
        Ok(client
            .with_auth_method(method)
            .with_grant_types(grant_types)
            .with_scope(self.scope.parse().map_err(|_| corrupt("scope"))?)
            .with_introspect_any_token(self.introspect_any_token)
            .with_allowed_cors_origins(origins))
    }
}
