use oauth_endpoints::{Client, Context, EndpointResult, Grant, OAuthError, oauth_grant};
use oauth_endpoints::form::Form;

// Every mistake is reported: the arguments' and the item's.
#[oauth_grant(grant_type = "urn:example:demo grant", grant_types = "urn:example:demo", "demo")]
pub enum DemoGrant {
    Enabled,
}

impl Default for DemoGrant {
    fn default() -> Self {
        Self::Enabled
    }
}

impl Grant for DemoGrant {
    async fn exchange(&self, _cx: &Context, _client: &Client, _form: &Form) -> EndpointResult {
        Err(OAuthError::invalid_grant("demo grants are never valid"))
    }
}

fn main() {
    let _ = DemoGrant::Enabled;
}
