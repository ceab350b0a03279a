//! The built-in endpoints, each a type annotated with `#[oauth_endpoint]` like a user's.

mod introspection;
mod metadata;
mod revocation;
mod token;

pub use crate::metadata::WELL_KNOWN_PATH;
pub use introspection::{INACTIVE, IntrospectionEndpoint};
pub use metadata::MetadataEndpoint;
pub use revocation::RevocationEndpoint;
pub use token::TokenEndpoint;
