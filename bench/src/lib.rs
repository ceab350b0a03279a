//! Shared pieces of the benchmarks: a server over a memory store with one confidential client,
//! requests shaped like real HTTP ones, and a minimal executor for `dispatch`.
//!
//! The benchmarks themselves are in `benches/` (`cargo bench -p oauth-endpoints-bench`); the HTTP
//! load benchmark is `bench/http.sh`. `BENCHMARKS.md` at the root of the repository has the
//! figures and how they were obtained.

// Set-up failures (a server that does not build, a token that cannot be issued) leave nothing to
// measure: they stop the benchmark with a message.
#![allow(clippy::panic)]

use std::future::Future;
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request};
use oauth_endpoints::exchange::{ExchangeRequest, TOKEN_EXCHANGE, TokenExchange};
use oauth_endpoints::keys::{KeySet, SigningAlgorithm, SigningKey};
use oauth_endpoints::scope::Scope;
use oauth_endpoints::store::MemoryStore;
use oauth_endpoints::token::{AccessTokenFormat, Jkt, TokenRequest};
use oauth_endpoints::{AuthorizationServer, AuthorizationServerBuilder, Client};

/// The benchmark client's id.
pub const CLIENT_ID: &str = "bench-client";
/// The benchmark client's secret: 43 characters, like a generated one.
pub const CLIENT_SECRET: &str = "kV0wQm3m2b7Yx9cJtP4sH8eR1uZ6aN5dL0fG2hJ3kMq";

/// Runs a future to completion on the current thread.
///
/// The memory store never waits, so `dispatch` over it completes on its first poll; this
/// executor then costs one poll and no allocation, and what is measured is the request path
/// alone. A future that does wait is polled again after yielding the thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::yield_now();
    }
}

/// The benchmark client: confidential, `client_secret_basic`, `client_credentials` and token
/// exchange, scope `read write`, allowed the resource [`RESOURCE`].
#[allow(clippy::expect_used)] // Built from constants: a failure is a broken benchmark.
pub fn client() -> Client {
    Client::confidential(CLIENT_ID, CLIENT_SECRET)
        .with_grant_types(["client_credentials", TOKEN_EXCHANGE])
        .with_scope(scope("read write"))
        .with_allowed_resources([RESOURCE])
        .build()
        .expect("the benchmark client is valid")
}

/// Parses a scope known to be valid.
pub fn scope(text: &str) -> Scope {
    text.parse().unwrap_or_default()
}

/// `Authorization: Basic ...` for the benchmark client (RFC 6749 §2.3.1).
pub fn basic() -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    )
}

/// A server built from `builder` over `store`, with the benchmark client saved.
pub fn server_with(builder: AuthorizationServerBuilder, store: MemoryStore) -> AuthorizationServer {
    let server = match builder.store(store).build() {
        Ok(server) => server,
        Err(error) => panic!("the benchmark server does not build: {error}"),
    };
    if let Err(error) = block_on(server.clients().save(&client())) {
        panic!("cannot save the benchmark client: {error}");
    }
    server
}

/// The default server (every built-in endpoint) over a fresh memory store.
pub fn server() -> AuthorizationServer {
    server_with(AuthorizationServer::builder(), MemoryStore::new())
}

/// The default server issuing JWT access tokens (RFC 9068) signed with a new key of
/// `algorithm`, over a fresh memory store.
pub fn jwt_server(algorithm: SigningAlgorithm) -> AuthorizationServer {
    let key = match SigningKey::generate(algorithm) {
        Ok(key) => key,
        Err(error) => panic!("cannot make a signing key: {error}"),
    };
    server_with(
        AuthorizationServer::builder()
            .issuer("https://bench.example.com")
            .signing_keys(KeySet::new(key))
            .access_token_format(AccessTokenFormat::Jwt),
        MemoryStore::new(),
    )
}

/// Issues an access token to the benchmark client with `scope`, as the token endpoint would,
/// and returns its value.
pub fn issue(server: &AuthorizationServer, scope: Scope) -> String {
    issue_bound(server, scope, None)
}

/// As [`issue`], the token bound to the DPoP key `jkt` (RFC 9449 §6) if given.
pub fn issue_bound(server: &AuthorizationServer, scope: Scope, jkt: Option<Jkt>) -> String {
    static CLIENT: LazyLock<Client> = LazyLock::new(client);
    let request = TokenRequest::new(&CLIENT, scope);
    let request = match jkt {
        Some(jkt) => request.with_confirmation(jkt),
        None => request,
    };
    match block_on(server.issuer().issue(&request)) {
        Ok(issued) => issued.access_token().to_owned(),
        Err(error) => panic!("cannot issue a token: {error}"),
    }
}

/// A DPoP proof signer (RFC 9449 §4.2): an Ed25519 key whose public JWK goes in each proof's
/// header.
pub struct DpopKey(ed25519_dalek::SigningKey);

impl Default for DpopKey {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopKey {
    /// A fixed key (benchmarks need no randomness).
    pub fn new() -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&[42u8; 32]))
    }

    /// A proof of a POST to `htu` at `iat`, with the fresh `jti` number `n`.
    pub fn proof(&self, htu: &str, iat: u64, n: u64) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use ed25519_dalek::Signer;
        let x = URL_SAFE_NO_PAD.encode(self.0.verifying_key().as_bytes());
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": "EdDSA",
            "jwk": {"kty": "OKP", "crv": "Ed25519", "x": x}});
        let claims =
            serde_json::json!({"jti": format!("bench-{n}"), "htm": "POST", "htu": htu, "iat": iat});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.0.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// The default server with an issuer (so DPoP proofs name the token endpoint's URL), over a
/// fresh memory store.
pub fn dpop_server() -> AuthorizationServer {
    server_with(
        AuthorizationServer::builder().issuer("https://bench.example.com"),
        MemoryStore::new(),
    )
}

/// The resource (RFC 8707) the benchmark client may ask tokens for.
pub const RESOURCE: &str = "https://api.example.com/";

/// The default server with token exchange (RFC 8693) allowed to every client.
pub fn exchange_server() -> AuthorizationServer {
    server_with(
        AuthorizationServer::builder()
            .with_state(TokenExchange::new(|_: &ExchangeRequest<'_>| true)),
        MemoryStore::new(),
    )
}

/// The body of a token exchange of the access token `subject` for one meant for [`RESOURCE`].
pub fn exchange_body(subject: &str) -> String {
    format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
         &subject_token={subject}\
         &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
         &resource=https%3A%2F%2Fapi.example.com%2F&scope=read"
    )
}

/// The token endpoint's URL on [`dpop_server`].
pub const DPOP_TOKEN_URL: &str = "https://bench.example.com/oauth/token";

/// A form POST to `path` with the benchmark client's Basic credentials.
pub fn post(path: &str, authorization: &str, body: String) -> Request<Bytes> {
    let request = Request::post(path)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(AUTHORIZATION, authorization)
        .body(Bytes::from(body));
    match request {
        Ok(request) => request,
        Err(error) => panic!("invalid benchmark request: {error}"),
    }
}

/// An introspection request for `token`.
pub fn introspect(authorization: &str, token: &str) -> Request<Bytes> {
    post("/oauth/introspect", authorization, format!("token={token}"))
}

/// The resident set size of this process, in bytes (Linux `/proc/self/statm`); `None`
/// elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // Every Linux platform this runs on uses 4 KiB pages.
    Some(pages * 4096)
}

/// The cheapest endpoint: what is left of `dispatch` is route lookup and the call.
#[derive(Default)]
pub struct Probe;

impl oauth_endpoints::Endpoint for Probe {
    async fn handle(
        &self,
        _cx: &oauth_endpoints::Context,
        _request: Request<Bytes>,
    ) -> oauth_endpoints::EndpointResult {
        Ok(oauth_endpoints::endpoint::json_bytes_response(
            http::StatusCode::OK,
            Bytes::from_static(b"{}"),
        ))
    }
}

/// `endpoints` routes in all: the token, revocation and introspection endpoints,
/// `/bench/probe`, and as many more probes as it takes.
pub fn probe_server(endpoints: usize) -> AuthorizationServer {
    let mut builder = AuthorizationServer::builder()
        .only(["token", "revocation", "introspection"])
        .register_endpoint("probe", "/bench/probe", [Method::GET], Probe);
    for i in 0..endpoints.saturating_sub(4) {
        builder = builder.register_endpoint(
            format!("probe-{i}"),
            format!("/bench/probe/{i}"),
            [Method::GET],
            Probe,
        );
    }
    server_with(builder, MemoryStore::new())
}

/// Times `variants` alternately (41 rounds of 20,000 calls each, the order reversed every other
/// round) and prints each one's median ns per call: load that comes and goes during the run
/// moves them alike, which criterion's one-after-the-other samples do not ensure.
#[allow(clippy::print_stdout)] // A benchmark prints its figures.
pub fn interleaved(group: &str, variants: &mut [(&str, &mut dyn FnMut())]) {
    const ROUNDS: usize = 41;
    const CALLS: u32 = 20_000;
    let mut times = vec![Vec::with_capacity(ROUNDS); variants.len()];
    for round in 0..ROUNDS {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..variants.len()).collect()
        } else {
            (0..variants.len()).rev().collect()
        };
        for i in order {
            let start = std::time::Instant::now();
            for _ in 0..CALLS {
                (variants[i].1)();
            }
            times[i].push(start.elapsed().as_nanos() as f64 / f64::from(CALLS));
        }
    }
    for ((name, _), mut times) in variants.iter().zip(times) {
        times.sort_by(f64::total_cmp);
        println!(
            "{group}/{name}: median {:.1} ns (interleaved)",
            times[ROUNDS / 2]
        );
    }
}
