//! The [`AuthorizationStore`] contract.

use std::sync::Arc;

use crate::secret::{Id, TokenHash, generate_secret};
use crate::store::{AuthorizationKind, AuthorizationRecord, AuthorizationStore, Consumption};
use crate::test_kit::NOW;

/// A fresh record of `kind` for `client`, issued at [`NOW`], expiring 60 seconds later: its
/// secret value and its record.
pub fn authorization_record(
    kind: AuthorizationKind,
    client: &str,
) -> (String, AuthorizationRecord) {
    let value = generate_secret();
    let record = AuthorizationRecord {
        hash: TokenHash::of(&value),
        kind,
        client_id: Arc::from(client),
        grant_id: Id::time_ordered(),
        payload: Arc::from(r#"{"scope":"read","state":"<&\"'>"}"#),
        issued_at: NOW,
        expires_at: NOW + 60,
        consumed_at: None,
    };
    (value, record)
}

/// - a stored record is found by hash and kind, exactly as stored (payload included), and not
///   under the other kind;
/// - the first consumption before expiry answers `Consumed` with `consumed_at` set, the next
///   `AlreadyConsumed` with the first time kept, also after expiry; `find` then shows it used;
/// - an expired, unused record is `Unknown` and stays unused; an unknown hash is `Unknown`;
/// - a consumption under the other kind is `Unknown` and uses nothing;
/// - a purge deletes records expired before its cutoff, at most `limit`, and nothing else;
/// - `remember_once`: a new key answers `true`, the same key again `false` until its time has
///   passed (also with a later `until`), then `true` again; keys are independent; a purge
///   forgets keys whose time passed before its cutoff, at most `limit`, and no other.
pub async fn authorization_store_contract<S: AuthorizationStore>(store: &S) {
    let (_, code) = authorization_record(AuthorizationKind::Code, "c1");
    store.insert_authorization(&code).await.unwrap();
    assert_eq!(
        store
            .find_authorization(&code.hash, AuthorizationKind::Code)
            .await
            .unwrap(),
        Some(code.clone()),
        "a stored record is found as stored"
    );
    assert_eq!(
        store
            .find_authorization(&code.hash, AuthorizationKind::PushedRequest)
            .await
            .unwrap(),
        None,
        "a record is not found under the other kind"
    );
    assert_eq!(
        store
            .consume_authorization(&code.hash, AuthorizationKind::PushedRequest, NOW + 1)
            .await
            .unwrap(),
        Consumption::Unknown,
        "a consumption under the other kind finds nothing"
    );
    let used = AuthorizationRecord {
        consumed_at: Some(NOW + 1),
        ..code.clone()
    };
    assert_eq!(
        store
            .consume_authorization(&code.hash, AuthorizationKind::Code, NOW + 1)
            .await
            .unwrap(),
        Consumption::Consumed(used.clone()),
        "the first consumption uses the record"
    );
    assert_eq!(
        store
            .consume_authorization(&code.hash, AuthorizationKind::Code, NOW + 2)
            .await
            .unwrap(),
        Consumption::AlreadyConsumed(used.clone()),
        "a second consumption is a replay and keeps the first time"
    );
    assert_eq!(
        store
            .consume_authorization(&code.hash, AuthorizationKind::Code, NOW + 600)
            .await
            .unwrap(),
        Consumption::AlreadyConsumed(used.clone()),
        "a replay after expiry is still a replay"
    );
    assert_eq!(
        store
            .find_authorization(&code.hash, AuthorizationKind::Code)
            .await
            .unwrap(),
        Some(used),
        "find shows the record used"
    );

    let (_, request) = authorization_record(AuthorizationKind::PushedRequest, "c2");
    store.insert_authorization(&request).await.unwrap();
    assert_eq!(
        store
            .consume_authorization(&request.hash, AuthorizationKind::PushedRequest, NOW + 60)
            .await
            .unwrap(),
        Consumption::Unknown,
        "an expired record is not consumed"
    );
    assert_eq!(
        store
            .find_authorization(&request.hash, AuthorizationKind::PushedRequest)
            .await
            .unwrap()
            .and_then(|record| record.consumed_at),
        None,
        "an expired record stays unused"
    );
    assert_eq!(
        store
            .consume_authorization(
                &TokenHash::of(&generate_secret()),
                AuthorizationKind::Code,
                NOW
            )
            .await
            .unwrap(),
        Consumption::Unknown,
        "an unknown hash is unknown"
    );

    let (_, late) = authorization_record(AuthorizationKind::Code, "c1");
    let late = AuthorizationRecord {
        expires_at: NOW + 3600,
        ..late
    };
    store.insert_authorization(&late).await.unwrap();
    assert_eq!(
        store
            .purge_expired_authorizations(NOW + 61, 1)
            .await
            .unwrap(),
        1,
        "a purge deletes at most its limit"
    );
    assert_eq!(
        store
            .purge_expired_authorizations(NOW + 61, 100)
            .await
            .unwrap(),
        1,
        "a second purge deletes the other expired record"
    );
    assert!(
        store
            .find_authorization(&code.hash, AuthorizationKind::Code)
            .await
            .unwrap()
            .is_none()
            && store
                .find_authorization(&request.hash, AuthorizationKind::PushedRequest)
                .await
                .unwrap()
                .is_none(),
        "purged records are gone"
    );
    assert_eq!(
        store
            .find_authorization(&late.hash, AuthorizationKind::Code)
            .await
            .unwrap(),
        Some(late.clone()),
        "an unexpired record survives the purge"
    );
    assert_eq!(
        store
            .purge_expired_authorizations(NOW + 61, 100)
            .await
            .unwrap(),
        0
    );
    remember_once_contract(store).await;
}

/// The clauses of [`AuthorizationStore::remember_once`] (and of its purge).
async fn remember_once_contract<S: AuthorizationStore>(store: &S) {
    let remember =
        |key: TokenHash, until, now| async move { store.remember_once(&key, until, now).await };
    let first = TokenHash::of(&generate_secret());
    let second = TokenHash::of(&generate_secret());
    assert!(
        remember(first, NOW + 60, NOW).await.unwrap(),
        "remember_once: a new key is remembered"
    );
    assert!(
        !remember(first, NOW + 60, NOW + 1).await.unwrap(),
        "remember_once: a remembered key is refused"
    );
    assert!(
        !remember(first, NOW + 600, NOW + 59).await.unwrap(),
        "remember_once: a remembered key is refused until its time, whatever the new one"
    );
    assert!(
        remember(second, NOW + 30, NOW + 1).await.unwrap(),
        "remember_once: keys are independent"
    );
    assert!(
        remember(first, NOW + 120, NOW + 60).await.unwrap(),
        "remember_once: a key whose time has passed is remembered anew"
    );
    assert!(
        !remember(first, NOW + 120, NOW + 61).await.unwrap(),
        "remember_once: ... and then kept until its new time"
    );
    // `second` passed at NOW + 30, `first` passes at NOW + 120.
    let third = TokenHash::of(&generate_secret());
    assert!(remember(third, NOW + 40, NOW + 2).await.unwrap());
    assert_eq!(
        store
            .purge_expired_authorizations(NOW + 100, 1)
            .await
            .unwrap(),
        1,
        "remember_once: a purge forgets at most its limit of passed keys"
    );
    assert_eq!(
        store
            .purge_expired_authorizations(NOW + 100, 100)
            .await
            .unwrap(),
        1,
        "remember_once: a second purge forgets the other passed key"
    );
    assert!(
        !remember(first, NOW + 120, NOW + 101).await.unwrap(),
        "remember_once: a purge keeps a key whose time has not passed"
    );
    assert!(
        remember(second, NOW + 150, NOW + 101).await.unwrap(),
        "remember_once: a purged key is remembered anew"
    );
}

/// Eight tasks, alternating between `a` and `b` (two handles on one store, or two instances
/// on one database), consume one record at the same instant, `rounds` times: exactly one
/// answers `Consumed`, the others `AlreadyConsumed`. Then eight tasks remember one new key at
/// once ([`AuthorizationStore::remember_once`]), `rounds` times: exactly one answers `true`.
pub async fn authorization_store_races<S: AuthorizationStore + Clone>(a: &S, b: &S, rounds: usize) {
    consumption_races(a, b, rounds).await;
    remember_once_races(a, b, rounds).await;
}

/// Eight racers remember one key: exactly one wins, every round.
async fn remember_once_races<S: AuthorizationStore + Clone>(a: &S, b: &S, rounds: usize) {
    for round in 0..rounds {
        let key = TokenHash::of(&generate_secret());
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.remember_once(&key, NOW + 60, NOW + 1).await
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            if task.await.unwrap().unwrap() {
                won += 1;
            }
        }
        assert_eq!(
            won, 1,
            "round {round}: exactly one racer remembers the key (remember_once)"
        );
    }
}

/// Eight racers consume one record: exactly one wins, every round.
async fn consumption_races<S: AuthorizationStore + Clone>(a: &S, b: &S, rounds: usize) {
    for round in 0..rounds {
        let (_, record) = authorization_record(AuthorizationKind::Code, "c1");
        a.insert_authorization(&record).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let barrier = barrier.clone();
                let hash = record.hash;
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .consume_authorization(&hash, AuthorizationKind::Code, NOW + 1)
                        .await
                })
            })
            .collect();
        let mut consumed = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                Consumption::Consumed(_) => consumed += 1,
                Consumption::AlreadyConsumed(_) => {}
                Consumption::Unknown => panic!("round {round}: a racer found no record"),
            }
        }
        assert_eq!(
            consumed, 1,
            "round {round}: exactly one racer consumes the record"
        );
    }
}
