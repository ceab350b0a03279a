//! What a server that cannot complete the device flow exposes of it: nothing. Its endpoints and
//! grant are left out at `build()` (their `check_setup`), listed by `unmounted()` with the
//! reason, and requiring them fails with that reason.
//!
//! Included as `mod unmounted;`, beside `fixture` (see `fixture.rs`).

use bytes::Bytes;
use device_flow::{GRANT_TYPE, VERIFICATION_ENDPOINT};
use oauth_endpoints::{AuthorizationServer, AuthorizationServerBuilder, BuildError};
use oauth_endpoints_tests::{Harness, form, post};

use crate::fixture::clients;

/// The add-on's endpoints, by name, with their paths.
const ENDPOINTS: [(&str, &str); 2] = [
    ("device_authorization", "/oauth/device_authorization"),
    (VERIFICATION_ENDPOINT, "/device"),
];

/// Asserts that a server built by `configure` mounts none of the add-on: no route, no grant,
/// nothing in the metadata, 404 at the paths, `unsupported_grant_type` at the token endpoint,
/// each left out with a reason containing `reason`; and that requiring the endpoint or the
/// grant fails the build with that reason. `configure` is called for each server built.
pub(crate) async fn assert_nothing_mounted(
    configure: impl Fn(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
    reason: &str,
) {
    let h = Harness::with(&clients(), &configure).await;
    let server = &h.server;
    for (name, path) in ENDPOINTS {
        assert!(server.route(name).is_none(), "{name} is mounted");
        assert!(
            server.routes().iter().all(|route| route.path() != path),
            "{path} is routed"
        );
    }
    assert!(!server.grants().contains(GRANT_TYPE));
    for (name, grant) in [
        ("device_authorization", false),
        (VERIFICATION_ENDPOINT, false),
        (GRANT_TYPE, true),
    ] {
        let left_out = server
            .unmounted()
            .iter()
            .find(|u| u.name == name && u.grant == grant)
            .unwrap_or_else(|| panic!("{name} not in {:?}", server.unmounted()));
        assert!(
            left_out.reason.contains(reason),
            "{name}: {:?} does not name {reason:?}",
            left_out.reason
        );
        assert!(
            left_out.to_string().contains("is not mounted"),
            "{left_out}"
        );
    }
    if let Some(document) = server.metadata() {
        assert!(document.get("device_authorization_endpoint").is_none());
        assert!(
            !document["grant_types_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|grant| grant == GRANT_TYPE),
            "{document:?}"
        );
    }

    // Requests: no endpoint there (404, as any unknown path), and no such grant.
    h.send(post("/oauth/device_authorization", None, "client_id=tv"))
        .await
        .assert_error(404, "invalid_request");
    let page = http::Request::get("/device?user_code=BBBB-CCCC")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(h.send(page).await.status, 404);
    h.send(post(
        "/oauth/token",
        None,
        &form(&[
            ("grant_type", GRANT_TYPE),
            ("client_id", "tv"),
            ("device_code", "anything"),
        ]),
    ))
    .await
    .assert_error(400, "unsupported_grant_type");

    // Requiring them says why they are missing.
    let required = [
        configure(AuthorizationServer::builder()).require_endpoint("device_authorization"),
        configure(AuthorizationServer::builder()).require_endpoint(VERIFICATION_ENDPOINT),
        configure(AuthorizationServer::builder()).require_grant(GRANT_TYPE),
    ];
    for builder in required {
        let error = builder.build().unwrap_err();
        assert!(
            matches!(&error, BuildError::Unmounted(u) if u.reason.contains(reason)),
            "{error:?}"
        );
        assert!(error.to_string().contains("is not mounted"), "{error}");
        assert!(error.to_string().contains(reason), "{error}");
    }
}
