//! Code generation: the endpoint's static description and its `inventory` registration.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use crate::validate::{Endpoint, Target};

/// Writes `impl DescribedGrant` and the `inventory::submit!` for a grant type.
pub(crate) fn grant(target: &Target, grant_type: &str) -> TokenStream {
    let ident = &target.ident;
    let type_name = ident.to_string();
    let private = quote!(::oauth_endpoints::__private);
    let registration = quote_spanned! {ident.span()=>
        #private::GrantRegistration::of::<#ident>()
    };
    let source = source(&type_name);
    quote! {
        impl #private::DescribedGrant for #ident {
            const DESCRIPTION: #private::GrantDescription =
                #private::GrantDescription::__new(#grant_type, #source);
        }

        #private::inventory::submit! {
            #registration
        }
    }
}

/// The `Source` of the annotated type: its path and the attribute's location.
fn source(type_name: &str) -> TokenStream {
    let private = quote!(::oauth_endpoints::__private);
    quote! {
        #private::Source::__new(
            ::core::concat!(::core::module_path!(), "::", #type_name),
            ::core::module_path!(),
            ::core::file!(),
            ::core::line!(),
        )
    }
}

/// Writes `impl DescribedEndpoint` and the `inventory::submit!` for a validated endpoint.
pub(crate) fn endpoint(target: &Target, endpoint: &Endpoint) -> TokenStream {
    let ident = &target.ident;
    let type_name = ident.to_string();
    let Endpoint {
        name,
        path,
        methods,
        auth_methods,
        metadata,
        cors,
    } = endpoint;
    let private = quote!(::oauth_endpoints::__private);
    let source = source(&type_name);
    let auth_methods = match auth_methods {
        Some(variants) => quote!(::core::option::Option::Some(&[
            #(#private::ClientAuthMethod::#variants),*
        ])),
        None => quote!(::core::option::Option::None),
    };
    let metadata = match metadata {
        Some(metadata) => quote!(::core::option::Option::Some(#metadata)),
        None => quote!(::core::option::Option::None),
    };
    // Spanned at the type's name, so a missing `Endpoint` or `Default` impl points at the type.
    let registration = quote_spanned! {ident.span()=>
        #private::Registration::of::<#ident>()
    };
    quote! {
        impl #private::DescribedEndpoint for #ident {
            const DESCRIPTION: #private::EndpointDescription =
                #private::EndpointDescription::__new(
                    #name,
                    #path,
                    &[#(#methods),*],
                    #auth_methods,
                    #metadata,
                    #source,
                )
                .__with_cors(#cors);
        }

        #private::inventory::submit! {
            #registration
        }
    }
}
