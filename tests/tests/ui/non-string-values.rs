use bytes::Bytes;
use http::{Request, StatusCode};
use oauth_endpoints::{Context, Endpoint, EndpointResult, oauth_endpoint};
use oauth_endpoints::endpoint::json_response;

const PATH: &str = "/oauth/revoke";

#[derive(Default)]
#[oauth_endpoint(name = 7, path = PATH, metadata = endpoints::REVOCATION, methods = concat!("GET", ", POST"), auth_methods = none)]
pub struct Revocation;

impl Endpoint for Revocation {
    async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        Ok(json_response(StatusCode::OK, &serde_json::json!({})))
    }
}

fn main() {
    let _ = (Revocation, PATH, endpoints::REVOCATION);
}

mod endpoints {
    pub const REVOCATION: &str = "revocation_endpoint";
}
