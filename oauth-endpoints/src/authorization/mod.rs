//! The authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636) and pushed authorization
//! requests (RFC 9126): what the application gives ([`AuthorizationCodeFlow`]: a code store and
//! a [`SignIn`] hook), the endpoints it mounts ([`AuthorizationEndpoint`],
//! [`PushedAuthorizationEndpoint`]; the grant is
//! [`AuthorizationCodeGrant`](crate::grant::AuthorizationCodeGrant)), the consent page
//! ([`ConsentPage`]), and the rules they share: [`CodeChallenge`] (`S256` only, RFC 9700
//! §2.1.1) and [`RedirectUri`] (exact matching, RFC 9700 §4.1.3, with the loopback port
//! exception of RFC 8252 §7.3).

pub(crate) mod code;
mod consent;
mod endpoint;
mod flow;
mod page;
mod pkce;
mod pushed;
mod redirect_uri;
mod request;
mod sign_in;

pub use code::REQUEST_URI_PREFIX;
pub use consent::{Consent, ConsentPage, DECISION_FIELD, DefaultConsentPage};
pub use endpoint::AuthorizationEndpoint;
pub use flow::AuthorizationCodeFlow;
pub use page::{CSRF_COOKIE, CSRF_FIELD};
pub use pkce::{CodeChallenge, InvalidChallenge};
pub use pushed::PushedAuthorizationEndpoint;
pub use redirect_uri::{InvalidRedirectUri, RedirectUri};
pub use sign_in::{SignIn, User};
