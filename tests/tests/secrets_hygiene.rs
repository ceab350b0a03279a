//! Secrets hygiene: with every log at TRACE, full flows (token, introspection, refresh, replay,
//! revocation, failed authentication) on the memory and SQLite stores never write a token value
//! or a client secret; `Debug` of every type holding one redacts it, the device flow add-on's
//! included (no user code, no name of a user who entered codes).
//!
//! One subscriber, installed once for this test binary, captures everything (the `log` crate
//! too, so SQLx's statement logs are included) into a shared buffer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code: a failure is a failing test.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use device_flow::{
    DeviceAuthorization, DeviceFlow, DeviceStatus, DeviceStore, FixedUser, MemoryDeviceStore,
    UserCode,
};
use oauth_endpoints::client::ClientMetadata;
use oauth_endpoints::client_auth::{ClientAuthMethod, parse_basic};
use oauth_endpoints::clock::ManualClock;
use oauth_endpoints::endpoint::json_response;
use oauth_endpoints::form::Form;
use oauth_endpoints::secret::{SecretHash, TokenHash};
use oauth_endpoints::store::{MemoryStore, SqliteStore};
use oauth_endpoints::token::TokenRequest;
use oauth_endpoints::{AuthorizationServer, Client, Context, Endpoint, EndpointResult};
use oauth_endpoints_tests::{Answer, START, basic, form, post, send};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// Everything every subscriber layer wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The buffer of the one global subscriber (TRACE, every target, every thread).
fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(captured.clone())
            .finish()
            .try_init()
            .expect("the only global subscriber of this test binary");
        captured
    })
}

/// Secrets long enough that a match is no accident, with characters that need encoding.
const APP_SECRET: &str = "app-secret-Zq7 x+y/Kp0%Lm9:Wv4-Ab3Cd5Ef";
const POST_SECRET: &str = "post-secret-8Hn2Rt5Yu1Io3Pa6-Gh7Jk9";
const WRONG_SECRET: &str = "wrong-secret-Jd4Kf7Lg0Mh3Nb6-Lm2Np4";

fn clients() -> Vec<Client> {
    vec![
        Client::confidential("app", APP_SECRET)
            .with_grant_types(["client_credentials", "refresh_token"])
            .with_scope("read write".parse().unwrap())
            .build()
            .unwrap(),
        Client::confidential("poster", POST_SECRET)
            .with_auth_method(ClientAuthMethod::ClientSecretPost)
            .with_scope("introspection".parse().unwrap())
            .with_introspect_any_token(true)
            .build()
            .unwrap(),
        Client::public("spa").build().unwrap(),
    ]
}

/// Runs every flow through `dispatch`; returns each token value and secret it saw.
async fn flows(server: &AuthorizationServer) -> Vec<String> {
    for client in clients() {
        server.clients().save(&client).await.unwrap();
    }
    let app = basic("app", APP_SECRET);
    let mut secrets = vec![
        APP_SECRET.to_owned(),
        POST_SECRET.to_owned(),
        WRONG_SECRET.to_owned(),
    ];
    let token = |answer: &Answer, name: &str| {
        answer
            .str(name)
            .unwrap_or_else(|| panic!("{name} in {}", answer.json))
            .to_owned()
    };

    // Token endpoint: Basic, then post.
    let issued = send(
        server,
        post(
            "/oauth/token",
            Some(&app),
            &form(&[("grant_type", "client_credentials")]),
        ),
    )
    .await;
    let access = token(&issued, "access_token");
    let refresh = token(&issued, "refresh_token");
    let rs = send(
        server,
        post(
            "/oauth/token",
            None,
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "poster"),
                ("client_secret", POST_SECRET),
            ]),
        ),
    )
    .await;
    let bearer = token(&rs, "access_token");
    secrets.extend([access.clone(), refresh.clone(), bearer.clone()]);

    // Introspection: by the owner, by a resource server with a Bearer token, by a stranger.
    for (auth, body) in [
        (Some(app.clone()), form(&[("token", &access)])),
        (
            Some(format!("Bearer {bearer}")),
            form(&[("token", &refresh), ("token_type_hint", "refresh_token")]),
        ),
        (
            Some(basic("app", WRONG_SECRET)),
            form(&[("token", &access)]),
        ),
        (
            Some(format!("Bearer {access}")),
            form(&[("token", &access)]),
        ),
    ] {
        send(server, post("/oauth/introspect", auth.as_deref(), &body)).await;
    }

    // Refresh, then replay the rotated refresh token (reuse detection revokes the grant).
    let refreshed = send(
        server,
        post(
            "/oauth/token",
            Some(&app),
            &form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]),
        ),
    )
    .await;
    let access2 = token(&refreshed, "access_token");
    let refresh2 = token(&refreshed, "refresh_token");
    secrets.extend([access2.clone(), refresh2.clone()]);
    let replay = send(
        server,
        post(
            "/oauth/token",
            Some(&app),
            &form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]),
        ),
    )
    .await;
    replay.assert_error(400, "invalid_grant");

    // A fresh grant, revoked by access token and by refresh token.
    let issued = send(
        server,
        post(
            "/oauth/token",
            Some(&app),
            &form(&[("grant_type", "client_credentials"), ("scope", "read")]),
        ),
    )
    .await;
    let access3 = token(&issued, "access_token");
    let refresh3 = token(&issued, "refresh_token");
    secrets.extend([access3.clone(), refresh3.clone()]);
    for value in [&access3, &refresh3, &access2] {
        let answer = send(
            server,
            post("/oauth/revoke", Some(&app), &form(&[("token", value)])),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.json);
    }

    // Failing authentication everywhere: wrong secret, secret in two places, wrong method,
    // a public client sending a secret, malformed Basic credentials.
    for (path, auth, body) in [
        (
            "/oauth/token",
            Some(basic("app", WRONG_SECRET)),
            form(&[("grant_type", "client_credentials")]),
        ),
        (
            "/oauth/revoke",
            Some(app.clone()),
            form(&[("token", &access), ("client_secret", APP_SECRET)]),
        ),
        (
            "/oauth/introspect",
            None,
            form(&[
                ("token", &access),
                ("client_id", "app"),
                ("client_secret", APP_SECRET),
            ]),
        ),
        (
            "/oauth/revoke",
            None,
            form(&[
                ("token", &access),
                ("client_id", "spa"),
                ("client_secret", WRONG_SECRET),
            ]),
        ),
        (
            "/oauth/token",
            Some(format!("Basic {WRONG_SECRET}")),
            form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh2),
            ]),
        ),
    ] {
        let answer = send(server, post(path, auth.as_deref(), &body)).await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.json);
    }
    secrets
}

fn assert_nothing_leaked(secrets: &[String]) {
    let text = captured().text();
    // The capture works: the server logged its routes and the revocations.
    assert!(text.contains("mounted OAuth endpoint"), "{text}");
    assert!(text.contains("token revoked"), "{text}");
    for secret in secrets {
        assert!(secret.len() >= 20, "a short secret would match by accident");
        assert!(
            !text.contains(secret.as_str()),
            "{secret} in the logs:\n{text}"
        );
        // Nor its Basic encoding, nor its form encoding.
        let encoded = oauth_endpoints_tests::form_encode(secret);
        assert!(!text.contains(&encoded), "{encoded} in the logs:\n{text}");
    }
    let basic_app = basic("app", APP_SECRET);
    assert!(!text.contains(&basic_app["Basic ".len()..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_secret_reaches_the_logs_with_the_memory_store() {
    captured();
    let server = AuthorizationServer::builder()
        .store(MemoryStore::new())
        .clock(ManualClock::new(START))
        .build()
        .unwrap();
    let secrets = flows(&server).await;
    assert_nothing_leaked(&secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_secret_reaches_the_logs_with_the_sqlite_store() {
    captured();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("oauth.db"))
        .await
        .unwrap();
    let server = AuthorizationServer::builder()
        .store(store)
        .clock(ManualClock::new(START))
        .build()
        .unwrap();
    let secrets = flows(&server).await;
    assert_nothing_leaked(&secrets);
    // The store's writer thread logs nothing per statement (rusqlite has no statement log, and
    // sqlx serves only `SqliteStore::pool`); whatever it logs was captured and checked above.
}

/// Asserts that neither `{:?}` nor `{:#?}` of `value` shows any of `secrets`.
fn assert_redacted(value: &impl std::fmt::Debug, secrets: &[&str]) {
    for debug in [format!("{value:?}"), format!("{value:#?}")] {
        for secret in secrets {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
    }
}

#[tokio::test]
async fn debug_redacts_every_secret_and_token() {
    let secret = "debug-secret-Qw3Er5Ty7Ui9-Op1As3Df5";
    let client = Client::confidential("debug-client", secret)
        .with_grant_types(["client_credentials", "refresh_token"])
        .build()
        .unwrap();
    assert_redacted(&client, &[secret]);
    assert_redacted(&SecretHash::of(secret), &[secret]);
    assert_redacted(&Client::confidential("debug-client", secret), &[secret]);

    // The example server's options: a store URL's password.
    let options = <oauth_endpoints_examples::server::Options as clap::Parser>::try_parse_from([
        "server",
        "--store",
        "postgres://oauth:db-password-Zx8Cv6Bn4@db.internal:5432/oauth",
    ])
    .unwrap();
    assert_redacted(&options, &["db-password-Zx8Cv6Bn4"]);
    assert!(format!("{options:?}").contains("db.internal"));
    let choice = oauth_endpoints_examples::server::StoreChoice::parse(&options.store).unwrap();
    assert_redacted(&choice, &["db-password-Zx8Cv6Bn4"]);

    let metadata: ClientMetadata = serde_json::from_value(serde_json::json!({
        "client_id": "debug-client",
        "client_secret": secret,
    }))
    .unwrap();
    assert_redacted(&metadata, &[secret]);

    let header = basic("debug-client", secret);
    let credentials = parse_basic(header.as_bytes()).unwrap();
    assert_eq!(credentials.client_secret, secret);
    assert_redacted(&credentials, &[secret, &header["Basic ".len()..]]);

    let body = form(&[
        ("client_id", "debug-client"),
        ("client_secret", secret),
        ("token", "debug-token-As2Df4Gh6Jk8"),
    ]);
    let parsed = Form::parse_body(body.as_bytes()).unwrap();
    assert_redacted(&parsed, &[secret, "debug-token-As2Df4Gh6Jk8"]);

    let server = AuthorizationServer::builder().build().unwrap();
    let issued = server
        .issuer()
        .issue(&TokenRequest::new(&client, "read".parse().unwrap()).with_refresh_token(true))
        .await
        .unwrap();
    let access = issued.access_token().to_owned();
    let refresh = issued.refresh_token().unwrap().to_owned();
    assert_redacted(&issued, &[&access, &refresh]);
    let record = server
        .tokens()
        .find(&TokenHash::of(&access), None)
        .await
        .unwrap()
        .unwrap();
    assert_redacted(&record, &[&access, &refresh]);
    assert_redacted(issued.refresh_record().unwrap(), &[&access, &refresh]);
    assert_redacted(&server, &[secret, &access, &refresh]);
}

/// Answers with `Debug` of the server's `DeviceFlow`, as any code holding it could log it.
#[derive(Default)]
struct ShowDeviceFlow;

impl Endpoint for ShowDeviceFlow {
    async fn handle(&self, cx: &Context, _request: http::Request<bytes::Bytes>) -> EndpointResult {
        let flow = cx
            .state::<DeviceFlow>()
            .expect("the device flow is configured");
        Ok(json_response(
            http::StatusCode::OK,
            &serde_json::json!({ "debug": format!("{flow:?}"), "pretty": format!("{flow:#?}") }),
        ))
    }
}

#[tokio::test]
async fn debug_of_the_device_flow_shows_no_user_code_and_no_user() {
    // A request's user code (and its device code: only the hash is kept).
    let user_code = UserCode::generate();
    let device_code = "device-code-Vb8Nm2Qw4Er6";
    let authorization = DeviceAuthorization {
        device_code_hash: oauth_endpoints::secret::TokenHash::of(device_code),
        user_code: user_code.clone(),
        client_id: "tv".into(),
        scope: "read".parse().unwrap(),
        status: DeviceStatus::Pending,
        subject: None,
        issued_at: START,
        expires_at: START + 600,
        interval: 5,
        last_polled_at: None,
    };
    let shown = user_code.to_string();
    assert_redacted(&authorization, &[user_code.as_str(), &shown, device_code]);
    assert_redacted(&user_code, &[user_code.as_str(), &shown]);

    // The flow, after a user entered wrong codes: neither the user nor the codes show.
    let user = "mallory-Xc5Vb7Nm9";
    let store = MemoryDeviceStore::new();
    store.create(&authorization, 100).await.unwrap();
    let flow = DeviceFlow::new(store).with_users(FixedUser::new(user));
    let server = AuthorizationServer::builder()
        .issuer("https://auth.example.com")
        .with_state(flow)
        .register_endpoint(
            "show_device_flow",
            "/debug/device-flow",
            [http::Method::GET],
            ShowDeviceFlow,
        )
        .build()
        .unwrap();
    for guess in ["BBBB-CCCC", "DDDD-FFFF", "GGGG-HHHH"] {
        let request = http::Request::get(format!("/device?user_code={guess}"))
            .body(bytes::Bytes::new())
            .unwrap();
        assert_eq!(send(&server, request).await.status, 400);
    }
    let request = http::Request::get("/debug/device-flow")
        .body(bytes::Bytes::new())
        .unwrap();
    let answer = send(&server, request).await;
    assert_eq!(answer.status, 200);
    for debug in [answer.str("debug").unwrap(), answer.str("pretty").unwrap()] {
        // It is the flow's Debug, naming no user and no code; it counts the user.
        assert!(debug.contains("DeviceFlow"), "{debug}");
        for secret in [user, user_code.as_str(), &shown, "BBBBCCCC", "BBBB-CCCC"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("users: 1"), "{debug}");
    }
}
