//! The authorization endpoint (RFC 6749 §3.1, §4.1.1, §4.1.2).

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};

use crate::authorization::code::{CodeBinding, request_uri_hash};
use crate::authorization::consent::{Consent, DECISION_FIELD};
use crate::authorization::flow::AuthorizationCodeFlow;
use crate::authorization::page::{CSRF_FIELD, Page, redirect, see_other, with_query};
use crate::authorization::request::{Arrival, Checked, Refusal, RequestParams, check};
use crate::authorization::sign_in::User;
use crate::context::Context;
use crate::endpoint::{Endpoint, EndpointResult};
use crate::error::OAuthError;
use crate::form::Form;
use crate::secret::{Id, TokenHash, generate_token};
use crate::server::Setup;
use crate::store::{AuthorizationKind, AuthorizationRecord, Consumption, StoreError};

/// `authorization` at `/oauth/authorize` (GET and POST), published as `authorization_endpoint`
/// (RFC 8414 §2), mounted when the server has an [`AuthorizationCodeFlow`] and an issuer.
///
/// - The request's parameters come from the query (GET) or a form body (POST, RFC 6749 §3.1);
///   a repeated or malformed parameter is refused. With `request_uri` (RFC 9126 §4), they come
///   from the client's pushed request, and only `client_id` (which must match) is read besides.
/// - Checks run in RFC 6749 §4.1.2.1's order. An unknown `client_id`, or a `redirect_uri` that
///   is not registered (exact match, RFC 9700 §4.1.3; a loopback URI's port may differ,
///   RFC 8252 §7.3), or a missing one when the client registered several, is shown to the user
///   as an error page (400) and never redirected to. Every other error redirects with `error`,
///   `error_description`, `state` and `iss` (RFC 9207): `unsupported_response_type` for
///   anything but `code`; `invalid_request` for a missing `response_type`, a `response_mode`
///   other than `query`, a missing `code_challenge` or a method other than `S256` (RFC 7636
///   §4.4.1, RFC 9700 §2.1.1), or a request that had to be pushed; `unauthorized_client` when
///   the client's `grant_types` lack `authorization_code`; `invalid_scope` beyond the client's
///   scope (none asks for all of it).
/// - Who the user is comes from the application's [`SignIn`](crate::authorization::SignIn)
///   hook: signed in, sent to a sign-in page (303) with the request to come back to, or denied
///   (`access_denied`).
/// - The consent page ([`ConsentPage`](crate::authorization::ConsentPage)) shows the client and
///   the scope; its form posts the decision back here with the request and a CSRF token
///   (double-submit cookie, see [`CSRF_COOKIE`](crate::authorization::CSRF_COOKIE)). A post whose
///   CSRF check fails is refused (403) and changes nothing. Every page is `no-store` and cannot
///   be framed (`frame-ancestors 'none'`, `X-Frame-Options: DENY`).
/// - Approval redirects (303) with `code`, `state` (unchanged) and `iss` (RFC 6749 §4.1.2,
///   RFC 9207 §2). The code is 256 random bits after a time-ordered selector, stored only as a
///   hash, valid for [`AuthorizationCodeFlow::code_lifetime`] (60 s by default), bound to the
///   client, the redirect URI, the PKCE challenge, the scope and the user. A pushed request is
///   used up by the decision, approve or deny (RFC 9126 §4): a reload of the consent page may
///   show it again, a second decision cannot use it. Denial redirects with `access_denied`.
#[derive(Debug, Default)]
#[crate::oauth_endpoint(
    name = "authorization",
    path = "/oauth/authorize",
    methods = "GET, POST",
    auth_methods = "none",
    metadata = "authorization_endpoint"
)]
pub struct AuthorizationEndpoint;

impl Endpoint for AuthorizationEndpoint {
    async fn handle(&self, cx: &Context, request: Request<Bytes>) -> EndpointResult {
        let page = Page::new(cx, &request);
        Ok(match answer(cx, &page, &request).await {
            Ok(response) | Err(response) => response,
        })
    }

    /// Mounted with an [`AuthorizationCodeFlow`] and an issuer; publishes what it supports
    /// (RFC 8414 §2, RFC 9207 §3, RFC 9126 §5).
    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        let required = AuthorizationCodeFlow::of_setup(setup)?.requires_pushed_requests();
        setup.publish("response_types_supported", vec!["code"]);
        setup.publish("response_modes_supported", vec!["query"]);
        setup.publish("code_challenge_methods_supported", vec!["S256"]);
        setup.publish("authorization_response_iss_parameter_supported", true);
        setup.publish("require_pushed_authorization_requests", required);
        Ok(())
    }
}

/// An answer: `Err` is an early one (an error page, a redirect).
type Answer = Result<Response<Bytes>, Response<Bytes>>;

async fn answer(cx: &Context, page: &Page, request: &Request<Bytes>) -> Answer {
    let flow = cx
        .state::<AuthorizationCodeFlow>()
        .ok_or_else(|| page.message(StatusCode::INTERNAL_SERVER_ERROR, "Not configured", ""))?;
    let form = if request.method() == Method::POST {
        Form::from_request(request)
    } else {
        Form::parse_body(request.uri().query().unwrap_or_default().as_bytes())
    }
    .map_err(|error| bad_request(page, &OAuthError::from(error)))?;

    // RFC 9126 §4: a pushed request replaces the parameters.
    let pushed = match form.get("request_uri") {
        Some(request_uri) => Some(pushed_request(cx, flow, page, &form, request_uri).await?),
        None => None,
    };
    let params = match &pushed {
        Some((_, params)) => params.clone(),
        None => RequestParams::from_form(&form),
    };
    let arrival = if pushed.is_some() {
        Arrival::Pushed
    } else {
        Arrival::Direct
    };
    let checked = check(cx, &params, None, arrival, flow.requires_pushed_requests())
        .await
        .map_err(|refusal| refused(cx, page, refusal))?;

    // Where the user comes back to after signing in: this request, as checked.
    let return_to = match (&pushed, form.get("request_uri")) {
        (Some(_), Some(request_uri)) => with_query(
            page.path(),
            &[
                ("client_id", &params.client_id),
                ("request_uri", request_uri),
            ],
        ),
        _ => with_query(page.path(), &params.pairs()),
    };
    let subject = match flow.sign_in().user(request, &return_to).await {
        User::SignedIn(subject) => subject,
        User::SignInAt(url) => return Err(see_other(&url)),
        User::Denied => {
            return Err(error_redirect(
                cx,
                &checked,
                &OAuthError::new("access_denied", StatusCode::FORBIDDEN)
                    .with_description("the user may not authorize this client"),
            ));
        }
    };

    let decision = (request.method() == Method::POST)
        .then(|| form.get(DECISION_FIELD))
        .flatten();
    let Some(decision) = decision else {
        // Show the consent page; its form posts the request back with the user's decision.
        let mut hidden: Vec<(&str, &str)> = match (&pushed, form.get("request_uri")) {
            (Some(_), Some(request_uri)) => {
                vec![
                    ("client_id", &params.client_id),
                    ("request_uri", request_uri),
                ]
            }
            _ => params.pairs(),
        };
        hidden.push((CSRF_FIELD, page.token()));
        let scope: Vec<&str> = checked.scope.iter().collect();
        let html = flow.consent().render(&Consent {
            client_id: checked.client.client_id(),
            scope: &scope,
            resources: &checked.resources,
            subject: &subject,
            action: page.path(),
            hidden: &hidden,
        });
        return Ok(page.html(StatusCode::OK, html, Some(&checked.redirect_uri)));
    };
    if !page.csrf_holds(&form) {
        tracing::warn!(
            client_id = checked.client.client_id(),
            "authorization decision refused: CSRF check failed"
        );
        return Err(page.message(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form has expired or did not come from this page. Start again from the application.",
        ));
    }
    let approved = match decision {
        "approve" => true,
        "deny" => false,
        _ => {
            return Err(bad_request(
                page,
                &OAuthError::invalid_request("decision must be approve or deny"),
            ));
        }
    };
    // A pushed request is used up by the decision (RFC 9126 §4).
    if let Some((hash, _)) = &pushed {
        match flow
            .store()
            .consume(hash, AuthorizationKind::PushedRequest, cx.now())
            .await
        {
            Ok(Consumption::Consumed(_)) => {}
            Ok(_) => return Err(invalid_request_uri(page)),
            Err(error) => return Err(unavailable(page, error)),
        }
    }
    if !approved {
        tracing::info!(
            client_id = checked.client.client_id(),
            "authorization request denied by the user"
        );
        return Err(error_redirect(
            cx,
            &checked,
            &OAuthError::new("access_denied", StatusCode::FORBIDDEN)
                .with_description("the user denied the request"),
        ));
    }
    let code = issue_code(cx, flow, &checked, subject)
        .await
        .map_err(|error| unavailable(page, error))?;
    tracing::info!(
        client_id = checked.client.client_id(),
        "authorization code issued"
    );
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = &checked.state {
        params.push(("state", state));
    }
    params.push(("iss", issuer(cx)));
    Ok(redirect(&checked.redirect_uri, &params))
}

/// Mints and stores a code for `checked`, approved by `subject`.
async fn issue_code(
    cx: &Context,
    flow: &AuthorizationCodeFlow,
    checked: &Checked,
    subject: String,
) -> Result<String, StoreError> {
    let code = generate_token();
    let now = cx.now();
    let binding = CodeBinding {
        subject,
        scope: checked.scope.to_string(),
        redirect_uri: checked.redirect_uri.clone(),
        redirect_uri_given: checked.redirect_uri_given,
        code_challenge: checked.challenge.as_str().to_owned(),
        dpop_jkt: checked.dpop_jkt.map(|jkt| jkt.to_string()),
        resources: checked.resources.clone(),
    };
    flow.store()
        .insert(&AuthorizationRecord {
            hash: TokenHash::of(&code),
            kind: AuthorizationKind::Code,
            client_id: checked.client.client_id_arc().clone(),
            grant_id: Id::time_ordered(),
            payload: binding.to_payload().into(),
            issued_at: now,
            expires_at: now.saturating_add(flow.code_lifetime_secs()),
            consumed_at: None,
        })
        .await?;
    Ok(code)
}

/// The pushed request `request_uri` names, for the request's `client_id`: its hash and its
/// parameters. Anything wrong is an error page: without the request, no redirect URI is known.
async fn pushed_request(
    cx: &Context,
    flow: &AuthorizationCodeFlow,
    page: &Page,
    form: &Form,
    request_uri: &str,
) -> Result<(TokenHash, RequestParams), Response<Bytes>> {
    let hash = request_uri_hash(request_uri).ok_or_else(|| invalid_request_uri(page))?;
    let record = flow
        .store()
        .find(&hash, AuthorizationKind::PushedRequest)
        .await
        .map_err(|error| unavailable(page, error))?
        .filter(|record| record.consumed_at.is_none() && cx.now() < record.expires_at)
        // RFC 9126 §4: the request_uri must have been pushed by the client named here.
        .filter(|record| form.get("client_id") == Some(&*record.client_id))
        .ok_or_else(|| invalid_request_uri(page))?;
    let params: RequestParams = serde_json::from_str(&record.payload).map_err(|_| {
        unavailable(
            page,
            StoreError::backend("a stored pushed request is malformed"),
        )
    })?;
    Ok((hash, params))
}

fn refused(cx: &Context, page: &Page, refusal: Refusal) -> Response<Bytes> {
    match refusal {
        Refusal::Page(text) => {
            tracing::info!(reason = text, "authorization request refused");
            page.message(StatusCode::BAD_REQUEST, "Invalid request", text)
        }
        Refusal::Redirect {
            error,
            redirect_uri,
            state,
        } => redirect_error(cx, &redirect_uri, state.as_deref(), &error),
        Refusal::Store(error) => unavailable(page, error),
    }
}

fn error_redirect(cx: &Context, checked: &Checked, error: &OAuthError) -> Response<Bytes> {
    redirect_error(cx, &checked.redirect_uri, checked.state.as_deref(), error)
}

/// An error sent back to the client (RFC 6749 §4.1.2.1, RFC 9207 §2).
fn redirect_error(
    cx: &Context,
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
) -> Response<Bytes> {
    let mut params = vec![("error", error.code())];
    if let Some(description) = error.description() {
        params.push(("error_description", description));
    }
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer(cx)));
    redirect(redirect_uri, &params)
}

fn issuer(cx: &Context) -> &str {
    cx.config().issuer.as_deref().unwrap_or_default()
}

fn bad_request(page: &Page, error: &OAuthError) -> Response<Bytes> {
    page.message(
        StatusCode::BAD_REQUEST,
        "Invalid request",
        error.description().unwrap_or("The request is malformed."),
    )
}

fn invalid_request_uri(page: &Page) -> Response<Bytes> {
    page.message(
        StatusCode::BAD_REQUEST,
        "Invalid request",
        "The request_uri is unknown, expired, already used, or was pushed by another application.",
    )
}

fn unavailable(page: &Page, error: StoreError) -> Response<Bytes> {
    tracing::warn!(error = %error.report(), "authorization endpoint: store unavailable");
    let mut response = page.message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again later",
        "The server cannot handle the request right now. Try again in a moment.",
    );
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, http::HeaderValue::from(1));
    response
}
