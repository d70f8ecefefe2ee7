//! A tower layer that authenticates every gRPC request carrying a bearer token.
//!
//! A request without `authorization` passes through without a principal (public RPCs such as
//! `Login`); handlers that need one call [`principal`], which refuses with UNAUTHENTICATED. A
//! request with a token that does not verify is refused here, before any handler runs, and so
//! is a counter's delegated token on a call it is not for ([`crate::Verifier::verify_call`]).

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use healthpoints_errors::ApiError;
use tonic::Status;
use tower::{Layer, Service};

use crate::{Principal, Verifier};

/// See the module docs.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    verifier: Verifier,
}

impl AuthLayer {
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service built by [`AuthLayer`].
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    verifier: Verifier,
}

/// The bearer token of a request, if it has one.
fn bearer<B>(req: &http::Request<B>) -> Option<Result<String, ()>> {
    let value = req.headers().get(http::header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_owned())
            .ok_or(()),
    )
}

impl<S, B, R> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The clone that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            match bearer(&req) {
                None => {}
                Some(Err(())) => {
                    let status: Status =
                        ApiError::unauthenticated("authorization must be `Bearer <token>`").into();
                    return Ok(status.into_http());
                }
                Some(Ok(token)) => match verifier.verify_call(&token, req.uri().path()).await {
                    Ok(principal) => {
                        req.extensions_mut().insert(principal);
                    }
                    Err(err) => {
                        tracing::debug!(reason = %err.message, "token refused");
                        return Ok(Status::from(err).into_http());
                    }
                },
            }
            inner.call(req).await
        })
    }
}

/// The caller's principal; UNAUTHENTICATED when the request carried no token.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<Principal, ApiError> {
    optional_principal(request)
        .ok_or_else(|| ApiError::unauthenticated("this call needs a bearer token"))
}

/// The caller's principal, if the request carried a valid token.
pub fn optional_principal<T>(request: &tonic::Request<T>) -> Option<Principal> {
    request.extensions().get::<Principal>().cloned()
}
