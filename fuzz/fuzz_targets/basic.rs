//! The Basic header parser of `client_secret_basic` (RFC 6749 §2.3.1, RFC 7617): no panic on any
//! header; what parses is `VSCHAR` (RFC 6749 A.1, A.2: no NUL or other control character, no
//! non-ASCII) and re-encodes to the same credentials; any client id and secret in `VSCHAR`
//! survive the encoding, and any other is refused; `Debug` never prints the secret.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_endpoints::client_auth::{BasicCredentials, parse_basic};
use oauth_endpoints_fuzz::basic;

fuzz_target!(|data: &[u8]| {
    // Any header value.
    if let Ok(credentials) = parse_basic(data) {
        assert!(is_vschar(&credentials.client_id) && is_vschar(&credentials.client_secret));
        round_trip(&credentials.client_id, &credentials.client_secret);
        check_debug(&credentials);
    }
    // Any id and secret (split at the first NUL) survive the encoding when they are VSCHAR,
    // and are refused otherwise.
    let (id, secret) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let (id, secret) = (String::from_utf8_lossy(id), String::from_utf8_lossy(secret));
    if is_vschar(&id) && is_vschar(&secret) {
        round_trip(&id, &secret);
    } else {
        assert!(parse_basic(basic(&id, &secret).as_bytes()).is_err());
    }
});

fn is_vschar(text: &str) -> bool {
    text.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

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
