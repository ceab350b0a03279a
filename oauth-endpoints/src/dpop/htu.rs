//! The `htu` comparison (RFC 9449 §4.3 item 9): the request's target URI without its query and
//! fragment, both sides normalized as RFC 9449 asks ("servers SHOULD employ Syntax-Based
//! Normalization (Section 6.2.2 of RFC 3986) and Scheme-Based Normalization (Section 6.2.3)").
//!
//! What [`normalize`] does, in order:
//!
//! - the query (`?...`) and the fragment (`#...`) are dropped (RFC 9449 §4.3 item 9);
//! - only `http` and `https` URIs with an authority (`scheme://host...`) are read; one with
//!   user information (`user@host`) or characters outside visible ASCII is not a target URI
//!   this server compares, and never matches;
//! - case (RFC 3986 §6.2.2.1): the scheme and the host are lowercased; the hexadecimal digits
//!   of percent-encodings are uppercased;
//! - percent-encoding (§6.2.2.2): percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`)
//!   are decoded; a malformed percent-encoding never matches;
//! - path segments (§6.2.2.3): `.` and `..` segments are removed (RFC 3986 §5.2.4);
//! - scheme-based (§6.2.3): the default port (`443` for `https`, `80` for `http`) and an empty
//!   port are dropped, other ports are written without leading zeros; an empty path is `/`.
//!
//! Not normalized: internationalized host names (compared as sent, no IDNA mapping), a trailing
//! `/` (`/a/` and `/a` differ, RFC 3986 §6.2.3 does not make them equal), percent-encodings of
//! reserved characters (`%2F` stays, and differs from `/`).

/// `uri` normalized as `scheme://host[:port]/path`, or `None` when it is not an absolute
/// `http` or `https` URI this comparison reads.
pub(crate) fn normalize(uri: &str) -> Option<String> {
    if uri.is_empty() || !uri.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return None;
    }
    // RFC 9449 §4.3 item 9: "ignoring any query and fragment parts".
    let uri = uri.split('#').next().unwrap_or_default();
    let uri = uri.split('?').next().unwrap_or_default();
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        // An IP literal (RFC 3986 §3.2.2), then perhaps a port.
        let end = authority.find(']')?;
        let (host, after) = authority.split_at(end + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let host = percent_normalize(host, true)?;
    // §6.2.3: an empty port or the scheme's default is left out.
    let port = match port {
        None | Some("") => None,
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
            let trimmed = digits.trim_start_matches('0');
            let number: u32 = if trimmed.is_empty() {
                0
            } else if trimmed.len() > 5 {
                return None;
            } else {
                trimmed.parse().ok()?
            };
            if number > 65_535 {
                return None;
            }
            (number != default_port).then_some(number)
        }
        Some(_) => return None,
    };
    let path = remove_dot_segments(&percent_normalize(path, false)?);
    let mut normalized = format!("{scheme}://{host}");
    if let Some(port) = port {
        normalized.push(':');
        normalized.push_str(&port.to_string());
    }
    normalized.push_str(&path);
    Some(normalized)
}

/// RFC 3986 §6.2.2.1 and §6.2.2.2: percent-encoded unreserved characters decoded, the others'
/// hexadecimal digits uppercased; `lowercase` lowercases the rest (for the host). `None` on a
/// malformed percent-encoding.
fn percent_normalize(text: &str, lowercase: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let high = hex(*bytes.get(i + 1)?)?;
            let low = hex(*bytes.get(i + 2)?)?;
            let decoded = high << 4 | low;
            if decoded.is_ascii_alphanumeric() || matches!(decoded, b'-' | b'.' | b'_' | b'~') {
                let decoded = char::from(decoded);
                out.push(if lowercase {
                    decoded.to_ascii_lowercase()
                } else {
                    decoded
                });
            } else {
                out.push('%');
                out.push(char::from(bytes[i + 1]).to_ascii_uppercase());
                out.push(char::from(bytes[i + 2]).to_ascii_uppercase());
            }
            i += 3;
        } else {
            let c = char::from(byte);
            out.push(if lowercase { c.to_ascii_lowercase() } else { c });
            i += 1;
        }
    }
    Some(out)
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// RFC 3986 §5.2.4 for an absolute path (or an empty one, which becomes `/`, §6.2.3).
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (index, segment) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        match *segment {
            "." => {}
            ".." => {
                out.pop();
            }
            other => {
                out.push(other);
                continue;
            }
        }
        // A final `.` or `..` leaves the path ending with `/`.
        if last {
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_uris_normalize_alike() {
        let base = Some("https://server.example.com/token".to_owned());
        for uri in [
            "https://server.example.com/token",
            "HTTPS://Server.Example.COM/token",
            "https://server.example.com:443/token",
            "https://server.example.com:/token",
            "https://server.example.com:0443/token",
            "https://server.example.com/token?x=1",
            "https://server.example.com/token#frag",
            "https://server.example.com/token?x=1#frag",
            "https://server.example.com/%74oken",
            "https://server.example.com/a/../token",
            "https://server.example.com/./token",
            "https://%73erver.example.com/token",
        ] {
            assert_eq!(normalize(uri), base, "{uri}");
        }
        assert_eq!(
            normalize("http://Example.com:80"),
            Some("http://example.com/".to_owned())
        );
        assert_eq!(
            normalize("http://example.com:8080/a/b/.."),
            Some("http://example.com:8080/a/".to_owned())
        );
        assert_eq!(
            normalize("https://[::1]:8443/p%2fq"),
            Some("https://[::1]:8443/p%2Fq".to_owned())
        );
        assert_eq!(
            normalize("https://[::1]/"),
            Some("https://[::1]/".to_owned())
        );
    }

    #[test]
    fn different_or_unreadable_uris_differ() {
        let base = normalize("https://server.example.com/token");
        for uri in [
            "https://server.example.com/Token",
            "https://server.example.com/token/",
            "https://server.example.com:8443/token",
            "http://server.example.com/token",
            "https://other.example.com/token",
            "https://server.example.com/tok%2Fen",
        ] {
            assert_ne!(normalize(uri), base, "{uri}");
        }
        for uri in [
            "",
            "/token",
            "server.example.com/token",
            "ftp://server.example.com/token",
            "https://user@server.example.com/token",
            "https:///token",
            "https://server.example.com:99999/token",
            "https://server.example.com:12a/token",
            "https://server.example.com/to ken",
            "https://server.example.com/%zz",
            "https://server.example.com/%4",
            "https://[::1/",
            "https://[::1]x/",
        ] {
            assert_eq!(normalize(uri), None, "{uri}");
        }
    }

    #[test]
    fn dot_segments_follow_rfc_3986_section_5_2_4() {
        for (path, expected) in [
            ("", "/"),
            ("/", "/"),
            ("/a/b/c/./../../g", "/a/g"),
            ("/mid/content=5/../6", "/mid/6"),
            ("/..", "/"),
            ("/a/..", "/"),
            ("/a/.", "/a/"),
            ("/a//b", "/a//b"),
            ("/a/b/../../..", "/"),
        ] {
            assert_eq!(remove_dot_segments(path), expected, "{path}");
        }
    }
}
