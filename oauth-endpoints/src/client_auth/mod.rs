//! Client authentication (RFC 6749 §2.3): the methods, and the one shared step every endpoint uses.

mod authenticate;
mod basic;
mod method;

pub(crate) use authenticate::AUTHENTICATION_FAILED;
pub use authenticate::{AuthenticatedClient, authenticate_client};
pub use basic::{BasicCredentials, BasicError, parse_basic};
pub use method::{ClientAuthMethod, UnknownAuthMethod};
