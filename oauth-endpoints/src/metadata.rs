//! Authorization server metadata (RFC 8414), generated from the registry so it never drifts
//! from what is mounted.

use bytes::Bytes;
use http::Uri;
use serde_json::{Map, Value};

use crate::client::ASSERTION_SIGNING_ALGORITHMS;
use crate::client_auth::ClientAuthMethod;
use crate::config::ServerConfig;
use crate::grant::Grants;
use crate::route::Route;

/// The well-known path of RFC 8414 §3.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-authorization-server";

/// Endpoints whose accepted client authentication methods RFC 8414 §2 publishes, by metadata
/// name: the methods' key, and the key of the JWS algorithms accepted for `private_key_jwt`,
/// which RFC 8414 §2 requires when the methods list it.
const AUTH_METHOD_KEYS: &[(&str, &str, &str)] = &[
    (
        "token_endpoint",
        "token_endpoint_auth_methods_supported",
        "token_endpoint_auth_signing_alg_values_supported",
    ),
    (
        "revocation_endpoint",
        "revocation_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
    ),
    (
        "introspection_endpoint",
        "introspection_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_signing_alg_values_supported",
    ),
];

/// An issuer split into its origin (`https://host:port`) and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issuer {
    pub(crate) origin: String,
    pub(crate) path: String,
}

/// Checks the issuer identifier (RFC 8414 §2): an `https` URL with no query or fragment; `http`
/// is accepted only on a loopback host, for development.
pub(crate) fn parse_issuer(issuer: &str) -> Result<Issuer, &'static str> {
    if issuer.contains('#') {
        return Err("must not have a fragment");
    }
    let uri: Uri = issuer.parse().map_err(|_| "is not a URL")?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err("must be an absolute URL with a host");
    };
    if uri.query().is_some() {
        return Err("must not have a query");
    }
    if authority.as_str().contains('@') {
        return Err("must not carry user information");
    }
    let host = authority.host();
    let loopback = host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err("must use https (http is accepted only on a loopback host)"),
        _ => return Err("must use https"),
    }
    let path = uri.path().trim_end_matches('/').to_owned();
    Ok(Issuer {
        origin: format!("{scheme}://{authority}"),
        path,
    })
}

/// Where the metadata document of `issuer` lives (RFC 8414 §3.1: the well-known segment goes
/// between the host and the issuer's path).
pub(crate) fn well_known_path(issuer: &Issuer) -> String {
    format!("{WELL_KNOWN_PATH}{}", issuer.path)
}

/// Builds the document (RFC 8414 §2) from the mounted routes, the grants and the configuration.
pub(crate) fn document(
    issuer: &Issuer,
    issuer_text: &str,
    routes: &[Route],
    grants: &Grants,
    config: &ServerConfig,
    published: &Map<String, Value>,
) -> Map<String, Value> {
    let mut document = config.metadata_fields.clone();
    // What mounted endpoints and grants publish (`Setup::publish`) wins over the builder's
    // fields, which `build()` then checks against it.
    document.extend(published.iter().map(|(k, v)| (k.clone(), v.clone())));
    document.insert("issuer".into(), issuer_text.into());
    for route in routes {
        let Some(name) = route.metadata() else {
            continue;
        };
        document.insert(
            name.into(),
            format!("{}{}", issuer.origin, route.path()).into(),
        );
        if let Some((_, key, algorithms)) = AUTH_METHOD_KEYS.iter().find(|(n, ..)| *n == name) {
            let methods: Vec<Value> = route
                .auth_methods()
                .iter()
                .map(|m| m.as_str().into())
                .collect();
            document.insert((*key).into(), methods.into());
            // RFC 8414 §2: present whenever `private_key_jwt` is offered; never `none`.
            if route
                .auth_methods()
                .contains(&ClientAuthMethod::PrivateKeyJwt)
            {
                document.insert(
                    (*algorithms).into(),
                    ASSERTION_SIGNING_ALGORITHMS.to_vec().into(),
                );
            }
        }
    }
    let grant_types: Vec<Value> = grants
        .grant_types()
        .iter()
        .map(|g| g.as_str().into())
        .collect();
    document.insert("grant_types_supported".into(), grant_types.into());
    // Without a mounted authorization endpoint (which publishes its response types), none;
    // applications that serve one elsewhere add theirs with `metadata_field`.
    document
        .entry("response_types_supported")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(scopes) = &config.scopes_supported {
        document.insert("scopes_supported".into(), scopes.clone().into());
    }
    if let Some(url) = &config.service_documentation {
        document.insert("service_documentation".into(), url.as_str().into());
    }
    document
}

/// The document as the bytes the metadata endpoint serves.
pub(crate) fn to_bytes(document: &Map<String, Value>) -> Bytes {
    Bytes::from(serde_json::to_vec(document).unwrap_or_else(|_| b"{}".to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_follow_rfc_8414() {
        assert_eq!(
            parse_issuer("https://auth.example.com/tenant/").unwrap(),
            Issuer {
                origin: "https://auth.example.com".into(),
                path: "/tenant".into()
            }
        );
        assert!(parse_issuer("http://127.0.0.1:8080").is_ok());
        assert!(parse_issuer("http://localhost").is_ok());
        assert!(parse_issuer("http://auth.example.com").is_err());
        assert!(parse_issuer("https://auth.example.com?x=1").is_err());
        assert!(parse_issuer("https://auth.example.com#x").is_err());
        assert!(parse_issuer("ftp://auth.example.com").is_err());
        assert!(parse_issuer("/relative").is_err());
    }
}
