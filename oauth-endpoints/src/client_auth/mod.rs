//! Client authentication (RFC 6749 §2.3): the methods, and the one shared step every endpoint uses.

pub(crate) mod assertion;
mod authenticate;
mod basic;
mod method;

pub use crate::client::ASSERTION_SIGNING_ALGORITHMS;
pub use assertion::{
    ASSERTION_CLOCK_SKEW, CLIENT_ASSERTION_TYPE_JWT_BEARER, MAX_ASSERTION_LIFETIME,
};
pub(crate) use authenticate::AUTHENTICATION_FAILED;
pub use authenticate::{AuthenticatedClient, authenticate_client};
pub use basic::{BasicCredentials, BasicError, parse_basic};
pub use method::{ClientAuthMethod, UnknownAuthMethod};
