//! The outermost server layer: one span per RPC, named `<service>.<rpc>`, child of the caller's
//! trace; the caller's deadline made visible to outgoing calls (deadline propagation); and the
//! RPC's count by status code and its latency in the process's metrics.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::time::Instant;
use tower::{Layer, Service};
use tracing::Instrument;

tokio::task_local! {
    pub(crate) static DEADLINE: Option<Instant>;
}

/// The deadline of the RPC being handled on this task, if the caller sent one.
pub fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok().flatten()
}

/// Parses a `grpc-timeout` header value (`100m`, `5S`, …) into a duration.
pub(crate) fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// See the module docs.
#[derive(Clone, Debug)]
pub struct RpcLayer {
    service: &'static str,
}

impl RpcLayer {
    pub fn new(service: &'static str) -> Self {
        Self { service }
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = RpcService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcService {
            inner,
            service: self.service,
        }
    }
}

/// The service built by [`RpcLayer`].
#[derive(Clone, Debug)]
pub struct RpcService<S> {
    inner: S,
    service: &'static str,
}

/// One RPC's figures, recorded when it ends — answered, or dropped unanswered (the caller went
/// away, or the server's deadline cancelled it: `CANCELLED`). Calls the server sheds before they
/// reach this layer (`RESOURCE_EXHAUSTED` under load) are not seen here.
struct Counted {
    labels: healthpoints_telemetry::metrics::MethodLabels,
    started: std::time::Instant,
    code: Option<&'static str>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let m = healthpoints_telemetry::metrics::metrics();
        let code = self.code.unwrap_or("CANCELLED");
        // A method nobody serves is one label, not a series per made-up path.
        let method = if code == "UNIMPLEMENTED" {
            "other".to_owned()
        } else {
            std::mem::take(&mut self.labels.method)
        };
        let labels = healthpoints_telemetry::metrics::MethodLabels {
            service: std::mem::take(&mut self.labels.service),
            method,
        };
        m.rpc_duration
            .get_or_create(&labels)
            .observe(self.started.elapsed().as_secs_f64());
        m.rpc_requests
            .get_or_create(&healthpoints_telemetry::metrics::RpcLabels {
                service: labels.service,
                method: labels.method,
                code: code.to_owned(),
            })
            .inc();
    }
}

/// The gRPC status name of an answer: from its headers when it carries its status there (an
/// error, answered trailers-only), else `OK` (its status is in the trailers).
fn code_of<R>(answer: &http::Response<R>) -> &'static str {
    use tonic::Code;
    match tonic::Status::from_header_map(answer.headers()).map(|s| s.code()) {
        None | Some(Code::Ok) => "OK",
        Some(Code::Cancelled) => "CANCELLED",
        Some(Code::Unknown) => "UNKNOWN",
        Some(Code::InvalidArgument) => "INVALID_ARGUMENT",
        Some(Code::DeadlineExceeded) => "DEADLINE_EXCEEDED",
        Some(Code::NotFound) => "NOT_FOUND",
        Some(Code::AlreadyExists) => "ALREADY_EXISTS",
        Some(Code::PermissionDenied) => "PERMISSION_DENIED",
        Some(Code::ResourceExhausted) => "RESOURCE_EXHAUSTED",
        Some(Code::FailedPrecondition) => "FAILED_PRECONDITION",
        Some(Code::Aborted) => "ABORTED",
        Some(Code::OutOfRange) => "OUT_OF_RANGE",
        Some(Code::Unimplemented) => "UNIMPLEMENTED",
        Some(Code::Internal) => "INTERNAL",
        Some(Code::Unavailable) => "UNAVAILABLE",
        Some(Code::DataLoss) => "DATA_LOSS",
        Some(Code::Unauthenticated) => "UNAUTHENTICATED",
    }
}

impl<S, B, R> Service<http::Request<B>> for RpcService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let path = req.uri().path();
        let method = path.rsplit('/').next().unwrap_or_default();
        let request_id = healthpoints_telemetry::request_id_of(req.headers());
        let span = tracing::info_span!(
            "rpc",
            otel.name = %format_args!("{}.{}", self.service, method),
            rpc.system = "grpc",
            rpc.service = self.service,
            rpc.method = %method,
            request_id = request_id.as_deref().unwrap_or_default(),
        );
        healthpoints_telemetry::adopt_parent(&span, req.headers());
        let deadline = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map(|d| Instant::now() + d);
        // The service's own RPCs: not health checks (a `Watch` lasts as long as its caller) or
        // reflection, and not what is not gRPC at all (`/metrics`).
        let grpc = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
            && !path.starts_with("/grpc.");
        let labels = healthpoints_telemetry::metrics::MethodLabels {
            service: self.service.to_owned(),
            method: method.to_owned(),
        };
        let mut counted = grpc.then(|| Counted {
            labels,
            started: std::time::Instant::now(),
            code: None,
        });
        let fut = self.inner.call(req);
        // At debug level, each call taken and each call answered: a drain on shutdown can be
        // seen to answer everything it took (a dropped call logs no "rpc answered").
        let fut = async move {
            tracing::debug!("rpc taken");
            let answer = fut.await;
            tracing::debug!("rpc answered");
            if let Some(c) = counted.as_mut() {
                c.code = Some(answer.as_ref().map_or("UNAVAILABLE", code_of));
            }
            answer
        };
        Box::pin(healthpoints_telemetry::with_request_id(
            request_id,
            DEADLINE.scope(deadline, fut.instrument(span)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grpc_timeouts() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout("10q"), None);
        assert_eq!(parse_grpc_timeout("1234567890S"), None);
    }
}
