//! The in-process request path, through `AuthorizationServer::dispatch`, over a memory store:
//! introspection (active and unknown token), revocation, a `client_credentials` token request,
//! and route lookup with 4 and with 1,000 mounted endpoints.
//!
//! ```sh
//! cargo bench -p oauth-endpoints-bench --bench dispatch
//! ```
//!
//! Each measured iteration is one `dispatch` of a request built beforehand (building it is not
//! measured), the response included and dropped.

// A benchmark whose set-up fails has nothing to measure: it stops with a message.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use oauth_endpoints::AuthorizationServer;
use oauth_endpoints::keys::SigningAlgorithm;
use oauth_endpoints_bench::{
    DPOP_TOKEN_URL, DpopKey, basic, block_on, dpop_server, exchange_body, exchange_server,
    introspect, issue, jwt_server, post, probe_server, scope, server,
};

/// Dispatches `requests` one after the other and returns the time it took.
fn run(server: &AuthorizationServer, requests: Vec<Request<Bytes>>) -> Duration {
    let start = Instant::now();
    for request in requests {
        black_box(block_on(server.dispatch(black_box(request))));
    }
    start.elapsed()
}

/// Checks once, before measuring, that `request` gets `status` and a body containing `needle`.
fn check(server: &AuthorizationServer, request: Request<Bytes>, status: StatusCode, needle: &str) {
    let response = block_on(server.dispatch(request));
    let body = String::from_utf8_lossy(response.body()).into_owned();
    assert_eq!(response.status(), status, "{body}");
    assert!(body.contains(needle), "{body} lacks {needle}");
}

/// Deletes every token, so a benchmark that stores one per iteration keeps a small store.
fn purge(server: &AuthorizationServer) {
    block_on(server.tokens().purge_expired(u64::MAX, u64::MAX)).unwrap();
}

fn introspection(c: &mut Criterion) {
    let server = server();
    let authorization = basic();
    let token = issue(&server, scope("read"));
    check(
        &server,
        introspect(&authorization, &token),
        StatusCode::OK,
        r#""active":true"#,
    );
    c.bench_function("introspect/active", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters)
                .map(|_| introspect(&authorization, &token))
                .collect();
            run(&server, requests)
        });
    });

    let unknown = "x".repeat(43);
    check(
        &server,
        introspect(&authorization, &unknown),
        StatusCode::OK,
        r#"{"active":false}"#,
    );
    c.bench_function("introspect/unknown", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters)
                .map(|_| introspect(&authorization, &unknown))
                .collect();
            run(&server, requests)
        });
    });
}

fn revocation(c: &mut Criterion) {
    let server = server();
    let authorization = basic();
    let revoke = |token: &str| post("/oauth/revoke", &authorization, format!("token={token}"));
    let token = issue(&server, scope("read"));
    check(&server, revoke(&token), StatusCode::OK, "{}");
    check(
        &server,
        introspect(&authorization, &token),
        StatusCode::OK,
        r#"{"active":false}"#,
    );
    // Each iteration revokes a fresh, active token.
    c.bench_function("revoke", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters)
                .map(|_| revoke(&issue(&server, scope("read"))))
                .collect();
            let elapsed = run(&server, requests);
            purge(&server);
            elapsed
        });
    });
}

fn token_request(c: &mut Criterion) {
    let server = server();
    let authorization = basic();
    let request = || {
        post(
            "/oauth/token",
            &authorization,
            "grant_type=client_credentials&scope=read".to_owned(),
        )
    };
    check(&server, request(), StatusCode::OK, "access_token");
    c.bench_function("token/client_credentials", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters).map(|_| request()).collect();
            let elapsed = run(&server, requests);
            purge(&server);
            elapsed
        });
    });
}

/// JWT access tokens (RFC 9068) next to opaque ones: issuance signs, introspection verifies the
/// signature before the store lookup.
fn jwt_tokens(c: &mut Criterion) {
    let authorization = basic();
    for algorithm in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
        let server = jwt_server(algorithm);
        let request = || {
            post(
                "/oauth/token",
                &authorization,
                "grant_type=client_credentials&scope=read".to_owned(),
            )
        };
        check(&server, request(), StatusCode::OK, "access_token");
        c.bench_function(
            &format!("token/client_credentials_jwt_{}", algorithm.as_str()),
            |b| {
                b.iter_custom(|iters| {
                    let requests = (0..iters).map(|_| request()).collect();
                    let elapsed = run(&server, requests);
                    purge(&server);
                    elapsed
                });
            },
        );
        let token = issue(&server, scope("read"));
        assert_eq!(token.matches('.').count(), 2, "a JWT");
        check(
            &server,
            introspect(&authorization, &token),
            StatusCode::OK,
            r#""active":true"#,
        );
        c.bench_function(
            &format!("introspect/active_jwt_{}", algorithm.as_str()),
            |b| {
                b.iter_custom(|iters| {
                    let requests = (0..iters)
                        .map(|_| introspect(&authorization, &token))
                        .collect();
                    run(&server, requests)
                });
            },
        );
    }
}

/// DPoP (RFC 9449): a token request with a proof (verified, its `jti` remembered, the tokens
/// bound to its key), and the introspection of a bound token.
fn dpop_tokens(c: &mut Criterion) {
    let server = dpop_server();
    let authorization = basic();
    let key = DpopKey::new();
    let mut n = 0u64;
    let mut request = |server: &oauth_endpoints::AuthorizationServer| {
        n += 1;
        let mut request = post(
            "/oauth/token",
            &authorization,
            "grant_type=client_credentials&scope=read".to_owned(),
        );
        let proof = key.proof(DPOP_TOKEN_URL, server.now(), n);
        request
            .headers_mut()
            .insert("dpop", proof.parse().expect("a header value"));
        request
    };
    check(
        &server,
        request(&server),
        StatusCode::OK,
        r#""token_type":"DPoP""#,
    );
    c.bench_function("token/client_credentials_dpop", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters).map(|_| request(&server)).collect();
            let elapsed = run(&server, requests);
            purge(&server);
            elapsed
        });
    });
    let response = block_on(server.dispatch(request(&server)));
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    check(
        &server,
        introspect(&authorization, &token),
        StatusCode::OK,
        r#""cnf""#,
    );
    c.bench_function("introspect/active_dpop", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters)
                .map(|_| introspect(&authorization, &token))
                .collect();
            run(&server, requests)
        });
    });
}

/// Resource indicators (RFC 8707) and token exchange (RFC 8693): a `client_credentials` request
/// naming a resource, and the exchange of an access token for one meant for a resource.
fn delegation(c: &mut Criterion) {
    let server = exchange_server();
    let authorization = basic();
    let with_resource = || {
        post(
            "/oauth/token",
            &authorization,
            "grant_type=client_credentials&scope=read&resource=https%3A%2F%2Fapi.example.com%2F"
                .to_owned(),
        )
    };
    check(&server, with_resource(), StatusCode::OK, "access_token");
    c.bench_function("token/client_credentials_resource", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters).map(|_| with_resource()).collect();
            let elapsed = run(&server, requests);
            purge(&server);
            elapsed
        });
    });
    let subject = issue(&server, scope("read write"));
    let exchange = |subject: &str| post("/oauth/token", &authorization, exchange_body(subject));
    check(
        &server,
        exchange(&subject),
        StatusCode::OK,
        "issued_token_type",
    );
    c.bench_function("token/exchange", |b| {
        b.iter_custom(|iters| {
            let subject = issue(&server, scope("read write"));
            let requests = (0..iters).map(|_| exchange(&subject)).collect();
            let elapsed = run(&server, requests);
            purge(&server);
            elapsed
        });
    });
}

fn route_lookup(c: &mut Criterion) {
    for endpoints in [4, 1_000] {
        let server = probe_server(endpoints);
        assert_eq!(server.routes().len(), endpoints);
        let request = || Request::get("/bench/probe").body(Bytes::new()).unwrap();
        check(&server, request(), StatusCode::OK, "{}");
        c.bench_function(&format!("route/{endpoints}_endpoints"), |b| {
            b.iter_custom(|iters| run(&server, (0..iters).map(|_| request()).collect()));
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = introspection, revocation, token_request, jwt_tokens, dpop_tokens, delegation,
        route_lookup
}
criterion_main!(benches);
