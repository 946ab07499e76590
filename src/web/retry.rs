//! One more try for a read that met a broken database connection (a PostgreSQL restart
//! leaves the pool's idle connections dead). GET and HEAD change nothing, so running
//! them again is safe; the pool has by then dropped every connection opened before the
//! failure (`db::health`), so the second run gets fresh ones. Writes are retried, where
//! safe, inside their use cases, which know whether anything was committed.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{body::Body, extract::Request, http::Method, response::Response};
use tower::{Layer, Service};

use crate::error::DbUnavailable;

#[derive(Clone, Copy, Default)]
pub struct RetryReadsLayer;

impl<S> Layer<S> for RetryReadsLayer {
    type Service = RetryReads<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RetryReads { inner }
    }
}

#[derive(Clone)]
pub struct RetryReads<S> {
    inner: S,
}

impl<S> Service<Request> for RetryReads<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The service that was polled ready serves this call; a clone serves the retry.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return Box::pin(inner.call(req));
        }
        let (parts, body) = req.into_parts();
        let again = Request::from_parts(parts.clone(), Body::empty());
        let first = inner.call(Request::from_parts(parts, body));
        let mut second = self.inner.clone();
        Box::pin(async move {
            let res = first.await?;
            if res
                .extensions()
                .get::<DbUnavailable>()
                .is_some_and(|m| m.broken)
            {
                tracing::warn!("a read met a broken database connection; trying it once more");
                std::future::poll_fn(|cx| second.poll_ready(cx)).await?;
                return second.call(again).await;
            }
            Ok(res)
        })
    }
}
