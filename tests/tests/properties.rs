//! Property tests: parsing round trips (RFC 6749 §2.3.1 Basic credentials, Appendix B forms) and
//! the store contract, as random sequences of operations checked against a simple model on the
//! memory and SQLite stores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code: a failure is a failing test.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use oauth_endpoints::client_auth::{ClientAuthMethod, parse_basic};
use oauth_endpoints::clock::UnixTime;
use oauth_endpoints::form::Form;
use oauth_endpoints::scope::Scope;
use oauth_endpoints::secret::{Id, TokenHash};
use oauth_endpoints::store::{MemoryStore, Rotation, SqliteStore, StoreError, TokenStore};
use oauth_endpoints::token::{Jkt, TokenKind, TokenRecord};
use oauth_endpoints::{AuthorizationServer, Client};
use oauth_endpoints_tests::{basic, form, post, send};
use proptest::collection::vec;
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    /// Any client id and secret in their syntax (`VSCHAR`, RFC 6749 A.1, A.2: `:`, `%`, `+`,
    /// spaces...) survive `base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
    #[test]
    fn any_client_id_and_secret_survive_the_basic_encoding(id in "[ -~]{0,40}", secret in "[ -~]{0,64}") {
        let header = basic(&id, &secret);
        let credentials = parse_basic(header.as_bytes()).unwrap();
        prop_assert_eq!(credentials.client_id, id);
        prop_assert_eq!(credentials.client_secret, secret);
    }

    /// The same with ids and secrets made of the characters the encoding is about.
    #[test]
    fn reserved_characters_survive_the_basic_encoding(
        id in "[:%+ =&a-z]{0,16}",
        secret in "[:%+ =&a-z]{0,16}",
    ) {
        let credentials = parse_basic(basic(&id, &secret).as_bytes()).unwrap();
        prop_assert_eq!(credentials.client_id, id);
        prop_assert_eq!(credentials.client_secret, secret);
    }

    /// An id or secret with any character outside `VSCHAR` (a control character, non-ASCII) is
    /// refused, however it is encoded: it never reaches a store.
    #[test]
    fn credentials_outside_vschar_are_refused(
        head in "[ -~]{0,8}",
        bad in "[\\x00-\\x1f\\x7f\\u{80}-\\u{10ffff}]",
        tail in "[ -~]{0,8}",
        in_secret in prop::bool::ANY,
    ) {
        let odd = format!("{head}{bad}{tail}");
        let header = if in_secret { basic("client", &odd) } else { basic(&odd, "secret") };
        prop_assert!(parse_basic(header.as_bytes()).is_err());
    }

    /// Any header value is either refused or read, never a panic; what is read re-encodes to
    /// the same credentials.
    #[test]
    fn any_basic_header_is_read_or_refused(value in vec(any::<u8>(), 0..64), prefix in prop::bool::ANY) {
        let mut header = if prefix { b"Basic ".to_vec() } else { Vec::new() };
        header.extend(value);
        if let Ok(credentials) = parse_basic(&header) {
            let again = parse_basic(basic(&credentials.client_id, &credentials.client_secret).as_bytes());
            prop_assert_eq!(again, Ok(credentials));
        }
    }

    /// Any set of distinct names with any values survives form encoding (Appendix B).
    #[test]
    fn forms_round_trip(pairs in vec((any::<String>(), any::<String>()), 0..8)) {
        let mut seen = std::collections::HashSet::new();
        let pairs: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(name, _)| seen.insert(name.clone()))
            .collect();
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let parsed = Form::parse_body(form(&refs).as_bytes()).unwrap();
        prop_assert_eq!(parsed.iter().collect::<Vec<_>>(), refs);
    }

    /// Any body parses or is refused without a panic, and never yields a repeated name.
    #[test]
    fn any_body_parses_or_is_refused(body in vec(any::<u8>(), 0..128)) {
        if let Ok(parsed) = Form::parse_body(&body) {
            let names: Vec<&str> = parsed.iter().map(|(n, _)| n).collect();
            let mut unique = names.clone();
            unique.sort_unstable();
            unique.dedup();
            prop_assert_eq!(unique.len(), names.len());
        }
    }
}

/// End to end: a confidential client with any id and secret obtains a token with either
/// secret-based method.
#[test]
fn any_client_id_and_secret_authenticate_at_the_token_endpoint() {
    let rt = runtime();
    let server = AuthorizationServer::builder().build().unwrap();
    let config = ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    };
    // Any id in its syntax; any generated-strength secret in its syntax (RFC 6749 A.1, A.2).
    proptest!(config, |(id in "[!-~][ -~]{0,23}", secret in "[!-~]{32,48}", post_method in prop::bool::ANY)| {
        prop_assume!(oauth_endpoints::client::SecretPolicy::default().check(&secret).is_ok());
        let method = if post_method {
            ClientAuthMethod::ClientSecretPost
        } else {
            ClientAuthMethod::ClientSecretBasic
        };
        let client = Client::confidential(id.as_str(), &secret).with_auth_method(method).build().unwrap();
        let answer = rt.block_on(async {
            server.clients().save(&client).await.unwrap();
            let body = [("grant_type", "client_credentials")];
            let request = if post_method {
                let mut pairs = body.to_vec();
                pairs.extend([("client_id", id.as_str()), ("client_secret", secret.as_str())]);
                post("/oauth/token", None, &form(&pairs))
            } else {
                post("/oauth/token", Some(&basic(&id, &secret)), &form(&body))
            };
            send(&server, request).await
        });
        prop_assert_eq!(answer.status.as_u16(), 200, "{}", answer.json);
    });
}

// The store contract as a model.

const NOW: UnixTime = 1_700_000_000;

/// One operation; token and grant choices are indices into what exists (or an unknown token).
#[derive(Debug, Clone)]
enum Op {
    Insert {
        grant: u8,
        client: u8,
        refresh: bool,
        ttl: u16,
    },
    RevokeToken(Option<usize>),
    RevokeGrant(u8),
    Rotate {
        token: Option<usize>,
        replacements: u8,
    },
    Purge(u8),
    Find(Option<usize>),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let token = prop::option::weighted(0.9, any::<usize>());
    prop_oneof![
        3 => (0u8..4, 0u8..3, any::<bool>(), 1u16..3000).prop_map(|(grant, client, refresh, ttl)| {
            Op::Insert { grant, client, refresh, ttl }
        }),
        2 => token.clone().prop_map(Op::RevokeToken),
        1 => (0u8..5).prop_map(Op::RevokeGrant),
        3 => (token.clone(), 0u8..3).prop_map(|(token, replacements)| Op::Rotate { token, replacements }),
        1 => (0u8..6).prop_map(Op::Purge),
        2 => token.prop_map(Op::Find),
        2 => (0u16..2000).prop_map(Op::Advance),
    ]
}

/// What the contract says a store holds: records by token value, and the revoked grants.
#[derive(Default, Clone)]
struct Model {
    records: BTreeMap<String, TokenRecord>,
    revoked_grants: BTreeSet<Id>,
}

impl Model {
    /// A copy in which the revoked grants of `fresh` with no token left are forgotten, as a
    /// purge may have done.
    fn forgetting_empty_grants(&self, fresh: &[(String, TokenRecord)]) -> Self {
        let mut model = self.clone();
        let records = &self.records;
        model.revoked_grants.retain(|grant| {
            !fresh.iter().any(|(_, record)| record.grant_id == *grant)
                || records.values().any(|record| record.grant_id == *grant)
        });
        model
    }

    fn insert(&mut self, fresh: &[(String, TokenRecord)]) -> Result<(), ()> {
        if fresh
            .iter()
            .any(|(_, record)| self.revoked_grants.contains(&record.grant_id))
        {
            return Err(());
        }
        for (value, record) in fresh {
            self.records.insert(value.clone(), record.clone());
        }
        Ok(())
    }

    fn revoke_grant(&mut self, grant: Id, now: UnixTime) -> u64 {
        self.revoked_grants.insert(grant);
        let mut changed = 0;
        for record in self.records.values_mut() {
            if record.grant_id == grant && record.revoked_at.is_none() {
                record.revoked_at = Some(now);
                changed += 1;
            }
        }
        changed
    }

    fn rotate(
        &mut self,
        value: &str,
        now: UnixTime,
        replacements: &[(String, TokenRecord)],
    ) -> Rotation {
        let Some(record) = self.records.get(value).cloned() else {
            return Rotation::Invalid;
        };
        if record.kind != TokenKind::Refresh {
            return Rotation::Invalid;
        }
        if record.rotated_at.is_some() {
            self.revoke_grant(record.grant_id, now);
            return self
                .records
                .get(value)
                .cloned()
                .map_or(Rotation::Invalid, Rotation::Reused);
        }
        if !record.is_active(now)
            || replacements
                .iter()
                .any(|(_, record)| self.revoked_grants.contains(&record.grant_id))
        {
            return Rotation::Invalid;
        }
        let mut rotated = record;
        rotated.rotated_at = Some(now);
        self.records.insert(value.to_owned(), rotated.clone());
        for (value, record) in replacements {
            self.records.insert(value.clone(), record.clone());
        }
        Rotation::Rotated(rotated)
    }
}

/// A store under test with the model of what it must hold.
struct Subject<S> {
    name: &'static str,
    store: S,
    model: Model,
}

fn record(
    value: &str,
    kind: TokenKind,
    grant: u8,
    client: u8,
    now: UnixTime,
    ttl: u16,
) -> TokenRecord {
    TokenRecord {
        id: Id::random(),
        hash: TokenHash::of(value),
        kind,
        client_id: Arc::from(format!("client-{client}")),
        scope: "read".parse::<Scope>().unwrap(),
        subject: (client == 0).then(|| Arc::from("alice")),
        audience: Arc::from(vec!["rs".to_owned()]),
        grant_id: Id::from_bytes([grant; 16]),
        issued_at: now,
        expires_at: now + u64::from(ttl),
        not_before: None,
        revoked_at: None,
        rotated_at: None,
        // Two grants in three bound to one of two keys (DPoP), shared across grants: the
        // binding must round-trip through inserts, rotations, purges and reused slots.
        confirmation: (!grant.is_multiple_of(3)).then(|| Jkt::from_bytes([grant % 2; 32])),
        delegation: None,
    }
}

impl<S: TokenStore> Subject<S> {
    async fn find(&self, value: &str) -> Option<TokenRecord> {
        self.store
            .find_token(&TokenHash::of(value), None)
            .await
            .unwrap()
    }

    async fn apply(
        &mut self,
        op: &Op,
        values: &[String],
        fresh: &[(String, TokenRecord)],
        now: UnixTime,
    ) {
        let pick = |choice: &Option<usize>| match choice {
            Some(i) if !values.is_empty() => values[i % values.len()].clone(),
            _ => "never-issued".to_owned(),
        };
        let name = self.name;
        match op {
            Op::Insert { .. } => {
                let records: Vec<TokenRecord> = fresh.iter().map(|(_, r)| r.clone()).collect();
                let outcome = match self.store.insert_tokens(&records).await {
                    Ok(()) => Ok(()),
                    Err(StoreError::GrantRevoked) => Err(()),
                    Err(error) => panic!("{name}: insert: {error}"),
                };
                // A revoked grant with no token left may have been forgotten by a purge.
                let mut kept = self.model.clone();
                let mut forgot = self.model.forgetting_empty_grants(fresh);
                if kept.insert(fresh) == outcome {
                    self.model = kept;
                } else if forgot.insert(fresh) == outcome {
                    self.model = forgot;
                } else {
                    panic!("{name}: insert answered {outcome:?} against the model");
                }
            }
            Op::RevokeToken(choice) => {
                let value = pick(choice);
                let found = self
                    .store
                    .revoke_token(&TokenHash::of(&value), now)
                    .await
                    .unwrap();
                let expected = match self.model.records.get_mut(&value) {
                    Some(record) => {
                        record.revoked_at.get_or_insert(now);
                        true
                    }
                    None => false,
                };
                assert_eq!(found, expected, "{name}: revoke_token");
            }
            Op::RevokeGrant(grant) => {
                let grant = Id::from_bytes([*grant; 16]);
                let changed = self.store.revoke_grant(&grant, now).await.unwrap();
                assert_eq!(
                    changed,
                    self.model.revoke_grant(grant, now),
                    "{name}: revoke_grant"
                );
            }
            Op::Rotate { token, .. } => {
                let value = pick(token);
                let records: Vec<TokenRecord> = fresh.iter().map(|(_, r)| r.clone()).collect();
                let outcome = self
                    .store
                    .rotate_refresh_token(&TokenHash::of(&value), now, &records, Duration::ZERO)
                    .await
                    .unwrap();
                let mut kept = self.model.clone();
                let mut forgot = self.model.forgetting_empty_grants(fresh);
                let expected = kept.rotate(&value, now, fresh);
                if outcome == expected {
                    self.model = kept;
                } else {
                    assert_eq!(outcome, forgot.rotate(&value, now, fresh), "{name}: rotate");
                    self.model = forgot;
                }
            }
            Op::Purge(limit) => {
                let limit = if *limit == 5 {
                    1_000
                } else {
                    u64::from(*limit)
                };
                let eligible: Vec<String> = self
                    .model
                    .records
                    .iter()
                    .filter(|(_, r)| r.expires_at < now)
                    .map(|(v, _)| v.clone())
                    .collect();
                let purged = self.store.purge_expired(now, limit).await.unwrap();
                assert_eq!(
                    purged,
                    (eligible.len() as u64).min(limit),
                    "{name}: purge count"
                );
                // Which expired records go is the store's choice: exactly `purged` of them.
                let mut gone = 0;
                for value in eligible {
                    if self.find(&value).await.is_none() {
                        self.model.records.remove(&value);
                        gone += 1;
                    }
                }
                assert_eq!(gone, purged, "{name}: purged records");
            }
            Op::Find(choice) => {
                let value = pick(choice);
                assert_eq!(
                    self.find(&value).await,
                    self.model.records.get(&value).cloned(),
                    "{name}: find"
                );
            }
            Op::Advance(_) => {}
        }
    }

    async fn check_all(&self, values: &[String]) {
        for value in values {
            assert_eq!(
                self.find(value).await,
                self.model.records.get(value).cloned(),
                "{}: final state of {value}",
                self.name
            );
        }
    }
}

#[test]
fn memory_and_sqlite_stores_follow_the_model() {
    let rt = runtime();
    let config = ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in vec(op(), 1..60))| {
        rt.block_on(async {
            let mut memory = Subject { name: "memory", store: MemoryStore::new(), model: Model::default() };
            let mut sqlite = Subject {
                name: "sqlite",
                store: SqliteStore::in_memory().await.unwrap(),
                model: Model::default(),
            };
            let mut values: Vec<String> = Vec::new();
            let mut now = NOW;
            let mut counter = 0;
            for op in &ops {
                // Fresh records for this step, the same for both stores.
                let mut fresh = Vec::new();
                let mut mint = |kind, grant, client, ttl| {
                    counter += 1;
                    let value = format!("token-{counter}");
                    let record = record(&value, kind, grant, client, now, ttl);
                    fresh.push((value, record));
                };
                match op {
                    Op::Insert { grant, client, refresh, ttl } => {
                        mint(TokenKind::Access, *grant, *client, *ttl);
                        if *refresh {
                            mint(TokenKind::Refresh, *grant, *client, *ttl);
                        }
                    }
                    Op::Rotate { replacements, .. } => {
                        for index in 0..*replacements {
                            let kind = if index == 0 { TokenKind::Access } else { TokenKind::Refresh };
                            mint(kind, 0, 0, 600);
                        }
                    }
                    Op::Advance(seconds) => now += u64::from(*seconds),
                    _ => {}
                }
                memory.apply(op, &values, &fresh, now).await;
                sqlite.apply(op, &values, &fresh, now).await;
                values.extend(fresh.into_iter().map(|(value, _)| value));
            }
            memory.check_all(&values).await;
            sqlite.check_all(&values).await;
        });
    });
}

/// Any authorization request, with parameters drawn from good, hostile and malformed values, as
/// a signed-in user or nobody: never a 5xx; a redirect goes only to a registered redirect URI
/// (with `iss`) or to the sign-in page, never elsewhere (RFC 6749 §4.1.2.1, RFC 9700 §4.1); a
/// code goes out only with a valid PKCE challenge.
#[test]
fn any_authorization_request_is_answered_without_leaving_the_registered_uris() {
    use oauth_endpoints_tests::authorize::{
        CHALLENGE, ISSUER, WEB_REDIRECT, authorize_get, harness,
    };
    let rt = runtime();
    let harness = rt.block_on(harness());
    let config = ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    };
    let value = prop_oneof![
        Just(String::new()),
        Just("web".to_owned()),
        Just("spa".to_owned()),
        Just("code".to_owned()),
        Just("token".to_owned()),
        Just("S256".to_owned()),
        Just("plain".to_owned()),
        Just("query".to_owned()),
        Just("fragment".to_owned()),
        Just(WEB_REDIRECT.to_owned()),
        Just("https://evil.example/cb".to_owned()),
        Just(format!("{WEB_REDIRECT}/../x")),
        Just("http://127.0.0.1:8/callback".to_owned()),
        Just(CHALLENGE.to_owned()),
        Just("urn:ietf:params:oauth:request_uri:x".to_owned()),
        "[ -~]{0,12}",
        any::<String>(),
    ];
    let name = prop_oneof![
        Just("client_id"),
        Just("redirect_uri"),
        Just("response_type"),
        Just("response_mode"),
        Just("scope"),
        Just("state"),
        Just("code_challenge"),
        Just("code_challenge_method"),
        Just("request_uri"),
    ];
    proptest!(config, |(params in vec((name, value), 0..9), signed_in in prop::bool::ANY)| {
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let user = signed_in.then_some("alice");
        let answer = rt.block_on(send(&harness.server, authorize_get(&pairs, user)));
        prop_assert!(answer.status.as_u16() < 500, "{:?} -> {}", pairs, answer.status);
        if let Some(location) = answer.header("location") {
            let registered = location.starts_with(&format!("{WEB_REDIRECT}?"))
                || location.starts_with("https://app.example/other?")
                || location.starts_with("http://127.0.0.1/callback?")
                || location.starts_with("http://127.0.0.1:8/callback?");
            prop_assert!(
                registered || location.starts_with("/login?next="),
                "{:?} -> {}", pairs, location
            );
            if registered {
                let iss = format!("iss={}", ISSUER.replace(':', "%3A").replace('/', "%2F"));
                prop_assert!(location.contains(&iss), "{}", location);
                prop_assert!(!location.contains("code="), "a GET never issues a code: {}", location);
            }
        }
    });
}

/// Random token exchange requests (RFC 8693 §2.1) by a client allowed to exchange, with
/// parameters drawn from real values (a valid subject token, a revoked one, the token type
/// URIs, registered and foreign resources) and hostile text: never a 5xx; every answer is a
/// token with `issued_token_type` or an RFC 6749 §5.2 error; a refusal changes nothing (the
/// subject token stays active, the revoked one stays revoked); an issued token never carries
/// a scope beyond the subject token's nor an audience the client did not register.
#[test]
fn any_token_exchange_request_is_answered_within_the_rules() {
    use oauth_endpoints::exchange::{ExchangeRequest, TokenExchange, token_type};
    use oauth_endpoints::token::TokenRequest;
    const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    const ALLOWED: &str = "https://billing.example.com/";
    let rt = runtime();
    let server = AuthorizationServer::builder()
        .with_state(TokenExchange::new(|request: &ExchangeRequest<'_>| {
            request.subject.subject != "mallory"
        }))
        .build()
        .unwrap();
    let secret = "kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1";
    let service = Client::confidential("svc", secret)
        .with_grant_types([EXCHANGE])
        .with_scope("a b c".parse().unwrap())
        .with_allowed_resources([ALLOWED, "named-audience"])
        .build()
        .unwrap();
    let (live, revoked) = rt.block_on(async {
        server.clients().save(&service).await.unwrap();
        let issue = |subject: &'static str| {
            let request = TokenRequest::new(&service, "a b".parse().unwrap())
                .with_subject(subject)
                .with_refresh_token(true);
            let server = server.clone();
            async move { server.issuer().issue(&request).await.unwrap() }
        };
        let live = issue("alice").await;
        let revoked = issue("bob").await;
        server
            .tokens()
            .revoke_grant(&revoked.access_record().grant_id, server.now())
            .await
            .unwrap();
        (live, revoked)
    });
    let value = prop_oneof![
        Just(String::new()),
        Just(live.access_token().to_owned()),
        Just(live.refresh_token().unwrap().to_owned()),
        Just(revoked.access_token().to_owned()),
        Just(token_type::ACCESS_TOKEN.to_owned()),
        Just(token_type::REFRESH_TOKEN.to_owned()),
        Just(token_type::JWT.to_owned()),
        Just(token_type::SAML2.to_owned()),
        Just(ALLOWED.to_owned()),
        Just("named-audience".to_owned()),
        Just("https://evil.example/".to_owned()),
        Just("https://x/#frag".to_owned()),
        Just("a".to_owned()),
        Just("a b c d".to_owned()),
        "[ -~]{0,12}",
        any::<String>(),
    ];
    let name = prop_oneof![
        Just("subject_token"),
        Just("subject_token_type"),
        Just("actor_token"),
        Just("actor_token_type"),
        Just("requested_token_type"),
        Just("resource"),
        Just("audience"),
        Just("scope"),
    ];
    let config = ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    };
    proptest!(config, |(params in vec((name, value), 0..10))| {
        let mut pairs: Vec<(&str, &str)> = vec![("grant_type", EXCHANGE)];
        pairs.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
        let answer = rt.block_on(send(
            &server,
            post("/oauth/token", Some(&basic("svc", secret)), &form(&pairs)),
        ));
        prop_assert!(answer.status.as_u16() < 500, "{:?} -> {}", pairs, answer.status);
        match answer.status.as_u16() {
            200 => {
                prop_assert_eq!(answer.str("issued_token_type"), Some(token_type::ACCESS_TOKEN));
                let issued = rt.block_on(server.tokens().find(
                    &TokenHash::of(answer.str("access_token").unwrap()), None,
                )).unwrap().unwrap();
                let within: Scope = "a b".parse().unwrap();
                prop_assert!(issued.scope.is_subset(&within), "{:?}", issued.scope);
                prop_assert!(issued.audience.iter().all(|aud| aud == ALLOWED || aud == "named-audience"));
                prop_assert_eq!(issued.subject.as_deref(), Some("alice"));
            }
            _ => {
                prop_assert!(answer.error().is_some(), "{:?} -> {}", pairs, answer.json);
                answer.assert_oauth_headers();
            }
        }
        let now = server.now();
        let find = |value: &str| rt.block_on(server.tokens().find(&TokenHash::of(value), None)).unwrap().unwrap();
        prop_assert!(find(live.access_token()).is_active(now));
        prop_assert!(!find(revoked.access_token()).is_active(now));
    });
}
