use bytes::Bytes;
use http::Request;
use oauth_endpoints::{Context, Endpoint, EndpointResult, OAuthError, oauth_endpoint};

#[derive(Default)]
#[oauth_endpoint(name = "browser", path = "/browser", cors = "maybe")]
pub struct Browser;

impl Endpoint for Browser {
    async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        Err(OAuthError::invalid_request("never"))
    }
}

fn main() {}
