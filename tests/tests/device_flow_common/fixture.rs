//! The device-flow fixture: a server with the add-on's `DeviceFlow` (dispatched directly, with
//! the harness's manual clock) and the test clients, and the device authorization request.
//!
//! The helpers of the device-flow tests are split in small modules so that each test file (a
//! crate of its own) includes only those it uses, and none is dead code there. Each is included
//! under its file name, with `#[path = "device_flow_common/NAME.rs"] mod NAME;`, since they
//! refer to each other as `crate::NAME`:
//!
//! - `user.rs`: the signed-in user;
//! - `csrf.rs`: the page's hidden CSRF field;
//! - `fixture.rs` (this one): the server, the clients, a device authorization request, the
//!   stored state;
//! - `default_fixture.rs` (needs `fixture`, `user`): the usual fixture, the memory store with
//!   the user signed in;
//! - `flow.rs` (needs `fixture`, `csrf`): starting a flow and deciding it through the page;
//! - `poll.rs` (needs `fixture`): polling the token endpoint;
//! - `pg.rs`: a PostgreSQL device store in a fresh schema;
//! - `unmounted.rs` (needs `fixture`): asserting that a server mounts none of the add-on.

use device_flow::{DeviceFlow, DeviceStore, Devices, GRANT_TYPE};
use oauth_endpoints::Client;
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints_tests::{Answer, Harness, form, post};

pub(crate) const ISSUER: &str = "https://auth.example.com";

/// The resource the `tv` client may ask tokens for (RFC 8707), served by `rs`.
pub(crate) const TV_API: &str = "https://tv-api.example.com/";

/// A public device client, a confidential one, another public one, and one not opted in.
pub(crate) fn clients() -> Vec<Client> {
    vec![
        Client::public("tv")
            .with_grant_types([GRANT_TYPE, "refresh_token"])
            .with_scope("read write".parse().unwrap())
            .with_allowed_resources([TV_API])
            .build()
            .unwrap(),
        Client::confidential("console", "console-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
            .with_grant_types([GRANT_TYPE])
            .with_scope("read".parse().unwrap())
            .build()
            .unwrap(),
        Client::public("other")
            .with_grant_types([GRANT_TYPE])
            .with_scope("read write".parse().unwrap())
            .build()
            .unwrap(),
        Client::public("plain")
            .with_scope("read".parse().unwrap())
            .build()
            .unwrap(),
        Client::confidential("rs", "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
            .with_introspect_any_token(true)
            .with_served_resources([TV_API])
            .build()
            .unwrap(),
    ]
}

pub(crate) struct Fixture {
    pub(crate) h: Harness,
    pub(crate) devices: Devices,
}

pub(crate) async fn fixture_with(
    store: impl DeviceStore,
    configure: impl FnOnce(DeviceFlow) -> DeviceFlow,
) -> Fixture {
    let flow = configure(DeviceFlow::new(store));
    let devices = flow.devices().clone();
    let h = Harness::with(&clients(), |builder| {
        builder.issuer(ISSUER).with_state(flow)
    })
    .await;
    Fixture { h, devices }
}

impl Fixture {
    pub(crate) async fn device_authorization(
        &self,
        client_id: &str,
        scope: Option<&str>,
    ) -> Answer {
        let mut pairs = vec![("client_id", client_id)];
        pairs.extend(scope.map(|scope| ("scope", scope)));
        self.h
            .send(post("/oauth/device_authorization", None, &form(&pairs)))
            .await
    }

    pub(crate) async fn stored(&self, device_code: &str) -> device_flow::DeviceAuthorization {
        self.devices
            .find_by_device_code(&TokenHash::of(device_code))
            .await
            .unwrap()
            .unwrap()
    }
}
