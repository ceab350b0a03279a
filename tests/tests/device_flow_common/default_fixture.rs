//! The usual fixture: the memory device store, with the test user always signed in.
//!
//! Included as `mod default_fixture;`, beside `fixture` and `user` (see `fixture.rs`).

use device_flow::{FixedUser, MemoryDeviceStore};

use crate::fixture::{Fixture, fixture_with};
use crate::user::USER;

pub(crate) async fn fixture() -> Fixture {
    fixture_with(MemoryDeviceStore::new(), |flow| {
        flow.with_users(FixedUser::new(USER))
    })
    .await
}
