//! [`ClientBuilder`]: the one way to make a [`Client`], and the rules every client obeys.

use std::fmt;
use std::sync::Arc;

use crate::authorization::RedirectUri;
use crate::client::{Client, ClientData, ClientKeys, PreviousSecret, SecretPolicy};
use crate::client_auth::ClientAuthMethod;
use crate::config::DEFAULT_INTROSPECTION_SCOPE;
use crate::grant::CLIENT_CREDENTIALS;
use crate::scope::Scope;
use crate::secret::SecretHash;
use crate::syntax::is_vschar;
use crate::target::is_target;
use crate::token::AccessTokenFormat;

/// A client that breaks a rule; names the RFC 7591 field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {problem}")]
pub struct InvalidClient {
    /// The RFC 7591 field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// How the client proves who it is, as given to the builder.
#[derive(Clone)]
pub(crate) enum Credential {
    /// A secret the client (or its operator) chose: checked by the [`SecretPolicy`], then hashed.
    Plain(Box<str>),
    /// A stored hash (checked when it was first set).
    Hash(SecretHash),
    /// No secret: a public client.
    None,
}

/// Builds a [`Client`]: start from [`Client::confidential`], [`Client::with_secret_hash`],
/// [`Client::public`] or [`Client::to_builder`], set fields, then [`build`](Self::build), which
/// checks every rule at once.
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ClientBuilder {
    data: ClientData,
    credential: Credential,
    policy: SecretPolicy,
    /// Redirect URIs as given to `with_redirect_uris`, parsed at `build`; `None` keeps the
    /// client's.
    redirect_uris: Option<Vec<String>>,
    /// A JWK Set as given to `with_jwks` (`Some(None)`: `without_jwks`), checked at `build`;
    /// `None` keeps the client's.
    jwks: Option<Option<String>>,
}

impl ClientBuilder {
    pub(crate) fn new(client_id: Arc<str>, credential: Credential) -> Self {
        Self::from_data(
            ClientData {
                client_id,
                secret_hash: None,
                previous_secret: None,
                auth_method: ClientAuthMethod::ClientSecretBasic,
                grant_types: vec![CLIENT_CREDENTIALS.to_owned()],
                scope: Scope::empty(),
                introspect_any_token: false,
                allowed_cors_origins: Vec::new(),
                redirect_uris: Vec::new(),
                refresh_token_grace: None,
                require_pushed_authorization_requests: false,
                dpop_bound_access_tokens: false,
                keys: None,
                access_token_format: None,
                allowed_resources: Vec::new(),
                served_resources: Vec::new(),
            },
            credential,
        )
    }

    pub(crate) fn from_data(data: ClientData, credential: Credential) -> Self {
        Self {
            data,
            credential,
            policy: SecretPolicy::default(),
            redirect_uris: None,
            jwks: None,
        }
    }

    /// Sets `token_endpoint_auth_method`: the one method this client must use. `none` is for
    /// public clients only; `client_secret_*` for clients with a secret; `private_key_jwt` for
    /// clients without a secret that registered their public keys
    /// ([`with_jwks`](Self::with_jwks)).
    pub fn with_auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.data.auth_method = method;
        self
    }

    /// Sets `grant_types`: the grants the client may use at the token endpoint.
    pub fn with_grant_types<I, S>(mut self, grant_types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.data.grant_types = grant_types.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `scope`: the scopes the client may be granted.
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.data.scope = scope;
        self
    }

    /// Lets the client (a resource server) introspect tokens issued to other clients.
    /// Confidential clients only (RFC 7662 §4).
    pub fn with_introspect_any_token(mut self, allowed: bool) -> Self {
        self.data.introspect_any_token = allowed;
        self
    }

    /// Sets the browser origins allowed to call the revocation endpoint for this client
    /// (RFC 7009 §2.3).
    pub fn with_allowed_cors_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.data.allowed_cors_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the redirect URIs of the client (RFC 7591 §2), checked at `build` by
    /// [`RedirectUri`]'s rules: absolute, no fragment, `https` (or `http` on a loopback IP, or a
    /// private-use scheme for a native app, RFC 8252 §7).
    pub fn with_redirect_uris<I, S>(mut self, uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redirect_uris = Some(uris.into_iter().map(Into::into).collect());
        self
    }

    /// Gives the client a refresh-token grace window of its own, in place of the server's
    /// ([`AuthorizationServerBuilder::refresh_token_grace`](
    /// crate::AuthorizationServerBuilder::refresh_token_grace), where the trade-off is
    /// described); `Duration::ZERO` turns it off for this client. Counted in whole seconds.
    pub fn with_refresh_token_grace(mut self, grace: std::time::Duration) -> Self {
        self.data.refresh_token_grace = Some(grace);
        self
    }

    /// Requires the client's authorization requests to be pushed first (RFC 9126 §6); the
    /// server may require it of every client
    /// ([`AuthorizationCodeFlow::require_pushed_authorization_requests`](
    /// crate::authorization::AuthorizationCodeFlow::require_pushed_authorization_requests)).
    pub fn with_require_pushed_authorization_requests(mut self, required: bool) -> Self {
        self.data.require_pushed_authorization_requests = required;
        self
    }

    /// Sets the targets the client may ask tokens for ([`Client::allowed_resources`]): `resource`
    /// URIs (RFC 8707 §2) and token-exchange `audience` names (RFC 8693 §2.1). Checked at
    /// `build`: each non-empty printable ASCII without spaces or a fragment (`#`).
    pub fn with_allowed_resources<I, S>(mut self, targets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.data.allowed_resources = targets.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the resources the client serves as a resource server ([`Client::served_resources`]),
    /// checked as [`with_allowed_resources`](Self::with_allowed_resources)' values are.
    pub fn with_served_resources<I, S>(mut self, resources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.data.served_resources = resources.into_iter().map(Into::into).collect();
        self
    }

    /// Requires DPoP-bound access tokens (`dpop_bound_access_tokens`, RFC 9449 §5.2): the
    /// token endpoint refuses the client's requests without a DPoP proof.
    pub fn with_dpop_bound_access_tokens(mut self, required: bool) -> Self {
        self.data.dpop_bound_access_tokens = required;
        self
    }

    /// Sets `jwks` (RFC 7591 §2): the client's public keys, a JWK Set (RFC 7517 §5) as JSON
    /// text, which a `private_key_jwt` client signs its assertions with. Checked at `build`:
    /// a JSON object whose `keys` holds at least one public key, each an EC P-256, OKP Ed25519
    /// or RSA (2048 bits or more) key usable with ES256, EdDSA, RS256 or PS256, without any
    /// private member (`d`, ...); `use`, `key_ops` and `alg`, when present, must allow
    /// verifying signatures with such an algorithm; several keys each have a distinct `kid`.
    /// Stored as compact JSON ([`Client::jwks`]).
    pub fn with_jwks(mut self, jwks: impl Into<String>) -> Self {
        self.jwks = Some(Some(jwks.into()));
        self
    }

    /// Removes the client's `jwks` (a `private_key_jwt` client cannot do without).
    pub fn without_jwks(mut self) -> Self {
        self.jwks = Some(None);
        self
    }

    /// Sets the format of the client's access tokens (opaque or JWT, RFC 9068) over the
    /// server's; `None` leaves it to the server.
    pub fn with_access_token_format(
        mut self,
        format: impl Into<Option<AccessTokenFormat>>,
    ) -> Self {
        self.data.access_token_format = format.into();
        self
    }

    /// Replaces the client's secret with `secret`, checked by the policy at `build`. The old
    /// secret stops working (see [`with_previous_secret`](Self::with_previous_secret) for an
    /// overlap).
    pub fn with_secret(mut self, secret: &str) -> Self {
        self.credential = Credential::Plain(secret.into());
        self.data.previous_secret = None;
        self
    }

    /// Keeps accepting a replaced secret until a time (see
    /// [`Clients::rotate_secret`](crate::store::Clients::rotate_secret)); `None` accepts only the
    /// current secret. Stores set it when they read a client back.
    pub fn with_previous_secret(mut self, previous: Option<PreviousSecret>) -> Self {
        self.data.previous_secret = previous;
        self
    }

    /// The policy a plaintext secret must pass; default [`SecretPolicy::default`].
    pub fn with_secret_policy(mut self, policy: SecretPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Checks every rule and builds the client:
    ///
    /// - `client_id` is non-empty `VSCHAR` (RFC 6749 A.1);
    /// - `none` goes with no secret, and `client_secret_*` with one (RFC 7591 §2): no client
    ///   can authenticate with its `client_id` alone unless it is public;
    /// - `private_key_jwt` goes with no secret and with `jwks` (RFC 7523 §2.2): the keys it
    ///   signs with;
    /// - `jwks`, when set, holds public signature keys only (see
    ///   [`with_jwks`](Self::with_jwks));
    /// - a plaintext secret passes the [`SecretPolicy`];
    /// - a public client may not introspect: neither `introspect_any_token` nor the
    ///   `introspection` scope (a public client proves nothing about itself, RFC 7662 §2.1, §4);
    /// - no grant type is empty.
    pub fn build(self) -> Result<Client, InvalidClient> {
        let invalid = |field, problem| Err(InvalidClient { field, problem });
        let mut data = self.data;
        if data.client_id.is_empty() {
            return invalid("client_id", "must not be empty");
        }
        if !is_vschar(&data.client_id) {
            return invalid("client_id", "must be printable ASCII (RFC 6749 A.1)");
        }
        data.secret_hash = match (data.auth_method, self.credential) {
            (ClientAuthMethod::None, Credential::None) => {
                if data.previous_secret.is_some() {
                    return invalid("client_secret", "a public client (`none`) has no secret");
                }
                None
            }
            (ClientAuthMethod::None, _) => {
                return invalid("client_secret", "a public client (`none`) has no secret");
            }
            (ClientAuthMethod::PrivateKeyJwt, Credential::None)
                if data.previous_secret.is_none() =>
            {
                None
            }
            (ClientAuthMethod::PrivateKeyJwt, _) => {
                return invalid(
                    "client_secret",
                    "a `private_key_jwt` client has no secret: it signs with its keys",
                );
            }
            (_, Credential::None) => {
                return invalid("client_secret", "required for a confidential client");
            }
            (_, Credential::Hash(hash)) => Some(hash),
            (_, Credential::Plain(secret)) => {
                self.policy.check(&secret)?;
                Some(SecretHash::of(&secret))
            }
        };
        if data.auth_method == ClientAuthMethod::None {
            if data.introspect_any_token {
                return invalid(
                    "introspect_any_token",
                    "a public client cannot be trusted to introspect",
                );
            }
            if data.scope.contains(DEFAULT_INTROSPECTION_SCOPE) {
                return invalid(
                    "scope",
                    "a public client cannot be given the introspection scope",
                );
            }
        }
        match self.jwks {
            Some(Some(text)) => {
                data.keys = Some(ClientKeys::parse(&text).map_err(|problem| InvalidClient {
                    field: "jwks",
                    problem,
                })?);
            }
            Some(None) => data.keys = None,
            None => {}
        }
        if data.auth_method == ClientAuthMethod::PrivateKeyJwt && data.keys.is_none() {
            return invalid(
                "jwks",
                "required for a `private_key_jwt` client: the public keys it signs with",
            );
        }
        for (field, targets) in [
            ("allowed_resources", &data.allowed_resources),
            ("served_resources", &data.served_resources),
        ] {
            if !targets.iter().all(|target| is_target(target)) {
                return invalid(
                    field,
                    "each must be a non-empty resource URI or audience name, printable ASCII \
                     without spaces or a fragment",
                );
            }
        }
        if data.grant_types.iter().any(String::is_empty) {
            return invalid("grant_types", "must not contain an empty grant type");
        }
        if let Some(given) = &self.redirect_uris {
            let parsed: Result<Vec<RedirectUri>, _> = given.iter().map(|uri| uri.parse()).collect();
            data.redirect_uris = match parsed {
                Ok(uris) => uris,
                Err(_) => {
                    return invalid(
                        "redirect_uris",
                        "must be absolute, without a fragment, and https (http only on 127.0.0.1 \
                         or [::1]; a private-use scheme for a native app)",
                    );
                }
            };
        }
        Ok(Client {
            inner: Arc::new(data),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("client_id", &self.data.client_id)
            .field(
                "secret",
                &match self.credential {
                    Credential::Plain(_) => "<redacted>",
                    Credential::Hash(_) => "<hash>",
                    Credential::None => "none",
                },
            )
            .field("token_endpoint_auth_method", &self.data.auth_method)
            .field("grant_types", &self.data.grant_types)
            .field("scope", &self.data.scope)
            .field("access_token_format", &self.data.access_token_format)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;

    #[test]
    fn redirect_uris_are_checked_at_build_and_kept_by_to_builder() {
        let client = Client::public("app")
            .with_redirect_uris(["https://app.example.com/cb", "http://127.0.0.1/cb"])
            .build()
            .unwrap();
        let uris: Vec<&str> = client
            .redirect_uris()
            .iter()
            .map(RedirectUri::as_str)
            .collect();
        assert_eq!(uris, ["https://app.example.com/cb", "http://127.0.0.1/cb"]);
        assert!(client.redirect_uris()[1].matches("http://127.0.0.1:49152/cb"));

        // Rebuilt without mentioning them, the client keeps them; given anew, they replace.
        let kept = client
            .to_builder()
            .with_scope("read".parse().unwrap())
            .build()
            .unwrap();
        assert_eq!(kept.redirect_uris(), client.redirect_uris());
        let cleared = client
            .to_builder()
            .with_redirect_uris(Vec::<String>::new())
            .build()
            .unwrap();
        assert!(cleared.redirect_uris().is_empty());

        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#fragment",
            "/relative",
            "http://localhost/cb",
            "javascript:alert(1)",
        ] {
            let error = Client::public("app")
                .with_redirect_uris([bad])
                .build()
                .unwrap_err();
            assert_eq!(error.field, "redirect_uris", "{bad}");
        }
    }
}
