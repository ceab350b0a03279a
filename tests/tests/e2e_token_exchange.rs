//! The README's worked example of token exchange, end to end over real HTTP: the example server
//! with `--store memory --demo-client --token-exchange --clients
//! examples/token-exchange/clients.json` (the file as shipped), in-process on an ephemeral port.
//! The demo user signs in and approves in a browser played by `http_browser::Browser` (the
//! printed authorization URL names the resources the file's clients serve); the demo client
//! exchanges the code for a token meant for orders only; the orders service exchanges it, acting
//! as itself, for a token meant for billing (RFC 8693, RFC 8707), which billing's introspection
//! shows with `act`, while the user's token is inactive to billing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use clap::Parser as _;
use oauth_endpoints_examples::server::demo::DEMO_USER;
use oauth_endpoints_examples::server::{DEMO_CLIENT, Options, prepare, serve};
use oauth_endpoints_tests::http_browser::Browser;
use oauth2::url::Url;
use serde_json::{Value, json};
use tokio::sync::oneshot;

const ORDERS: &str = "https://orders.example.com/";
const BILLING: &str = "https://billing.example.com/";
/// The secrets of `examples/token-exchange/clients.json`, as the README uses them.
const ORDERS_SECRET: &str = "orders-secret-kR8vN2qX5tLw9ZpB3mYc7HdF";
const BILLING_SECRET: &str = "billing-secret-Zp3mYc7HdF4jGs6Ue1kR8vN2";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

async fn post(url: &str, client: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_service_exchanges_a_users_token_for_a_downstream_call() {
    let clients = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/token-exchange/clients.json"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = Options::try_parse_from([
        "server",
        "--addr",
        &addr.to_string(),
        "--store",
        "memory",
        "--demo-client",
        "--token-exchange",
        "--clients",
        clients,
    ])
    .unwrap();
    let prepared = prepare(&options).await.unwrap();
    let (id, demo_secret) = prepared.demo.clone().expect("the demo client");
    assert_eq!(id, DEMO_CLIENT);
    let demo = prepared.demo_flow.clone().expect("the demo flow");
    let base = format!("http://{addr}");
    let token_url = format!("{base}/oauth/token");
    let introspect_url = format!("{base}/oauth/introspect");
    let authorization_url = demo.authorization_url(&format!("{base}/oauth/authorize"));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, prepared.server, async {
        let _ = stopped.await;
    }));

    // The printed URL asks for the resources the file's clients serve; the user approves.
    let url = Url::parse(&authorization_url).unwrap();
    let resources: Vec<String> = url
        .query_pairs()
        .filter(|(name, _)| name == "resource")
        .map(|(_, value)| value.into_owned())
        .collect();
    assert_eq!(resources, [ORDERS, BILLING]);
    let redirected = Browser::new()
        .sign_in_and_approve(&url, DEMO_CLIENT, DEMO_USER)
        .await;
    let code = redirected
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .expect("a code");

    // The callback page's command, with `-d resource=https://orders.example.com/` added.
    let (status, user) = post(
        &token_url,
        (DEMO_CLIENT, &demo_secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &demo.redirect_uri),
            ("code_verifier", &demo.verifier),
            ("resource", ORDERS),
        ],
    )
    .await;
    assert_eq!(status, 200, "{user}");
    let user_token = user["access_token"].as_str().unwrap().to_owned();
    let orders = ("orders", ORDERS_SECRET);
    let billing = ("billing", BILLING_SECRET);
    let (_, seen) = post(&introspect_url, orders, &[("token", &user_token)]).await;
    assert_eq!(seen["aud"], ORDERS, "{seen}");
    assert_eq!(seen["sub"], DEMO_USER);

    // Orders' own token, then the exchange, acting as itself.
    let (status, own) = post(&token_url, orders, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200, "{own}");
    let orders_token = own["access_token"].as_str().unwrap().to_owned();
    let (status, exchanged) = post(
        &token_url,
        orders,
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &user_token),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("actor_token", &orders_token),
            ("actor_token_type", ACCESS_TOKEN_TYPE),
            ("resource", BILLING),
            ("scope", "read"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{exchanged}");
    assert_eq!(exchanged["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(exchanged["token_type"], "Bearer");
    let billing_token = exchanged["access_token"].as_str().unwrap().to_owned();

    // Billing sees who the call is for and who acts; the user's own token is not for billing.
    let (_, seen) = post(&introspect_url, billing, &[("token", &billing_token)]).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["act"], json!({"sub": "orders"}));
    assert_eq!(seen["aud"], BILLING);
    assert_eq!(seen["sub"], DEMO_USER);
    assert_eq!(seen["client_id"], "orders");
    let (_, seen) = post(&introspect_url, billing, &[("token", &user_token)]).await;
    assert_eq!(seen, json!({"active": false}));

    // The policy of `--token-exchange`: billing's token was not sent to orders.
    let (status, refused) = post(
        &token_url,
        orders,
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &billing_token),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("resource", BILLING),
        ],
    )
    .await;
    assert_eq!(
        (status, &refused["error"]),
        (400, &json!("invalid_request"))
    );

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
