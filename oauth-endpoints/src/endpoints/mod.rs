//! The built-in endpoints, each a type annotated with `#[oauth_endpoint]` like a user's.

mod token;

pub use token::TokenEndpoint;
