use bytes::Bytes;
use http::{Request, Response, StatusCode};
use oauth_endpoints::oauth_endpoint;

#[oauth_endpoint(name = "revocation", path = "/oauth/revoke")]
pub async fn revocation(_request: Request<Bytes>) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::OK;
    response
}

fn main() {
    let _ = revocation;
}
