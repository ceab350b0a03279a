//! Building JSON responses with the headers every OAuth answer carries.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA};
use http::{Response, StatusCode};
use serde::Serialize;

/// A JSON response with `Content-Type: application/json`, `Cache-Control: no-store` and
/// `Pragma: no-cache` (RFC 6749 §5.1), as every token, revocation and introspection answer carries.
///
/// ```
/// use http::StatusCode;
/// let response = oauth_endpoints::endpoint::json_response(StatusCode::OK, &serde_json::json!({"active": false}));
/// assert_eq!(response.body().as_ref(), br#"{"active":false}"#);
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// ```
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<Bytes> {
    // Serializing plain data (strings, numbers, maps with string keys) cannot fail; should a
    // user's type refuse, the answer is still valid JSON.
    let body =
        serde_json::to_vec(body).unwrap_or_else(|_| b"{\"error\":\"server_error\"}".to_vec());
    json_bytes_response(status, Bytes::from(body))
}

/// Like [`json_response`] for a body that is already JSON.
pub fn json_bytes_response(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
