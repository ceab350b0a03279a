//! Opaque tokens: their records, and issuing them.

mod issue;
mod issuer;
mod record;

pub use issue::{IssuedTokens, TokenRequest};
pub use issuer::TokenIssuer;
pub use record::{TokenKind, TokenRecord};
