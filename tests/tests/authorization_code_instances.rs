//! The authorization code grant on two instances sharing one PostgreSQL database: a code is
//! used once whichever instance sees it, and a second use revokes what the first one issued.
//! Skipped, with a notice, when `OAUTH_ENDPOINTS_TEST_POSTGRES` is unset.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use std::sync::Arc;

use oauth_endpoints::AuthorizationServer;
use oauth_endpoints::authorization::AuthorizationCodeFlow;
use oauth_endpoints::store::PgStore;
use oauth_endpoints_tests::authorize::{
    ISSUER, VERIFIER, approve_on, clients, exchange_on, header_user, pairs, param, web_basic,
    web_params,
};
use oauth_endpoints_tests::pg::TestSchema;
use oauth_endpoints_tests::{form, post, send};
use tokio::sync::Barrier;

/// One instance: its own pool on the shared schema.
fn instance(store: PgStore) -> AuthorizationServer {
    AuthorizationServer::builder()
        .issuer(ISSUER)
        .store(store.clone())
        .with_state(AuthorizationCodeFlow::new(store, header_user))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_redeemed_on_two_instances_at_once_yields_no_live_token_twice() {
    let Some(schema) = TestSchema::create("code_race").await else {
        return;
    };
    let a = instance(schema.store().await);
    let b = instance(schema.store().await);
    for client in clients() {
        a.clients().save(&client).await.unwrap();
    }
    let mut issued_rounds = 0;
    for round in 0..20 {
        let owned = web_params("race");
        let params = approve_on(&a, &pairs(&owned)).await;
        let code = param(&params, "code").unwrap().to_owned();
        let barrier = Arc::new(Barrier::new(4));
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let server = if i % 2 == 0 { a.clone() } else { b.clone() };
                let (barrier, code) = (barrier.clone(), code.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    exchange_on(&server, &code, VERIFIER).await
                })
            })
            .collect();
        let mut tokens = Vec::new();
        for task in tasks {
            let answer = task.await.unwrap();
            match answer.status.as_u16() {
                200 => tokens.push(answer.str("access_token").unwrap().to_owned()),
                400 => assert_eq!(answer.error(), Some("invalid_grant"), "round {round}"),
                status => panic!("round {round}: {status} {}", answer.json),
            }
        }
        assert!(
            tokens.len() <= 1,
            "round {round}: {} exchanges got tokens",
            tokens.len()
        );
        issued_rounds += tokens.len();
        // Three of the four were replays: whatever the first issued is revoked.
        for token in &tokens {
            for server in [&a, &b] {
                let answer = send(
                    server,
                    post(
                        "/oauth/introspect",
                        Some(&web_basic()),
                        &form(&[("token", token)]),
                    ),
                )
                .await;
                assert_eq!(answer.json["active"], false, "round {round}");
            }
        }
    }
    println!("{issued_rounds} of 20 rounds issued tokens before a replay revoked them");
}

#[tokio::test]
async fn a_code_made_on_one_instance_is_exchanged_once_on_the_other() {
    let Some(schema) = TestSchema::create("code_instances").await else {
        return;
    };
    let a = instance(schema.store().await);
    let b = instance(schema.store().await);
    for client in clients() {
        a.clients().save(&client).await.unwrap();
    }
    let owned = web_params("x");
    let params = approve_on(&a, &pairs(&owned)).await;
    let code = param(&params, "code").unwrap().to_owned();
    let first = exchange_on(&b, &code, VERIFIER).await;
    assert_eq!(first.status.as_u16(), 200, "{}", first.json);
    let access = first.str("access_token").unwrap().to_owned();
    exchange_on(&a, &code, VERIFIER)
        .await
        .assert_error(400, "invalid_grant");
    let answer = send(
        &b,
        post(
            "/oauth/introspect",
            Some(&web_basic()),
            &form(&[("token", &access)]),
        ),
    )
    .await;
    assert_eq!(answer.json["active"], false);
}
