//! Grant types: what the token endpoint dispatches `grant_type` to.
//!
//! The built-in `authorization_code`, `client_credentials` and `refresh_token` grants are
//! declared with
//! `#[oauth_grant]`, exactly as a user's grant is.

mod authorization_code;
mod client_credentials;
mod refresh_token;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::boxed::BoxFuture;
use crate::client::Client;
use crate::context::Context;
use crate::description::Source;
use crate::endpoint::EndpointResult;
use crate::form::Form;
use crate::server::Setup;

pub use authorization_code::AuthorizationCodeGrant;
pub use client_credentials::ClientCredentialsGrant;
pub use refresh_token::RefreshTokenGrant;

/// The `grant_type` of RFC 6749 §4.1.3.
pub const AUTHORIZATION_CODE: &str = "authorization_code";
/// The `grant_type` of RFC 6749 §4.4.
pub const CLIENT_CREDENTIALS: &str = "client_credentials";
/// The `grant_type` of RFC 6749 §6.
pub const REFRESH_TOKEN: &str = "refresh_token";

/// A grant type (RFC 6749 §4, §6, or an extension grant, §4.5).
///
/// The token endpoint authenticates the client, checks that the grant type is registered and
/// that the client's `grant_types` lists it, then calls `exchange`. Answer with
/// [`IssuedTokens::into_response`](crate::token::IssuedTokens::into_response) on success.
pub trait Grant: Send + Sync + 'static {
    /// Exchanges the grant presented in `form` by the authenticated `client`.
    fn exchange(
        &self,
        cx: &Context,
        client: &Client,
        form: &Form,
    ) -> impl Future<Output = EndpointResult> + Send;

    /// Whether the grant can serve on a server set up as `setup` says, asked once while the
    /// server is built: `Err(reason)` leaves it out of the token endpoint and the metadata, as
    /// [`Endpoint::check_setup`](crate::Endpoint::check_setup) does for endpoints. By default,
    /// any setup will do.
    fn check_setup(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        let _ = setup;
        Ok(())
    }
}

/// The object-safe twin of [`Grant`].
pub(crate) trait DynGrant: Send + Sync + 'static {
    fn exchange_boxed<'a>(
        &'a self,
        cx: &'a Context,
        client: &'a Client,
        form: &'a Form,
    ) -> BoxFuture<'a, EndpointResult>;
    fn check_setup_dyn(&self, setup: &mut Setup<'_>) -> Result<(), String>;
}

impl<T: Grant> DynGrant for T {
    fn exchange_boxed<'a>(
        &'a self,
        cx: &'a Context,
        client: &'a Client,
        form: &'a Form,
    ) -> BoxFuture<'a, EndpointResult> {
        Box::pin(self.exchange(cx, client, form))
    }

    fn check_setup_dyn(&self, setup: &mut Setup<'_>) -> Result<(), String> {
        self.check_setup(setup)
    }
}

/// A grant's declaration, as `#[oauth_grant(grant_type = "...")]` states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantDescription {
    grant_type: &'static str,
    source: Source,
}

impl GrantDescription {
    #[doc(hidden)]
    pub const fn __new(grant_type: &'static str, source: Source) -> Self {
        Self { grant_type, source }
    }

    /// The `grant_type` value.
    pub const fn grant_type(&self) -> &'static str {
        self.grant_type
    }

    /// Where the grant was declared.
    pub const fn source(&self) -> Source {
        self.source
    }
}

/// Implemented by `#[oauth_grant]` for the annotated type.
pub trait DescribedGrant {
    /// The attribute's declaration.
    const DESCRIPTION: GrantDescription;
}

/// One annotated grant type, collected at startup.
#[doc(hidden)]
pub struct GrantRegistration {
    pub(crate) description: GrantDescription,
    pub(crate) factory: fn() -> Arc<dyn DynGrant>,
}

impl GrantRegistration {
    /// The registration of `T`, built by `Default`.
    pub const fn of<T: Grant + Default + DescribedGrant>() -> Self {
        Self {
            description: T::DESCRIPTION,
            factory: construct::<T>,
        }
    }
}

fn construct<T: Grant + Default>() -> Arc<dyn DynGrant> {
    Arc::new(T::default())
}

inventory::collect!(GrantRegistration);

pub(crate) fn collected() -> impl Iterator<Item = &'static GrantRegistration> {
    inventory::iter::<GrantRegistration>.into_iter()
}

/// A grant that may be mounted: from the attribute or registered explicitly.
pub(crate) struct GrantCandidate {
    pub(crate) grant_type: String,
    pub(crate) source: Source,
    pub(crate) grant: GrantInstance,
}

pub(crate) enum GrantInstance {
    Factory(fn() -> Arc<dyn DynGrant>),
    Ready(Arc<dyn DynGrant>),
}

impl GrantInstance {
    pub(crate) fn instantiate(self) -> Arc<dyn DynGrant> {
        match self {
            Self::Factory(factory) => factory(),
            Self::Ready(grant) => grant,
        }
    }
}

/// The server's grant types, keyed by `grant_type`.
#[derive(Default, Clone)]
pub struct Grants {
    by_type: HashMap<String, Arc<dyn DynGrant>>,
    sorted: Vec<String>,
}

impl Grants {
    pub(crate) fn new(mounted: Vec<(String, Arc<dyn DynGrant>)>) -> Self {
        let by_type: HashMap<String, Arc<dyn DynGrant>> = mounted.into_iter().collect();
        let mut sorted: Vec<String> = by_type.keys().cloned().collect();
        sorted.sort();
        Self { by_type, sorted }
    }

    /// Every registered `grant_type`, sorted.
    pub fn grant_types(&self) -> &[String] {
        &self.sorted
    }

    /// Whether `grant_type` is registered.
    pub fn contains(&self, grant_type: &str) -> bool {
        self.by_type.contains_key(grant_type)
    }

    /// The grant registered for `grant_type`, if any: look it up once, then
    /// [`exchange`](MountedGrant::exchange) through it.
    pub fn get(&self, grant_type: &str) -> Option<MountedGrant<'_>> {
        self.by_type
            .get(grant_type)
            .map(|grant| MountedGrant(&**grant))
    }
}

/// A grant type mounted on a server, found with [`Grants::get`].
#[derive(Clone, Copy)]
pub struct MountedGrant<'a>(&'a dyn DynGrant);

impl MountedGrant<'_> {
    /// Runs the grant for the authenticated `client` with the request's `form`.
    pub async fn exchange(self, cx: &Context, client: &Client, form: &Form) -> EndpointResult {
        self.0.exchange_boxed(cx, client, form).await
    }
}

impl fmt::Debug for MountedGrant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MountedGrant")
    }
}

impl fmt::Debug for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Grants").field(&self.sorted).finish()
    }
}
