//! The Basic header parser of `client_secret_basic` (RFC 6749 §2.3.1, RFC 7617): no panic on any
//! header; what parses re-encodes to the same credentials; any client id and secret survive the
//! encoding; `Debug` never prints the secret.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_endpoints::{BasicCredentials, parse_basic};
use oauth_endpoints_fuzz::basic;

fuzz_target!(|data: &[u8]| {
    // Any header value.
    if let Ok(credentials) = parse_basic(data) {
        round_trip(&credentials.client_id, &credentials.client_secret);
        check_debug(&credentials);
    }
    // Any id and secret (split at the first NUL) survive the encoding.
    let (id, secret) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    round_trip(
        &String::from_utf8_lossy(id),
        &String::from_utf8_lossy(secret),
    );
});

fn round_trip(client_id: &str, client_secret: &str) {
    let header = basic(client_id, client_secret);
    let parsed = parse_basic(header.as_bytes());
    assert_eq!(
        parsed,
        Ok(BasicCredentials {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
        }),
        "header {header:?}"
    );
    // Trailing and leading spaces around the credentials are tolerated.
    let padded = format!("Basic   {}  ", &header["Basic ".len()..]);
    assert_eq!(parse_basic(padded.as_bytes()), parsed);
}

fn check_debug(credentials: &BasicCredentials) {
    let expected = format!(
        "BasicCredentials {{ client_id: {:?}, client_secret: \"<redacted>\" }}",
        credentials.client_id
    );
    assert_eq!(format!("{credentials:?}"), expected);
}
