//! Issuing tokens: [`TokenRequest`] in, [`IssuedTokens`] out, and the RFC 6749 §5.1 response.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use serde::Serialize;

use crate::client::Client;
use crate::clock::UnixTime;
use crate::response::json_response;
use crate::scope::Scope;
use crate::secret::{Id, TokenHash, generate_token};
use crate::token::{AccessTokenFormat, Delegation, Jkt, TokenKind, TokenRecord};

/// What to issue: for which client, with which scope, subject and audience, and whether a
/// refresh token comes with the access token.
///
/// ```
/// use oauth_endpoints::Client;
/// use oauth_endpoints::secret::generate_secret;
/// use oauth_endpoints::token::TokenRequest;
///
/// let client = Client::confidential("svc", &generate_secret()).build().unwrap();
/// let request = TokenRequest::new(&client, "read".parse().unwrap())
///     .with_subject("user-42")
///     .with_audience(["https://api.example.com"])
///     .with_refresh_token(true);
/// ```
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub(crate) client_id: Arc<str>,
    pub(crate) scope: Scope,
    pub(crate) refresh_scope: Option<Scope>,
    pub(crate) subject: Option<Arc<str>>,
    pub(crate) audience: Arc<[String]>,
    pub(crate) refresh_token: bool,
    pub(crate) grant_id: Option<Id>,
    pub(crate) refresh_expires_at: Option<UnixTime>,
    /// The access token's format, when not the server's.
    pub(crate) format: Option<AccessTokenFormat>,
    /// The key the access token is bound to (DPoP, RFC 9449 §6), if any.
    pub(crate) confirmation: Option<Jkt>,
    /// Whether the refresh token is bound to `confirmation` too: a public client's is, a
    /// confidential client's is not (RFC 9449 §5), unless it continues a bound one.
    pub(crate) bind_refresh_token: bool,
    /// The audience of the refresh token when it differs from the access token's: the grant's
    /// whole audience, kept by a refresh that narrowed the access token's (RFC 8707 §2.2).
    pub(crate) refresh_audience: Option<Arc<[String]>>,
    /// `act` and `may_act` (RFC 8693 §4.1, §4.4), if any.
    pub(crate) delegation: Option<Arc<Delegation>>,
    /// The latest expiry the tokens may have, if any (an exchanged token outlives no subject
    /// token).
    pub(crate) not_after: Option<UnixTime>,
}

impl TokenRequest {
    /// An access token for `client` with `scope`, starting a new grant.
    pub fn new(client: &Client, scope: Scope) -> Self {
        Self {
            client_id: client.client_id_arc().clone(),
            scope,
            refresh_scope: None,
            subject: None,
            audience: Arc::from([]),
            refresh_token: false,
            grant_id: None,
            refresh_expires_at: None,
            // The client's own format, if it registered one, wins over the server's.
            format: client.access_token_format(),
            confirmation: None,
            bind_refresh_token: client.is_public(),
            refresh_audience: None,
            delegation: None,
            not_after: None,
        }
    }

    /// Issues the access token in `format` rather than the server's
    /// ([`ServerConfig::access_token_format`](crate::server::ServerConfig::access_token_format)).
    #[must_use]
    pub fn with_access_token_format(mut self, format: AccessTokenFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// The resource owner the token acts for (`sub`, RFC 7662 §2.2).
    #[must_use]
    pub fn with_subject(mut self, subject: impl Into<Arc<str>>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The resource servers the token is meant for (`aud`, RFC 7662 §2.2; the `resource`
    /// values of RFC 8707 §2).
    #[must_use]
    pub fn with_audience<I, S>(mut self, audience: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audience = audience.into_iter().map(Into::into).collect();
        self
    }

    /// Records who acts for the subject (`act`, RFC 8693 §4.1) and who may (`may_act`, §4.4)
    /// on the tokens: their records keep it, introspection answers it, and JWT access tokens
    /// carry it as claims. An empty delegation records nothing.
    #[must_use]
    pub fn with_delegation(mut self, delegation: Delegation) -> Self {
        self.delegation = (!delegation.is_empty()).then(|| Arc::new(delegation));
        self
    }

    /// Caps the tokens' expiry at `not_after`: an access token exchanged for another
    /// (RFC 8693) expires no later than the token it was exchanged for.
    #[must_use]
    pub fn expiring_by(mut self, not_after: UnixTime) -> Self {
        self.not_after = Some(not_after);
        self
    }

    /// Binds the access token to the client's DPoP key, `jkt` its JWK SHA-256 thumbprint
    /// (RFC 9449 §5, §6): its record carries it as [`confirmation`](TokenRecord::confirmation),
    /// the token response's `token_type` is `DPoP`, introspection answers `cnf.jkt` and
    /// `token_type` `DPoP`, and a JWT access token carries `cnf.jkt`. Check the DPoP proof (its
    /// key is `jkt`) before issuing: the binding is only as good as that check.
    ///
    /// The refresh token, if one is issued, is bound to the key as well when the client is
    /// public; a confidential client's is not (RFC 9449 §5: its refresh tokens are already
    /// sender-constrained by its authentication, which lets it rotate its DPoP key), unless
    /// the request [continues](Self::continuing) a bound refresh token.
    ///
    /// ```
    /// use oauth_endpoints::Client;
    /// use oauth_endpoints::token::{Jkt, TokenRequest};
    ///
    /// let client = Client::public("spa").build().unwrap();
    /// let jkt = Jkt::from_thumbprint("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").unwrap();
    /// let request = TokenRequest::new(&client, "read".parse().unwrap()).with_confirmation(jkt);
    /// ```
    #[must_use]
    pub fn with_confirmation(mut self, jkt: Jkt) -> Self {
        self.confirmation = Some(jkt);
        self
    }

    /// Whether to issue a refresh token too.
    #[must_use]
    pub fn with_refresh_token(mut self, refresh_token: bool) -> Self {
        self.refresh_token = refresh_token;
        self
    }

    /// Issues the tokens into the grant `grant_id` instead of a new one: the grant an
    /// authorization code was issued for, so that replaying the code revokes them
    /// (RFC 6749 §4.1.2). Once that grant is revoked, storing fails with
    /// [`StoreError::GrantRevoked`](crate::store::StoreError::GrantRevoked).
    #[must_use]
    pub fn in_grant(mut self, grant_id: Id) -> Self {
        self.grant_id = Some(grant_id);
        self
    }

    /// Continues an existing grant (a refresh-token rotation): the new tokens share its id, and
    /// the new refresh token keeps the old one's scope (RFC 6749 §6) and absolute expiry. If the
    /// old refresh token is bound to a key, the new tokens (access and refresh) are bound to
    /// that key (RFC 9449 §5: a bound refresh token's replacements stay bound to the same key;
    /// the refresh request's DPoP proof must be signed by it); otherwise the binding is left as
    /// it is (none, or the key [`with_confirmation`](Self::with_confirmation) gave: a
    /// confidential client's new access token is bound to the key of its refresh request's
    /// proof).
    #[must_use]
    pub fn continuing(mut self, refresh: &TokenRecord) -> Self {
        self.grant_id = Some(refresh.grant_id);
        self.refresh_scope = Some(refresh.scope.clone());
        self.refresh_expires_at = Some(refresh.expires_at);
        self.subject.clone_from(&refresh.subject);
        self.audience = Arc::clone(&refresh.audience);
        self.delegation.clone_from(&refresh.delegation);
        if let Some(jkt) = refresh.confirmation {
            self.confirmation = Some(jkt);
            self.bind_refresh_token = true;
        }
        self
    }

    /// Narrows the access token's audience to `audience` (RFC 8707 §2.2: a refresh request's
    /// `resource`), keeping the grant's whole audience on the refresh token. Check that
    /// `audience` is within the grant's first.
    #[must_use]
    pub fn narrowing_audience<I, S>(mut self, audience: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let whole = self
            .refresh_audience
            .take()
            .unwrap_or_else(|| Arc::clone(&self.audience));
        self.refresh_audience = Some(whole);
        self.audience = audience.into_iter().map(Into::into).collect();
        self
    }
}

/// Freshly minted tokens: the values (shown once, to the client) and the records to store.
pub struct IssuedTokens {
    access_token: String,
    refresh_token: Option<String>,
    access: TokenRecord,
    refresh: Option<TokenRecord>,
    /// `issued_token_type` of a token exchange answer (RFC 8693 §2.2.1), if any.
    issued_token_type: Option<&'static str>,
}

impl IssuedTokens {
    /// Mints tokens for `request` at `now`: values from a CSPRNG, records with their hashes.
    pub(crate) fn mint(
        request: &TokenRequest,
        now: UnixTime,
        access_ttl: u64,
        refresh_ttl: u64,
    ) -> Self {
        let grant_id = request.grant_id.unwrap_or_else(Id::time_ordered);
        let cap = |expires_at: UnixTime| {
            request
                .not_after
                .map_or(expires_at, |cap| expires_at.min(cap))
        };
        let record = |kind,
                      value: &str,
                      scope: &Scope,
                      audience: &Arc<[String]>,
                      expires_at,
                      confirmation| TokenRecord {
            id: Id::random(),
            hash: TokenHash::of(value),
            kind,
            client_id: Arc::clone(&request.client_id),
            scope: scope.clone(),
            subject: request.subject.clone(),
            audience: Arc::clone(audience),
            grant_id,
            issued_at: now,
            expires_at: cap(expires_at),
            not_before: None,
            revoked_at: None,
            rotated_at: None,
            confirmation,
            delegation: request.delegation.clone(),
        };
        let access_token = generate_token();
        let access = record(
            TokenKind::Access,
            &access_token,
            &request.scope,
            &request.audience,
            now.saturating_add(access_ttl),
            request.confirmation,
        );
        let (refresh_token, refresh) = if request.refresh_token {
            let value = generate_token();
            let scope = request.refresh_scope.as_ref().unwrap_or(&request.scope);
            let expires_at = request
                .refresh_expires_at
                .unwrap_or_else(|| now.saturating_add(refresh_ttl));
            let confirmation = request.confirmation.filter(|_| request.bind_refresh_token);
            let audience = request
                .refresh_audience
                .as_ref()
                .unwrap_or(&request.audience);
            let refresh = record(
                TokenKind::Refresh,
                &value,
                scope,
                audience,
                expires_at,
                confirmation,
            );
            (Some(value), Some(refresh))
        } else {
            (None, None)
        };
        Self {
            access_token,
            refresh_token,
            access,
            refresh,
            issued_token_type: None,
        }
    }

    /// Adds `issued_token_type` to the answer: the token type identifier of the issued token,
    /// as a token exchange answers it (RFC 8693 §2.2.1).
    #[must_use]
    pub fn issued_as(mut self, token_type: &'static str) -> Self {
        self.issued_token_type = Some(token_type);
        self
    }

    /// The access token value.
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// The refresh token value, if one was issued.
    pub fn refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_deref()
    }

    /// Replaces the access token's value with a JWT of its record (RFC 9068 §2), signed by
    /// `jwt`; the record's hash follows the new value.
    pub(crate) fn sign_access_token(&mut self, jwt: &crate::token::jwt::JwtAccessTokens) {
        match jwt.sign(&self.access) {
            Ok(value) => {
                self.access.hash = TokenHash::of(&value);
                self.access_token = value;
            }
            // Signing a well-formed record with a key that loaded cannot fail; if it does, the
            // opaque token (already minted, hash consistent) is issued and the operator told.
            Err(error) => tracing::error!(%error, "a JWT access token could not be signed"),
        }
    }

    /// The access token's record.
    pub fn access_record(&self) -> &TokenRecord {
        &self.access
    }

    /// The refresh token's record, if one was issued.
    pub fn refresh_record(&self) -> Option<&TokenRecord> {
        self.refresh.as_ref()
    }

    /// The records to store.
    pub fn records(&self) -> Vec<TokenRecord> {
        std::iter::once(self.access.clone())
            .chain(self.refresh.clone())
            .collect()
    }

    /// The successful token response (RFC 6749 §5.1): `access_token`, `token_type` (`DPoP` when
    /// the access token is bound to a key, RFC 9449 §5; `Bearer` otherwise), integer `expires_in`, `refresh_token` when issued, and `scope` when it differs from
    /// `requested` (or nothing was requested); `Cache-Control: no-store`, `Pragma: no-cache`.
    pub fn into_response(self, requested: Option<&Scope>) -> Response<Bytes> {
        #[derive(Serialize)]
        struct Body<'a> {
            access_token: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            issued_token_type: Option<&'static str>,
            token_type: &'static str,
            expires_in: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            refresh_token: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            scope: Option<&'a str>,
        }
        let granted = &self.access.scope;
        let show_scope = !granted.is_empty() && requested != Some(granted);
        let body = Body {
            access_token: &self.access_token,
            issued_token_type: self.issued_token_type,
            token_type: if self.access.confirmation.is_some() {
                "DPoP"
            } else {
                "Bearer"
            },
            expires_in: self.access.expires_at.saturating_sub(self.access.issued_at),
            refresh_token: self.refresh_token.as_deref(),
            scope: show_scope.then(|| granted.as_str()),
        };
        json_response(StatusCode::OK, &body)
    }
}

impl fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("access", &self.access)
            .field("refresh", &self.refresh)
            .finish()
    }
}
