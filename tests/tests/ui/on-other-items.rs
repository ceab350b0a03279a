use oauth_endpoints::oauth_endpoint;

// Each item is named by its keyword, and the error points at that keyword.

#[oauth_endpoint(name = "a", path = "/a")]
pub trait Revocation {}

#[oauth_endpoint(name = "b", path = "/b")]
pub mod endpoints {}

#[oauth_endpoint(name = "c", path = "/c")]
pub const PATH: &str = "/oauth/revoke";

#[oauth_endpoint(name = "d", path = "/d")]
pub static NAME: &str = "revocation";

#[oauth_endpoint(name = "e", path = "/e")]
pub type Alias = u8;

#[oauth_endpoint(name = "f", path = "/f")]
pub use std::fmt;

#[oauth_endpoint(name = "g", path = "/g")]
extern crate core;

#[oauth_endpoint(name = "h", path = "/h")]
unsafe extern "C" {}

#[oauth_endpoint(name = "i", path = "/i")]
macro_rules! endpoint {
    () => {};
}

fn main() {
    endpoint!();
}
