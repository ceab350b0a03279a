//! The rules of `#[oauth_endpoint]`: each check turns a string argument into a typed value or a
//! spanned error. All failures of one attribute are combined.

use proc_macro2::{Ident, TokenStream};
use quote::ToTokens;
use syn::{Item, LitStr};

use oauth_endpoints_rules::{
    AUTH_METHODS, CLIENT_SECRET_BASIC, CLIENT_SECRET_POST, METHODS, NONE, PRIVATE_KEY_JWT,
    check_grant_type, check_name, check_path, is_metadata_name, list_entries,
};

use crate::args::{Args, Errors};

/// The variant of `oauth_endpoints::client_auth::ClientAuthMethod` each method of [`AUTH_METHODS`] names.
fn auth_method_variant(name: &str) -> Option<&'static str> {
    match name {
        CLIENT_SECRET_BASIC => Some("ClientSecretBasic"),
        CLIENT_SECRET_POST => Some("ClientSecretPost"),
        NONE => Some("None"),
        PRIVATE_KEY_JWT => Some("PrivateKeyJwt"),
        _ => None,
    }
}

/// The type the attribute is on.
pub(crate) struct Target {
    pub(crate) ident: Ident,
}

/// A validated endpoint declaration.
pub(crate) struct Endpoint {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) methods: Vec<String>,
    /// Variant names of `ClientAuthMethod`; `None` when the attribute does not say.
    pub(crate) auth_methods: Option<Vec<Ident>>,
    pub(crate) metadata: Option<String>,
    /// Whether the endpoint accepts cross-origin requests (RFC 7009 §2.3).
    pub(crate) cors: bool,
}

/// The attribute goes on a non-generic struct: a registration is a constant, and a generic type
/// has no single instance to construct.
pub(crate) fn target(item: TokenStream, attribute: &str) -> syn::Result<Target> {
    let item: Item = syn::parse2(item)?;
    let keyword = match &item {
        Item::Struct(item) => {
            if item.generics.params.is_empty() && item.generics.where_clause.is_none() {
                return Ok(Target {
                    ident: item.ident.clone(),
                });
            }
            let register = match attribute {
                "oauth_grant" => "register_grant",
                _ => "register_endpoint",
            };
            // `Generics` prints only its `<...>`: a `where` clause alone is spanned by itself.
            let (tokens, message) = if item.generics.params.is_empty() {
                (
                    item.generics.where_clause.to_token_stream(),
                    format!(
                        "a struct with a `where` clause cannot be registered with \
                         `#[{attribute}]`; remove the clause, or register an instance with \
                         `AuthorizationServerBuilder::{register}` instead"
                    ),
                )
            } else {
                (
                    item.generics.to_token_stream(),
                    format!(
                        "a generic struct cannot be registered with `#[{attribute}]`; register \
                         a concrete instance with `AuthorizationServerBuilder::{register}` instead"
                    ),
                )
            };
            return Err(syn::Error::new_spanned(tokens, message));
        }
        // Anything else is named by its keyword, and the error points at that keyword.
        Item::Enum(item) => (item.enum_token.to_token_stream(), "an enum"),
        Item::Union(item) => (item.union_token.to_token_stream(), "a union"),
        Item::Fn(item) => (item.sig.fn_token.to_token_stream(), "a function"),
        Item::Impl(item) => (item.impl_token.to_token_stream(), "an impl block"),
        Item::Trait(item) => (item.trait_token.to_token_stream(), "a trait"),
        Item::TraitAlias(item) => (item.trait_token.to_token_stream(), "a trait alias"),
        Item::Mod(item) => (item.mod_token.to_token_stream(), "a module"),
        Item::Const(item) => (item.const_token.to_token_stream(), "a constant"),
        Item::Static(item) => (item.static_token.to_token_stream(), "a static"),
        Item::Type(item) => (item.type_token.to_token_stream(), "a type alias"),
        Item::Use(item) => (item.use_token.to_token_stream(), "a `use` declaration"),
        Item::ExternCrate(item) => {
            let (extern_token, crate_token) = (&item.extern_token, &item.crate_token);
            (
                quote::quote!(#extern_token #crate_token),
                "an `extern crate` declaration",
            )
        }
        Item::ForeignMod(item) => (item.abi.extern_token.to_token_stream(), "an `extern` block"),
        Item::Macro(item) if item.ident.is_some() => {
            (item.mac.path.to_token_stream(), "a macro definition")
        }
        Item::Macro(item) => (item.mac.path.to_token_stream(), "a macro invocation"),
        other => (other.to_token_stream(), "another item"),
    };
    let (tokens, found) = keyword;
    Err(syn::Error::new_spanned(
        tokens,
        format!("`#[{attribute}]` can only be applied to a struct, found {found}"),
    ))
}

/// Checks `#[oauth_grant]`'s argument: a `grant_type` (RFC 6749 §4.5, Appendix A.10).
pub(crate) fn grant(args: &Args) -> syn::Result<String> {
    let mut errors = Errors::default();
    let grant_type = match args.get("grant_type") {
        // Written without a usable value: already reported where it is written.
        None if args.reported("grant_type") => String::new(),
        None => {
            errors.at(
                proc_macro2::Span::call_site(),
                "missing `grant_type`, e.g. `grant_type = \"client_credentials\"`",
            );
            String::new()
        }
        Some(lit) => {
            let value = lit.value();
            if let Err(rule) = check_grant_type(&value) {
                errors.at(lit.span(), format!("`grant_type` {rule}"));
            }
            value
        }
    };
    errors.finish(grant_type)
}

/// Checks every argument; reports every mistake at once.
pub(crate) fn endpoint(args: &Args) -> syn::Result<Endpoint> {
    let mut errors = Errors::default();
    let call_site = proc_macro2::Span::call_site();

    let name = match args.get("name") {
        // Written without a usable value: already reported where it is written.
        None if args.reported("name") => String::new(),
        None => {
            errors.at(call_site, "missing `name`, e.g. `name = \"revocation\"`");
            String::new()
        }
        Some(lit) => {
            let name = lit.value();
            if let Err(rule) = check_name(&name) {
                errors.at(lit.span(), format!("`name` {rule}"));
            }
            name
        }
    };

    let path = match args.get("path") {
        // Written without a usable value: already reported where it is written.
        None if args.reported("path") => String::new(),
        None => {
            errors.at(call_site, "missing `path`, e.g. `path = \"/oauth/revoke\"`");
            String::new()
        }
        Some(lit) => {
            let path = lit.value();
            if let Err(rule) = check_path(&path) {
                errors.at(lit.span(), format!("`path` {rule}"));
            }
            path
        }
    };

    let methods = match args.get("methods") {
        None => vec!["POST".to_owned()],
        Some(lit) => methods(lit, &mut errors),
    };
    let auth_methods = args
        .get("auth_methods")
        .map(|lit| auth_methods(lit, &mut errors));
    let cors = match args.get("cors") {
        None => false,
        Some(lit) => match lit.value().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                errors.at(lit.span(), "`cors` must be `true` or `false`");
                false
            }
        },
    };
    let metadata = args.get("metadata").map(|lit| {
        let value = lit.value();
        if !is_metadata_name(&value) {
            errors.at(
                lit.span(),
                "`metadata` must be a metadata name in lowercase snake_case, e.g. \"device_authorization_endpoint\"",
            );
        }
        value
    });

    errors.finish(Endpoint {
        name,
        path,
        methods,
        auth_methods,
        metadata,
        cors,
    })
}

fn methods(lit: &LitStr, errors: &mut Errors) -> Vec<String> {
    let value = lit.value();
    let mut methods: Vec<String> = Vec::new();
    for method in list_entries(&value) {
        if method.is_empty() {
            errors.at(
                lit.span(),
                "empty HTTP method; separate methods with commas or spaces, e.g. \"GET, POST\"",
            );
        } else if !METHODS.contains(&method) {
            let hint = METHODS
                .iter()
                .find(|known| known.eq_ignore_ascii_case(method))
                .map(|known| format!("; did you mean `{known}`?"))
                .unwrap_or_default();
            errors.at(
                lit.span(),
                format!(
                    "unknown HTTP method `{method}`{hint} (expected one of: {})",
                    METHODS.join(", ")
                ),
            );
        } else if methods.iter().any(|seen| seen == method) {
            errors.at(
                lit.span(),
                format!("HTTP method `{method}` is listed twice"),
            );
        } else {
            methods.push(method.to_owned());
        }
    }
    methods
}

fn auth_methods(lit: &LitStr, errors: &mut Errors) -> Vec<Ident> {
    let value = lit.value();
    let mut found: Vec<Ident> = Vec::new();
    let mut any = false;
    for method in list_entries(&value) {
        any = true;
        if method.is_empty() {
            errors.at(
                lit.span(),
                "empty auth method; separate methods with commas or spaces, \
                 e.g. \"client_secret_basic client_secret_post\"",
            );
            continue;
        }
        match auth_method_variant(method) {
            Some(variant) => {
                let ident = Ident::new(variant, lit.span());
                if found.contains(&ident) {
                    errors.at(
                        lit.span(),
                        format!("auth method `{method}` is listed twice"),
                    );
                } else {
                    found.push(ident);
                }
            }
            None => errors.at(
                lit.span(),
                format!(
                    "unknown client authentication method `{method}` (expected any of: {})",
                    AUTH_METHODS.join(", ")
                ),
            ),
        }
    }
    if !any {
        errors.at(
            lit.span(),
            "`auth_methods` must name at least one method, e.g. \"client_secret_basic\"",
        );
    }
    found
}
