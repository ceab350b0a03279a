//! The memory store at scale: resident memory per stored token, and introspection latency with
//! 1,000 and with 1,000,000 tokens stored.
//!
//! ```sh
//! cargo bench -p oauth-endpoints-bench --bench scale
//! ```
//!
//! Tokens are issued as the token endpoint issues them for `client_credentials`: one grant per
//! token, the scope parsed from each request. Memory is the growth of the process's resident
//! set (`/proc/self/statm`) while they are stored, divided by their number. Latency is one
//! `dispatch` of an introspection request (client_secret_basic) for an active token; the
//! tokens asked about rotate through up to 100,000 distinct stored tokens, so that a large store
//! is not measured through a warm cache.
//!
//! With `SCALE_BOUND_KEYS=n` (n > 0) every token is bound to one of `n` DPoP keys (RFC 9449 §6,
//! `cnf.jkt`), round robin: what a deployment where every client uses DPoP stores.

// A benchmark whose set-up fails has nothing to measure: it stops with a message. Its report is
// its output.
#![allow(clippy::panic, clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use oauth_endpoints::AuthorizationServer;
use oauth_endpoints::token::{Jkt, TokenRecord};
use oauth_endpoints_bench::{
    basic, block_on, introspect, issue_bound, resident_bytes, scope, server,
};

/// How many distinct tokens the latency benchmark asks about, at most.
const SAMPLE: usize = 100_000;

/// How many DPoP keys the tokens are bound to (`SCALE_BOUND_KEYS`); `None`: bearer tokens.
fn bound_keys() -> Option<u32> {
    std::env::var("SCALE_BOUND_KEYS")
        .ok()
        .and_then(|keys| keys.parse().ok())
        .filter(|&keys| keys > 0)
}

/// The `i`th of `keys` distinct key thumbprints.
fn key(i: usize, keys: u32) -> Jkt {
    let mut bytes = [0x5a; 32];
    let n = u32::try_from(i % keys as usize).unwrap_or(0);
    bytes[..4].copy_from_slice(&n.to_le_bytes());
    Jkt::from_bytes(bytes)
}

/// A server holding `count` active tokens, and some of their values.
fn filled(count: usize) -> (AuthorizationServer, Vec<String>) {
    let server = server();
    let keys = bound_keys();
    let every = count.div_ceil(SAMPLE);
    let before = resident_bytes();
    let mut sample = Vec::with_capacity(count.min(SAMPLE));
    let started = Instant::now();
    for i in 0..count {
        // Parsed per token, as the token endpoint parses each request's `scope`.
        let token = issue_bound(&server, scope("read"), keys.map(|keys| key(i, keys)));
        if i % every == 0 {
            sample.push(token);
        }
    }
    let elapsed = started.elapsed();
    let after = resident_bytes();
    // The sample's strings are a little of the growth; they are counted, not subtracted.
    match (before, after) {
        (Some(before), Some(after)) => println!(
            "memory_store/{count}_tokens{}: {:.1} bytes of resident memory per token \
             ({:.1} MiB for {count} tokens; stored in {:.2?})",
            keys.map(|keys| format!(" (bound to {keys} keys)"))
                .unwrap_or_default(),
            after.saturating_sub(before) as f64 / count as f64,
            after.saturating_sub(before) as f64 / (1024.0 * 1024.0),
            elapsed,
        ),
        _ => println!("memory_store/{count}_tokens: resident memory is not readable here"),
    }
    (server, sample)
}

fn latency(c: &mut Criterion, count: usize) {
    let (server, sample) = filled(count);
    let authorization = basic();
    let response = block_on(server.dispatch(introspect(&authorization, &sample[0])));
    assert!(
        String::from_utf8_lossy(response.body()).contains(r#""active":true"#),
        "the stored token is not active"
    );
    let mut next = 0;
    c.bench_function(&format!("introspect/active/{count}_tokens"), |b| {
        b.iter_custom(|iters| {
            let requests: Vec<_> = (0..iters)
                .map(|_| {
                    next = (next + 1) % sample.len();
                    introspect(&authorization, &sample[next])
                })
                .collect();
            let start = Instant::now();
            for request in requests {
                black_box(block_on(server.dispatch(black_box(request))));
            }
            start.elapsed()
        });
    });
}

fn main() {
    println!(
        "size_of::<TokenRecord>() = {} bytes",
        size_of::<TokenRecord>()
    );
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    // The large store first: its growth is measured on a fresh heap, before benchmarking has
    // left freed memory behind for it to reuse (which would hide part of its size).
    latency(&mut c, 1_000_000);
    latency(&mut c, 1_000);
    c.final_summary();
}
