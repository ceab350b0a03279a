//! `Form`'s hand-written layout (the body copied once, parameters kept as `u32` offsets into it
//! unless decoding changed them) against the plain one, `Vec<(String, String)>`, in one run.
//!
//! ```sh
//! cargo bench -p oauth-endpoints-bench --bench form_offsets
//! ```
//!
//! Each iteration parses a body and reads the parameters its endpoint reads, then drops the
//! form: a refresh-token request (99 bytes, a 43-character token and a `scope` with a `+`) and
//! an introspection request (99 bytes, a 64-character token). Both parsers make the same checks
//! (repeated names, the parameter bound, `check_parameter`).

// A benchmark's report is its output.
#![allow(clippy::print_stdout)]

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use oauth_endpoints::form::Form;
use oauth_endpoints::syntax::check_parameter;
use oauth_endpoints_bench::interleaved;
use percent_encoding::percent_decode;

/// The plain form: every name and value decoded into its own `String`.
struct PlainForm {
    pairs: Vec<(String, String)>,
}

impl PlainForm {
    fn parse_body(body: &[u8]) -> Result<Self, ()> {
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(4);
        for segment in body.split(|&b| b == b'&') {
            if segment.is_empty() {
                continue;
            }
            if pairs.len() == Form::MAX_PARAMETERS {
                return Err(());
            }
            let (name, value) = match segment.iter().position(|&b| b == b'=') {
                Some(at) => (&segment[..at], &segment[at + 1..]),
                None => (segment, &segment[segment.len()..]),
            };
            let name = decode(name)?;
            if pairs.iter().any(|(seen, _)| *seen == name) {
                return Err(());
            }
            let value = decode(value)?;
            check_parameter(&name, &value).map_err(|_| ())?;
            pairs.push((name, value));
        }
        Ok(Self { pairs })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }
}

/// `+` is a space, then percent-decoding, then UTF-8 (as `form.rs` decodes).
fn decode(raw: &[u8]) -> Result<String, ()> {
    let raw: Cow<'_, [u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    percent_decode(&raw)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| ())
}

const TOKEN_REQUEST: &[u8] =
    b"grant_type=refresh_token&refresh_token=kV0wQm3m2b7Yx9cJtP4sH8eR1uZ6aN5dL0fG2hJ3kMq&scope=read+write";
const TOKEN_READS: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "refresh_token",
    "scope",
];
const INTROSPECTION: &[u8] = b"token=Zp3Kq8Lw2Xn5Rb7Tv0Yc4Hm6Jd9Fs1Ga3Qe5Wr7Ut9Io2Pa4Sd6Fg8Hj0Kl2Mn4B&token_type_hint=access_token";
const INTROSPECTION_READS: &[&str] = &["client_id", "client_secret", "token", "token_type_hint"];

fn forms(c: &mut Criterion) {
    assert_eq!((TOKEN_REQUEST.len(), INTROSPECTION.len()), (99, 99));
    for (name, body, reads) in [
        ("token_request", TOKEN_REQUEST, TOKEN_READS),
        ("introspection", INTROSPECTION, INTROSPECTION_READS),
    ] {
        // Both read the same values.
        let (offsets, plain) = match (Form::parse_body(body), PlainForm::parse_body(body)) {
            (Ok(offsets), Ok(plain)) => (offsets, plain),
            _ => return,
        };
        for read in reads {
            assert_eq!(offsets.get(read), plain.get(read), "{read}");
        }
        let mut group = c.benchmark_group(format!("form/{name}"));
        group.bench_function(BenchmarkId::new("parse_and_read", "u32_offsets"), |b| {
            b.iter(|| {
                let form = Form::parse_body(black_box(body));
                if let Ok(form) = &form {
                    for read in reads {
                        black_box(form.get(read));
                    }
                }
                form
            });
        });
        group.bench_function(BenchmarkId::new("parse_and_read", "vec_string"), |b| {
            b.iter(|| {
                let form = PlainForm::parse_body(black_box(body));
                if let Ok(form) = &form {
                    for read in reads {
                        black_box(form.get(read));
                    }
                }
                form
            });
        });
        group.finish();
        interleaved(
            &format!("form/{name}/parse_and_read"),
            &mut [
                ("u32_offsets", &mut || {
                    if let Ok(form) = Form::parse_body(black_box(body)) {
                        for read in reads {
                            black_box(form.get(read));
                        }
                    }
                }),
                ("vec_string", &mut || {
                    if let Ok(form) = PlainForm::parse_body(black_box(body)) {
                        for read in reads {
                            black_box(form.get(read));
                        }
                    }
                }),
            ],
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = forms
}
criterion_main!(benches);
