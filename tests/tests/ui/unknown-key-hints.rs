use bytes::Bytes;
use http::{Request, StatusCode};
use oauth_endpoints::{Context, Endpoint, EndpointResult, oauth_endpoint};
use oauth_endpoints::endpoint::json_response;

// A close known key is suggested (and not also reported missing): same but for case, one edit
// away, or a prefix. A key close to nothing gets the list alone.
#[derive(Default)]
#[oauth_endpoint(Name = "revocation", pth = "/oauth/revoke", auth = "none", metdaata = "revocation_endpoint", colour = "red")]
pub struct Revocation;

impl Endpoint for Revocation {
    async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        Ok(json_response(StatusCode::OK, &serde_json::json!({})))
    }
}

fn main() {
    let _ = Revocation;
}
