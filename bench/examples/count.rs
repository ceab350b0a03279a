//! Runs one in-process scenario of the `dispatch` benchmark a fixed number of times, for
//! counting instructions (valgrind's cachegrind, or `perf stat` where the machine exposes
//! counters): unlike wall time, the count barely moves when other programs share the machine,
//! so it tells small optimisations apart.
//!
//! ```sh
//! cargo build --release -p oauth-endpoints-bench --example count
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/count introspect-active 20000 build
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/count introspect-active 20000 dispatch
//! ```
//!
//! `build` only builds the requests; `dispatch` builds and dispatches them. The difference of
//! the two counts divided by the number of requests is the instructions of one `dispatch`
//! (`bench/instructions.sh` does this for every scenario).

// A benchmark whose set-up fails has nothing to measure: it stops with a message.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::hint::black_box;

use bytes::Bytes;
use http::{Request, StatusCode};
use oauth_endpoints::AuthorizationServer;
use oauth_endpoints::keys::SigningAlgorithm;
use oauth_endpoints_bench::{
    DPOP_TOKEN_URL, DpopKey, basic, block_on, dpop_server, exchange_body, exchange_server,
    introspect, issue, jwt_server, post, probe_server, scope, server,
};

/// Builds the next request of a scenario.
type MakeRequest = Box<dyn Fn(&AuthorizationServer) -> Request<Bytes>>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(scenario), Some(count), Some(mode)) = (args.get(1), args.get(2), args.get(3)) else {
        println!(
            "usage: count SCENARIO COUNT build|dispatch\nscenarios: introspect-active \
             introspect-unknown introspect-jwt introspect-jwt-eddsa revoke token token-jwt \
             token-jwt-eddsa token-dpop token-resource token-exchange route-4 route-1000"
        );
        return;
    };
    let count: usize = count.parse().expect("COUNT is a number");
    let dispatch = mode == "dispatch";
    let authorization = basic();
    let (server, make): (AuthorizationServer, MakeRequest) = match scenario.as_str() {
        "introspect-active" => {
            let server = server();
            let token = issue(&server, scope("read"));
            (
                server,
                Box::new(move |_| introspect(&authorization, &token)),
            )
        }
        "introspect-unknown" => {
            let token = "x".repeat(43);
            (
                server(),
                Box::new(move |_| introspect(&authorization, &token)),
            )
        }
        "revoke" => (
            server(),
            Box::new(move |server| {
                let token = issue(server, scope("read"));
                post("/oauth/revoke", &authorization, format!("token={token}"))
            }),
        ),
        "token" => (
            server(),
            Box::new(move |_| {
                post(
                    "/oauth/token",
                    &authorization,
                    "grant_type=client_credentials&scope=read".to_owned(),
                )
            }),
        ),
        "introspect-jwt" | "introspect-jwt-eddsa" => {
            let algorithm = if scenario == "introspect-jwt" {
                SigningAlgorithm::Es256
            } else {
                SigningAlgorithm::EdDsa
            };
            let server = jwt_server(algorithm);
            let token = issue(&server, scope("read"));
            (
                server,
                Box::new(move |_| introspect(&authorization, &token)),
            )
        }
        "token-jwt" | "token-jwt-eddsa" => (
            jwt_server(if scenario == "token-jwt" {
                SigningAlgorithm::Es256
            } else {
                SigningAlgorithm::EdDsa
            }),
            Box::new(move |_| {
                post(
                    "/oauth/token",
                    &authorization,
                    "grant_type=client_credentials&scope=read".to_owned(),
                )
            }),
        ),
        "token-dpop" => {
            let key = DpopKey::new();
            let counter = std::cell::Cell::new(0u64);
            (
                dpop_server(),
                Box::new(move |server| {
                    counter.set(counter.get() + 1);
                    let proof = key.proof(DPOP_TOKEN_URL, server.now(), counter.get());
                    let mut request = post(
                        "/oauth/token",
                        &authorization,
                        "grant_type=client_credentials&scope=read".to_owned(),
                    );
                    request
                        .headers_mut()
                        .insert("dpop", proof.parse().expect("a header value"));
                    request
                }),
            )
        }
        "token-resource" => (
            exchange_server(),
            Box::new(move |_| {
                post(
                    "/oauth/token",
                    &authorization,
                    "grant_type=client_credentials&scope=read\
                     &resource=https%3A%2F%2Fapi.example.com%2F"
                        .to_owned(),
                )
            }),
        ),
        "token-exchange" => {
            let server = exchange_server();
            let subject = issue(&server, scope("read write"));
            (
                server,
                Box::new(move |_| post("/oauth/token", &authorization, exchange_body(&subject))),
            )
        }
        "route-4" | "route-1000" => {
            let endpoints = if scenario == "route-4" { 4 } else { 1_000 };
            (
                probe_server(endpoints),
                Box::new(|_| Request::get("/bench/probe").body(Bytes::new()).unwrap()),
            )
        }
        other => panic!("unknown scenario {other}"),
    };
    let mut ok = 0usize;
    for _ in 0..count {
        let request = make(&server);
        if dispatch {
            let response = block_on(server.dispatch(black_box(request)));
            ok += usize::from(response.status() == StatusCode::OK);
            black_box(response);
        } else {
            black_box(request);
            ok += 1;
        }
    }
    assert_eq!(ok, count, "some requests were not answered 200");
}
