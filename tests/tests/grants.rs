//! Pluggable grant types: `#[oauth_grant]` registration, `register_grant`, duplicates,
//! `exclude_grant`, `unauthorized_client`, and `grant_types_supported` in the metadata.
//!
//! Every grant annotated in this file is collected by every builder in this test binary, beside
//! the core's `client_credentials` and `refresh_token`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Fixtures.

use http::StatusCode;
use oauth_endpoints::form::Form;
use oauth_endpoints::grant::DescribedGrant;
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::token::TokenRequest;
use oauth_endpoints::{
    AuthorizationServer, BuildError, Client, Context, EndpointResult, Grant, OAuthError,
    oauth_grant,
};
use oauth_endpoints_tests::{Harness, START, basic, form, post};
use serde_json::json;

const ECHO: &str = "urn:example:params:oauth:grant-type:echo";
const EXPLICIT: &str = "urn:example:params:oauth:grant-type:explicit";

/// An annotated extension grant (RFC 6749 §4.5) that uses everything a built-in grant gets: the
/// authenticated client, the parsed form, the stores, the clock and the token-issuing API.
#[derive(Debug, Default)]
#[oauth_grant(grant_type = "urn:example:params:oauth:grant-type:echo")]
struct EchoGrant;

impl Grant for EchoGrant {
    async fn exchange(&self, cx: &Context, client: &Client, form: &Form) -> EndpointResult {
        let subject = form
            .get("subject")
            .ok_or_else(|| OAuthError::invalid_request("subject is required"))?;
        // The client store answers for the authenticated client.
        let stored = cx.clients().find(client.client_id()).await?;
        assert_eq!(
            stored.as_ref().map(Client::client_id),
            Some(client.client_id())
        );
        // The clock is the server's (a manual one in these tests).
        if cx.now() != START {
            return Err(OAuthError::invalid_grant("unexpected clock"));
        }
        let request = TokenRequest::new(client, client.scope().clone()).with_subject(subject);
        let issued = cx.issuer().issue(&request).await?;
        // The token store already knows the token.
        let found = cx
            .tokens()
            .find(&TokenHash::of(issued.access_token()), None)
            .await?;
        assert!(found.is_some());
        Ok(issued.into_response(None))
    }
}

/// A grant registered as an instance, with constructor arguments.
struct FixedError {
    code: &'static str,
}

impl Grant for FixedError {
    async fn exchange(&self, _cx: &Context, _client: &Client, _form: &Form) -> EndpointResult {
        Err(OAuthError::new(self.code, StatusCode::BAD_REQUEST))
    }
}

fn echo_client() -> Client {
    Client::confidential("echo", "echo-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_grant_types([ECHO, EXPLICIT])
        .with_scope("read".parse().unwrap())
        .build()
        .unwrap()
}

fn plain_client() -> Client {
    Client::confidential("plain", "plain-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_scope("read".parse().unwrap())
        .build()
        .unwrap()
}

#[test]
fn the_attribute_describes_the_grant() {
    assert_eq!(EchoGrant::DESCRIPTION.grant_type(), ECHO);
    assert!(
        EchoGrant::DESCRIPTION
            .source()
            .type_name()
            .ends_with("EchoGrant")
    );
}

#[tokio::test]
async fn an_annotated_grant_is_registered_and_issues_tokens_like_a_built_in() {
    let h = Harness::new(&[echo_client()]).await;
    assert!(h.server.grants().contains(ECHO));
    let answer = h
        .send(post(
            "/oauth/token",
            Some(&basic("echo", "echo-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            &form(&[("grant_type", ECHO), ("subject", "user-7")]),
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.assert_oauth_headers();
    let token = answer.str("access_token").unwrap().to_owned();

    // The token introspects and revokes like any other.
    let introspect = |token: &str| {
        h.send(post(
            "/oauth/introspect",
            Some(&basic("echo", "echo-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            &form(&[("token", token)]),
        ))
    };
    let active = introspect(&token).await;
    assert_eq!(active.json["active"], true);
    assert_eq!(active.str("sub"), Some("user-7"));
    assert_eq!(active.str("client_id"), Some("echo"));
    let revoked = h
        .send(post(
            "/oauth/revoke",
            Some(&basic("echo", "echo-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            &form(&[("token", &token)]),
        ))
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(introspect(&token).await.json, json!({"active": false}));
}

#[tokio::test]
async fn a_grant_error_is_rendered_as_section_5_2() {
    let h = Harness::new(&[echo_client()]).await;
    h.send(post(
        "/oauth/token",
        Some(&basic("echo", "echo-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &form(&[("grant_type", ECHO)]),
    ))
    .await
    .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn register_grant_adds_an_instance() {
    let h = Harness::with(&[echo_client()], |builder| {
        builder.register_grant(
            EXPLICIT,
            FixedError {
                code: "custom_error",
            },
        )
    })
    .await;
    assert!(h.server.grants().contains(EXPLICIT));
    h.send(post(
        "/oauth/token",
        Some(&basic("echo", "echo-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &form(&[("grant_type", EXPLICIT)]),
    ))
    .await
    .assert_error(400, "custom_error");
}

#[test]
fn two_grants_with_one_grant_type_fail_the_build() {
    // An instance for a grant_type that an annotated grant already has.
    let error = AuthorizationServer::builder()
        .register_grant(ECHO, FixedError { code: "x" })
        .build()
        .unwrap_err();
    let BuildError::DuplicateGrant {
        grant_type,
        first,
        second,
    } = &error
    else {
        panic!("expected DuplicateGrant, got {error:?}");
    };
    assert_eq!(grant_type, ECHO);
    let names = [first.type_name(), second.type_name()];
    assert!(names.iter().any(|n| n.ends_with("EchoGrant")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("FixedError")), "{names:?}");
    let message = error.to_string();
    assert!(message.contains(ECHO), "{message}");
    assert!(message.contains("grants.rs"), "{message}");

    // Two instances for one new grant_type.
    let error = AuthorizationServer::builder()
        .register_grant(EXPLICIT, FixedError { code: "a" })
        .register_grant(EXPLICIT, FixedError { code: "b" })
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, BuildError::DuplicateGrant { grant_type, .. } if grant_type == EXPLICIT),
        "{error:?}"
    );
}

#[tokio::test]
async fn exclude_grant_removes_a_grant_and_lets_an_instance_replace_it() {
    let h = Harness::with(&[echo_client()], |builder| builder.exclude_grant(ECHO)).await;
    assert!(!h.server.grants().contains(ECHO));
    h.send(post(
        "/oauth/token",
        Some(&basic("echo", "echo-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &form(&[("grant_type", ECHO), ("subject", "u")]),
    ))
    .await
    .assert_error(400, "unsupported_grant_type");

    let h = Harness::with(&[echo_client()], |builder| {
        builder
            .exclude_grant(ECHO)
            .register_grant(ECHO, FixedError { code: "replaced" })
    })
    .await;
    h.send(post(
        "/oauth/token",
        Some(&basic("echo", "echo-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &form(&[("grant_type", ECHO)]),
    ))
    .await
    .assert_error(400, "replaced");
}

#[test]
fn excluding_or_registering_a_bad_grant_type_fails_the_build() {
    let error = AuthorizationServer::builder()
        .exclude_grant("urn:example:nothing")
        .build()
        .unwrap_err();
    assert_eq!(
        error,
        BuildError::UnknownGrantExclusion {
            grant_type: "urn:example:nothing".into()
        }
    );
    let error = AuthorizationServer::builder()
        .register_grant("two words", FixedError { code: "x" })
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, BuildError::InvalidGrantType { grant_type, .. } if grant_type == "two words"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_client_without_the_grant_type_gets_unauthorized_client() {
    let h = Harness::new(&[plain_client()]).await;
    h.send(post(
        "/oauth/token",
        Some(&basic("plain", "plain-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &form(&[("grant_type", ECHO), ("subject", "u")]),
    ))
    .await
    .assert_error(400, "unauthorized_client");
    // An unknown grant_type is unsupported_grant_type, whatever the client lists.
    h.send(post(
        "/oauth/token",
        Some(&basic("plain", "plain-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &form(&[("grant_type", "urn:example:unknown")]),
    ))
    .await
    .assert_error(400, "unsupported_grant_type");
}

#[tokio::test]
async fn metadata_lists_every_registered_grant() {
    let server = AuthorizationServer::builder()
        .issuer("https://auth.example.com")
        .register_grant(EXPLICIT, FixedError { code: "x" })
        .exclude_grant("refresh_token")
        .build()
        .unwrap();
    let document = server.metadata().unwrap();
    assert_eq!(
        document["grant_types_supported"],
        json!(["client_credentials", ECHO, EXPLICIT])
    );
    assert_eq!(
        server.grants().grant_types(),
        ["client_credentials", ECHO, EXPLICIT]
    );
}
