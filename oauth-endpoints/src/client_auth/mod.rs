//! Client authentication (RFC 6749 §2.3): the methods, and the one shared step every endpoint uses.

mod method;

pub use method::{ClientAuthMethod, UnknownAuthMethod};
