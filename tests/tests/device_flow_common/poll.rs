//! The device polling the token endpoint (RFC 8628 §3.4).
//!
//! Included as `mod poll;`, beside `fixture` (see `fixture.rs`).

use device_flow::GRANT_TYPE;
use oauth_endpoints_tests::{Answer, form, post};

use crate::fixture::Fixture;

impl Fixture {
    pub(crate) async fn poll(&self, client_id: &str, device_code: &str) -> Answer {
        let body = form(&[
            ("grant_type", GRANT_TYPE),
            ("client_id", client_id),
            ("device_code", device_code),
        ]);
        self.h.send(post("/oauth/token", None, &body)).await
    }
}
