use bytes::Bytes;
use http::{Request, StatusCode};
use oauth_endpoints::{Context, Endpoint, EndpointResult, oauth_endpoint};
use oauth_endpoints::endpoint::json_response;

#[derive(Default)]
#[oauth_endpoint(name = "revocation", path = "/oauth/revoke", auth_methods = "client_secret_basic client_secret_jwt")]
pub struct Revocation;

impl Endpoint for Revocation {
    async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        Ok(json_response(StatusCode::OK, &serde_json::json!({})))
    }
}

fn main() {
    let _ = Revocation;
}
