//! [`BoxFuture`]: the future the object-safe twins of the public traits (endpoints, grants,
//! stores) return. Its own module, below all of them, so that no layer imports another for it.

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
