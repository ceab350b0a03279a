use bytes::Bytes;
use http::{Request, StatusCode};
use oauth_endpoints::{Context, Endpoint, EndpointResult, json_response, oauth_endpoint};

#[derive(Default)]
#[oauth_endpoint(name = "revocation", path, methods("GET"), metadata: "revocation_endpoint", , = "x")]
pub struct Revocation;

impl Endpoint for Revocation {
    async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        Ok(json_response(StatusCode::OK, &serde_json::json!({})))
    }
}

fn main() {
    let _ = Revocation;
}
