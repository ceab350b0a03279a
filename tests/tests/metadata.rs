//! Authorization server metadata (RFC 8414), generated from the registry.

#![allow(clippy::unwrap_used)] // Fixtures; a failure is a failing test.

use bytes::Bytes;
use http::{Request, StatusCode};
use oauth_endpoints::endpoint::json_response;
use oauth_endpoints::{
    AuthorizationServer, AuthorizationServerBuilder, BuildError, Context, Endpoint, EndpointResult,
    oauth_endpoint,
};
use oauth_endpoints_tests::{Answer, send};
use serde_json::{Value, json};

/// A custom endpoint that publishes itself in discovery.
#[derive(Default)]
#[oauth_endpoint(
    name = "device_authorization",
    path = "/oauth/device_authorization",
    methods = "POST",
    auth_methods = "client_secret_basic none",
    metadata = "device_authorization_endpoint"
)]
struct DeviceAuthorization;

impl Endpoint for DeviceAuthorization {
    async fn handle(&self, _cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        Ok(json_response(StatusCode::OK, &json!({})))
    }
}

const ISSUER: &str = "https://auth.example.com";

fn builder() -> AuthorizationServerBuilder {
    AuthorizationServer::builder().issuer(ISSUER)
}

async fn get(server: &AuthorizationServer, path: &str) -> Answer {
    send(server, Request::get(path).body(Bytes::new()).unwrap()).await
}

#[tokio::test]
async fn the_document_matches_the_routes() {
    let server = builder().build().unwrap();
    let answer = get(&server, "/.well-known/oauth-authorization-server").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert!(answer.header("cache-control").unwrap().contains("max-age"));
    let doc = &answer.json;
    assert_eq!(doc["issuer"], ISSUER);
    for (key, name) in [
        ("token_endpoint", "token"),
        ("revocation_endpoint", "revocation"),
        ("introspection_endpoint", "introspection"),
        ("device_authorization_endpoint", "device_authorization"),
    ] {
        let route = server.route(name).unwrap();
        assert_eq!(doc[key], format!("{ISSUER}{}", route.path()), "{key}");
    }
    for (key, name) in [
        ("token_endpoint_auth_methods_supported", "token"),
        ("revocation_endpoint_auth_methods_supported", "revocation"),
        (
            "introspection_endpoint_auth_methods_supported",
            "introspection",
        ),
    ] {
        let declared: Vec<Value> = server
            .route(name)
            .unwrap()
            .auth_methods()
            .iter()
            .map(|m| m.as_str().into())
            .collect();
        assert_eq!(doc[key], Value::Array(declared), "{key}");
    }
    let grants: Vec<Value> = server
        .grants()
        .grant_types()
        .iter()
        .map(|g| g.as_str().into())
        .collect();
    assert_eq!(doc["grant_types_supported"], Value::Array(grants));
    assert_eq!(
        doc["grant_types_supported"],
        json!(["client_credentials", "refresh_token"])
    );
    assert_eq!(doc["response_types_supported"], json!([]));
    assert!(doc.get("scopes_supported").is_none());
    assert!(!answer.body.windows(4).any(|w| w == b"null"));
    assert_eq!(
        server.metadata().map(|m| Value::Object(m.clone())),
        Some(doc.clone())
    );
}

#[tokio::test]
async fn excluding_or_moving_an_endpoint_changes_the_document() {
    let server = builder()
        .exclude("revocation")
        .mount("introspection", "/v2/introspect")
        .exclude_grant("refresh_token")
        .build()
        .unwrap();
    let doc = get(&server, "/.well-known/oauth-authorization-server")
        .await
        .json;
    assert!(doc.get("revocation_endpoint").is_none());
    assert!(
        doc.get("revocation_endpoint_auth_methods_supported")
            .is_none()
    );
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{ISSUER}/v2/introspect")
    );
    assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));
}

#[tokio::test]
async fn configured_fields_appear() {
    let server = builder()
        .scopes_supported(["read", "write"])
        .service_documentation("https://docs.example.com/oauth")
        .metadata_field("response_types_supported", json!(["code"]))
        .metadata_field("ui_locales_supported", json!(["en"]))
        .build()
        .unwrap();
    let doc = get(&server, "/.well-known/oauth-authorization-server")
        .await
        .json;
    assert_eq!(doc["scopes_supported"], json!(["read", "write"]));
    assert_eq!(
        doc["service_documentation"],
        "https://docs.example.com/oauth"
    );
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["ui_locales_supported"], json!(["en"]));
}

#[test]
fn computed_fields_cannot_be_set_by_hand() {
    let error = builder()
        .metadata_field(
            "token_endpoint",
            json!("https://elsewhere.example.com/token"),
        )
        .build()
        .unwrap_err();
    assert!(
        matches!(error, BuildError::ComputedMetadataField { ref name } if name == "token_endpoint"),
        "{error}"
    );
}

#[tokio::test]
async fn an_issuer_with_a_path_moves_the_well_known_location() {
    let server = AuthorizationServer::builder()
        .issuer("https://auth.example.com/tenant-a")
        .build()
        .unwrap();
    let answer = get(&server, "/.well-known/oauth-authorization-server/tenant-a").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["issuer"], "https://auth.example.com/tenant-a");
    assert_eq!(
        answer.json["token_endpoint"],
        "https://auth.example.com/oauth/token"
    );
    let old = get(&server, "/.well-known/oauth-authorization-server").await;
    assert_eq!(old.status, 404);
}

#[test]
fn invalid_issuers_are_refused_at_build() {
    for issuer in [
        "http://auth.example.com",
        "https://auth.example.com?tenant=a",
        "https://auth.example.com#frag",
        "not a url",
        "ftp://auth.example.com",
    ] {
        let error = AuthorizationServer::builder()
            .issuer(issuer)
            .build()
            .unwrap_err();
        assert!(
            matches!(error, BuildError::InvalidIssuer { .. }),
            "{issuer}: {error}"
        );
    }
    for issuer in [
        "http://127.0.0.1:8080",
        "http://localhost:3000",
        "http://[::1]:80",
    ] {
        assert!(
            AuthorizationServer::builder()
                .issuer(issuer)
                .build()
                .is_ok(),
            "{issuer}"
        );
    }
}

#[tokio::test]
async fn without_an_issuer_there_is_no_document() {
    let server = AuthorizationServer::builder().build().unwrap();
    assert!(server.metadata().is_none());
    let answer = get(&server, "/.well-known/oauth-authorization-server").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.error(), Some("invalid_request"));
}
