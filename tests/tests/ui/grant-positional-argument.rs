use oauth_endpoints::{Client, Context, EndpointResult, Grant, OAuthError, oauth_grant};
use oauth_endpoints::form::Form;

#[derive(Default)]
#[oauth_grant("urn:example:demo")]
pub struct DemoGrant;

impl Grant for DemoGrant {
    async fn exchange(&self, _cx: &Context, _client: &Client, _form: &Form) -> EndpointResult {
        Err(OAuthError::invalid_grant("demo grants are never valid"))
    }
}

fn main() {
    let _ = DemoGrant;
}
