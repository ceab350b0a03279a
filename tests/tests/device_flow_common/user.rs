//! The user the device-flow tests sign in (the add-on's `FixedUser`).
//!
//! Included with `#[path = "device_flow_common/user.rs"] mod user;` by every device-flow test
//! file (each file in `tests/` is a crate of its own, so each includes only the helpers it uses:
//! see `fixture.rs`).

pub(crate) const USER: &str = "alice";
