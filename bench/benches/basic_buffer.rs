//! Decoding a `client_secret_basic` header into a stack buffer, the id and secret borrowed from
//! it (how `client_auth/basic.rs` reads it for `authenticate_client`), against the plain way,
//! `base64` decoding into a `Vec` and owned strings, in one run.
//!
//! ```sh
//! cargo bench -p oauth-endpoints-bench --bench basic_buffer
//! ```
//!
//! The header carries a 12-character client id and a 32-character secret. `parse_basic` (the
//! crate's public function: the stack buffer, then owned strings) is measured beside them.

// A benchmark's report is its output.
#![allow(clippy::print_stdout)]

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use oauth_endpoints::client_auth::parse_basic;
use oauth_endpoints::syntax::is_vschar;
use oauth_endpoints_bench::interleaved;
use percent_encoding::percent_decode;

/// Standard base64, padding optional, as `basic.rs` reads it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const BUFFER: usize = 128;

/// `basic.rs`: decoded into `buffer` when it fits, the id and secret borrowed from it.
fn stack<'a>(value: &[u8], buffer: &'a mut [u8]) -> Option<(Cow<'a, str>, Cow<'a, str>)> {
    let encoded = value.get(6..)?;
    let length = BASE64.decode_slice(encoded, &mut *buffer).ok()?;
    let buffer: &'a [u8] = buffer;
    split(buffer.get(..length)?)
}

/// The plain way: a `Vec`, then owned strings.
fn vec(value: &[u8]) -> Option<(String, String)> {
    let decoded = BASE64.decode(value.get(6..)?).ok()?;
    let (id, secret) = split(&decoded)?;
    Some((id.into_owned(), secret.into_owned()))
}

fn split(decoded: &[u8]) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
    let colon = decoded.iter().position(|&b| b == b':')?;
    let id = decode_cow(&decoded[..colon])?;
    let secret = decode_cow(&decoded[colon + 1..])?;
    (is_vschar(&id) && is_vschar(&secret)).then_some((id, secret))
}

fn decode_cow(raw: &[u8]) -> Option<Cow<'_, str>> {
    if raw.contains(&b'+') {
        let raw: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        return percent_decode(&raw)
            .decode_utf8()
            .ok()
            .map(|text| Cow::Owned(text.into_owned()));
    }
    percent_decode(raw).decode_utf8().ok()
}

fn basic(c: &mut Criterion) {
    let header = format!(
        "Basic {}",
        BASE64.encode("bench-client:q7Vd2LkP9sXw4Nz8Bt1Hc6Rm3Jy5Fg0A")
    );
    let header = header.as_bytes();
    let mut buffer = [0u8; BUFFER];
    let expected = ("bench-client", "q7Vd2LkP9sXw4Nz8Bt1Hc6Rm3Jy5Fg0A");
    assert_eq!(
        stack(header, &mut buffer).map(|(a, b)| (a.into_owned(), b.into_owned())),
        vec(header)
    );
    assert!(
        vec(header).is_some_and(|(a, b)| (a.as_str(), b.as_str()) == expected),
        "the header does not read back"
    );
    let mut group = c.benchmark_group("basic/32_char_secret");
    group.bench_function(BenchmarkId::new("decode", "stack_borrowed"), |b| {
        b.iter(|| {
            let mut buffer = [0u8; BUFFER];
            black_box(
                stack(black_box(header), &mut buffer).map(|(id, secret)| id.len() + secret.len()),
            )
        });
    });
    group.bench_function(BenchmarkId::new("decode", "vec_owned"), |b| {
        b.iter(|| vec(black_box(header)));
    });
    group.bench_function(BenchmarkId::new("decode", "parse_basic"), |b| {
        b.iter(|| parse_basic(black_box(header)));
    });
    group.finish();
    interleaved(
        "basic/32_char_secret/decode",
        &mut [
            ("stack_borrowed", &mut || {
                let mut buffer = [0u8; BUFFER];
                black_box(
                    stack(black_box(header), &mut buffer)
                        .map(|(id, secret)| id.len() + secret.len()),
                );
            }),
            ("vec_owned", &mut || {
                black_box(vec(black_box(header)));
            }),
            ("parse_basic", &mut || {
                let _ = black_box(parse_basic(black_box(header)));
            }),
        ],
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = basic
}
criterion_main!(benches);
