//! The built-in endpoints, each a type annotated with `#[oauth_endpoint]` like a user's. The
//! authorization code flow's two (mounted with an
//! [`AuthorizationCodeFlow`](crate::authorization::AuthorizationCodeFlow)) live in
//! [`authorization`](crate::authorization) and are named here too.

mod introspection;
mod jwks;
mod metadata;
mod revocation;
mod token;

pub use crate::authorization::{AuthorizationEndpoint, PushedAuthorizationEndpoint};
pub use crate::metadata::WELL_KNOWN_PATH;
pub use introspection::{INACTIVE, IntrospectionEndpoint};
pub use jwks::JwksEndpoint;
pub use metadata::MetadataEndpoint;
pub use revocation::RevocationEndpoint;
pub use token::TokenEndpoint;
