//! The store contract: what every `ClientStore + TokenStore` must do, run against each store.

use std::sync::Arc;

use oauth_endpoints::{
    Client, ClientAuthMethod, ClientStore, Id, Rotation, Scope, TokenHash, TokenKind, TokenRecord,
    TokenStore, generate_secret,
};

const NOW: u64 = 1_700_000_000;

/// A record for a fresh token value, in `grant`.
pub fn record(kind: TokenKind, grant: Id, client: &str) -> (String, TokenRecord) {
    let value = generate_secret();
    let record = TokenRecord {
        id: Id::random(),
        hash: TokenHash::of(&value),
        kind,
        client_id: Arc::from(client),
        scope: "read write".parse::<Scope>().expect("a scope"),
        subject: Some(Arc::from("alice")),
        audience: Arc::from(vec!["rs-1".to_owned(), "rs-2".to_owned()]),
        grant_id: grant,
        issued_at: NOW,
        expires_at: NOW + 3600,
        not_before: None,
        revoked_at: None,
        rotated_at: None,
    };
    (value, record)
}

async fn find<S: TokenStore>(store: &S, value: &str) -> Option<TokenRecord> {
    store
        .find_token(&TokenHash::of(value), None)
        .await
        .expect("find")
}

/// Runs every clause of the contract against `store`, which must start empty.
pub async fn run<S: ClientStore + TokenStore>(store: &S) {
    clients(store).await;
    delete_client(store).await;
    insert_and_find(store).await;
    revoke_token(store).await;
    revoke_grant(store).await;
    rotation(store).await;
    purge(store).await;
}

/// Deleting a client removes it and revokes its tokens, in one operation; other clients'
/// tokens are untouched.
async fn delete_client<S: ClientStore + TokenStore>(store: &S) {
    let client = Client::public("leaving").build().expect("a valid client");
    store.save_client(&client).await.expect("save");
    let (mine, record) = record(TokenKind::Access, Id::random(), "leaving");
    let (theirs, other) = record_of_other();
    store.insert_tokens(&[record, other]).await.expect("insert");
    assert!(
        store
            .delete_client("leaving", NOW + 5)
            .await
            .expect("delete")
    );
    assert!(store.find_client("leaving").await.expect("find").is_none());
    let revoked = find(store, &mine).await.expect("the token record stays");
    assert_eq!(revoked.revoked_at, Some(NOW + 5));
    assert_eq!(find(store, &theirs).await.expect("kept").revoked_at, None);
    assert!(
        !store
            .delete_client("leaving", NOW + 6)
            .await
            .expect("delete")
    );
}

fn record_of_other() -> (String, TokenRecord) {
    record(TokenKind::Access, Id::random(), "staying")
}

async fn clients<S: ClientStore>(store: &S) {
    assert!(store.find_client("nobody").await.expect("find").is_none());
    let client = Client::confidential("c1", "c1-secret-kR8vN2qX5tLw9ZpB3mYc7HdF")
        .with_auth_method(ClientAuthMethod::ClientSecretPost)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("a b".parse().expect("scope"))
        .with_introspect_any_token(true)
        .with_allowed_cors_origins(["https://app.example"])
        .build()
        .expect("a valid client");
    store.save_client(&client).await.expect("save");
    assert_eq!(store.find_client("c1").await.expect("find"), Some(client));
    // Saving again replaces (upsert).
    let public = Client::public("c1").build().expect("a valid client");
    store.save_client(&public).await.expect("save");
    assert_eq!(store.find_client("c1").await.expect("find"), Some(public));
}

async fn insert_and_find<S: TokenStore>(store: &S) {
    let grant = Id::random();
    let (access, access_record) = record(TokenKind::Access, grant, "c1");
    let (refresh, refresh_record) = record(TokenKind::Refresh, grant, "c1");
    store
        .insert_tokens(&[access_record.clone(), refresh_record.clone()])
        .await
        .expect("insert");
    assert_eq!(find(store, &access).await, Some(access_record));
    // The hint never filters.
    let found = store
        .find_token(&TokenHash::of(&refresh), Some(TokenKind::Access))
        .await
        .expect("find");
    assert_eq!(found, Some(refresh_record));
    assert_eq!(find(store, "never-issued").await, None);
}

async fn revoke_token<S: TokenStore>(store: &S) {
    let grant = Id::random();
    let (access, a) = record(TokenKind::Access, grant, "c1");
    let (refresh, r) = record(TokenKind::Refresh, grant, "c1");
    store.insert_tokens(&[a, r]).await.expect("insert");
    assert!(
        store
            .revoke_token(&TokenHash::of(&access), NOW + 1)
            .await
            .expect("revoke")
    );
    // Revoking again keeps the first time.
    assert!(
        store
            .revoke_token(&TokenHash::of(&access), NOW + 9)
            .await
            .expect("revoke")
    );
    assert_eq!(
        find(store, &access).await.expect("found").revoked_at,
        Some(NOW + 1)
    );
    assert_eq!(find(store, &refresh).await.expect("found").revoked_at, None);
    assert!(
        !store
            .revoke_token(&TokenHash::of("unknown"), NOW)
            .await
            .expect("revoke")
    );
}

async fn revoke_grant<S: TokenStore>(store: &S) {
    let grant = Id::random();
    let (a1, r1) = record(TokenKind::Access, grant, "c1");
    let (a2, r2) = record(TokenKind::Refresh, grant, "c1");
    let (other, r3) = record(TokenKind::Access, Id::random(), "c1");
    store.insert_tokens(&[r1, r2, r3]).await.expect("insert");
    assert_eq!(
        store.revoke_grant(&grant, NOW + 5).await.expect("revoke"),
        2
    );
    assert_eq!(
        store.revoke_grant(&grant, NOW + 6).await.expect("revoke"),
        0
    );
    for value in [&a1, &a2] {
        assert_eq!(
            find(store, value).await.expect("found").revoked_at,
            Some(NOW + 5)
        );
    }
    assert_eq!(find(store, &other).await.expect("found").revoked_at, None);
}

async fn rotation<S: TokenStore>(store: &S) {
    let grant = Id::random();
    let (access, a) = record(TokenKind::Access, grant, "c1");
    let (refresh, r) = record(TokenKind::Refresh, grant, "c1");
    store.insert_tokens(&[a, r]).await.expect("insert");
    let (new_access, na) = record(TokenKind::Access, grant, "c1");
    let (new_refresh, nr) = record(TokenKind::Refresh, grant, "c1");
    let outcome = store
        .rotate_refresh_token(&TokenHash::of(&refresh), NOW + 10, &[na, nr])
        .await
        .expect("rotate");
    assert!(matches!(outcome, Rotation::Rotated(_)), "{outcome:?}");
    assert_eq!(
        find(store, &refresh).await.expect("found").rotated_at,
        Some(NOW + 10)
    );
    assert!(find(store, &new_refresh).await.is_some());

    // Replaying the rotated token revokes the whole grant and stores nothing.
    let (unused, spare) = record(TokenKind::Refresh, grant, "c1");
    let outcome = store
        .rotate_refresh_token(&TokenHash::of(&refresh), NOW + 20, &[spare])
        .await
        .expect("rotate");
    assert!(matches!(outcome, Rotation::Reused(_)), "{outcome:?}");
    assert!(find(store, &unused).await.is_none());
    for value in [&access, &new_access, &new_refresh] {
        assert!(
            find(store, value)
                .await
                .expect("found")
                .revoked_at
                .is_some()
        );
    }

    // Access tokens, unknown, expired and revoked tokens do not rotate.
    let (access2, a2) = record(TokenKind::Access, Id::random(), "c1");
    let (expired, mut e) = record(TokenKind::Refresh, Id::random(), "c1");
    e.expires_at = NOW;
    store.insert_tokens(&[a2, e]).await.expect("insert");
    for value in [
        access2.as_str(),
        expired.as_str(),
        "unknown",
        new_refresh.as_str(),
    ] {
        let outcome = store
            .rotate_refresh_token(&TokenHash::of(value), NOW + 30, &[])
            .await
            .expect("rotate");
        assert_eq!(outcome, Rotation::Invalid, "{value}");
    }
}

async fn purge<S: TokenStore>(store: &S) {
    let (old, mut o) = record(TokenKind::Access, Id::random(), "c9");
    o.expires_at = 10;
    let (young, y) = record(TokenKind::Access, Id::random(), "c9");
    store.insert_tokens(&[o, y]).await.expect("insert");
    let purged = store.purge_expired(NOW, 1_000).await.expect("purge");
    assert!(purged >= 1);
    assert!(find(store, &old).await.is_none());
    assert!(find(store, &young).await.is_some());
    assert_eq!(store.purge_expired(NOW, 1_000).await.expect("purge"), 0);
}
