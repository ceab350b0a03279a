use oauth_endpoints::oauth_grant;

#[derive(Default)]
#[oauth_grant(grant_type = "urn:example:demo")]
pub struct DemoGrant;

fn main() {}
