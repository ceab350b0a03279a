//! Token introspection (RFC 7662), clause by clause, through `dispatch`.

#![allow(clippy::unwrap_used)] // Fixtures in helper functions; a failure is a failing test.

use std::time::Duration;

use oauth_endpoints::Client;
use oauth_endpoints::client_auth::ClientAuthMethod;
use oauth_endpoints::endpoints::INACTIVE;
use oauth_endpoints::secret::TokenHash;
use oauth_endpoints::token::{TokenRecord, TokenRequest};
use oauth_endpoints_tests::{Answer, Harness, basic, form, post};
use serde_json::{Value, json};

fn app() -> Client {
    Client::confidential("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("read write".parse().unwrap())
        .build()
        .unwrap()
}

fn resource_server() -> Client {
    Client::confidential("rs", "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_auth_method(ClientAuthMethod::ClientSecretPost)
        .with_scope("introspection".parse().unwrap())
        .build()
        .unwrap()
}

fn gateway() -> Client {
    Client::confidential("gateway", "gateway-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_introspect_any_token(true)
        .build()
        .unwrap()
}

fn outsider() -> Client {
    Client::confidential("outsider", "outsider-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .build()
        .unwrap()
}

fn clients() -> Vec<Client> {
    vec![
        app(),
        resource_server(),
        gateway(),
        outsider(),
        Client::public("spa").build().unwrap(),
    ]
}

async fn introspect(h: &Harness, auth: Option<&str>, pairs: &[(&str, &str)]) -> Answer {
    h.send(post("/oauth/introspect", auth, &form(pairs))).await
}

async fn as_app(h: &Harness, token: &str) -> Answer {
    introspect(
        h,
        Some(&basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &[("token", token)],
    )
    .await
}

fn assert_inactive(answer: &Answer) {
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.as_ref(), INACTIVE);
    answer.assert_oauth_headers();
}

async fn issue(h: &Harness) -> (String, String) {
    let answer = h
        .client_credentials("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", None)
        .await;
    (
        answer.str("access_token").unwrap().to_owned(),
        answer.str("refresh_token").unwrap().to_owned(),
    )
}

#[tokio::test]
async fn an_active_access_token_is_described_without_nulls() {
    let h = Harness::with(&clients(), |b| b.issuer("https://auth.example.com")).await;
    let (access, _) = issue(&h).await;
    let answer = as_app(&h, &access).await;
    assert_eq!(answer.status, 200);
    answer.assert_oauth_headers();
    let record = h
        .server
        .tokens()
        .find(&TokenHash::of(&access), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answer.json,
        json!({
            "active": true,
            "scope": "read write",
            "client_id": "app",
            "token_type": "Bearer",
            "exp": record.expires_at,
            "iat": record.issued_at,
            "iss": "https://auth.example.com",
            "jti": record.id.to_string(),
        })
    );
    assert!(!answer.body.windows(4).any(|w| w == b"null"));
    assert_ne!(record.id.to_string(), access, "jti is never the token");
}

#[tokio::test]
async fn sub_aud_and_nbf_appear_when_set() {
    let h = Harness::new(&clients()).await;
    let request = TokenRequest::new(&app(), "read".parse().unwrap())
        .with_subject("alice")
        .with_audience(["rs", "https://api.example"]);
    let issued = h.server.issuer().issue(&request).await.unwrap();
    let answer = as_app(&h, issued.access_token()).await;
    assert_eq!(answer.json["sub"], "alice");
    assert_eq!(answer.json["aud"], json!(["rs", "https://api.example"]));
    assert!(answer.json.get("iss").is_none(), "no issuer configured");
}

#[tokio::test]
async fn a_refresh_token_reads_as_refresh_token_and_outlives_its_access_token() {
    let h = Harness::with(&clients(), |b| b.access_token_ttl(Duration::from_secs(60))).await;
    let (access, refresh) = issue(&h).await;
    h.clock.advance(Duration::from_secs(61));
    assert_inactive(&as_app(&h, &access).await);
    let answer = as_app(&h, &refresh).await;
    assert_eq!(answer.json["active"], true, "{}", answer.json);
    assert_eq!(answer.json["token_type"], "refresh_token");
}

#[tokio::test]
async fn hints_order_the_lookup_but_never_filter() {
    let h = Harness::new(&clients()).await;
    let (access, refresh) = issue(&h).await;
    for (token, hint) in [
        (&access, "refresh_token"),
        (&refresh, "access_token"),
        (&access, "no_such_hint"),
    ] {
        let answer = introspect(
            &h,
            Some(&basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            &[("token", token), ("token_type_hint", hint)],
        )
        .await;
        assert_eq!(answer.json["active"], true, "{hint}: {}", answer.json);
    }
}

#[tokio::test]
async fn five_inactive_causes_are_byte_identical() {
    let h = Harness::with(&clients(), |b| b.access_token_ttl(Duration::from_secs(60))).await;
    let (expiring, _) = issue(&h).await;
    h.clock.advance(Duration::from_secs(61));
    let (revoked, _) = issue(&h).await;
    let (foreign, _) = issue(&h).await;
    let revoke = h
        .send(post(
            "/oauth/revoke",
            Some(&basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            &form(&[("token", &revoked)]),
        ))
        .await;
    assert_eq!(revoke.status, 200);

    let mut answers = vec![
        as_app(&h, "never-issued").await,
        as_app(&h, &expiring).await,
        as_app(&h, &revoked).await,
        as_app(&h, "%%% not even a token \u{1F600}").await,
        introspect(
            &h,
            Some(&basic(
                "outsider",
                "outsider-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
            )),
            &[("token", &foreign)],
        )
        .await,
    ];
    let first = answers.remove(0);
    assert_inactive(&first);
    for answer in answers {
        assert_eq!(answer.status, first.status);
        assert_eq!(answer.body, first.body);
        assert_eq!(answer.headers, first.headers);
    }
}

#[tokio::test]
async fn default_policy_own_token_audience_or_introspect_any() {
    let h = Harness::new(&clients()).await;
    let request = TokenRequest::new(&app(), "read".parse().unwrap()).with_audience(["rs"]);
    let for_rs = h.server.issuer().issue(&request).await.unwrap();
    let (plain, _) = issue(&h).await;
    let rs = |token: &str| {
        let pairs = [
            ("token", token.to_owned()),
            ("client_id", "rs".to_owned()),
            (
                "client_secret",
                "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF".to_owned(),
            ),
        ];
        let body = form(
            &pairs
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        );
        h.send(post("/oauth/introspect", None, &body))
    };
    assert_eq!(rs(for_rs.access_token()).await.json["active"], true);
    assert_inactive(&rs(&plain).await);
    let gateway = introspect(
        &h,
        Some(&basic("gateway", "gateway-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &[("token", &plain)],
    )
    .await;
    assert_eq!(gateway.json["active"], true);
}

#[tokio::test]
async fn the_policy_is_replaceable() {
    let h = Harness::with(&clients(), |b| {
        b.introspection_policy(|caller: &Client, _token: &TokenRecord| {
            caller.client_id() == "outsider"
        })
    })
    .await;
    let (access, _) = issue(&h).await;
    assert_inactive(&as_app(&h, &access).await);
    let answer = introspect(
        &h,
        Some(&basic(
            "outsider",
            "outsider-secret-kR8vN2qX5tLw9ZpB3mYc7HdF",
        )),
        &[("token", &access)],
    )
    .await;
    assert_eq!(answer.json["active"], true);
}

#[tokio::test]
async fn claims_hooks_add_members_but_cannot_override() {
    let h = Harness::with(&clients(), |b| {
        b.introspection_claims(
            |token: &TokenRecord, _caller: &Client, claims: &mut serde_json::Map<String, Value>| {
                claims.insert("tenant".into(), json!("acme"));
                claims.insert("client_id".into(), json!("forged"));
                claims.insert("nothing".into(), Value::Null);
                claims.insert("kind".into(), json!(token.kind.hint()));
            },
        )
    })
    .await;
    let (access, _) = issue(&h).await;
    let answer = as_app(&h, &access).await;
    assert_eq!(answer.json["tenant"], "acme");
    assert_eq!(answer.json["kind"], "access_token");
    assert_eq!(answer.json["client_id"], "app");
    assert!(answer.json.get("nothing").is_none());
}

#[tokio::test]
async fn unauthenticated_and_public_callers_get_invalid_client() {
    let h = Harness::new(&clients()).await;
    let (access, _) = issue(&h).await;
    introspect(&h, None, &[("token", &access)])
        .await
        .assert_error(401, "invalid_client");
    introspect(&h, None, &[("token", &access), ("client_id", "spa")])
        .await
        .assert_error(401, "invalid_client");
    introspect(&h, Some(&basic("app", "nope")), &[("token", &access)])
        .await
        .assert_error(401, "invalid_client");
    // Authentication before parameters: no token and no credentials is still 401.
    introspect(&h, None, &[])
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn token_is_required() {
    let h = Harness::new(&clients()).await;
    introspect(
        &h,
        Some(&basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
        &[],
    )
    .await
    .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn a_bearer_token_with_the_introspection_scope_authorises() {
    let h = Harness::new(&clients()).await;
    let rs_token = h
        .send(post(
            "/oauth/token",
            None,
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "rs"),
                ("client_secret", "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF"),
            ]),
        ))
        .await;
    let bearer = format!("Bearer {}", rs_token.str("access_token").unwrap());
    let request = TokenRequest::new(&app(), "read".parse().unwrap()).with_audience(["rs"]);
    let target = h.server.issuer().issue(&request).await.unwrap();
    let answer = introspect(&h, Some(&bearer), &[("token", target.access_token())]).await;
    assert_eq!(answer.json["active"], true, "{}", answer.json);

    // Not the token being introspected.
    let own = rs_token.str("access_token").unwrap();
    let answer = introspect(&h, Some(&bearer), &[("token", own)]).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.error(), Some("invalid_token"));
    assert!(
        answer
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );

    // A token without the scope.
    let (app_access, _) = issue(&h).await;
    let answer = introspect(
        &h,
        Some(&format!("Bearer {app_access}")),
        &[("token", target.access_token())],
    )
    .await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.error(), Some("insufficient_scope"));

    // An unknown bearer token.
    let answer = introspect(
        &h,
        Some("Bearer not-a-token"),
        &[("token", target.access_token())],
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.error(), Some("invalid_token"));
}

#[tokio::test]
async fn revoke_then_introspect_is_inactive_and_the_refresh_grant_fails() {
    let h = Harness::new(&clients()).await;
    let (access, refresh) = issue(&h).await;
    assert_eq!(as_app(&h, &access).await.json["active"], true);
    let revoke = h
        .send(post(
            "/oauth/revoke",
            Some(&basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")),
            &form(&[("token", &refresh)]),
        ))
        .await;
    assert_eq!(revoke.status, 200);
    assert_inactive(&as_app(&h, &access).await);
    assert_inactive(&as_app(&h, &refresh).await);
    h.refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", &refresh)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn a_rotated_refresh_token_is_inactive() {
    let h = Harness::new(&clients()).await;
    let (_, refresh) = issue(&h).await;
    let rotated = h
        .refresh("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", &refresh)
        .await;
    assert_eq!(rotated.status, 200);
    assert_inactive(&as_app(&h, &refresh).await);
    let next = rotated.str("refresh_token").unwrap();
    assert_eq!(as_app(&h, next).await.json["active"], true);
}

/// A public client proves nothing about itself (RFC 7662 §2.1, §4): a Bearer token issued to
/// one cannot authorise introspection, whatever scope it carries.
#[tokio::test]
async fn a_bearer_token_of_a_public_client_does_not_authorise() {
    // A scope name the client rules do not know, so only the endpoint stands in the way.
    let tv = Client::public("tv")
        .with_scope("rs:introspect read".parse().unwrap())
        .build()
        .unwrap();
    let h = Harness::with(&[app(), tv.clone()], |builder| {
        builder.introspection_scope("rs:introspect")
    })
    .await;
    let tv_token = h
        .server
        .issuer()
        .issue(&TokenRequest::new(
            &tv,
            "rs:introspect read".parse().unwrap(),
        ))
        .await
        .unwrap();
    let (target, _) = issue(&h).await;
    let bearer = format!("Bearer {}", tv_token.access_token());
    let answer = introspect(&h, Some(&bearer), &[("token", &target)]).await;
    assert_eq!(answer.status, 401, "{}", answer.json);
    assert_eq!(answer.error(), Some("invalid_token"));
    assert!(answer.json.get("active").is_none());
}

/// A public client cannot even be registered with the power to introspect (the builder, the
/// metadata and so the clients file share one rule set).
#[test]
fn a_public_client_cannot_be_given_introspection() {
    let scoped = Client::public("spa")
        .with_scope("introspection read".parse().unwrap())
        .build();
    assert_eq!(scoped.unwrap_err().field, "scope");
    let any = Client::public("spa")
        .with_introspect_any_token(true)
        .build();
    assert_eq!(any.unwrap_err().field, "introspect_any_token");
    let metadata: oauth_endpoints::client::ClientMetadata = serde_json::from_value(json!({
        "client_id": "spa", "token_endpoint_auth_method": "none", "introspect_any_token": true
    }))
    .unwrap();
    assert!(metadata.into_client().is_err());
}

#[tokio::test]
async fn a_token_whose_client_no_longer_exists_is_inactive() {
    let h = Harness::new(&clients()).await;
    // Issued to a client the store does not hold: what a request that authenticated just before
    // its client was deleted can leave behind (the deletion revoked every token it found).
    let ghost = Client::confidential("ghost", "ghost-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .build()
        .unwrap();
    let issued = h
        .server
        .issuer()
        .issue(&TokenRequest::new(&ghost, "read".parse().unwrap()))
        .await
        .unwrap();
    let gateway = basic("gateway", "gateway-secret-kR8vN2qX5tLw9ZpB3mYc7HdF");
    let answer = introspect(&h, Some(&gateway), &[("token", issued.access_token())]).await;
    assert_inactive(&answer);

    // The same for a client that existed when its token was issued.
    let (access, _) = issue(&h).await;
    let answer = introspect(&h, Some(&gateway), &[("token", &access)]).await;
    assert_eq!(answer.json["active"], true);
    h.server
        .clients()
        .delete("app", h.server.now())
        .await
        .unwrap();
    let answer = introspect(&h, Some(&gateway), &[("token", &access)]).await;
    assert_inactive(&answer);
}
