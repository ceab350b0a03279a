//! Who the user at the verification page is: a hook the application provides (RFC 8628 §3.3:
//! "the end user ... authenticates with the authorization server"). This crate has no login of
//! its own; sessions belong to the application.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;

/// Tells the verification page which user is signed in, from the request (usually a session
/// cookie the application set). `None` means nobody is: the page then asks the user to sign in
/// and approves nothing.
///
/// Closures `Fn(&Request<Bytes>) -> Option<String>` implement it; implement it on your own type
/// for an asynchronous session lookup:
///
/// ```
/// use bytes::Bytes;
/// use device_flow::CurrentUser;
/// use http::Request;
///
/// struct Sessions;
///
/// impl CurrentUser for Sessions {
///     async fn current_user(&self, request: &Request<Bytes>) -> Option<String> {
///         let cookie = request.headers().get("cookie")?.to_str().ok()?;
///         // Look the session up in your database here.
///         cookie.contains("session=alice").then(|| "alice".to_owned())
///     }
/// }
/// ```
pub trait CurrentUser: Send + Sync + 'static {
    /// The signed-in user's subject identifier (the tokens' `sub`), if any.
    fn current_user(&self, request: &Request<Bytes>)
    -> impl Future<Output = Option<String>> + Send;
}

impl<F> CurrentUser for F
where
    F: Fn(&Request<Bytes>) -> Option<String> + Send + Sync + 'static,
{
    fn current_user(
        &self,
        request: &Request<Bytes>,
    ) -> impl Future<Output = Option<String>> + Send {
        std::future::ready(self(request))
    }
}

/// One user, always signed in: for demonstrations and tests only.
#[derive(Debug, Clone)]
pub struct FixedUser(pub String);

impl FixedUser {
    /// Always `subject`.
    pub fn new(subject: impl Into<String>) -> Self {
        Self(subject.into())
    }
}

impl CurrentUser for FixedUser {
    async fn current_user(&self, _request: &Request<Bytes>) -> Option<String> {
        Some(self.0.clone())
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe twin of [`CurrentUser`].
trait DynCurrentUser: Send + Sync + 'static {
    fn current_user_boxed<'a>(
        &'a self,
        request: &'a Request<Bytes>,
    ) -> BoxFuture<'a, Option<String>>;
}

impl<T: CurrentUser> DynCurrentUser for T {
    fn current_user_boxed<'a>(
        &'a self,
        request: &'a Request<Bytes>,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(self.current_user(request))
    }
}

/// A shared [`CurrentUser`] hook.
#[derive(Clone)]
pub(crate) struct Users(Arc<dyn DynCurrentUser>);

impl Users {
    pub(crate) fn new(hook: impl CurrentUser) -> Self {
        Self(Arc::new(hook))
    }

    pub(crate) async fn current_user(&self, request: &Request<Bytes>) -> Option<String> {
        self.0.current_user_boxed(request).await
    }
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Users")
    }
}
