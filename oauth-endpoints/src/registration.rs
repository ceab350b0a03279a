//! What `#[oauth_endpoint]` submits to `inventory`: a description and a factory.

use std::sync::Arc;

use crate::description::{DescribedEndpoint, EndpointDescription};
use crate::endpoint::{DynEndpoint, Endpoint};

/// One annotated endpoint type, collected at startup by `AuthorizationServer::builder()`.
#[doc(hidden)]
pub struct Registration {
    pub(crate) description: EndpointDescription,
    pub(crate) factory: fn() -> Arc<dyn DynEndpoint>,
}

impl Registration {
    /// The registration of `T`, built by `Default`.
    pub const fn of<T: Endpoint + Default + DescribedEndpoint>() -> Self {
        Self {
            description: T::DESCRIPTION,
            factory: construct::<T>,
        }
    }
}

fn construct<T: Endpoint + Default>() -> Arc<dyn DynEndpoint> {
    Arc::new(T::default())
}

inventory::collect!(Registration);

/// Every registration linked into the program, in unspecified order.
pub(crate) fn collected() -> impl Iterator<Item = &'static Registration> {
    inventory::iter::<Registration>.into_iter()
}
