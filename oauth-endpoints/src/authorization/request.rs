//! An authorization request's parameters (RFC 6749 §4.1.1, RFC 7636 §4.3) and their checks, in
//! the order RFC 6749 §4.1.2.1 sets: first what decides whether the client may be redirected
//! to, then the rest, whose errors go back to the client.

use serde::{Deserialize, Serialize};

use crate::authorization::pkce::CodeChallenge;
use crate::client::Client;
use crate::context::Context;
use crate::error::OAuthError;
use crate::form::Form;
use crate::grant::AUTHORIZATION_CODE;
use crate::scope::Scope;
use crate::store::StoreError;
use crate::target::{RESOURCE, Targets};
use crate::token::Jkt;

/// The parameters of an authorization request as sent: in the query or form body, or kept by a
/// pushed request (RFC 9126 §2.1), which stores exactly this (as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestParams {
    pub(crate) client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) redirect_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code_challenge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code_challenge_method: Option<String>,
    /// The thumbprint of the key the code is bound to (DPoP, RFC 9449 §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dpop_jkt: Option<String>,
    /// The resources the token is for (RFC 8707 §2.1), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) resource: Vec<String>,
}

impl RequestParams {
    /// The parameters of `form`; `client_id` as given (empty if absent). Unknown parameters
    /// are ignored (RFC 6749 §3.1).
    pub(crate) fn from_form(form: &Form) -> Self {
        let get = |name: &str| form.get(name).map(str::to_owned);
        Self {
            client_id: form.get("client_id").unwrap_or_default().to_owned(),
            redirect_uri: get("redirect_uri"),
            response_type: get("response_type"),
            response_mode: get("response_mode"),
            scope: get("scope"),
            state: get("state"),
            code_challenge: get("code_challenge"),
            code_challenge_method: get("code_challenge_method"),
            dpop_jkt: get("dpop_jkt"),
            resource: form.get_all(RESOURCE).map(str::to_owned).collect(),
        }
    }

    /// The parameters as `(name, value)` pairs, in a fixed order: what a consent form posts
    /// back and what a sign-in hook's `return_to` carries.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, &str)> {
        let optional = [
            ("redirect_uri", &self.redirect_uri),
            ("response_type", &self.response_type),
            ("response_mode", &self.response_mode),
            ("scope", &self.scope),
            ("state", &self.state),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("dpop_jkt", &self.dpop_jkt),
        ];
        std::iter::once(("client_id", self.client_id.as_str()))
            .chain(
                optional
                    .into_iter()
                    .filter_map(|(name, value)| Some((name, value.as_deref()?))),
            )
            .chain(self.resource.iter().map(|value| (RESOURCE, value.as_str())))
            .collect()
    }
}

/// A request that passed every check.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub(crate) client: Client,
    /// Where the answer goes: the registered URI the request named, or the client's only one.
    pub(crate) redirect_uri: String,
    /// Whether the request named it (then the token request must repeat it, RFC 6749 §4.1.3).
    pub(crate) redirect_uri_given: bool,
    pub(crate) scope: Scope,
    pub(crate) state: Option<String>,
    pub(crate) challenge: CodeChallenge,
    /// The DPoP key the code is bound to (RFC 9449 §10), when the request named one.
    pub(crate) dpop_jkt: Option<Jkt>,
    /// The resources the token is for (RFC 8707 §2.1), each registered by the client.
    pub(crate) resources: Vec<String>,
}

/// Why a request was refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The client or redirect URI is unknown or wrong: the user sees an error page and the
    /// browser is never redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.1).
    Page(&'static str),
    /// Any other error: sent to the (checked) redirect URI (RFC 6749 §4.1.2.1).
    Redirect {
        error: OAuthError,
        redirect_uri: String,
        state: Option<String>,
    },
    /// The store failed.
    Store(StoreError),
}

/// How the request arrived, for the pushed-request rules (RFC 9126 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// At the authorization endpoint, with its parameters.
    Direct,
    /// At the authorization endpoint, by `request_uri`.
    Pushed,
    /// At the pushed authorization request endpoint, from `client` (already authenticated).
    Pushing,
}

/// Checks `params` in RFC 6749 §4.1.2.1's order. `client` is the authenticated client when the
/// request is being pushed; otherwise the client is looked up by `client_id`.
pub(crate) async fn check(
    cx: &Context,
    params: &RequestParams,
    client: Option<&Client>,
    arrival: Arrival,
    require_pushed: bool,
) -> Result<Checked, Refusal> {
    // 1. The client (RFC 6749 §4.1.2.1: "missing, invalid, or mismatching ... client
    //    identifier" is not redirected).
    let client = match client {
        Some(client) => client.clone(),
        None if params.client_id.is_empty() => return Err(Refusal::Page("client_id is missing.")),
        None => cx
            .clients()
            .find(&params.client_id)
            .await
            .map_err(Refusal::Store)?
            .ok_or(Refusal::Page("No such application is registered."))?,
    };
    // 2. The redirect URI: registered, compared exactly (RFC 9700 §4.1.3) but for a loopback
    //    URI's port (RFC 8252 §7.3); optional only for a client with one (RFC 6749 §3.1.2.3).
    let registered = client.redirect_uris();
    let redirect_uri = match (&params.redirect_uri, registered) {
        (_, []) => {
            return Err(Refusal::Page(
                "The application has no registered redirect URI.",
            ));
        }
        (Some(given), _) => {
            if !registered.iter().any(|uri| uri.matches(given)) {
                return Err(Refusal::Page(
                    "The redirect URI is not registered for this application.",
                ));
            }
            given.clone()
        }
        (None, [only]) => only.as_str().to_owned(),
        (None, _) => {
            return Err(Refusal::Page(
                "redirect_uri is missing, and the application registered several.",
            ));
        }
    };
    let state = params.state.clone();
    let refuse = |error: OAuthError| Refusal::Redirect {
        error,
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
    };
    // 3. Everything else goes back to the client.
    match params.response_type.as_deref() {
        None => {
            return Err(refuse(OAuthError::invalid_request(
                "response_type is missing",
            )));
        }
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                OAuthError::new("unsupported_response_type", http::StatusCode::BAD_REQUEST)
                    .with_description("only response_type=code is supported"),
            ));
        }
    }
    if params
        .response_mode
        .as_deref()
        .is_some_and(|mode| mode != "query")
    {
        return Err(refuse(OAuthError::invalid_request(
            "only response_mode=query is supported",
        )));
    }
    if !client.allows_grant(AUTHORIZATION_CODE) {
        return Err(refuse(OAuthError::unauthorized_client(
            "the client is not allowed the authorization code grant",
        )));
    }
    if arrival == Arrival::Direct
        && (require_pushed || client.require_pushed_authorization_requests())
    {
        return Err(refuse(OAuthError::invalid_request(
            "authorization requests must be pushed first (RFC 9126)",
        )));
    }
    let scope = match params.scope.as_deref().map(str::parse::<Scope>) {
        None => client.scope().clone(),
        Some(Err(error)) => return Err(refuse(OAuthError::invalid_scope(error.to_string()))),
        Some(Ok(scope)) if !scope.is_subset(client.scope()) => {
            return Err(refuse(OAuthError::invalid_scope(
                "the requested scope exceeds the client's scope",
            )));
        }
        Some(Ok(scope)) => scope,
    };
    // PKCE for every client (RFC 9700 §2.1.1), S256 only.
    let Some(challenge) = params.code_challenge.as_deref() else {
        return Err(refuse(OAuthError::invalid_request(
            "code_challenge is required (PKCE, RFC 7636, method S256)",
        )));
    };
    // RFC 9449 §10: `dpop_jkt` binds the code to a DPoP key; a malformed one is refused.
    let dpop_jkt = match params.dpop_jkt.as_deref().map(Jkt::from_thumbprint) {
        None => None,
        Some(Ok(jkt)) => Some(jkt),
        Some(Err(_)) => {
            return Err(refuse(OAuthError::invalid_request(
                "dpop_jkt is not a JWK SHA-256 thumbprint",
            )));
        }
    };
    let challenge = CodeChallenge::from_request(challenge, params.code_challenge_method.as_deref())
        .map_err(|invalid| refuse(invalid.into()))?;
    // RFC 8707 §2.1: each `resource` an absolute URI the client registered, else
    // `invalid_target`.
    let resources = Targets::from_resources(params.resource.iter().map(String::as_str))
        .and_then(|targets| targets.check_client(&client).map(|()| targets))
        .map_err(refuse)?
        .into_vec();
    Ok(Checked {
        client,
        redirect_uri,
        redirect_uri_given: params.redirect_uri.is_some(),
        scope,
        state,
        challenge,
        dpop_jkt,
        resources,
    })
}
