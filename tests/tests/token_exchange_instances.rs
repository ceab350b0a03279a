//! Token exchange on two instances sharing one PostgreSQL database (and on the memory store):
//! a token exchanged on one instance carries its delegation to the other, and revoking the
//! subject's grant while exchanges race leaves no exchanged token active. The PostgreSQL tests
//! are skipped, with a notice, when `OAUTH_ENDPOINTS_TEST_POSTGRES` is unset.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Fixtures.

use std::sync::Arc;

use oauth_endpoints::exchange::{ExchangeRequest, TokenExchange, token_type};
use oauth_endpoints::store::MemoryStore;
use oauth_endpoints::token::TokenRequest;
use oauth_endpoints::{AuthorizationServer, AuthorizationServerBuilder, Client};
use oauth_endpoints_tests::pg::TestSchema;
use oauth_endpoints_tests::{Answer, basic, form, post, send};
use serde_json::json;
use tokio::sync::Barrier;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const BILLING: &str = "https://billing.example.com/";
const SECRET: &str = "kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1";

fn clients() -> Vec<Client> {
    vec![
        Client::confidential("frontend", SECRET)
            .with_grant_types(["client_credentials", "refresh_token"])
            .with_scope("read".parse().unwrap())
            .build()
            .unwrap(),
        Client::confidential("orders", SECRET)
            .with_grant_types([EXCHANGE, "client_credentials"])
            .with_scope("read".parse().unwrap())
            .with_allowed_resources([BILLING])
            .build()
            .unwrap(),
        Client::confidential("billing", SECRET)
            .with_served_resources([BILLING])
            .build()
            .unwrap(),
    ]
}

fn instance(builder: AuthorizationServerBuilder) -> AuthorizationServer {
    builder
        .issuer("https://auth.example.com")
        .with_state(TokenExchange::new(|request: &ExchangeRequest<'_>| {
            request.client.client_id() == "orders"
        }))
        .build()
        .unwrap()
}

/// alice's access and refresh tokens, issued by `server` to the frontend.
async fn user_tokens(server: &AuthorizationServer) -> (String, String) {
    let frontend = server.clients().find("frontend").await.unwrap().unwrap();
    let issued = server
        .issuer()
        .issue(
            &TokenRequest::new(&frontend, "read".parse().unwrap())
                .with_subject("alice")
                .with_refresh_token(true),
        )
        .await
        .unwrap();
    (
        issued.access_token().to_owned(),
        issued.refresh_token().unwrap().to_owned(),
    )
}

async fn exchange(server: &AuthorizationServer, subject: &str, actor: Option<&str>) -> Answer {
    let mut pairs = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", token_type::ACCESS_TOKEN),
        ("resource", BILLING),
    ];
    if let Some(actor) = actor {
        pairs.extend([
            ("actor_token", actor),
            ("actor_token_type", token_type::ACCESS_TOKEN),
        ]);
    }
    send(
        server,
        post(
            "/oauth/token",
            Some(&basic("orders", SECRET)),
            &form(&pairs),
        ),
    )
    .await
}

async fn introspect(server: &AuthorizationServer, token: &str) -> serde_json::Value {
    send(
        server,
        post(
            "/oauth/introspect",
            Some(&basic("billing", SECRET)),
            &form(&[("token", token)]),
        ),
    )
    .await
    .json
}

async fn revoke(server: &AuthorizationServer, token: &str) -> Answer {
    send(
        server,
        post(
            "/oauth/revoke",
            Some(&basic("frontend", SECRET)),
            &form(&[("token", token)]),
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_exchanged_on_one_instance_is_seen_and_revoked_on_the_other() {
    let Some(schema) = TestSchema::create("exchange_instances").await else {
        return;
    };
    let a = instance(AuthorizationServer::builder().store(schema.store().await));
    let b = instance(AuthorizationServer::builder().store(schema.store().await));
    for client in clients() {
        a.clients().save(&client).await.unwrap();
    }
    let (user, refresh) = user_tokens(&a).await;
    let actor = send(
        &a,
        post(
            "/oauth/token",
            Some(&basic("orders", SECRET)),
            "grant_type=client_credentials",
        ),
    )
    .await;
    let actor = actor.str("access_token").unwrap().to_owned();
    // Exchanged on B, with A's tokens as subject and actor.
    let answer = exchange(&b, &user, Some(&actor)).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let exchanged = answer.str("access_token").unwrap().to_owned();
    // A sees it with its delegation and audience, read back from the shared store.
    let seen = introspect(&a, &exchanged).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], "alice");
    assert_eq!(seen["aud"], BILLING);
    assert_eq!(seen["act"], json!({"sub": "orders"}));
    // The frontend revokes alice's refresh token on B: the exchanged token ends on A.
    assert_eq!(revoke(&b, &refresh).await.status, 200);
    assert_eq!(introspect(&a, &exchanged).await, json!({"active": false}));
    assert_eq!(
        exchange(&a, &user, None).await.error(),
        Some("invalid_request")
    );
}

/// Twenty rounds of two exchanges (one per instance) racing a revocation of the subject's
/// grant: afterwards no exchanged token is active anywhere, and every answer is a 200 or the
/// RFC's 400, never a 5xx. Without the grant check in the store's insert, an exchange that read
/// the subject token before the revocation stores a live token after it.
async fn exchanges_racing_a_revocation(a: AuthorizationServer, b: AuthorizationServer) {
    for client in clients() {
        a.clients().save(&client).await.unwrap();
    }
    let mut issued = 0;
    for round in 0..20 {
        let (user, refresh) = user_tokens(&a).await;
        let barrier = Arc::new(Barrier::new(3));
        let exchanges: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|server| {
                let (barrier, user) = (barrier.clone(), user.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    exchange(&server, &user, None).await
                })
            })
            .collect();
        let revoker = {
            let (barrier, b) = (barrier.clone(), b.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                revoke(&b, &refresh).await
            })
        };
        assert_eq!(revoker.await.unwrap().status, 200, "round {round}");
        for task in exchanges {
            let answer = task.await.unwrap();
            match answer.status.as_u16() {
                200 => {
                    issued += 1;
                    let token = answer.str("access_token").unwrap();
                    for server in [&a, &b] {
                        assert_eq!(
                            introspect(server, token).await,
                            json!({"active": false}),
                            "round {round}: an exchanged token outlived its grant"
                        );
                    }
                }
                400 => assert!(
                    matches!(answer.error(), Some("invalid_request" | "invalid_grant")),
                    "round {round}: {}",
                    answer.json
                ),
                status => panic!("round {round}: {status} {}", answer.json),
            }
        }
    }
    eprintln!("{issued} of 40 exchanges won their race against the revocation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exchanges_racing_a_revocation_on_two_postgres_instances() {
    let Some(schema) = TestSchema::create("exchange_race").await else {
        return;
    };
    let a = instance(AuthorizationServer::builder().store(schema.store().await));
    let b = instance(AuthorizationServer::builder().store(schema.store().await));
    exchanges_racing_a_revocation(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exchanges_racing_a_revocation_on_the_memory_store() {
    let store = MemoryStore::new();
    let a = instance(AuthorizationServer::builder().store(store.clone()));
    let b = instance(AuthorizationServer::builder().store(store));
    exchanges_racing_a_revocation(a, b).await;
}
