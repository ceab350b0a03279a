use std::marker::PhantomData;

use oauth_endpoints::{Client, Context, EndpointResult, Grant, OAuthError, oauth_grant};
use oauth_endpoints::form::Form;

#[derive(Default)]
#[oauth_grant(grant_type = "urn:example:demo")]
pub struct DemoGrant<S> {
    store: PhantomData<S>,
}

impl<S: Send + Sync + 'static> Grant for DemoGrant<S> {
    async fn exchange(&self, _cx: &Context, _client: &Client, _form: &Form) -> EndpointResult {
        Err(OAuthError::invalid_grant("demo grants are never valid"))
    }
}

#[derive(Default)]
#[oauth_grant(grant_type = "urn:example:other")]
pub struct OtherGrant
where
    u8: Copy;

impl Grant for OtherGrant {
    async fn exchange(&self, _cx: &Context, _client: &Client, _form: &Form) -> EndpointResult {
        Err(OAuthError::invalid_grant("other grants are never valid"))
    }
}

fn main() {
    let _ = (DemoGrant::<u8> { store: PhantomData }, OtherGrant);
}
