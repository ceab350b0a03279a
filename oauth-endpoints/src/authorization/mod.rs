//! The authorization endpoint's rules (RFC 6749 §3.1, §4.1): what the authorization code grant
//! checks before it issues a code, and again when the code is exchanged at the token endpoint.
//!
//! Today it holds two pure building blocks, with no endpoint yet:
//!
//! - [`CodeChallenge`]: Proof Key for Code Exchange (RFC 7636), `S256` only (RFC 9700 §2.1.1);
//! - [`RedirectUri`]: a client's registered redirect URI and the exact matching RFC 9700 §4.1.3
//!   asks for, with the loopback port exception of RFC 8252 §7.3.

mod pkce;
mod redirect_uri;

pub use pkce::{CodeChallenge, InvalidChallenge};
pub use redirect_uri::{InvalidRedirectUri, RedirectUri};
