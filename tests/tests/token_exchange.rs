//! Token exchange (RFC 8693): impersonation and delegation, chains, `may_act`, narrowing, the
//! policy, foreign subject tokens from a trusted issuer, and the grant cascade.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jwt_simple::prelude::*;
use oauth_endpoints::exchange::{ExchangeRequest, TokenExchange, TrustedIssuer, token_type};
use oauth_endpoints::keys::{KeySet, SigningAlgorithm, SigningKey};
use oauth_endpoints::token::{AccessTokenFormat, Actor, Delegation, TokenRequest};
use oauth_endpoints::{AuthorizationServerBuilder, Client};
use oauth_endpoints_tests::{Answer, Harness, START, basic, form, post};
use serde_json::{Value, json};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ORDERS: &str = "https://orders.example.com/";
const BILLING: &str = "https://billing.example.com/";
const INVENTORY: &str = "https://inventory.example.com/";
const IDP: &str = "https://idp.example.com";
const SECRET: &str = "kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1";

/// `frontend` holds users' tokens; `orders`, `billing` and `inventory` are services, each a
/// resource server for its own URL, and `orders` and `billing` may exchange tokens.
fn clients() -> Vec<Client> {
    let service = |id: &str, serves: &str, targets: &[&str]| {
        Client::confidential(id, SECRET)
            .with_grant_types([EXCHANGE, "client_credentials"])
            .with_scope("orders billing inventory".parse().unwrap())
            .with_served_resources([serves])
            .with_allowed_resources(targets.iter().copied())
            .with_introspect_any_token(true)
            .build()
            .unwrap()
    };
    vec![
        Client::confidential("frontend", SECRET)
            .with_grant_types(["client_credentials", "refresh_token"])
            .with_scope("orders billing inventory".parse().unwrap())
            .build()
            .unwrap(),
        service("orders", ORDERS, &[BILLING, INVENTORY, "billing-api"]),
        service("billing", BILLING, &[INVENTORY]),
        service("inventory", INVENTORY, &[]),
    ]
}

/// Lets `orders` and `billing` exchange any token; validates `IDP`'s JWTs with `idp_jwks`.
fn allow_services(idp_jwks: Option<&str>) -> TokenExchange {
    let exchange = TokenExchange::new(|request: &ExchangeRequest<'_>| {
        matches!(request.client.client_id(), "orders" | "billing")
    });
    match idp_jwks {
        Some(jwks) => exchange.with_validator(TrustedIssuer::new(IDP, jwks).unwrap()),
        None => exchange,
    }
}

async fn harness_with(
    exchange: Option<TokenExchange>,
    configure: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
) -> Harness {
    Harness::with(&clients(), |builder| {
        let builder = configure(builder.issuer("https://as.example.com"));
        match exchange {
            Some(exchange) => builder.with_state(exchange),
            None => builder,
        }
    })
    .await
}

async fn harness() -> Harness {
    harness_with(Some(allow_services(None)), |builder| builder).await
}

/// A user's token, as the frontend got it: `sub` alice, meant for the orders service, with a
/// refresh token; `delegation` recorded on it.
async fn user_token(h: &Harness, delegation: Delegation) -> (String, String) {
    let frontend = h.server.clients().find("frontend").await.unwrap().unwrap();
    let issued = h
        .server
        .issuer()
        .issue(
            &TokenRequest::new(&frontend, "orders billing".parse().unwrap())
                .with_subject("alice")
                .with_audience([ORDERS])
                .with_delegation(delegation)
                .with_refresh_token(true),
        )
        .await
        .unwrap();
    (
        issued.access_token().to_owned(),
        issued.refresh_token().unwrap().to_owned(),
    )
}

/// A service's own token (`client_credentials`), to present as an actor token.
async fn service_token(h: &Harness, service: &str) -> String {
    let answer = h.client_credentials(service, SECRET, None).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.str("access_token").unwrap().to_owned()
}

/// A token exchange request by `client` with `params`.
async fn exchange(h: &Harness, client: &str, params: &[(&str, &str)]) -> Answer {
    let mut pairs = vec![("grant_type", EXCHANGE)];
    pairs.extend_from_slice(params);
    h.send(post(
        "/oauth/token",
        Some(&basic(client, SECRET)),
        &form(&pairs),
    ))
    .await
}

/// Introspection of `token` by `caller`.
async fn introspect(h: &Harness, caller: &str, token: &str) -> Value {
    let answer = h
        .send(post(
            "/oauth/introspect",
            Some(&basic(caller, SECRET)),
            &form(&[("token", token)]),
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json
}

/// The subject token `token` with `actor` as actor token, both access tokens of this server.
fn delegated<'a>(token: &'a str, actor: &'a str) -> Vec<(&'static str, &'a str)> {
    let mut params = subject(token).to_vec();
    params.extend([
        ("actor_token", actor),
        ("actor_token_type", token_type::ACCESS_TOKEN),
    ]);
    params
}

fn subject(token: &str) -> [(&'static str, &str); 2] {
    [
        ("subject_token", token),
        ("subject_token_type", token_type::ACCESS_TOKEN),
    ]
}

#[tokio::test]
async fn an_access_token_is_exchanged_for_a_narrower_one_for_another_audience() {
    let h = harness().await;
    let (user, _) = user_token(&h, Delegation::default()).await;
    let mut params = subject(&user).to_vec();
    params.extend([("resource", BILLING), ("scope", "billing")]);
    let answer = exchange(&h, "orders", &params).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.assert_oauth_headers();
    assert_eq!(
        answer.str("issued_token_type"),
        Some(token_type::ACCESS_TOKEN)
    );
    assert_eq!(answer.str("token_type"), Some("Bearer"));
    assert!(answer.json.get("refresh_token").is_none());
    let exchanged = answer.str("access_token").unwrap();
    // The billing service sees it: meant for it, speaking for alice, issued to orders; no
    // `act` (impersonation).
    let seen = introspect(&h, "billing", exchanged).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["sub"], "alice");
    assert_eq!(seen["client_id"], "orders");
    assert_eq!(seen["aud"], BILLING);
    assert_eq!(seen["scope"], "billing");
    assert!(seen.get("act").is_none());
    // It expires no later than the subject token.
    let original = h.record(&user).await;
    assert!(seen["exp"].as_u64().unwrap() <= original.expires_at);
    // The inventory service, which may introspect any token, does not see a token meant for
    // billing (the audience rule); nor does the subject token's audience change.
    assert_eq!(
        introspect(&h, "inventory", exchanged).await,
        json!({"active": false})
    );
    assert_eq!(h.record(&user).await.audience.to_vec(), [ORDERS]);
}

#[tokio::test]
async fn an_actor_token_records_delegation_and_chains_nest_the_actors() {
    let h = harness().await;
    let (user, _) = user_token(&h, Delegation::default()).await;
    let orders = service_token(&h, "orders").await;
    let mut params = delegated(&user, &orders);
    params.extend([("resource", BILLING)]);
    let first = exchange(&h, "orders", &params).await;
    assert_eq!(first.status, 200, "{}", first.json);
    let first = first.str("access_token").unwrap().to_owned();
    let seen = introspect(&h, "billing", &first).await;
    assert_eq!(seen["sub"], "alice");
    assert_eq!(seen["act"], json!({"sub": "orders"}));

    // Second hop: billing exchanges what it received, acting as itself, for inventory.
    let billing = service_token(&h, "billing").await;
    let mut params = delegated(&first, &billing);
    params.extend([("resource", INVENTORY), ("scope", "orders")]);
    let second = exchange(&h, "billing", &params).await;
    assert_eq!(second.status, 200, "{}", second.json);
    let seen = introspect(&h, "inventory", second.str("access_token").unwrap()).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["sub"], "alice");
    assert_eq!(seen["client_id"], "billing");
    assert_eq!(seen["aud"], INVENTORY);
    assert_eq!(
        seen["act"],
        json!({"sub": "billing", "act": {"sub": "orders"}})
    );

    // Impersonation of a delegated token keeps its chain.
    let mut params = subject(&first).to_vec();
    params.push(("resource", INVENTORY));
    let kept = exchange(&h, "billing", &params).await;
    assert_eq!(kept.status, 200, "{}", kept.json);
    let seen = introspect(&h, "inventory", kept.str("access_token").unwrap()).await;
    assert_eq!(seen["act"], json!({"sub": "orders"}));
}

#[tokio::test]
async fn may_act_admits_only_the_party_it_names() {
    let h = harness().await;
    let only_billing = Delegation {
        may_act: Some(Actor::new("billing")),
        ..Delegation::default()
    };
    let (user, _) = user_token(&h, only_billing).await;
    // The subject token shows who may act for it.
    assert_eq!(
        introspect(&h, "frontend", &user).await["may_act"],
        json!({"sub": "billing"})
    );
    let orders = service_token(&h, "orders").await;
    let mut params = delegated(&user, &orders);
    params.extend([("resource", BILLING)]);
    exchange(&h, "orders", &params)
        .await
        .assert_error(400, "invalid_request");
    // Nor may orders impersonate without an actor token (then the client is the actor).
    let mut params = subject(&user).to_vec();
    params.push(("resource", BILLING));
    exchange(&h, "orders", &params)
        .await
        .assert_error(400, "invalid_request");
    // Billing, which may_act names, may.
    let billing = service_token(&h, "billing").await;
    let mut params = delegated(&user, &billing);
    params.extend([("resource", INVENTORY)]);
    let answer = exchange(&h, "billing", &params).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let seen = introspect(&h, "inventory", answer.str("access_token").unwrap()).await;
    assert_eq!(seen["act"], json!({"sub": "billing"}));
    assert!(seen.get("may_act").is_none());
}

#[tokio::test]
async fn scope_widening_unknown_types_and_bad_targets_are_refused() {
    let h = harness().await;
    let (user, refresh) = user_token(&h, Delegation::default()).await;
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut params: Vec<(&str, &str)> = subject(&user).to_vec();
        params.extend_from_slice(extra);
        params
    };
    // The subject token has `orders billing`: `inventory` would widen it.
    exchange(&h, "orders", &with(&[("scope", "inventory")]))
        .await
        .assert_error(400, "invalid_scope");
    // A target the client did not register, and one that is not an absolute URI.
    exchange(&h, "orders", &with(&[("resource", ORDERS)]))
        .await
        .assert_error(400, "invalid_target");
    exchange(&h, "orders", &with(&[("resource", "/billing")]))
        .await
        .assert_error(400, "invalid_target");
    exchange(&h, "orders", &with(&[("audience", "inventory-api")]))
        .await
        .assert_error(400, "invalid_target");
    // A registered audience name is accepted.
    let named = exchange(&h, "orders", &with(&[("audience", "billing-api")])).await;
    assert_eq!(named.status, 200, "{}", named.json);
    // Types: unknown subject type, a token presented as another type, unsupported requested
    // type, an actor token without its type.
    let unknown = [
        ("subject_token", user.as_str()),
        ("subject_token_type", "urn:example:unknown"),
    ];
    exchange(&h, "orders", &unknown)
        .await
        .assert_error(400, "invalid_request");
    let as_refresh = [
        ("subject_token", user.as_str()),
        ("subject_token_type", token_type::REFRESH_TOKEN),
    ];
    exchange(&h, "orders", &as_refresh)
        .await
        .assert_error(400, "invalid_request");
    exchange(
        &h,
        "orders",
        &with(&[("requested_token_type", token_type::SAML2)]),
    )
    .await
    .assert_error(400, "invalid_request");
    exchange(&h, "orders", &with(&[("actor_token", "x")]))
        .await
        .assert_error(400, "invalid_request");
    exchange(&h, "orders", &[("subject_token", user.as_str())])
        .await
        .assert_error(400, "invalid_request");
    // A refresh token is a valid subject when presented as one.
    let refresh_subject = [
        ("subject_token", refresh.as_str()),
        ("subject_token_type", token_type::REFRESH_TOKEN),
    ];
    let answer = exchange(&h, "orders", &refresh_subject).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}

#[tokio::test]
async fn revoked_subject_tokens_are_refused_and_revoking_the_subject_grant_ends_the_exchange() {
    let h = harness().await;
    let (user, refresh) = user_token(&h, Delegation::default()).await;
    let answer = exchange(&h, "orders", &subject(&user)).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let exchanged = answer.str("access_token").unwrap().to_owned();
    assert_eq!(
        h.record(&exchanged).await.grant_id,
        h.record(&user).await.grant_id
    );
    assert!(h.is_active(&exchanged).await);
    // The frontend revokes the user's refresh token: the grant ends, the exchanged token too.
    let revoked = h
        .send(post(
            "/oauth/revoke",
            Some(&basic("frontend", SECRET)),
            &form(&[("token", &refresh)]),
        ))
        .await;
    assert_eq!(revoked.status, 200);
    assert!(!h.is_active(&exchanged).await);
    assert_eq!(
        introspect(&h, "orders", &exchanged).await,
        json!({"active": false})
    );
    // The revoked subject token cannot be exchanged again.
    exchange(&h, "orders", &subject(&user))
        .await
        .assert_error(400, "invalid_request");
    // Nor can an expired one.
    let (other, _) = user_token(&h, Delegation::default()).await;
    h.clock.advance(std::time::Duration::from_secs(3_600 * 24));
    exchange(&h, "orders", &subject(&other))
        .await
        .assert_error(400, "invalid_request");
}

/// Whether the metadata document lists the token exchange grant (RFC 8414 §2).
async fn publishes_exchange(h: &Harness) -> bool {
    let metadata = h
        .send(
            http::Request::get("/.well-known/oauth-authorization-server")
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    metadata.json["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|grant| grant == EXCHANGE)
}

#[tokio::test]
async fn the_policy_decides_and_denies_by_default() {
    // Mounted with the default policy: every exchange refused.
    let h = harness_with(Some(TokenExchange::default()), |builder| builder).await;
    let (user, _) = user_token(&h, Delegation::default()).await;
    exchange(&h, "orders", &subject(&user))
        .await
        .assert_error(400, "invalid_request");
    assert!(publishes_exchange(&h).await);

    // Not mounted without a `TokenExchange`: not in the metadata, unsupported at the endpoint.
    let h = harness_with(None, |builder| builder).await;
    let (user, _) = user_token(&h, Delegation::default()).await;
    exchange(&h, "orders", &subject(&user))
        .await
        .assert_error(400, "unsupported_grant_type");
    assert!(!publishes_exchange(&h).await);

    // A client without the grant type in its registration is refused before any check.
    let h = harness().await;
    let (user, _) = user_token(&h, Delegation::default()).await;
    exchange(&h, "frontend", &subject(&user))
        .await
        .assert_error(400, "unauthorized_client");
    // The policy sees the request: here it refuses what is not meant for billing.
    let h = harness_with(
        Some(TokenExchange::new(|request: &ExchangeRequest<'_>| {
            request.audience == [BILLING.to_owned()] && request.subject.subject == "alice"
        })),
        |builder| builder,
    )
    .await;
    let (user, _) = user_token(&h, Delegation::default()).await;
    let mut params = subject(&user).to_vec();
    params.push(("resource", INVENTORY));
    exchange(&h, "orders", &params)
        .await
        .assert_error(400, "invalid_request");
    let mut params = subject(&user).to_vec();
    params.push(("resource", BILLING));
    assert_eq!(exchange(&h, "orders", &params).await.status, 200);
}

/// The identity provider's key (an independent JOSE implementation) and its JWK Set.
fn idp_key() -> (Ed25519KeyPair, String) {
    let key = Ed25519KeyPair::generate().with_key_id("idp-1");
    let x = Base64UrlSafeNoPadding::encode_to_string(key.public_key().to_bytes()).unwrap();
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "idp-1", "x": x}]});
    (key, jwks.to_string())
}

/// A JWT by `key` at the harness's time, with `custom` claims.
fn idp_jwt(key: &Ed25519KeyPair, issuer: &str, subject: &str, custom: Value) -> String {
    let mut claims = Claims::with_custom_claims(custom, Duration::from_secs(600))
        .with_issuer(issuer)
        .with_subject(subject);
    claims.issued_at = Some(Duration::from_secs(START));
    claims.invalid_before = Some(Duration::from_secs(START));
    claims.expires_at = Some(Duration::from_secs(START + 600));
    key.sign(claims).unwrap()
}

#[tokio::test]
async fn jwts_of_a_trusted_issuer_are_exchanged_with_their_claims() {
    let (key, jwks) = idp_key();
    let h = harness_with(Some(allow_services(Some(&jwks))), |builder| builder).await;
    let jwt_subject = |token: &str| -> Vec<(&'static str, String)> {
        vec![
            ("subject_token", token.to_owned()),
            ("subject_token_type", token_type::JWT.to_owned()),
            ("resource", BILLING.to_owned()),
        ]
    };
    let send = |params: Vec<(&'static str, String)>| {
        let h = &h;
        async move {
            let borrowed: Vec<(&str, &str)> =
                params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            exchange(h, "orders", &borrowed).await
        }
    };
    let token = idp_jwt(
        &key,
        IDP,
        "bob",
        json!({"scope": "billing", "act": {"sub": "gateway", "iss": IDP}}),
    );
    let answer = send(jwt_subject(&token)).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let seen = introspect(&h, "billing", answer.str("access_token").unwrap()).await;
    assert_eq!(seen["sub"], "bob");
    assert_eq!(seen["scope"], "billing");
    assert_eq!(seen["act"], json!({"sub": "gateway", "iss": IDP}));
    assert_eq!(seen["exp"], START + 600);
    // Its scope bounds the exchange.
    let mut widen = jwt_subject(&token);
    widen.push(("scope", "orders".to_owned()));
    send(widen).await.assert_error(400, "invalid_scope");
    // Another issuer, another key, a tampered token, an expired one: refused alike.
    send(jwt_subject(&idp_jwt(
        &key,
        "https://evil.example",
        "bob",
        json!({}),
    )))
    .await
    .assert_error(400, "invalid_request");
    let (other, _) = idp_key();
    send(jwt_subject(&idp_jwt(&other, IDP, "bob", json!({}))))
        .await
        .assert_error(400, "invalid_request");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let claims = json!({"iss": IDP, "sub": "mallory", "exp": START + 600, "scope": "billing"});
    parts[1] = Base64UrlSafeNoPadding::encode_to_string(claims.to_string()).unwrap();
    send(jwt_subject(&parts.join(".")))
        .await
        .assert_error(400, "invalid_request");
    // may_act in a foreign token is honoured too.
    let reserved = idp_jwt(&key, IDP, "bob", json!({"may_act": {"sub": "billing"}}));
    send(jwt_subject(&reserved))
        .await
        .assert_error(400, "invalid_request");
    h.clock.advance(std::time::Duration::from_secs(601));
    send(jwt_subject(&token))
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn a_jwt_can_be_requested_and_carries_act() {
    let keys = KeySet::new(SigningKey::generate(SigningAlgorithm::EdDsa).unwrap());
    let jwks = keys.jwks().clone();
    let h = harness_with(Some(allow_services(None)), |builder| {
        builder
            .signing_keys(keys)
            .access_token_format(AccessTokenFormat::Opaque)
    })
    .await;
    let (user, _) = user_token(&h, Delegation::default()).await;
    let orders = service_token(&h, "orders").await;
    let mut params = delegated(&user, &orders);
    params.extend([
        ("resource", BILLING),
        ("requested_token_type", token_type::JWT),
    ]);
    let answer = exchange(&h, "orders", &params).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.str("issued_token_type"), Some(token_type::JWT));
    let jwt = answer.str("access_token").unwrap();
    let claims = oauth_endpoints_tests::jose::verify(&jwks, jwt, START);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], BILLING);
    assert_eq!(claims["client_id"], "orders");
    assert_eq!(claims["act"], json!({"sub": "orders"}));
    // The JWT is itself a valid subject token, presented as a JWT.
    let billing = service_token(&h, "billing").await;
    let next = [
        ("subject_token", jwt),
        ("subject_token_type", token_type::JWT),
        ("actor_token", billing.as_str()),
        ("actor_token_type", token_type::ACCESS_TOKEN),
        ("resource", INVENTORY),
    ];
    let answer = exchange(&h, "billing", &next).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let seen = introspect(&h, "inventory", answer.str("access_token").unwrap()).await;
    assert_eq!(
        seen["act"],
        json!({"sub": "billing", "act": {"sub": "orders"}})
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_presented_for_exchange_is_reuse_and_revokes_its_grant() {
    let h = harness().await;
    let (user, refresh) = user_token(&h, Delegation::default()).await;
    let exchanged = exchange(&h, "orders", &subject(&user)).await;
    assert_eq!(exchanged.status, 200, "{}", exchanged.json);
    let exchanged = exchanged.str("access_token").unwrap().to_owned();
    // The frontend rotates its refresh token.
    let rotated = h.refresh("frontend", SECRET, &refresh).await;
    assert_eq!(rotated.status, 200, "{}", rotated.json);
    let successor = rotated.str("refresh_token").unwrap().to_owned();
    assert!(h.is_active(&successor).await);
    // The old refresh token presented for exchange: refused, and its grant revoked (RFC 9700
    // §4.14.2), the successor and the earlier exchanged token with it.
    let stale = [
        ("subject_token", refresh.as_str()),
        ("subject_token_type", token_type::REFRESH_TOKEN),
    ];
    exchange(&h, "orders", &stale)
        .await
        .assert_error(400, "invalid_request");
    assert!(!h.is_active(&successor).await);
    assert!(!h.is_active(&exchanged).await);
    assert!(!h.is_active(rotated.str("access_token").unwrap()).await);
}

#[tokio::test]
async fn within_the_grace_window_a_rotated_refresh_token_is_only_refused() {
    let h = harness_with(Some(allow_services(None)), |builder| {
        builder.refresh_token_grace(std::time::Duration::from_secs(10))
    })
    .await;
    let (_, refresh) = user_token(&h, Delegation::default()).await;
    let rotated = h.refresh("frontend", SECRET, &refresh).await;
    assert_eq!(rotated.status, 200, "{}", rotated.json);
    let successor = rotated.str("refresh_token").unwrap().to_owned();
    let stale = [
        ("subject_token", refresh.as_str()),
        ("subject_token_type", token_type::REFRESH_TOKEN),
    ];
    exchange(&h, "orders", &stale)
        .await
        .assert_error(400, "invalid_request");
    assert!(
        h.is_active(&successor).await,
        "a racing request signs no one out"
    );
    h.clock.advance(std::time::Duration::from_secs(11));
    exchange(&h, "orders", &stale)
        .await
        .assert_error(400, "invalid_request");
    assert!(
        !h.is_active(&successor).await,
        "past the window it is reuse"
    );
}

/// An API protected in process (`ResourceProtector`) sees who acts for the user, from the
/// store for an opaque token and from the claims of a JWT checked by its signature alone.
#[tokio::test]
async fn a_protected_route_sees_the_actor() {
    use oauth_endpoints::resource::{JwtValidation, ResourceProtector};
    let keys = KeySet::new(SigningKey::generate(SigningAlgorithm::EdDsa).unwrap());
    let h = harness_with(Some(allow_services(None)), |builder| {
        builder.signing_keys(keys)
    })
    .await;
    let (user, _) = user_token(&h, Delegation::default()).await;
    let orders = service_token(&h, "orders").await;
    let protector = ResourceProtector::new(&h.server).require_audience(BILLING);
    for requested in [token_type::ACCESS_TOKEN, token_type::JWT] {
        let mut params = delegated(&user, &orders);
        params.extend([("resource", BILLING), ("requested_token_type", requested)]);
        let answer = exchange(&h, "orders", &params).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
        let mut headers = http::HeaderMap::new();
        let bearer = format!("Bearer {}", answer.str("access_token").unwrap());
        headers.insert(http::header::AUTHORIZATION, bearer.parse().unwrap());
        let principal = protector.protect(&headers).await.unwrap();
        assert_eq!(principal.subject(), Some("alice"));
        assert_eq!(principal.act(), Some(&Actor::new("orders")), "{requested}");
        assert_eq!(
            serde_json::to_value(&principal).unwrap()["act"],
            json!({"sub": "orders"})
        );
        if requested == token_type::JWT {
            let local = ResourceProtector::new(&h.server)
                .jwt_validation(JwtValidation::SignatureOnly)
                .protect(&headers)
                .await
                .unwrap();
            assert_eq!(local.act(), Some(&Actor::new("orders")));
        }
    }
}

/// With `revoke_grant_with_access_token`, revoking an access token ends its grant; an exchanged
/// token's grant is the user's session at another client, so revoking the exchanged token ends
/// it alone, while the user's client revoking its own access token ends both.
#[tokio::test]
async fn revoking_an_exchanged_token_never_ends_the_subjects_grant() {
    let h = harness_with(Some(allow_services(None)), |builder| {
        builder.revoke_grant_with_access_token(true)
    })
    .await;
    let (user, refresh) = user_token(&h, Delegation::default()).await;
    let first = exchange(&h, "orders", &subject(&user)).await;
    let first = first.str("access_token").unwrap().to_owned();
    let second = exchange(&h, "orders", &subject(&user)).await;
    let second = second.str("access_token").unwrap().to_owned();
    assert!(h.record(&first).await.is_exchanged());
    assert!(!h.record(&user).await.is_exchanged());
    let revoke = |client: &'static str, token: String| {
        let h = &h;
        async move {
            h.send(post(
                "/oauth/revoke",
                Some(&basic(client, SECRET)),
                &form(&[("token", &token)]),
            ))
            .await
        }
    };
    assert_eq!(revoke("orders", first.clone()).await.status, 200);
    assert!(!h.is_active(&first).await);
    assert!(
        h.is_active(&second).await,
        "a sibling exchanged token lives on"
    );
    assert!(h.is_active(&user).await, "the user's session lives on");
    assert!(h.is_active(&refresh).await);
    // The frontend revoking its own access token ends the grant, exchanged tokens included.
    assert_eq!(revoke("frontend", user.clone()).await.status, 200);
    assert!(!h.is_active(&refresh).await);
    assert!(!h.is_active(&second).await);
}
