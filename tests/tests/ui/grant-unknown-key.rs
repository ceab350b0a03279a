use oauth_endpoints::{Client, Context, EndpointResult, Grant, OAuthError, oauth_grant};
use oauth_endpoints::form::Form;

// A key close to `grant_type` is suggested; another key gets the list alone.
#[derive(Default)]
#[oauth_grant(grant = "urn:example:demo")]
pub struct DemoGrant;

impl Grant for DemoGrant {
    async fn exchange(&self, _cx: &Context, _client: &Client, _form: &Form) -> EndpointResult {
        Err(OAuthError::invalid_grant("demo grants are never valid"))
    }
}

#[derive(Default)]
#[oauth_grant(grant_type = "urn:example:other", name = "other")]
pub struct OtherGrant;

impl Grant for OtherGrant {
    async fn exchange(&self, _cx: &Context, _client: &Client, _form: &Form) -> EndpointResult {
        Err(OAuthError::invalid_grant("other grants are never valid"))
    }
}

fn main() {
    let _ = (DemoGrant, OtherGrant);
}
