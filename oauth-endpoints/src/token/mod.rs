//! Opaque tokens: their records, and issuing them.

mod delegation;
mod format;
mod issue;
mod issuer;
mod jkt;
pub(crate) mod jwt;
mod record;

pub use delegation::{Actor, Delegation};
pub use format::AccessTokenFormat;
pub use issue::{IssuedTokens, TokenRequest};
pub use issuer::TokenIssuer;
pub(crate) use jkt::Confirmation;
pub use jkt::{InvalidJkt, Jkt};
pub use jwt::ACCESS_TOKEN_TYP;
pub use record::{TokenKind, TokenRecord};
