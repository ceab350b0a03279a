//! A store that fails: every endpoint answers 503 `temporarily_unavailable` with `Retry-After`
//! (RFC 7009 §2.2.1), and the store trait is implementable outside the crate.

use oauth_endpoints::clock::UnixTime;
use oauth_endpoints::secret::{Id, TokenHash};
use oauth_endpoints::store::{MemoryStore, Rotation, StoreError, TokenStore};
use oauth_endpoints::token::{TokenKind, TokenRecord};
use oauth_endpoints::{AuthorizationServer, Client};
use oauth_endpoints_tests::{Answer, basic, form, post, send};

/// A token store whose database is down.
struct DownStore;

fn down() -> StoreError {
    StoreError::unavailable(std::io::Error::other("connection refused"))
}

impl TokenStore for DownStore {
    async fn insert_tokens(&self, _records: &[TokenRecord]) -> Result<(), StoreError> {
        Err(down())
    }
    async fn find_token(
        &self,
        _hash: &TokenHash,
        _hint: Option<TokenKind>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        Err(down())
    }
    async fn revoke_token(&self, _hash: &TokenHash, _now: UnixTime) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn revoke_grant(&self, _grant: &Id, _now: UnixTime) -> Result<u64, StoreError> {
        Err(down())
    }
    async fn rotate_refresh_token(
        &self,
        _hash: &TokenHash,
        _now: UnixTime,
        _replacements: &[TokenRecord],
        _grace: std::time::Duration,
    ) -> Result<Rotation, StoreError> {
        Err(down())
    }
    async fn purge_expired(&self, _before: UnixTime, _limit: u64) -> Result<u64, StoreError> {
        Err(down())
    }

    async fn revoke_client_tokens(&self, _client: &str, _now: UnixTime) -> Result<u64, StoreError> {
        Err(down())
    }

    async fn revoke_subject_tokens(
        &self,
        _subject: &str,
        _now: UnixTime,
    ) -> Result<u64, StoreError> {
        Err(down())
    }
}

fn assert_unavailable(answer: &Answer) {
    answer.assert_error(503, "temporarily_unavailable");
    let retry: u32 = answer
        .header("retry-after")
        .unwrap_or("x")
        .parse()
        .unwrap_or(0);
    assert!(retry > 0, "Retry-After: {:?}", answer.header("retry-after"));
    assert!(!answer.body.windows(18).any(|w| w == b"connection refused"));
}

#[tokio::test]
async fn every_endpoint_answers_503_when_the_token_store_is_down() {
    let clients = MemoryStore::new();
    let server = AuthorizationServer::builder()
        .client_store(clients.clone())
        .token_store(DownStore)
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    let client = Client::confidential("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_grant_types(["client_credentials", "refresh_token"])
        .build()
        .unwrap();
    server
        .clients()
        .save(&client)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let auth = basic("app", "app-secret-kR8vN2qX5tLw9ZpB3mYc7HdF");
    for (path, pairs) in [
        ("/oauth/token", vec![("grant_type", "client_credentials")]),
        (
            "/oauth/token",
            vec![("grant_type", "refresh_token"), ("refresh_token", "r")],
        ),
        ("/oauth/revoke", vec![("token", "t")]),
        ("/oauth/introspect", vec![("token", "t")]),
    ] {
        let answer = send(&server, post(path, Some(&auth), &form(&pairs))).await;
        assert_unavailable(&answer);
    }
}
