//! The device flow end to end over real HTTP: the example server (`prepare_with`, `serve`)
//! with the `device-flow` add-on, driven by the `oauth2` crate's device flow while the test
//! approves through the HTML form over HTTP. (A real browser does it in
//! `device_flow_browser.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Fixtures.

#[path = "device_flow_common/csrf.rs"]
mod csrf;
#[path = "device_flow_common/user.rs"]
mod user;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser as _;
use device_flow::{DeviceFlow, FixedUser, MemoryDeviceStore};
use oauth_endpoints_tests::form;

use csrf::hidden_csrf;
use oauth_endpoints_examples::server::{Options, prepare_with, serve};
use oauth_endpoints_tests::oauth2_http;
use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, ClientSecret, DeviceAuthorizationUrl, IntrospectionUrl, RevocationUrl, Scope,
    StandardDeviceAuthorizationResponse, StandardRevocableToken, TokenIntrospectionResponse,
    TokenResponse, TokenUrl,
};
use tokio::sync::oneshot;
use user::USER;

const CLIENTS: &str = r#"[
  {"client_id": "tv", "token_endpoint_auth_method": "none",
   "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"], "scope": "read write"},
  {"client_id": "rs", "client_secret": "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF", "grant_types": [],
   "introspect_any_token": true}
]"#;

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// oauth2 refuses a revocation URL that is not https; [`http`] turns it back into http.
    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }
}

async fn start(clients: &std::path::Path) -> Running {
    // Bind first: the issuer, and so the verification URI, names the real port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = Options::try_parse_from([
        "device_flow",
        "--addr",
        &addr.to_string(),
        "--store",
        "memory",
        "--clients",
        clients.to_str().unwrap(),
    ])
    .unwrap();
    let prepared = prepare_with(&options, async |builder, _store| {
        Ok(builder.with_state(
            DeviceFlow::new(MemoryDeviceStore::new())
                .with_users(FixedUser::new(USER))
                .interval(Duration::from_secs(1)),
        ))
    })
    .await
    .unwrap();
    assert_eq!(
        prepared.server.config().issuer.as_deref(),
        Some(format!("http://{addr}").as_str())
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, prepared.server, async {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

/// What the user does in a browser: open verification_uri_complete, press Approve.
async fn approve_in_browser(verification_uri_complete: String) {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(&verification_uri_complete)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body = page.text().await.unwrap();
    let csrf = hidden_csrf(&body);
    let user_code = verification_uri_complete
        .rsplit_once('=')
        .unwrap()
        .1
        .to_owned();
    let form_url = verification_uri_complete
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let answer = browser
        .post(&form_url)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf", &csrf),
            ("user_code", &user_code),
            ("action", "approve"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("Device connected"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth2_crates_device_flow_gets_a_token_approved_through_the_form() {
    let dir = tempfile::tempdir().unwrap();
    let clients = dir.path().join("clients.json");
    std::fs::write(&clients, CLIENTS).unwrap();
    let server = start(&clients).await;

    let device = BasicClient::new(ClientId::new("tv".to_owned()))
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(server.url("/oauth/device_authorization")).unwrap(),
        )
        .set_token_uri(TokenUrl::new(server.url("/oauth/token")).unwrap())
        .set_revocation_url(RevocationUrl::new(server.url("/oauth/revoke")).unwrap());
    let details: StandardDeviceAuthorizationResponse = device
        .exchange_device_code()
        .add_scope(Scope::new("read".to_owned()))
        .request_async(&oauth2_http)
        .await
        .unwrap();
    assert_eq!(details.interval(), Duration::from_secs(1));
    assert_eq!(
        details.verification_uri().as_str(),
        format!("http://{}/device", server.addr)
    );
    let complete = details
        .verification_uri_complete()
        .unwrap()
        .secret()
        .clone();
    assert!(complete.ends_with(details.user_code().secret().as_str()));

    // The user approves a moment later, while the device polls.
    let approval = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        approve_in_browser(complete).await;
    });
    let token = device
        .exchange_device_access_token(&details)
        .request_async(
            &oauth2_http,
            tokio::time::sleep,
            Some(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    approval.await.unwrap();
    assert_eq!(
        token
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        Some(vec!["read".to_owned()])
    );

    // The token introspects active (for a resource server), then revokes.
    let resource_server = BasicClient::new(ClientId::new("rs".to_owned()))
        .set_client_secret(ClientSecret::new(
            "rs-secret-kR8vN2qX5tLw9ZpB3mYc7HdF".to_owned(),
        ))
        .set_introspection_url(IntrospectionUrl::new(server.url("/oauth/introspect")).unwrap());
    let introspection = resource_server
        .introspect(token.access_token())
        .request_async(&oauth2_http)
        .await
        .unwrap();
    assert!(introspection.active());
    assert_eq!(introspection.client_id().map(|c| c.as_str()), Some("tv"));
    assert_eq!(introspection.sub(), Some(USER));
    device
        .revoke_token(StandardRevocableToken::AccessToken(
            token.access_token().clone(),
        ))
        .unwrap()
        .request_async(&oauth2_http)
        .await
        .unwrap();
    let introspection = resource_server
        .introspect(token.access_token())
        .request_async(&oauth2_http)
        .await
        .unwrap();
    assert!(!introspection.active());

    // The device code is spent.
    let again = device
        .exchange_device_access_token(&details)
        .request_async(
            &oauth2_http,
            tokio::time::sleep,
            Some(Duration::from_secs(5)),
        )
        .await;
    assert!(again.is_err());

    let _ = server.stop.send(());
    server.task.await.unwrap().unwrap();
}
