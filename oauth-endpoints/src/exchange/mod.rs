//! Token exchange (RFC 8693): a client trades a token it holds for another, narrower one, for
//! the next hop of a call chain.
//!
//! A service that received a user's token and must call another service on the user's behalf
//! asks the token endpoint for a token meant for that service (`resource` / `audience`),
//! with at most the scope it needs:
//!
//! - **Impersonation** (RFC 8693 §1.1): only a `subject_token`; the new token speaks for the
//!   subject, with no trace of the client in it (beyond `client_id`).
//! - **Delegation**: an `actor_token` too; the new token speaks for the subject and names the
//!   actor in `act` (§4.1), nested after the subject token's own `act` when it already had one
//!   (a chain: the most recent actor outermost). A subject token with `may_act` (§4.4) may be
//!   exchanged only by the party it names.
//!
//! The grant ([`TokenExchangeGrant`]) is mounted when the server is given a [`TokenExchange`]
//! (`.with_state(...)`): its [`ExchangePolicy`] decides who may exchange what (default: nobody;
//! [`ForwardedTokens`] lets a service exchange the tokens sent to it),
//! and its [`TokenValidator`]s accept token types this server did not issue, such as a JWT from
//! a trusted identity provider ([`TrustedIssuer`]). The client must also list the grant type in
//! its `grant_types`, and register every target it names ([`Client::allowed_resources`](
//! crate::Client::allowed_resources)).
//!
//! Token types ([`token_type`], RFC 8693 §3): subject and actor tokens may be this server's
//! access or refresh tokens (`...:access_token`, `...:refresh_token`, opaque or JWT, and a
//! JWT access token presented as `...:jwt`), looked up in the store; any other type goes to a
//! validator. The issued token is an access token (`requested_token_type` `...:access_token`,
//! the default), or a JWT access token (`...:jwt`) on a server with signing keys.
pub mod token_type;

mod config;
mod grant;
mod policy;
mod trusted_issuer;
mod validated;
mod validator;

pub use config::TokenExchange;
pub use grant::TokenExchangeGrant;
pub use policy::{DenyAll, ExchangePolicy, ExchangeRequest, ForwardedTokens};
pub use trusted_issuer::TrustedIssuer;
pub use validated::ValidatedToken;
pub use validator::TokenValidator;

/// The `grant_type` of token exchange (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
