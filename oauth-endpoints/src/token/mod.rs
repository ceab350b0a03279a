//! Opaque tokens: their records, and issuing them.

mod format;
mod issue;
mod issuer;
mod record;

pub use format::AccessTokenFormat;
pub use issue::{IssuedTokens, TokenRequest};
pub use issuer::TokenIssuer;
pub use record::{TokenKind, TokenRecord};
