//! The `#[oauth_endpoint]` attribute of [oauth-endpoints](https://docs.rs/oauth-endpoints).
//!
//! Do not depend on this crate directly: use it through `oauth_endpoints::oauth_endpoint`, whose
//! documentation describes the attribute. The generated code names only paths under
//! `::oauth_endpoints::__private`, so a crate that uses the attribute needs no other dependency.
//!
//! The crate is split by stage: [`args`] reads the attribute's `key = "value"` pairs, [`validate`]
//! checks each rule and turns the strings into typed values, [`expand`] writes the registration.
//! Every mistake is a spanned error; all mistakes of one attribute are reported together.

use proc_macro::TokenStream;

mod args;
mod expand;
mod validate;

/// Declares an OAuth endpoint and registers it with every `AuthorizationServer` built in a
/// program that links the crate defining it. See `oauth_endpoints::oauth_endpoint`.
#[proc_macro_attribute]
pub fn oauth_endpoint(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let result = args::parse(attr.into()).and_then(|args| {
        let target = validate::target(item.clone());
        let endpoint = validate::endpoint(&args);
        match (target, endpoint) {
            (Ok(target), Ok(endpoint)) => Ok(expand::endpoint(&target, &endpoint)),
            (Err(mut first), Err(second)) => {
                first.combine(second);
                Err(first)
            }
            (Err(error), _) | (_, Err(error)) => Err(error),
        }
    });
    match result {
        Ok(tokens) => quote::quote!(#item #tokens).into(),
        // The item is emitted unchanged beside the errors, so code that uses the type does not
        // drown the real mistake in follow-on errors.
        Err(error) => {
            let errors = error.to_compile_error();
            quote::quote!(#item #errors).into()
        }
    }
}
