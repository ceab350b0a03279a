//! Reading a device authorization from a SQL row: one mapping for the SQLite and PostgreSQL
//! stores, whose columns differ only in the name of the polling interval.

use oauth_endpoints::clock::UnixTime;
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::store::StoreError;
use sqlx::{ColumnIndex, Database, Decode, Row, Type};

use crate::store::{DeviceAuthorization, DeviceStatus};
use crate::user_code::UserCode;

/// Times are stored as signed 64-bit seconds.
pub(super) fn time(value: UnixTime) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn read_time(value: i64) -> Result<UnixTime, StoreError> {
    UnixTime::try_from(value).map_err(|_| StoreError::backend("negative time in the store"))
}

/// The authorization in `row`; `interval` names the column holding the polling interval and
/// `error` maps the driver's errors as the store does.
pub(super) fn read<'r, R>(
    row: &'r R,
    interval: &'static str,
    error: fn(sqlx::Error) -> StoreError,
) -> Result<DeviceAuthorization, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    R::Database: Database,
{
    let hash: Vec<u8> = row.try_get("device_code_hash").map_err(error)?;
    let hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| StoreError::backend("a device code hash is not 32 bytes"))?;
    let user_code: String = row.try_get("user_code").map_err(error)?;
    let scope: String = row.try_get("scope").map_err(error)?;
    let status: String = row.try_get("status").map_err(error)?;
    let last_polled_at: Option<i64> = row.try_get("last_polled_at").map_err(error)?;
    Ok(DeviceAuthorization {
        device_code_hash: TokenHash::from_bytes(hash),
        user_code: UserCode::from_canonical(user_code)
            .ok_or_else(|| StoreError::backend("a stored user code is not canonical"))?,
        client_id: row.try_get("client_id").map_err(error)?,
        scope: scope.parse().map_err(StoreError::backend)?,
        status: DeviceStatus::parse(&status)
            .ok_or_else(|| StoreError::backend("unknown device authorization status"))?,
        subject: row.try_get("subject").map_err(error)?,
        issued_at: read_time(row.try_get("issued_at").map_err(error)?)?,
        expires_at: read_time(row.try_get("expires_at").map_err(error)?)?,
        interval: read_time(row.try_get(interval).map_err(error)?)?,
        last_polled_at: last_polled_at.map(read_time).transpose()?,
    })
}
