//! [`ProtectLayer`]: a tower layer that protects every request of a service with a
//! [`ResourceProtector`] (feature `tower`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};

use crate::resource::{Principal, ResourceProtector};

/// A `tower` layer that checks each request's Bearer token, or DPoP-bound token and proof
/// (RFC 9449 §7), with a [`ResourceProtector`]
/// ([`protect_request`](ResourceProtector::protect_request)): a refused request is answered
/// with the [`BearerError`](crate::resource::BearerError)'s RFC 6750 response and never reaches
/// the inner service; an accepted one reaches it with its [`Principal`] in the request's
/// extensions, and the answer gets the principal's fresh
/// [`DPoP-Nonce`](Principal::dpop_nonce), if any.
///
/// Make one with [`ResourceProtector::layer`]. The inner service's response body must be
/// buildable from [`Bytes`] (axum's `Body`, `http_body_util::Full<Bytes>`, ...).
///
/// ```
/// use std::convert::Infallible;
///
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use oauth_endpoints::AuthorizationServer;
/// use oauth_endpoints::resource::{Principal, ResourceProtector};
/// use tower_layer::Layer;
/// use tower_service::Service;
/// # #[derive(Clone)]
/// # struct ServiceFn<F>(F);
/// # impl<F, Fut, Req, Res, E> Service<Req> for ServiceFn<F>
/// # where F: FnMut(Req) -> Fut, Fut: std::future::Future<Output = Result<Res, E>> {
/// #     type Response = Res;
/// #     type Error = E;
/// #     type Future = Fut;
/// #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), E>> {
/// #         std::task::Poll::Ready(Ok(()))
/// #     }
/// #     fn call(&mut self, request: Req) -> Fut { (self.0)(request) }
/// # }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = AuthorizationServer::builder().build().unwrap();
/// let layer = ResourceProtector::new(&server).require_scope("read").layer();
/// // Any service (`tower::service_fn`, an axum `Router`, ...): here one greeting the client.
/// let inner = ServiceFn(|request: Request<Full<Bytes>>| async move {
///     let principal = request.extensions().get::<Principal>().unwrap();
///     let greeting = format!("hello {}", principal.client_id());
///     Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(greeting)))
/// });
/// let mut service = layer.layer(inner);
///
/// let request = Request::get("/files/1").body(Full::new(Bytes::new())).unwrap();
/// let response = service.call(request).await.unwrap();
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="api""#);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ProtectLayer {
    protector: ResourceProtector,
}

impl ResourceProtector {
    /// A `tower` layer protecting every request of the service it wraps with this protector
    /// (feature `tower`): see [`ProtectLayer`]. With axum, give it to `route_layer` for the
    /// routes that need it (or `layer` for a whole router).
    pub fn layer(&self) -> ProtectLayer {
        ProtectLayer {
            protector: self.clone(),
        }
    }
}

impl<S> tower_layer::Layer<S> for ProtectLayer {
    type Service = Protect<S>;

    fn layer(&self, inner: S) -> Protect<S> {
        Protect {
            inner,
            protector: self.protector.clone(),
        }
    }
}

/// The service [`ProtectLayer`] makes: checks the Bearer token, then calls the inner service
/// with the [`Principal`] in the request's extensions.
#[derive(Clone, Debug)]
pub struct Protect<S> {
    inner: S,
    protector: ResourceProtector,
}

impl<S> Protect<S> {
    /// The protector.
    pub fn protector(&self) -> &ResourceProtector {
        &self.protector
    }

    /// The inner service.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S, B, ResBody> tower_service::Service<Request<B>> for Protect<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The service that was polled ready serves this request; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let protector = self.protector.clone();
        Box::pin(async move {
            let checked = protector
                .protect_request(request.method(), request.uri(), request.headers())
                .await;
            match checked {
                Ok(principal) => {
                    let nonce = principal
                        .dpop_nonce()
                        .and_then(|nonce| http::HeaderValue::from_str(nonce).ok());
                    request.extensions_mut().insert::<Principal>(principal);
                    let mut response = inner.call(request).await?;
                    if let Some(nonce) = nonce {
                        response
                            .headers_mut()
                            .insert(crate::dpop::DPOP_NONCE, nonce);
                    }
                    Ok(response)
                }
                Err(error) => Ok(error.into_response().map(ResBody::from)),
            }
        })
    }
}
