//! The store contract as a test kit (feature `test-kit`): check your own [`ClientStore`] and
//! [`TokenStore`] (and [`AuthorizationStore`](crate::store::AuthorizationStore)) against what
//! the endpoints rely on, as the built-in stores are checked.
//!
//! Each function runs a set of clauses and panics, naming the clause, at the first one the
//! store breaks. Call them from your tests, on a store that starts empty:
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() {
//! use oauth_endpoints::test_kit;
//! use oauth_endpoints::store::MemoryStore;
//!
//! // In a test of yours: `#[tokio::test(flavor = "multi_thread")]`, and your store.
//! let store = MemoryStore::new();
//! test_kit::store_contract(&store).await;
//! // Two handles on one store: two clones, or two instances on one database.
//! test_kit::token_store_races(&store, &store.clone(), 3).await;
//! # }
//! ```
//!
//! The race checks spawn Tokio tasks: run them in a multi-threaded Tokio runtime.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)] // A panic is a failed clause.

mod authorizations;

pub use authorizations::{
    authorization_record, authorization_store_contract, authorization_store_races,
};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::client::{Client, PreviousSecret};
use crate::client_auth::ClientAuthMethod;
use crate::clock::UnixTime;
use crate::keys::{SigningAlgorithm, SigningKey};
use crate::scope::Scope;
use crate::secret::{Id, SecretHash, TokenHash, generate_secret};
use crate::store::{ClientStore, Rotation, StoreError, TokenStore};
use crate::token::{AccessTokenFormat, Actor, Delegation, Jkt, TokenKind, TokenRecord};

/// The time the contract's records are issued at (seconds since the Unix epoch); they expire
/// an hour later.
pub const NOW: UnixTime = 1_700_000_000;

/// A record for a fresh random token value of `kind` in `grant`, issued to `client` at
/// [`NOW`] for an hour: the value and its record.
pub fn record(kind: TokenKind, grant: Id, client: &str) -> (String, TokenRecord) {
    let value = generate_secret();
    let record = TokenRecord {
        id: Id::random(),
        hash: TokenHash::of(&value),
        kind,
        client_id: Arc::from(client),
        scope: "read write".parse::<Scope>().expect("a valid scope"),
        subject: Some(Arc::from("alice")),
        audience: Arc::from(vec!["rs-1".to_owned(), "rs-2".to_owned()]),
        grant_id: grant,
        issued_at: NOW,
        expires_at: NOW + 3600,
        not_before: None,
        revoked_at: None,
        rotated_at: None,
        confirmation: None,
        delegation: None,
    };
    (value, record)
}

/// The key the contract's bound records are bound to (DPoP, RFC 9449 §6): RFC 7638 §3.1's
/// example thumbprint, `NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs`.
pub const JKT: Jkt = Jkt::from_bytes([
    0x37, 0x36, 0xcb, 0xb1, 0x78, 0x7c, 0xb8, 0x30, 0x9c, 0x77, 0xee, 0x8c, 0x37, 0x05, 0xc5, 0xe1,
    0x6f, 0xfb, 0x9e, 0x85, 0x97, 0x15, 0x90, 0x1f, 0x1e, 0x4c, 0x59, 0xb1, 0x11, 0x82, 0xf5, 0x7b,
]);

/// As [`record`], for a token bound to the key [`JKT`]: its
/// [`confirmation`](TokenRecord::confirmation) is set. The contract stores bound and bearer
/// records side by side and compares them whole, so a store that loses the binding (or gives
/// a bearer token one) breaks it.
pub fn bound_record(kind: TokenKind, grant: Id, client: &str) -> (String, TokenRecord) {
    let (value, mut record) = record(kind, grant, client);
    record.confirmation = Some(JKT);
    (value, record)
}

/// The delegation the contract's delegated records carry (token exchange, RFC 8693): an `act`
/// chain of two parties, each with the issuer its `sub` is relative to (§4.1), a `may_act`
/// party (§4.4), and the mark of an exchanged token.
pub fn delegation() -> Delegation {
    Delegation {
        act: Some(
            Actor::new("svc-b")
                .issued_by("https://idp.example")
                .acting_after(Actor::new("svc-a").issued_by("https://partner.example")),
        ),
        may_act: Some(Actor::new("svc-c").issued_by("https://idp.example")),
        exchanged: true,
    }
}

/// As [`record`], for a token obtained by one party for another: its
/// [`delegation`](TokenRecord::delegation) is [`delegation()`]. The contract compares such
/// records whole, so a store that loses the delegation (or a party of its chain) breaks it.
pub fn delegated_record(kind: TokenKind, grant: Id, client: &str) -> (String, TokenRecord) {
    let (value, mut record) = record(kind, grant, client);
    record.delegation = Some(Arc::new(delegation()));
    (value, record)
}

/// Every clause of [`client_store_contract`] and [`token_store_contract`], on a store that
/// starts empty.
pub async fn store_contract<S: ClientStore + TokenStore>(store: &S) {
    client_store_contract(store).await;
    delete_client(store).await;
    token_store_contract(store).await;
}

/// [`ClientStore::delete_client`]: the client is gone, every token issued to it is revoked at
/// `now` (and its grants with them), other clients' tokens are untouched; deleting again
/// answers `false`.
async fn delete_client<S: ClientStore + TokenStore>(store: &S) {
    let client = Client::public("leaving-client")
        .build()
        .expect("a valid client");
    ok(
        store.save_client(&client).await,
        "client store: save_client",
    );
    let grant = Id::random();
    let (mine, record_of_mine) = record(TokenKind::Refresh, grant, "leaving-client");
    let (theirs, record_of_theirs) = record(TokenKind::Access, Id::random(), "staying-client");
    ok(
        store
            .insert_tokens(&[record_of_mine, record_of_theirs])
            .await,
        "token store: insert_tokens",
    );
    let existed = ok(
        store.delete_client("leaving-client", NOW + 5).await,
        "client store: delete_client",
    );
    assert!(
        existed,
        "client store: delete_client of a saved client must answer true"
    );
    let found = ok(
        store.find_client("leaving-client").await,
        "client store: find_client",
    );
    assert!(
        found.is_none(),
        "client store: a deleted client must not be found"
    );
    revoked_alone(
        store,
        "client store: delete_client",
        &[&mine],
        NOW + 5,
        &theirs,
        (grant, "leaving-client"),
    )
    .await;
    let again = ok(
        store.delete_client("leaving-client", NOW + 6).await,
        "client store: delete_client",
    );
    assert!(
        !again,
        "client store: deleting an unknown client must answer false"
    );
}

/// [`ClientStore`]: an unknown client is `None`; a saved client is found as saved, every
/// field kept (its `jwks`, access token format, and allowed and served resources too); saving
/// a client with a known id replaces it, every field; a `private_key_jwt` client (no secret,
/// its public keys) survives the round trip.
pub async fn client_store_contract<S: ClientStore>(store: &S) {
    let found = store.find_client("nobody").await;
    assert!(
        matches!(found, Ok(None)),
        "client store: an unknown client must be Ok(None), got {found:?}"
    );
    let client = Client::confidential("contract-client", &generate_secret())
        .with_auth_method(ClientAuthMethod::ClientSecretPost)
        .with_grant_types(["client_credentials", "refresh_token"])
        .with_scope("a b".parse().expect("a valid scope"))
        .with_introspect_any_token(true)
        .with_allowed_cors_origins(["https://app.example"])
        .with_redirect_uris(["https://app.example/callback", "http://127.0.0.1/callback"])
        .with_require_pushed_authorization_requests(true)
        .with_dpop_bound_access_tokens(true)
        .with_jwks(public_jwks())
        .with_access_token_format(AccessTokenFormat::Jwt)
        .with_allowed_resources(["https://api.example/", "billing"])
        .with_served_resources(["https://app.example/api"])
        .build()
        .expect("a valid client");
    assert_eq!(
        saved_and_found(store, &client).await,
        Some(client.clone()),
        "client store: a saved client must be found with every field as saved (its allowed and \
         served resources too)"
    );
    // An update of a stored client (a new secret, as `Clients::rotate_secret` saves it) keeps
    // every other field.
    let rotated = client
        .to_builder()
        .with_secret(&generate_secret())
        .with_previous_secret(client.secret_hash().map(|&hash| PreviousSecret {
            hash,
            until: NOW + 60,
        }))
        .build()
        .expect("a valid client");
    assert_eq!(
        saved_and_found(store, &rotated).await,
        Some(rotated),
        "client store: saving a client with a known id must replace it with every field as \
         saved"
    );
    let public = Client::public("contract-client")
        .build()
        .expect("a valid client");
    assert_eq!(
        saved_and_found(store, &public).await,
        Some(public.clone()),
        "client store: saving a client with a known id must replace it"
    );

    // insert_client creates, and never replaces.
    let taken = Client::confidential("contract-client", &generate_secret())
        .build()
        .expect("a valid client");
    let inserted = ok(
        store.insert_client(&taken).await,
        "client store: insert_client",
    );
    assert!(
        !inserted,
        "client store: insert_client of a taken id must answer false"
    );
    let found = ok(
        store.find_client("contract-client").await,
        "client store: find_client",
    );
    assert_eq!(
        found,
        Some(public),
        "client store: insert_client of a taken id must change nothing"
    );

    // A rotated secret kept for an overlap survives the round trip.
    let rotated = Client::confidential("contract-rotated", &generate_secret())
        .with_previous_secret(Some(PreviousSecret {
            hash: SecretHash::of("the old secret"),
            until: NOW + 60,
        }))
        .build()
        .expect("a valid client");
    let inserted = ok(
        store.insert_client(&rotated).await,
        "client store: insert_client",
    );
    assert!(
        inserted,
        "client store: insert_client of a new id must answer true"
    );
    let found = ok(
        store.find_client("contract-rotated").await,
        "client store: find_client",
    );
    assert_eq!(
        found,
        Some(rotated),
        "client store: a client's previous secret and its end must be kept"
    );

    // Pages, by client_id, after the last id of the previous page.
    let first = ok(
        store.list_clients(None, 1).await,
        "client store: list_clients",
    );
    let ids: Vec<&str> = first.iter().map(Client::client_id).collect();
    assert_eq!(
        ids,
        ["contract-client"],
        "client store: list_clients pages by client_id"
    );
    let second = ok(
        store.list_clients(Some("contract-client"), 10).await,
        "client store: list_clients",
    );
    let ids: Vec<&str> = second.iter().map(Client::client_id).collect();
    assert_eq!(
        ids,
        ["contract-rotated"],
        "client store: list_clients must start after `after`"
    );
    let end = ok(
        store.list_clients(Some("contract-rotated"), 10).await,
        "client store: list_clients",
    );
    assert!(
        end.is_empty(),
        "client store: the page after the last client is empty"
    );

    // A client that signs in with a key: no secret, its keys, an opaque format of its own.
    let signed = Client::private_key_jwt("contract-signed", public_jwks())
        .with_access_token_format(AccessTokenFormat::Opaque)
        .with_introspect_any_token(true)
        .build()
        .expect("a valid client");
    let inserted = ok(
        store.insert_client(&signed).await,
        "client store: insert_client",
    );
    assert!(
        inserted,
        "client store: insert_client of a new id must answer true"
    );
    let found = ok(
        store.find_client("contract-signed").await,
        "client store: find_client",
    );
    assert_eq!(
        found,
        Some(signed),
        "client store: a private_key_jwt client's jwks and access token format must be kept"
    );
}

/// A JWK Set of two fresh public keys (Ed25519 and P-256), as JSON text.
fn public_jwks() -> String {
    let keys: Vec<serde_json::Value> = [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256]
        .into_iter()
        .map(|algorithm| {
            let key = SigningKey::generate(algorithm).expect("a key");
            serde_json::to_value(key.public_jwk()).expect("a JWK")
        })
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}

/// Asserts that the tokens `revoked` are revoked at `at` and `kept` is not, and that `grant`
/// (of `client`) takes no more tokens: what revoking a holder's grants leaves behind.
async fn revoked_alone<S: TokenStore>(
    store: &S,
    clause: &str,
    revoked: &[&str],
    at: UnixTime,
    kept: &str,
    (grant, client): (Id, &str),
) {
    for value in revoked {
        let found = find_some(store, value, clause).await;
        assert_eq!(
            found.revoked_at,
            Some(at),
            "{clause} must revoke every token of the holder at `now`"
        );
    }
    let found = find_some(store, kept, clause).await;
    assert_eq!(
        found.revoked_at, None,
        "{clause} must leave other tokens alone"
    );
    let (_, late) = record(TokenKind::Access, grant, client);
    assert!(
        matches!(
            store.insert_tokens(&[late]).await,
            Err(StoreError::GrantRevoked)
        ),
        "{clause} must revoke the holder's grants: they take no more tokens"
    );
}

/// [`TokenStore::revoke_client_tokens`] and [`TokenStore::revoke_subject_tokens`]: every grant
/// holding a live token of the client (subject) is revoked, and takes no more tokens; other
/// tokens are untouched.
async fn revoke_by_holder<S: TokenStore>(store: &S) {
    let grant = Id::random();
    let (refresh, refresh_record) = record(TokenKind::Refresh, grant, "revoked-client");
    let (access, mut access_record) = record(TokenKind::Access, grant, "revoked-client");
    access_record.subject = None;
    let (other, other_record) = record(TokenKind::Access, Id::random(), "kept-client");
    ok(
        store
            .insert_tokens(&[refresh_record, access_record, other_record])
            .await,
        "insert_tokens",
    );
    let changed = ok(
        store.revoke_client_tokens("revoked-client", NOW + 7).await,
        "revoke_client_tokens",
    );
    assert_eq!(
        changed, 2,
        "revoke_client_tokens must answer how many tokens changed"
    );
    revoked_alone(
        store,
        "revoke_client_tokens",
        &[&refresh, &access],
        NOW + 7,
        &other,
        (grant, "revoked-client"),
    )
    .await;

    let signed_in = Id::random();
    let (bobs, mut bobs_record) = record(TokenKind::Refresh, signed_in, "app-client");
    bobs_record.subject = Some(Arc::from("bob"));
    let (alices, alices_record) = record(TokenKind::Refresh, Id::random(), "app-client");
    ok(
        store.insert_tokens(&[bobs_record, alices_record]).await,
        "insert_tokens",
    );
    let changed = ok(
        store.revoke_subject_tokens("bob", NOW + 8).await,
        "revoke_subject_tokens",
    );
    assert_eq!(
        changed, 1,
        "revoke_subject_tokens must answer how many tokens changed"
    );
    let found = find_some(store, &bobs, "revoke_subject_tokens").await;
    assert_eq!(
        found.revoked_at,
        Some(NOW + 8),
        "revoke_subject_tokens must revoke the subject's tokens at `now`"
    );
    let kept = find_some(store, &alices, "revoke_subject_tokens").await;
    assert_eq!(
        kept.revoked_at, None,
        "revoke_subject_tokens must leave other subjects alone"
    );
    let nobody = ok(
        store.revoke_subject_tokens("nobody", NOW + 9).await,
        "revoke_subject_tokens",
    );
    assert_eq!(
        nobody, 0,
        "revoke_subject_tokens of an unknown subject changes nothing"
    );
}

/// [`TokenStore`], one call at a time: inserting and finding, revoking a token and a grant,
/// rotation and reuse detection with the exact records they return, the grace window (a lost
/// answer redeemed, the successor replaced, reuse once the window passed or the successor was
/// used, the window ended by a grant revocation), the grant rules (nothing stored into or
/// rotated within a revoked grant), and purging.
pub async fn token_store_contract<S: TokenStore>(store: &S) {
    insert_and_find(store).await;
    revoke_token(store).await;
    revoke_grant(store).await;
    rotation(store).await;
    reuse(store).await;
    grace_lost_response(store).await;
    grace_successor_used(store).await;
    grace_ended_by_revocation(store).await;
    rotation_refusals(store).await;
    revoked_grants_take_no_tokens(store).await;
    revocation_and_rotation_in_either_order(store).await;
    purge(store).await;
    revoke_by_holder(store).await;
}

/// Saves `client`, then finds it again by its id.
async fn saved_and_found<S: ClientStore>(store: &S, client: &Client) -> Option<Client> {
    ok(store.save_client(client).await, "client store: save_client");
    ok(
        store.find_client(client.client_id()).await,
        "client store: find_client",
    )
}

#[track_caller]
fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what}: {}", error.report()),
    }
}

async fn find<S: TokenStore>(store: &S, value: &str) -> Option<TokenRecord> {
    ok(
        store.find_token(&TokenHash::of(value), None).await,
        "find_token",
    )
}

async fn find_some<S: TokenStore>(store: &S, value: &str, clause: &str) -> TokenRecord {
    find(store, value)
        .await
        .unwrap_or_else(|| panic!("{clause}: a stored token was not found"))
}

async fn insert_and_find<S: TokenStore>(store: &S) {
    let clause = "insert_tokens then find_token";
    let grant = Id::random();
    // One bound to a key, one bearer token, one obtained by one party for another: all kept
    // as they are.
    let (access, access_record) = bound_record(TokenKind::Access, grant, "c1");
    let (refresh, refresh_record) = record(TokenKind::Refresh, grant, "c1");
    let (delegated, delegated_record) = delegated_record(TokenKind::Access, grant, "c1");
    ok(
        store
            .insert_tokens(&[
                access_record.clone(),
                refresh_record.clone(),
                delegated_record.clone(),
            ])
            .await,
        clause,
    );
    assert_eq!(
        find(store, &access).await,
        Some(access_record),
        "{clause}: a stored record must be found with every field as stored (its confirmation \
         `cnf.jkt` too)"
    );
    assert_eq!(
        find(store, &delegated).await,
        Some(delegated_record),
        "{clause}: a stored record must be found with every field as stored (its delegation, \
         `act` and `may_act`, too)"
    );
    let found = ok(
        store
            .find_token(&TokenHash::of(&refresh), Some(TokenKind::Access))
            .await,
        clause,
    );
    assert_eq!(
        found,
        Some(refresh_record),
        "{clause}: the hint must never filter (RFC 7009 §2.1)"
    );
    assert_eq!(
        find(store, "never-issued").await,
        None,
        "{clause}: an unknown token must be None"
    );
}

async fn revoke_token<S: TokenStore>(store: &S) {
    let clause = "revoke_token";
    let grant = Id::random();
    let (access, a) = record(TokenKind::Access, grant, "c1");
    let (refresh, r) = record(TokenKind::Refresh, grant, "c1");
    ok(store.insert_tokens(&[a, r]).await, clause);
    let hash = TokenHash::of(&access);
    assert!(
        ok(store.revoke_token(&hash, NOW + 1).await, clause),
        "{clause}: must return true for a stored token"
    );
    assert!(
        ok(store.revoke_token(&hash, NOW + 9).await, clause),
        "{clause}: must return true for a token revoked before"
    );
    assert_eq!(
        find_some(store, &access, clause).await.revoked_at,
        Some(NOW + 1),
        "{clause}: revoking again must keep the first revocation time"
    );
    assert_eq!(
        find_some(store, &refresh, clause).await.revoked_at,
        None,
        "{clause}: must not revoke other tokens of the grant"
    );
    assert!(
        !ok(
            store.revoke_token(&TokenHash::of("unknown"), NOW).await,
            clause
        ),
        "{clause}: must return false for an unknown token"
    );
}

async fn revoke_grant<S: TokenStore>(store: &S) {
    let clause = "revoke_grant";
    let grant = Id::random();
    let (a1, r1) = record(TokenKind::Access, grant, "c1");
    let (a2, r2) = record(TokenKind::Refresh, grant, "c1");
    let (other, r3) = record(TokenKind::Access, Id::random(), "c1");
    ok(store.insert_tokens(&[r1, r2, r3]).await, clause);
    assert_eq!(
        ok(store.revoke_grant(&grant, NOW + 5).await, clause),
        2,
        "{clause}: must return how many tokens it revoked"
    );
    assert_eq!(
        ok(store.revoke_grant(&grant, NOW + 6).await, clause),
        0,
        "{clause}: revoking a revoked grant again must change nothing and return 0"
    );
    for value in [&a1, &a2] {
        assert_eq!(
            find_some(store, value, clause).await.revoked_at,
            Some(NOW + 5),
            "{clause}: every token of the grant must be revoked at the first revocation's time"
        );
    }
    assert_eq!(
        find_some(store, &other, clause).await.revoked_at,
        None,
        "{clause}: must not touch another grant"
    );
    assert_eq!(
        ok(store.revoke_grant(&Id::random(), NOW).await, clause),
        0,
        "{clause}: an unknown grant has no token to revoke"
    );
}

/// A grant with an access and a refresh token, both bound to [`JKT`]: the values.
async fn new_grant<S: TokenStore>(store: &S, grant: Id, clause: &str) -> (String, String) {
    let (access, a) = bound_record(TokenKind::Access, grant, "c1");
    let (refresh, r) = bound_record(TokenKind::Refresh, grant, "c1");
    ok(store.insert_tokens(&[a, r]).await, clause);
    (access, refresh)
}

async fn rotation<S: TokenStore>(store: &S) {
    let clause = "rotate_refresh_token of an active refresh token";
    let grant = Id::random();
    let (_, refresh) = new_grant(store, grant, clause).await;
    // The replacements of a bound refresh token are bound to its key (RFC 9449 §5); one
    // records a delegation, kept as given too.
    let (new_access, na) = bound_record(TokenKind::Access, grant, "c1");
    let (new_refresh, mut nr) = bound_record(TokenKind::Refresh, grant, "c1");
    nr.delegation = Some(Arc::new(delegation()));
    let outcome = ok(
        store
            .rotate_refresh_token(
                &TokenHash::of(&refresh),
                NOW + 10,
                &[na.clone(), nr.clone()],
                Duration::ZERO,
            )
            .await,
        clause,
    );
    let Rotation::Rotated(rotated) = outcome else {
        panic!("{clause}: must answer Rotated, got {outcome:?}");
    };
    let stored = find_some(store, &refresh, clause).await;
    assert_eq!(
        stored.rotated_at,
        Some(NOW + 10),
        "{clause}: the token must be marked rotated at `now`"
    );
    assert_eq!(
        rotated, stored,
        "{clause}: Rotated must carry the token's record after the rotation (as find_token \
         answers next), not before"
    );
    assert_eq!(
        stored.revoked_at, None,
        "{clause}: must not revoke the token"
    );
    assert_eq!(
        stored.confirmation,
        Some(JKT),
        "{clause}: the token keeps its binding"
    );
    assert_eq!(
        find(store, &new_access).await,
        Some(na),
        "{clause}: the replacements must be stored as given"
    );
    assert_eq!(
        find(store, &new_refresh).await,
        Some(nr),
        "{clause}: the replacements must be stored as given"
    );
}

async fn reuse<S: TokenStore>(store: &S) {
    let clause = "rotate_refresh_token of a rotated refresh token (reuse, RFC 9700 §4.14.2)";
    let grant = Id::random();
    let (access, refresh) = new_grant(store, grant, clause).await;
    let (new_access, na) = record(TokenKind::Access, grant, "c1");
    let (new_refresh, nr) = record(TokenKind::Refresh, grant, "c1");
    let hash = TokenHash::of(&refresh);
    let first = ok(
        store
            .rotate_refresh_token(&hash, NOW + 10, &[na, nr], Duration::ZERO)
            .await,
        clause,
    );
    assert!(
        matches!(first, Rotation::Rotated(_)),
        "{clause}: the first exchange must answer Rotated, got {first:?}"
    );
    let (unused, spare) = record(TokenKind::Refresh, grant, "c1");
    let outcome = ok(
        store
            .rotate_refresh_token(&hash, NOW + 20, &[spare], Duration::ZERO)
            .await,
        clause,
    );
    let Rotation::Reused(replayed) = outcome else {
        panic!("{clause}: must answer Reused, got {outcome:?}");
    };
    let stored = find_some(store, &refresh, clause).await;
    assert_eq!(
        replayed, stored,
        "{clause}: Reused must carry the token's record after the grant's revocation (as \
         find_token answers next)"
    );
    assert_eq!(
        (stored.rotated_at, stored.revoked_at),
        (Some(NOW + 10), Some(NOW + 20)),
        "{clause}: the token keeps its rotation time and is revoked at `now`"
    );
    assert_eq!(
        find(store, &unused).await,
        None,
        "{clause}: the replacements must not be stored"
    );
    for value in [&access, &new_access, &new_refresh] {
        assert!(
            find_some(store, value, clause).await.revoked_at.is_some(),
            "{clause}: every token of the grant must be revoked, the successors included"
        );
    }
    let again = ok(
        store
            .rotate_refresh_token(&hash, NOW + 30, &[], Duration::ZERO)
            .await,
        clause,
    );
    assert!(
        matches!(again, Rotation::Reused(_)),
        "{clause}: a rotated token presented again is still reuse, got {again:?}"
    );
    let (_, late) = record(TokenKind::Access, grant, "c1");
    let refused = store.insert_tokens(&[late]).await;
    assert!(
        matches!(refused, Err(StoreError::GrantRevoked)),
        "{clause}: the grant is revoked: inserting into it must fail with GrantRevoked, got \
         {refused:?}"
    );
}

/// The grace window the grace clauses use.
const GRACE: Duration = Duration::from_secs(10);

/// The refresh tokens among `values` that are active at `now`.
async fn live_refresh_tokens<S: TokenStore>(
    store: &S,
    values: &[&String],
    now: UnixTime,
) -> Vec<String> {
    let mut live = Vec::new();
    for value in values {
        if let Some(record) = find(store, value).await
            && record.kind == TokenKind::Refresh
            && record.is_active(now)
        {
            live.push((*value).clone());
        }
    }
    live
}

async fn grace_lost_response<S: TokenStore>(store: &S) {
    let clause = "grace window: a rotated token presented again while its successor is unused";
    let grant = Id::random();
    let (access, refresh) = new_grant(store, grant, clause).await;
    let hash = TokenHash::of(&refresh);
    let (lost_access, la) = bound_record(TokenKind::Access, grant, "c1");
    let (lost_refresh, lr) = bound_record(TokenKind::Refresh, grant, "c1");
    let first = ok(
        store
            .rotate_refresh_token(&hash, NOW + 10, &[la, lr], GRACE)
            .await,
        clause,
    );
    assert!(
        matches!(first, Rotation::Rotated(_)),
        "{clause}: the first exchange must answer Rotated, got {first:?}"
    );
    // The answer was lost: the client presents the same token again, within the window.
    let (again_access, aa) = bound_record(TokenKind::Access, grant, "c1");
    let (again_refresh, ar) = bound_record(TokenKind::Refresh, grant, "c1");
    let outcome = ok(
        store
            .rotate_refresh_token(&hash, NOW + 15, &[aa.clone(), ar.clone()], GRACE)
            .await,
        clause,
    );
    let Rotation::Reissued {
        presented,
        superseded,
    } = outcome
    else {
        panic!("{clause}: must answer Reissued, got {outcome:?}");
    };
    assert_eq!(
        presented,
        find_some(store, &refresh, clause).await,
        "{clause}: Reissued must carry the presented token's record as stored"
    );
    assert_eq!(
        (presented.rotated_at, presented.revoked_at),
        (Some(NOW + 10), None),
        "{clause}: the presented token keeps its first rotation time (the window is not \
         extended) and is not revoked"
    );
    assert_eq!(
        superseded,
        find_some(store, &lost_refresh, clause).await,
        "{clause}: Reissued must carry the superseded successor's record as stored"
    );
    assert_eq!(
        superseded.revoked_at,
        Some(NOW + 15),
        "{clause}: the unused successor must be revoked at `now`"
    );
    assert_eq!(
        (
            find(store, &again_access).await,
            find(store, &again_refresh).await
        ),
        (Some(aa), Some(ar)),
        "{clause}: the replacements must be stored as given"
    );
    for value in [&access, &lost_access] {
        assert_eq!(
            find_some(store, value, clause).await.revoked_at,
            None,
            "{clause}: access tokens of the grant stay active"
        );
    }
    let all = [&refresh, &lost_refresh, &again_refresh];
    assert_eq!(
        live_refresh_tokens(store, &all, NOW + 15).await,
        vec![again_refresh.clone()],
        "{clause}: the grant must have exactly one live refresh token, the new one"
    );
    // A second redemption within the window replaces the successor the first one stored.
    let (third_refresh, tr) = record(TokenKind::Refresh, grant, "c1");
    let outcome = ok(
        store
            .rotate_refresh_token(&hash, NOW + 19, &[tr], GRACE)
            .await,
        clause,
    );
    assert!(
        matches!(&outcome, Rotation::Reissued { superseded, .. } if superseded.hash == TokenHash::of(&again_refresh)),
        "{clause}: a second redemption must replace the latest successor, got {outcome:?}"
    );
    let all = [&refresh, &lost_refresh, &again_refresh, &third_refresh];
    assert_eq!(
        live_refresh_tokens(store, &all, NOW + 19).await,
        vec![third_refresh.clone()],
        "{clause}: still exactly one live refresh token"
    );
    // A superseded successor is merely revoked: presenting it changes nothing.
    let (spare, s) = record(TokenKind::Refresh, grant, "c1");
    let outcome = ok(
        store
            .rotate_refresh_token(&TokenHash::of(&lost_refresh), NOW + 19, &[s], GRACE)
            .await,
        clause,
    );
    assert_eq!(
        outcome,
        Rotation::Invalid,
        "{clause}: a superseded successor must be Invalid"
    );
    assert_eq!(find(store, &spare).await, None, "{clause}: nothing stored");

    let clause = "grace window: the same token presented again after the window";
    let (late, l) = record(TokenKind::Refresh, grant, "c1");
    let outcome = ok(
        store
            .rotate_refresh_token(&hash, NOW + 20, &[l], GRACE)
            .await,
        clause,
    );
    assert!(
        matches!(outcome, Rotation::Reused(_)),
        "{clause}: must be reuse (rotated at NOW + 10, window 10 s, now NOW + 20), got \
         {outcome:?}"
    );
    assert_eq!(find(store, &late).await, None, "{clause}: nothing stored");
    for value in [&access, &lost_access, &again_access, &third_refresh] {
        assert!(
            find_some(store, value, clause).await.revoked_at.is_some(),
            "{clause}: every token of the grant must be revoked"
        );
    }
}

async fn grace_successor_used<S: TokenStore>(store: &S) {
    let clause = "grace window: a rotated token presented again after its successor was used";
    let grant = Id::random();
    let (access, refresh) = new_grant(store, grant, clause).await;
    let (next, n) = record(TokenKind::Refresh, grant, "c1");
    let (last, l) = record(TokenKind::Refresh, grant, "c1");
    for (value, replacement, at) in [(&refresh, n, NOW + 1), (&next, l, NOW + 2)] {
        let outcome = ok(
            store
                .rotate_refresh_token(&TokenHash::of(value), at, &[replacement], GRACE)
                .await,
            clause,
        );
        assert!(
            matches!(outcome, Rotation::Rotated(_)),
            "{clause}: {outcome:?}"
        );
    }
    let (spare, s) = record(TokenKind::Refresh, grant, "c1");
    let outcome = ok(
        store
            .rotate_refresh_token(&TokenHash::of(&refresh), NOW + 3, &[s], GRACE)
            .await,
        clause,
    );
    assert!(
        matches!(outcome, Rotation::Reused(_)),
        "{clause}: must be reuse even within the window, got {outcome:?}"
    );
    assert_eq!(find(store, &spare).await, None, "{clause}: nothing stored");
    for value in [&access, &next, &last] {
        assert!(
            find_some(store, value, clause).await.revoked_at.is_some(),
            "{clause}: every token of the grant must be revoked, the live one included"
        );
    }
}

async fn grace_ended_by_revocation<S: TokenStore>(store: &S) {
    let clause = "grace window: the grant revoked during the window";
    let grant = Id::random();
    let (_, refresh) = new_grant(store, grant, clause).await;
    let (next, n) = record(TokenKind::Refresh, grant, "c1");
    let hash = TokenHash::of(&refresh);
    let outcome = ok(
        store
            .rotate_refresh_token(&hash, NOW + 1, &[n], GRACE)
            .await,
        clause,
    );
    assert!(
        matches!(outcome, Rotation::Rotated(_)),
        "{clause}: {outcome:?}"
    );
    ok(store.revoke_grant(&grant, NOW + 2).await, clause);
    let (spare, s) = record(TokenKind::Refresh, grant, "c1");
    let outcome = ok(
        store
            .rotate_refresh_token(&hash, NOW + 3, &[s], GRACE)
            .await,
        clause,
    );
    assert!(
        matches!(outcome, Rotation::Reused(_) | Rotation::Invalid),
        "{clause}: the window must be over (Reused, or Invalid), got {outcome:?}"
    );
    assert_eq!(find(store, &spare).await, None, "{clause}: nothing stored");
    assert_eq!(
        find_some(store, &next, clause).await.revoked_at,
        Some(NOW + 2),
        "{clause}: the successor stays revoked"
    );
}

async fn rotation_refusals<S: TokenStore>(store: &S) {
    let clause = "rotate_refresh_token of a token that cannot rotate";
    let (access, a) = record(TokenKind::Access, Id::random(), "c1");
    let (expired, mut e) = record(TokenKind::Refresh, Id::random(), "c1");
    e.expires_at = NOW;
    let (early, mut n) = record(TokenKind::Refresh, Id::random(), "c1");
    n.not_before = Some(NOW + 1000);
    let (revoked, r) = record(TokenKind::Refresh, Id::random(), "c1");
    ok(store.insert_tokens(&[a, e, n, r]).await, clause);
    ok(
        store.revoke_token(&TokenHash::of(&revoked), NOW).await,
        clause,
    );
    for (what, value) in [
        ("an access token", access.as_str()),
        ("an expired refresh token", expired.as_str()),
        ("a refresh token not yet valid", early.as_str()),
        ("a revoked refresh token", revoked.as_str()),
        ("an unknown token", "unknown"),
    ] {
        let (spare, s) = record(TokenKind::Refresh, Id::random(), "c1");
        let outcome = ok(
            store
                .rotate_refresh_token(&TokenHash::of(value), NOW + 30, &[s], Duration::ZERO)
                .await,
            clause,
        );
        assert_eq!(
            outcome,
            Rotation::Invalid,
            "{clause}: {what} must be Invalid"
        );
        assert_eq!(
            find(store, &spare).await,
            None,
            "{clause}: {what}: nothing may be stored"
        );
        if let Some(record) = find(store, value).await {
            assert_eq!(
                record.rotated_at, None,
                "{clause}: {what}: the token must not be marked rotated"
            );
        }
    }
}

async fn revoked_grants_take_no_tokens<S: TokenStore>(store: &S) {
    let clause = "grant rules: nothing is stored into a revoked grant";
    // A revoked grant with tokens.
    let grant = Id::random();
    let (_, refresh) = new_grant(store, grant, clause).await;
    ok(store.revoke_grant(&grant, NOW + 1).await, clause);
    let (fresh, f) = record(TokenKind::Access, Id::random(), "c1");
    let (late, l) = record(TokenKind::Access, grant, "c1");
    let refused = store.insert_tokens(&[f, l]).await;
    assert!(
        matches!(refused, Err(StoreError::GrantRevoked)),
        "{clause}: insert_tokens into a revoked grant must fail with GrantRevoked, got \
         {refused:?}"
    );
    assert_eq!(
        (find(store, &late).await, find(store, &fresh).await),
        (None, None),
        "{clause}: a refused insert_tokens must store none of its records"
    );
    // A grant revoked before it had any token.
    let empty = Id::random();
    ok(store.revoke_grant(&empty, NOW + 1).await, clause);
    let (_, first) = record(TokenKind::Access, empty, "c1");
    let refused = store.insert_tokens(&[first]).await;
    assert!(
        matches!(refused, Err(StoreError::GrantRevoked)),
        "{clause}: a grant revoked before it had tokens must take none, got {refused:?}"
    );
    // A rotation whose replacements belong to a revoked grant changes nothing.
    let live = Id::random();
    let (_, live_refresh) = new_grant(store, live, clause).await;
    let (spare, s) = record(TokenKind::Refresh, grant, "c1");
    let outcome = ok(
        store
            .rotate_refresh_token(&TokenHash::of(&live_refresh), NOW + 2, &[s], Duration::ZERO)
            .await,
        clause,
    );
    assert_eq!(
        outcome,
        Rotation::Invalid,
        "{clause}: a rotation storing into a revoked grant must be Invalid"
    );
    assert_eq!(find(store, &spare).await, None, "{clause}: nothing stored");
    assert_eq!(
        find_some(store, &live_refresh, clause).await.rotated_at,
        None,
        "{clause}: a refused rotation must not mark the token rotated"
    );
    // The revoked grant's own refresh token does not rotate.
    let (spare, s) = record(TokenKind::Refresh, grant, "c1");
    let outcome = ok(
        store
            .rotate_refresh_token(&TokenHash::of(&refresh), NOW + 2, &[s], Duration::ZERO)
            .await,
        clause,
    );
    assert_eq!(
        outcome,
        Rotation::Invalid,
        "{clause}: a refresh token of a revoked grant must not rotate"
    );
    assert_eq!(find(store, &spare).await, None, "{clause}: nothing stored");
}

async fn revocation_and_rotation_in_either_order<S: TokenStore>(store: &S) {
    let clause = "grant rules: rotation, then revocation of the grant";
    let grant = Id::random();
    let (access, refresh) = new_grant(store, grant, clause).await;
    let (new_access, na) = record(TokenKind::Access, grant, "c1");
    let (new_refresh, nr) = record(TokenKind::Refresh, grant, "c1");
    let outcome = ok(
        store
            .rotate_refresh_token(&TokenHash::of(&refresh), NOW + 1, &[na, nr], Duration::ZERO)
            .await,
        clause,
    );
    assert!(
        matches!(outcome, Rotation::Rotated(_)),
        "{clause}: {outcome:?}"
    );
    // Revoked through the first, rotated, refresh token's grant.
    assert_eq!(
        ok(store.revoke_grant(&grant, NOW + 2).await, clause),
        4,
        "{clause}: the revocation must revoke the grant's four tokens, the replacements included"
    );
    for value in [&access, &refresh, &new_access, &new_refresh] {
        assert_eq!(
            find_some(store, value, clause).await.revoked_at,
            Some(NOW + 2),
            "{clause}: every token of the grant must be revoked"
        );
    }

    let clause = "grant rules: revocation of the grant, then rotation";
    let grant = Id::random();
    let (_, refresh) = new_grant(store, grant, clause).await;
    ok(store.revoke_grant(&grant, NOW + 1).await, clause);
    let (spare, s) = record(TokenKind::Refresh, grant, "c1");
    let outcome = ok(
        store
            .rotate_refresh_token(&TokenHash::of(&refresh), NOW + 2, &[s], Duration::ZERO)
            .await,
        clause,
    );
    assert_eq!(outcome, Rotation::Invalid, "{clause}: must be Invalid");
    assert_eq!(find(store, &spare).await, None, "{clause}: nothing stored");
}

async fn purge<S: TokenStore>(store: &S) {
    let clause = "purge_expired";
    let (old, mut o) = bound_record(TokenKind::Access, Id::random(), "c9");
    o.expires_at = 10;
    let (young, y) = bound_record(TokenKind::Access, Id::random(), "c9");
    let young_record = y.clone();
    ok(store.insert_tokens(&[o, y]).await, clause);
    let purged = ok(store.purge_expired(NOW, 1_000).await, clause);
    assert!(
        purged >= 1,
        "{clause}: must return how many it deleted, got {purged}"
    );
    assert_eq!(
        find(store, &old).await,
        None,
        "{clause}: an expired token must be deleted"
    );
    assert_eq!(
        find(store, &young).await,
        Some(young_record),
        "{clause}: an unexpired token must be kept, as stored"
    );
    assert_eq!(
        ok(store.purge_expired(NOW, 1_000).await, clause),
        0,
        "{clause}: nothing is left to purge"
    );
}

/// [`TokenStore`] under concurrency, through two handles on one store (two clones, or two
/// instances with connections of their own on one database), `rounds` times each:
///
/// - 8 concurrent exchanges of one refresh token, spread over both handles: no error, exactly
///   one `Rotated`, seven `Reused`, and then no active token in the grant;
/// - the same with a grace window (racing tabs): no error, one `Rotated` and seven
///   `Reissued`, every racer's tokens stored, every access token active, exactly one live
///   refresh token, and the grant still live (that token rotates);
/// - a grant revocation through `b` racing a refresh loop through `a`: once the revocation
///   returned, no token of the grant is active and no exchange succeeds;
/// - a replay of a rotated refresh token through `b` (reuse) racing a refresh loop through
///   `a`: the same.
pub async fn token_store_races<S: TokenStore + Clone>(a: &S, b: &S, rounds: usize) {
    for round in 0..rounds {
        concurrent_rotations(a, b, round).await;
        concurrent_rotations_within_grace(a, b, round).await;
        revocation_against_refresh_loop(a, b, round, false).await;
        revocation_against_refresh_loop(a, b, round, true).await;
    }
}

/// What one racer of [`race_rotations`] got, and the values of the access and refresh token it
/// offered as replacements.
type RaceOutcome = (Result<Rotation, StoreError>, [String; 2]);

/// Eight tasks, alternating between `a` and `b`, exchange `refresh` (of `grant`) at the same
/// instant, each offering replacements of its own.
fn race_rotations<S: TokenStore + Clone>(
    a: &S,
    b: &S,
    grant: Id,
    refresh: &str,
    grace: Duration,
) -> Vec<tokio::task::JoinHandle<RaceOutcome>> {
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let hash = TokenHash::of(refresh);
    (0..8)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let barrier = barrier.clone();
            let (access_value, access) = record(TokenKind::Access, grant, "c1");
            let (refresh_value, next) = record(TokenKind::Refresh, grant, "c1");
            tokio::spawn(async move {
                barrier.wait().await;
                let outcome = store
                    .rotate_refresh_token(&hash, NOW + 1, &[access, next], grace)
                    .await;
                (outcome, [access_value, refresh_value])
            })
        })
        .collect()
}

async fn concurrent_rotations<S: TokenStore + Clone>(a: &S, b: &S, round: usize) {
    let clause = format!("race, round {round}: 8 concurrent exchanges of one refresh token");
    let grant = Id::random();
    let (access, refresh) = new_grant(a, grant, &clause).await;
    let tasks = race_rotations(a, b, grant, &refresh, Duration::ZERO);
    let (mut rotated, mut reused) = (0, 0);
    let mut stored = vec![access, refresh];
    let mut unstored = Vec::new();
    for task in tasks {
        let (outcome, values) = task.await.expect("a racing task panicked");
        match outcome {
            Ok(Rotation::Rotated(_)) => {
                rotated += 1;
                stored.extend(values);
            }
            Ok(Rotation::Reused(_)) => {
                reused += 1;
                unstored.extend(values);
            }
            Ok(other @ (Rotation::Invalid | Rotation::Reissued { .. })) => {
                panic!("{clause}: without a grace window an exchange answered {other:?}")
            }
            Err(error) => panic!(
                "{clause}: an exchange failed ({}); a conflict between exchanges is the \
                 store's to resolve",
                error.report()
            ),
        }
    }
    assert_eq!(
        (rotated, reused),
        (1, 7),
        "{clause}: exactly one exchange must win, the others are replays"
    );
    for value in &stored {
        assert!(
            find_some(a, value, &clause).await.revoked_at.is_some(),
            "{clause}: the replays must revoke every token of the grant, the winner's included"
        );
    }
    for value in &unstored {
        assert_eq!(
            find(a, value).await,
            None,
            "{clause}: a replay must store nothing"
        );
    }
}

async fn concurrent_rotations_within_grace<S: TokenStore + Clone>(a: &S, b: &S, round: usize) {
    let clause = format!(
        "race, round {round}: 8 concurrent exchanges of one refresh token within a grace window"
    );
    let grant = Id::random();
    let (access, refresh) = new_grant(a, grant, &clause).await;
    let tasks = race_rotations(a, b, grant, &refresh, GRACE);
    let (mut rotated, mut reissued) = (0, 0);
    let mut accesses = vec![access];
    let mut refreshes = vec![refresh];
    for task in tasks {
        let (outcome, [access_value, refresh_value]) = task.await.expect("a racing task panicked");
        match outcome {
            Ok(Rotation::Rotated(_)) => rotated += 1,
            Ok(Rotation::Reissued { .. }) => reissued += 1,
            Ok(other) => panic!("{clause}: every racer must succeed, one answered {other:?}"),
            Err(error) => panic!(
                "{clause}: an exchange failed ({}); a conflict between exchanges is the \
                 store's to resolve",
                error.report()
            ),
        }
        accesses.push(access_value);
        refreshes.push(refresh_value);
    }
    assert_eq!(
        (rotated, reissued),
        (1, 7),
        "{clause}: one exchange rotates, the others are redeemed within the window"
    );
    for value in &accesses {
        assert_eq!(
            find_some(a, value, &clause).await.revoked_at,
            None,
            "{clause}: every racer's access token must be stored and active"
        );
    }
    let all: Vec<&String> = refreshes.iter().collect();
    let live = live_refresh_tokens(a, &all, NOW + 1).await;
    assert_eq!(
        live.len(),
        1,
        "{clause}: the grant must have exactly one live refresh token, found {}",
        live.len()
    );
    let (_, next) = record(TokenKind::Refresh, grant, "c1");
    let outcome = ok(
        b.rotate_refresh_token(&TokenHash::of(&live[0]), NOW + 2, &[next], GRACE)
            .await,
        &clause,
    );
    assert!(
        matches!(outcome, Rotation::Rotated(_)),
        "{clause}: the grant must still be live: its refresh token rotates, got {outcome:?}"
    );
}

/// Exchanges `refresh` through `store` again and again until one is refused, or until `stop`
/// is set and three more were tried. Returns the values of every token stored.
async fn refresh_loop<S: TokenStore>(
    store: S,
    grant: Id,
    mut refresh: String,
    stop: Arc<AtomicBool>,
    clause: String,
) -> Vec<String> {
    let mut stored = Vec::new();
    let mut after_stop = 0;
    loop {
        if stop.load(Ordering::Acquire) {
            if after_stop == 3 {
                return stored;
            }
            after_stop += 1;
        }
        let (access_value, access) = record(TokenKind::Access, grant, "c1");
        let (next_value, next) = record(TokenKind::Refresh, grant, "c1");
        let outcome = store
            .rotate_refresh_token(
                &TokenHash::of(&refresh),
                NOW + 1,
                &[access, next],
                Duration::ZERO,
            )
            .await;
        match outcome {
            Ok(Rotation::Rotated(_)) => {
                stored.push(access_value);
                stored.push(std::mem::replace(&mut refresh, next_value));
            }
            Ok(_) => return stored,
            Err(error) => panic!(
                "{clause}: an exchange in the refresh loop failed: {}",
                error.report()
            ),
        }
        tokio::task::yield_now().await;
    }
}

async fn revocation_against_refresh_loop<S: TokenStore + Clone>(
    a: &S,
    b: &S,
    round: usize,
    by_reuse: bool,
) {
    let clause = if by_reuse {
        format!("race, round {round}: reuse detection against a refresh loop")
    } else {
        format!("race, round {round}: grant revocation against a refresh loop")
    };
    let grant = Id::random();
    let (access, mut refresh) = new_grant(a, grant, &clause).await;
    let mut stored = vec![access, refresh.clone()];
    let stolen = refresh.clone();
    if by_reuse {
        let (access_value, na) = record(TokenKind::Access, grant, "c1");
        let (next_value, nr) = record(TokenKind::Refresh, grant, "c1");
        let first = ok(
            a.rotate_refresh_token(&TokenHash::of(&refresh), NOW + 1, &[na, nr], Duration::ZERO)
                .await,
            &clause,
        );
        assert!(matches!(first, Rotation::Rotated(_)), "{clause}: {first:?}");
        stored.extend([access_value, next_value.clone()]);
        refresh = next_value;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let refresher = tokio::spawn(refresh_loop(
        a.clone(),
        grant,
        refresh,
        stop.clone(),
        clause.clone(),
    ));
    let pause = u64::try_from(round % 7).unwrap_or(0) * 300;
    tokio::time::sleep(Duration::from_micros(pause)).await;
    if by_reuse {
        let (spare, s) = record(TokenKind::Refresh, grant, "c1");
        let replay = ok(
            b.rotate_refresh_token(&TokenHash::of(&stolen), NOW + 2, &[s], Duration::ZERO)
                .await,
            &clause,
        );
        assert!(
            matches!(replay, Rotation::Reused(_)),
            "{clause}: the replay must answer Reused, got {replay:?}"
        );
        assert_eq!(
            find(a, &spare).await,
            None,
            "{clause}: a replay stores nothing"
        );
    } else {
        ok(b.revoke_grant(&grant, NOW + 2).await, &clause);
    }
    // The revocation returned: every token stored so far must be revoked, and no exchange may
    // succeed any more.
    stop.store(true, Ordering::Release);
    let looped = refresher.await.expect("the refresh loop panicked");
    let total = looped.len();
    stored.extend(looped);
    for value in &stored {
        assert!(
            find_some(a, value, &clause).await.revoked_at.is_some(),
            "{clause}: a token of the grant is active after the revocation returned ({total} \
             tokens stored by the loop)"
        );
    }
}
