//! Client authentication (RFC 6749 §2.3) through the token endpoint, as a client sends it.

#![allow(clippy::unwrap_used)] // Fixtures in helper functions; a failure is a failing test.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oauth_endpoints::Client;
use oauth_endpoints::client_auth::ClientAuthMethod;
use oauth_endpoints::hooks::{AuthFailure, ClientAuthenticationFailed, EventListener};
use oauth_endpoints_tests::{Harness, basic, form, post};

const TRICKY_SECRET: &str = "s:e+c%r et/=&kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1";

fn clients() -> Vec<Client> {
    vec![
        Client::confidential("basic-client", "basic-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
            .with_scope("read".parse().unwrap())
            .build()
            .unwrap(),
        Client::confidential("post-client", "post-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
            .with_auth_method(ClientAuthMethod::ClientSecretPost)
            .build()
            .unwrap(),
        Client::confidential("tricky:id +%", TRICKY_SECRET)
            .build()
            .unwrap(),
        Client::public("public-client")
            .with_grant_types(["client_credentials"])
            .build()
            .unwrap(),
    ]
}

fn cc() -> String {
    form(&[("grant_type", "client_credentials")])
}

#[tokio::test]
async fn client_secret_basic_authenticates() {
    let h = Harness::new(&clients()).await;
    let answer = h
        .client_credentials(
            "basic-client",
            "basic-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert!(answer.str("access_token").is_some());
}

#[tokio::test]
async fn basic_credentials_are_form_urldecoded() {
    let h = Harness::new(&clients()).await;
    let answer = h
        .client_credentials("tricky:id +%", TRICKY_SECRET, None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}

#[tokio::test]
async fn basic_space_may_be_sent_as_percent_20() {
    let h = Harness::new(&[
        Client::confidential("a b", "c d kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1")
            .build()
            .unwrap(),
    ])
    .await;
    let header = format!(
        "Basic {}",
        STANDARD.encode("a%20b:c%20d%20kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1")
    );
    let answer = h.send(post("/oauth/token", Some(&header), &cc())).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}

#[tokio::test]
async fn client_secret_post_authenticates() {
    let h = Harness::new(&clients()).await;
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "post-client"),
        ("client_secret", "post-secret-kR8vN2qX5tLw9ZpB3mYc7HdF"),
    ]);
    let answer = h.send(post("/oauth/token", None, &body)).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}

#[tokio::test]
async fn a_client_must_use_its_registered_method() {
    let h = Harness::new(&clients()).await;
    // The Basic client sends its credentials in the body.
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "basic-client"),
        ("client_secret", "basic-secret-kR8vN2qX5tLw9ZpB3mYc7HdF"),
    ]);
    h.send(post("/oauth/token", None, &body))
        .await
        .assert_error(401, "invalid_client");
    // The post client uses Basic.
    h.client_credentials("post-client", "post-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn two_methods_in_one_request_are_invalid_request() {
    let h = Harness::new(&clients()).await;
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_secret", "basic-secret-kR8vN2qX5tLw9ZpB3mYc7HdF"),
    ]);
    let answer = h
        .send(post(
            "/oauth/token",
            Some(&basic(
                "basic-client",
                "basic-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
            )),
            &body,
        ))
        .await;
    answer.assert_error(400, "invalid_request");
}

#[tokio::test]
async fn unknown_client_and_wrong_secret_look_the_same() {
    let h = Harness::new(&clients()).await;
    let unknown = h
        .client_credentials("nobody", "basic-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    let wrong = h.client_credentials("basic-client", "wrong", None).await;
    unknown.assert_error(401, "invalid_client");
    wrong.assert_error(401, "invalid_client");
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(unknown.headers, wrong.headers);
}

#[tokio::test]
async fn malformed_basic_headers_are_invalid_client() {
    let h = Harness::new(&clients()).await;
    for header in [
        "Basic %%%not-base64".to_owned(),
        format!("Basic {}", STANDARD.encode(b"no-colon-here")),
        format!("Basic {}", STANDARD.encode(b"basic-client:\xff\xfe")),
        format!("Basic {}", STANDARD.encode(b"basic-client:%FF")),
        "Basic  ".to_owned(),
    ] {
        let answer = h.send(post("/oauth/token", Some(&header), &cc())).await;
        answer.assert_error(401, "invalid_client");
    }
}

#[tokio::test]
async fn no_credentials_at_all_is_invalid_client() {
    let h = Harness::new(&clients()).await;
    h.send(post("/oauth/token", None, &cc()))
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn a_confidential_client_cannot_authenticate_as_public() {
    let h = Harness::new(&clients()).await;
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "basic-client"),
    ]);
    h.send(post("/oauth/token", None, &body))
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn a_public_client_authenticates_with_its_id_but_cannot_use_client_credentials() {
    let h = Harness::new(&clients()).await;
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "public-client"),
    ]);
    // Authenticated (no 401), then refused by the grant (RFC 6749 §4.4).
    h.send(post("/oauth/token", None, &body))
        .await
        .assert_error(400, "unauthorized_client");
}

#[tokio::test]
async fn a_public_client_sending_a_secret_is_refused() {
    let h = Harness::new(&clients()).await;
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "public-client"),
        ("client_secret", "anything"),
    ]);
    h.send(post("/oauth/token", None, &body))
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn body_client_id_must_match_basic() {
    let h = Harness::new(&clients()).await;
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "post-client"),
    ]);
    let answer = h
        .send(post(
            "/oauth/token",
            Some(&basic(
                "basic-client",
                "basic-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
            )),
            &body,
        ))
        .await;
    answer.assert_error(400, "invalid_request");
}

#[tokio::test]
async fn client_debug_output_never_shows_the_secret() {
    let client = Client::confidential("c", "super-secret-value-kR8vN2qX5tLw9ZpB3")
        .build()
        .unwrap();
    assert!(!format!("{client:?}").contains("super-secret-value-kR8vN2qX5tLw9ZpB3"));
    assert!(client.verify_secret("super-secret-value-kR8vN2qX5tLw9ZpB3"));
    assert!(!client.verify_secret("super-secret-value-kR8vN2qX5tLw9ZpBx"));
}

/// Every way of making a client keeps its invariants: a client with a secret never
/// authenticates with its `client_id` alone, and a human-chosen secret is refused.
#[test]
fn invalid_clients_cannot_be_built() {
    let secret = oauth_endpoints::secret::generate_secret();
    let none_with_secret = Client::confidential("c", &secret)
        .with_auth_method(ClientAuthMethod::None)
        .build();
    assert_eq!(none_with_secret.unwrap_err().field, "client_secret");
    let secret_without_one = Client::public("c")
        .with_auth_method(ClientAuthMethod::ClientSecretBasic)
        .build();
    assert_eq!(secret_without_one.unwrap_err().field, "client_secret");
    for weak in ["s3cret", "correct horse battery staple", &"ab".repeat(20)] {
        let error = Client::confidential("c", weak).build().unwrap_err();
        assert_eq!(error.field, "client_secret", "{weak}");
    }
    // A lower bound is configurable, down to 16.
    let policy = oauth_endpoints::client::SecretPolicy::with_min_length(16);
    assert!(
        Client::confidential("c", "x7Kq2mPw9ZrT4vBn")
            .with_secret_policy(policy)
            .build()
            .is_ok()
    );
    assert!(Client::confidential("c\0", &secret).build().is_err());
    // A stored hash is not re-checked for strength (the secret is not known), but the method
    // rule holds for it too.
    let stored = Client::with_secret_hash("c", oauth_endpoints::secret::SecretHash::of("any"))
        .with_auth_method(ClientAuthMethod::None)
        .build();
    assert!(stored.is_err());
}

/// A secret rotation with an overlap: both secrets authenticate until the overlap ends, then
/// only the new one; without an overlap the old one stops at once.
#[tokio::test]
async fn a_rotated_secret_keeps_working_for_the_overlap_only() {
    use std::time::Duration;
    let (builder, old) = Client::confidential_generated("rotating");
    let h = Harness::new(&[builder.build().unwrap()]).await;
    let now = h.server.now();
    let new = h
        .server
        .clients()
        .rotate_secret("rotating", Duration::from_secs(600), now)
        .await
        .unwrap();
    assert_ne!(old, new);
    for secret in [&old, &new] {
        let answer = h.client_credentials("rotating", secret, None).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
    }
    h.clock.advance(Duration::from_secs(600));
    let answer = h.client_credentials("rotating", &old, None).await;
    answer.assert_error(401, "invalid_client");
    let answer = h.client_credentials("rotating", &new, None).await;
    assert_eq!(answer.status, 200, "{}", answer.json);

    let newest = h
        .server
        .clients()
        .rotate_secret("rotating", Duration::ZERO, h.server.now())
        .await
        .unwrap();
    let answer = h.client_credentials("rotating", &new, None).await;
    answer.assert_error(401, "invalid_client");
    let answer = h.client_credentials("rotating", &newest, None).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}

/// Deleting a client ends everything it holds: its tokens introspect inactive, its refresh
/// token is refused, and it can no longer authenticate.
#[tokio::test]
async fn a_deleted_client_keeps_nothing() {
    let (builder, secret) = Client::confidential_generated("leaving");
    let leaving = builder
        .with_grant_types(["client_credentials", "refresh_token"])
        .build()
        .unwrap();
    let (rs_builder, rs_secret) = Client::confidential_generated("rs");
    let rs = rs_builder.with_introspect_any_token(true).build().unwrap();
    let h = Harness::new(&[leaving, rs]).await;
    let issued = h.client_credentials("leaving", &secret, None).await;
    let access = issued.str("access_token").unwrap().to_owned();
    assert!(
        h.server
            .clients()
            .delete("leaving", h.server.now())
            .await
            .unwrap()
    );
    let answer = h
        .send(post(
            "/oauth/introspect",
            Some(&basic("rs", &rs_secret)),
            &form(&[("token", &access)]),
        ))
        .await;
    assert_eq!(answer.json["active"], false, "{}", answer.json);
    h.client_credentials("leaving", &secret, None)
        .await
        .assert_error(401, "invalid_client");
}

/// A failed authentication as heard: endpoint, client id, method, reason.
type Heard = (
    String,
    Option<String>,
    Option<ClientAuthMethod>,
    AuthFailure,
);

/// Records each failed authentication.
#[derive(Default)]
struct Failures(std::sync::Mutex<Vec<Heard>>);

impl EventListener for Failures {
    fn client_authentication_failed(&self, event: &ClientAuthenticationFailed<'_>) {
        self.0.lock().unwrap().push((
            event.endpoint.to_owned(),
            event.client_id.map(str::to_owned),
            event.method,
            event.reason,
        ));
    }
}

#[tokio::test]
async fn the_operator_hears_why_an_authentication_failed_and_the_client_does_not() {
    let failures = std::sync::Arc::new(Failures::default());
    let listener = std::sync::Arc::clone(&failures);
    let h = Harness::with(&clients(), move |b| b.on_event(listener)).await;
    let secret = "basic-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";
    let cases: [(Option<String>, String); 5] = [
        (Some(basic("nobody", secret)), cc()),
        (
            Some(basic(
                "basic-client",
                "wrong-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
            )),
            cc(),
        ),
        (None, cc()),
        // Registered for client_secret_post, presenting Basic.
        (
            Some(basic("post-client", "post-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            cc(),
        ),
        (Some("Basic !!!".to_owned()), cc()),
    ];
    let mut descriptions = Vec::new();
    for (authorization, body) in &cases {
        let answer = h
            .send(post("/oauth/token", authorization.as_deref(), body))
            .await;
        assert_eq!(answer.status, 401, "{}", answer.json);
        descriptions.push(answer.json["error_description"].clone());
    }
    // The client is told one thing whatever the reason (but for no credentials at all).
    assert!(descriptions[..2].iter().all(|d| *d == descriptions[0]));
    assert_eq!(descriptions[3], descriptions[0]);
    let basic_method = Some(ClientAuthMethod::ClientSecretBasic);
    let token = "token".to_owned();
    assert_eq!(
        *failures.0.lock().unwrap(),
        vec![
            (
                token.clone(),
                Some("nobody".into()),
                basic_method,
                AuthFailure::UnknownClient
            ),
            (
                token.clone(),
                Some("basic-client".into()),
                basic_method,
                AuthFailure::WrongSecret
            ),
            (token.clone(), None, None, AuthFailure::NoCredentials),
            (
                token.clone(),
                Some("post-client".into()),
                basic_method,
                AuthFailure::MethodNotRegistered
            ),
            (token, None, None, AuthFailure::MalformedBasic),
        ]
    );
    // A success is no event.
    let answer = h.client_credentials("basic-client", secret, None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(failures.0.lock().unwrap().len(), 5);
}
