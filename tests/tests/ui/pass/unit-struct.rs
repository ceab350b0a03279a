use bytes::Bytes;
use http::{Method, Request, StatusCode};
use oauth_endpoints::{
    AuthorizationServer, ClientAuthMethod, Context, DescribedEndpoint, Endpoint, EndpointResult,
    json_response, oauth_endpoint,
};

#[derive(Default)]
#[oauth_endpoint(
    name = "revocation",
    path = "/oauth/revoke",
    methods = "GET, POST",
    auth_methods = "client_secret_basic client_secret_post none",
    metadata = "revocation_endpoint",
)]
pub struct Revocation;

impl Endpoint for Revocation {
    async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        Ok(json_response(StatusCode::OK, &serde_json::json!({})))
    }
}

fn main() {
    let description = Revocation::DESCRIPTION;
    assert_eq!(description.name(), "revocation");
    assert_eq!(description.path(), "/oauth/revoke");
    assert_eq!(description.methods(), ["GET", "POST"]);
    assert_eq!(description.auth_methods(), Some(ClientAuthMethod::ALL));
    assert_eq!(description.metadata(), Some("revocation_endpoint"));

    let server = AuthorizationServer::builder().build().unwrap();
    let [route] = server.routes() else {
        panic!("expected one route, got {:?}", server.routes());
    };
    assert_eq!(route.name(), "revocation");
    assert_eq!(route.methods(), [Method::GET, Method::POST]);
    assert!(route.source().type_name().ends_with("::Revocation"));
}
