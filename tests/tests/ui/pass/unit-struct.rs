use bytes::Bytes;
use http::{Method, Request, StatusCode};
use oauth_endpoints::{AuthorizationServer, Context, Endpoint, EndpointResult, oauth_endpoint};
use oauth_endpoints::client_auth::ClientAuthMethod;
use oauth_endpoints::endpoint::{DescribedEndpoint, json_response};

#[derive(Default)]
#[oauth_endpoint(
    name = "custom-revocation",
    path = "/custom/revoke",
    methods = "GET, POST",
    auth_methods = "client_secret_basic client_secret_post none private_key_jwt",
    metadata = "custom_revocation_endpoint",
)]
pub struct Revocation;

impl Endpoint for Revocation {
    async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        Ok(json_response(StatusCode::OK, &serde_json::json!({})))
    }
}

fn main() {
    let description = Revocation::DESCRIPTION;
    assert_eq!(description.name(), "custom-revocation");
    assert_eq!(description.path(), "/custom/revoke");
    assert_eq!(description.methods(), ["GET", "POST"]);
    assert_eq!(description.auth_methods(), Some(ClientAuthMethod::ALL));
    assert_eq!(description.metadata(), Some("custom_revocation_endpoint"));

    // Collected beside the core's built-in endpoints, sorted by path.
    let server = AuthorizationServer::builder().build().unwrap();
    let names: Vec<&str> = server.routes().iter().map(|route| route.name()).collect();
    assert_eq!(
        names,
        ["metadata", "custom-revocation", "introspection", "revocation", "token"]
    );
    let route = &server.routes()[1];
    assert_eq!(route.name(), "custom-revocation");
    assert_eq!(route.methods(), [Method::GET, Method::POST]);
    assert!(route.source().type_name().ends_with("::Revocation"));
}
