//! The token type identifiers of RFC 8693 §3.

/// An OAuth 2.0 access token issued by the authorization server in question (RFC 8693 §3).
pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// An OAuth 2.0 refresh token issued by the authorization server in question (RFC 8693 §3).
pub const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
/// An ID Token (OpenID Connect Core §2; RFC 8693 §3).
pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
/// A JWT (RFC 7519; RFC 8693 §3).
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// A base64url-encoded SAML 1.1 assertion (RFC 8693 §3).
pub const SAML1: &str = "urn:ietf:params:oauth:token-type:saml1";
/// A base64url-encoded SAML 2.0 assertion (RFC 8693 §3).
pub const SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";
