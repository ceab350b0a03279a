use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use oauth_endpoints::{AuthorizationServer, Context, Endpoint, EndpointResult, oauth_endpoint};
use oauth_endpoints::client_auth::ClientAuthMethod;
use oauth_endpoints::endpoint::{DescribedEndpoint, json_response};

/// An endpoint with configuration fields, built by its own `Default` impl.
#[oauth_endpoint(name = "custom-introspection", path = "/custom/introspect")]
pub struct Introspection {
    issuer: String,
    leeway: Duration,
}

impl Default for Introspection {
    fn default() -> Self {
        Self {
            issuer: "https://issuer.example".to_owned(),
            leeway: Duration::from_secs(30),
        }
    }
}

impl Endpoint for Introspection {
    async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({ "iss": self.issuer, "leeway": self.leeway.as_secs() }),
        ))
    }
}

fn main() {
    // Defaults: POST only, `client_secret_basic` when not declared, no metadata name.
    let description = Introspection::DESCRIPTION;
    assert_eq!(description.methods(), ["POST"]);
    assert_eq!(description.auth_methods(), None);
    assert_eq!(description.metadata(), None);

    let server = AuthorizationServer::builder().build().unwrap();
    let route = server.route("custom-introspection").unwrap();
    assert_eq!(route.path(), "/custom/introspect");
    assert_eq!(route.auth_methods(), ClientAuthMethod::DEFAULT);
}
