//! [`SignIn`]: who the user at the authorization endpoint is, as the application says. The
//! library never asks for passwords: sessions and sign-in pages belong to the application.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;

use crate::boxed::BoxFuture;

/// The application's answer about the user behind an authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum User {
    /// Signed in: the subject identifier the tokens will carry (`sub`).
    SignedIn(String),
    /// Nobody is signed in: the browser is sent (303) to this URL, which should bring the user
    /// back to the `return_to` the hook was given once signed in.
    SignInAt(String),
    /// The application refuses the request for this user: the client gets `access_denied`
    /// (RFC 6749 §4.1.2.1).
    Denied,
}

/// Tells the authorization endpoint who the user is, from the request (usually a session
/// cookie the application set).
///
/// `return_to` is the authorization request as a path and query on this server (for a pushed
/// request, its `client_id` and `request_uri`): send the user there once signed in. It is
/// built by the endpoint from parameters it checked, never from a `Host` header.
///
/// Closures `Fn(&Request<Bytes>, &str) -> User` implement it; implement it on your own type for
/// an asynchronous session lookup:
///
/// ```
/// use bytes::Bytes;
/// use http::Request;
/// use oauth_endpoints::authorization::{SignIn, User};
///
/// struct Sessions;
///
/// impl SignIn for Sessions {
///     async fn user(&self, request: &Request<Bytes>, return_to: &str) -> User {
///         let session = request
///             .headers()
///             .get("cookie")
///             .and_then(|value| value.to_str().ok())
///             .filter(|cookie| cookie.contains("session=alice"));
///         // Look the session up in your database here.
///         match session {
///             Some(_) => User::SignedIn("alice".to_owned()),
///             None => User::SignInAt(format!(
///                 "/login?next={}",
///                 percent_encoding::utf8_percent_encode(
///                     return_to,
///                     percent_encoding::NON_ALPHANUMERIC
///                 )
///             )),
///         }
///     }
/// }
/// ```
pub trait SignIn: Send + Sync + 'static {
    /// Who is behind `request`.
    fn user(&self, request: &Request<Bytes>, return_to: &str) -> impl Future<Output = User> + Send;
}

impl<F> SignIn for F
where
    F: Fn(&Request<Bytes>, &str) -> User + Send + Sync + 'static,
{
    fn user(&self, request: &Request<Bytes>, return_to: &str) -> impl Future<Output = User> + Send {
        std::future::ready(self(request, return_to))
    }
}

/// The object-safe twin of [`SignIn`].
trait DynSignIn: Send + Sync + 'static {
    fn user_boxed<'a>(
        &'a self,
        request: &'a Request<Bytes>,
        return_to: &'a str,
    ) -> BoxFuture<'a, User>;
}

impl<T: SignIn> DynSignIn for T {
    fn user_boxed<'a>(
        &'a self,
        request: &'a Request<Bytes>,
        return_to: &'a str,
    ) -> BoxFuture<'a, User> {
        Box::pin(self.user(request, return_to))
    }
}

/// A shared [`SignIn`] hook.
#[derive(Clone)]
pub(crate) struct SignInHook(Arc<dyn DynSignIn>);

impl SignInHook {
    pub(crate) fn new(hook: impl SignIn) -> Self {
        Self(Arc::new(hook))
    }

    pub(crate) async fn user(&self, request: &Request<Bytes>, return_to: &str) -> User {
        self.0.user_boxed(request, return_to).await
    }
}

impl fmt::Debug for SignInHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignInHook")
    }
}
