//! JWT access tokens and signed introspection answers over real HTTP: the example server with
//! `--access-token-format jwt` and two `--signing-key` files (rotation), in-process on an
//! ephemeral port. The client fetches the JWKS over HTTP and checks what the server signed
//! with another JOSE implementation (`jwt-simple`) than the server's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Fixtures; a failure is a failing test.

use clap::Parser as _;
use oauth_endpoints::keys::SigningAlgorithm;
use oauth_endpoints_examples::server::{Options, prepare, serve};
use oauth_endpoints_tests::jose;
use serde_json::Value;
use tokio::sync::oneshot;

/// A PKCS#8 PEM of a fresh key, as `openssl genpkey` writes one.
fn pem(algorithm: SigningAlgorithm) -> String {
    use base64::Engine;
    let random = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(oauth_endpoints::secret::generate_secret())
        .unwrap();
    let bytes: [u8; 32] = random.try_into().unwrap();
    match algorithm {
        SigningAlgorithm::Es256 => {
            use p256::pkcs8::EncodePrivateKey;
            p256::SecretKey::from_slice(&bytes)
                .unwrap()
                .to_pkcs8_pem(Default::default())
                .unwrap()
                .to_string()
        }
        _ => {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            ed25519_dalek::SigningKey::from_bytes(&bytes)
                .to_pkcs8_pem(Default::default())
                .unwrap()
                .to_string()
        }
    }
}

#[tokio::test]
async fn a_resource_server_verifies_jwts_and_signed_answers_with_the_jwks_it_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let new_key = dir.path().join("new.pem");
    let old_key = dir.path().join("old.pem");
    std::fs::write(&new_key, pem(SigningAlgorithm::EdDsa)).unwrap();
    std::fs::write(&old_key, pem(SigningAlgorithm::Es256)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = Options::try_parse_from([
        "server",
        "--addr",
        &addr.to_string(),
        "--store",
        "memory",
        "--access-token-format",
        "jwt",
        "--signing-key",
        new_key.to_str().unwrap(),
        "--signing-key",
        old_key.to_str().unwrap(),
    ])
    .unwrap();
    let prepared = prepare(&options).await.unwrap();
    let (id, secret) = prepared.demo.clone().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, prepared.server, async {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    // The metadata names the JWKS; the JWKS holds both keys, the active one first.
    let metadata: Value = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|body| serde_json::from_slice::<Value>(&body).unwrap())
        .unwrap();
    let jwks_uri = metadata["jwks_uri"].as_str().unwrap().to_owned();
    let jwks: Value = serde_json::from_slice(
        &http
            .get(&jwks_uri)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[1]["kty"], "EC");
    assert!(keys.iter().all(|key| key.get("d").is_none()));

    // A token: a JWT signed by the active key, verified with the fetched JWKS.
    let answer: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|body| serde_json::from_slice::<Value>(&body).unwrap())
        .unwrap();
    let jwt = answer["access_token"].as_str().unwrap().to_owned();
    let header = jose::header(&jwt);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], keys[0]["kid"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = jose::verify(&jwks, &jwt, now);
    assert_eq!(claims["iss"], base);
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["scope"], "read");

    // A signed introspection answer (RFC 9701), verified with the same JWKS.
    let response = http
        .post(format!("{base}/oauth/introspect"))
        .basic_auth(&id, Some(&secret))
        .header("accept", "application/token-introspection+jwt")
        .form(&[("token", jwt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/token-introspection+jwt"
    );
    let signed = response.text().await.unwrap();
    assert_eq!(jose::header(&signed)["typ"], "token-introspection+jwt");
    let answer = jose::verify(&jwks, &signed, now);
    assert_eq!(answer["aud"], id.as_str());
    assert_eq!(answer["token_introspection"]["active"], true);
    assert_eq!(answer["token_introspection"]["jti"], claims["jti"]);

    // Revoked over HTTP: the signature still holds, the answer says inactive.
    let revoked = http
        .post(format!("{base}/oauth/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", jwt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    jose::verify(&jwks, &jwt, now);
    let signed = http
        .post(format!("{base}/oauth/introspect"))
        .basic_auth(&id, Some(&secret))
        .header("accept", "application/token-introspection+jwt")
        .form(&[("token", jwt.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        jose::verify(&jwks, &signed, now)["token_introspection"],
        serde_json::json!({"active": false})
    );

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
