use oauth_endpoints::oauth_endpoint;

#[derive(Default)]
#[oauth_endpoint(name = "revocation", path = "/oauth/revoke")]
pub struct Revocation;

fn main() {}
