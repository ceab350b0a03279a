//! [`OAuthService`]: the server as a `tower::Service` (feature `tower`).

use std::convert::Infallible;
use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};

use crate::error::OAuthError;
use crate::server::{AuthorizationServer, check_body_size};

/// The server as a `tower::Service<http::Request<B>>`: reads the body up to the server's limit
/// (an oversized body is refused with 413 without being buffered whole), then dispatches by path
/// and method. Serve it with hyper, or mount it in any tower-based framework.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use http_body_util::Full;
/// use tower_service::Service;
///
/// let server = oauth_endpoints::AuthorizationServer::builder().build().unwrap();
/// let mut service = oauth_endpoints::server::OAuthService::new(server);
/// let request = http::Request::get("/nowhere").body(Full::new(bytes::Bytes::new())).unwrap();
/// let response = service.call(request).await.unwrap();
/// assert_eq!(response.status(), 404);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct OAuthService {
    server: AuthorizationServer,
}

impl OAuthService {
    /// Wraps a server.
    pub fn new(server: AuthorizationServer) -> Self {
        Self { server }
    }

    /// The server.
    pub fn server(&self) -> &AuthorizationServer {
        &self.server
    }
}

impl From<AuthorizationServer> for OAuthService {
    fn from(server: AuthorizationServer) -> Self {
        Self::new(server)
    }
}

impl<B> tower_service::Service<Request<B>> for OAuthService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let server = self.server.clone();
        Box::pin(async move { Ok(serve(&server, request).await.map(Full::new)) })
    }
}

/// Reads a bounded body, then dispatches.
async fn serve<B>(server: &AuthorizationServer, request: Request<B>) -> Response<Bytes>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    let limit = server.config().body_limit;
    let (parts, body) = request.into_parts();
    // A declared length over the limit is refused before reading a byte.
    let head = Request::from_parts(parts, Bytes::new());
    if let Err(error) = check_body_size(&head, limit) {
        return error.into_response();
    }
    let (parts, _) = head.into_parts();
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            return OAuthError::invalid_request(format!("the request body exceeds {limit} bytes"))
                .with_status(StatusCode::PAYLOAD_TOO_LARGE)
                .into_response();
        }
        Err(_) => {
            return OAuthError::invalid_request("the request body could not be read")
                .into_response();
        }
    };
    server.dispatch(Request::from_parts(parts, bytes)).await
}
