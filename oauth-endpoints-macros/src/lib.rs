//! The `#[oauth_endpoint]` attribute of [oauth-endpoints](https://docs.rs/oauth-endpoints).
//!
//! Do not depend on this crate directly: use it through `oauth_endpoints::oauth_endpoint`, whose
//! documentation describes the attribute. The generated code names only paths under
//! `::oauth_endpoints::__private`, so a crate that uses the attribute needs no other dependency.
//!
//! The crate is split by stage: `args` reads the attribute's `key = "value"` pairs, `validate`
//! checks each rule and turns the strings into typed values, `expand` writes the registration.
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
    // Every check runs, whatever the others find: the arguments that could be read are
    // validated, and the item is checked, even when some arguments are malformed.
    let mut errors = args::Errors::default();
    let args = args::parse(attr.into(), ENDPOINT_KEYS, &mut errors);
    let result = errors
        .then(both(
            validate::endpoint(&args),
            validate::target(item.clone(), "oauth_endpoint"),
        ))
        .map(|(endpoint, target)| expand::endpoint(&target, &endpoint));
    finish(item, result)
}

/// Declares a grant type and registers it with the token endpoint of every `AuthorizationServer`
/// built in a program that links the crate defining it. See `oauth_endpoints::oauth_grant`.
#[proc_macro_attribute]
pub fn oauth_grant(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let mut errors = args::Errors::default();
    let args = args::parse(attr.into(), GRANT_KEYS, &mut errors);
    let result = errors
        .then(both(
            validate::grant(&args),
            validate::target(item.clone(), "oauth_grant"),
        ))
        .map(|(grant_type, target)| expand::grant(&target, &grant_type));
    finish(item, result)
}

/// The keys `#[oauth_endpoint]` accepts, each with an example value.
const ENDPOINT_KEYS: &[args::Key] = &[
    key("name", "revocation"),
    key("path", "/oauth/revoke"),
    key("methods", "POST"),
    key("auth_methods", "client_secret_basic"),
    key("metadata", "revocation_endpoint"),
    key("cors", "true"),
];

/// The keys `#[oauth_grant]` accepts.
const GRANT_KEYS: &[args::Key] = &[key("grant_type", "client_credentials")];

const fn key(name: &'static str, example: &'static str) -> args::Key {
    args::Key { name, example }
}

/// Both results, or every error of both.
fn both<A, B>(a: syn::Result<A>, b: syn::Result<B>) -> syn::Result<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(mut first), Err(second)) => {
            first.combine(second);
            Err(first)
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    }
}

fn finish(
    item: proc_macro2::TokenStream,
    result: syn::Result<proc_macro2::TokenStream>,
) -> TokenStream {
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
