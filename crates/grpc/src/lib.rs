//! How every healthpoints service serves gRPC and calls its peers.
//!
//! - [`Host`] runs a [`Service`] the same way for all of them: bind, serve at once with health
//!   `NOT_SERVING`, prepare the domain in the background ([`Ready`] answers UNAVAILABLE until
//!   then), run the chores, drain at shutdown.
//! - [`GrpcServer`] binds (port 0 works), reports gRPC health — `NOT_SERVING` until the service
//!   says its dependencies are ready — serves reflection (listing the one service it runs, with
//!   health and reflection; every contract of the mesh can be described), and wraps
//!   every service in one tower stack (see [`GrpcServer::serve`] for the order and why).
//! - [`client::connect`] builds a channel with connect and request timeouts and an interceptor
//!   that propagates the caller's deadline and trace context to the next hop.
//! - [`credentials::ServiceToken`] is a service's own identity towards its peers: its deployed
//!   client credentials exchanged with identity for a token, cached until shortly before expiry.
//! - [`outbox`] carries a service's outbox events on the wire, and serves intake's and the
//!   ledger's to the exchange, which pulls them.
//! - [`Shutdown`] turns SIGINT/SIGTERM into a graceful stop: health flips to `NOT_SERVING`, the
//!   listener closes, in-flight calls drain within a grace period; a second signal exits at once.

mod balance;
pub mod client;
pub mod credentials;
pub mod health;
pub mod host;
pub mod outbox;
pub mod ready;
mod rpc_layer;
mod shutdown;
mod target;
pub mod time;
pub mod tls;

use std::{net::SocketAddr, time::Duration};

use healthpoints_auth::{AuthLayer, Verifier};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tonic::{service::Routes, transport::Server};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::limit::GlobalConcurrencyLimitLayer;

pub use client::RemoteJwks;
pub use host::{Chore, Host, Service, caller, every, identity_keys};
pub use ready::Ready;
pub use rpc_layer::{RpcLayer, current_deadline};
pub use shutdown::Shutdown;

/// Listener and limits of one gRPC server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcServerConfig {
    /// Listen address; port 0 picks a free port.
    pub addr: String,
    /// A handler that runs longer than this is cancelled with DEADLINE_EXCEEDED.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Requests handled at once across all connections; beyond it requests are shed.
    #[serde(default = "default_concurrency")]
    pub concurrency_limit: usize,
    /// Largest message accepted or sent, in bytes.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// How long in-flight calls may take to finish once shutdown starts.
    #[serde(default = "default_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// Serve over TLS (and with `client_ca_file`, mutual TLS): `grpc.tls.cert_file`,
    /// `grpc.tls.key_file`, `grpc.tls.client_ca_file`. `/metrics` is then HTTPS too.
    #[serde(default)]
    pub tls: Option<tls::ServerTls>,
}

fn default_request_timeout_ms() -> u64 {
    10_000
}
fn default_concurrency() -> usize {
    1024
}
fn default_max_message_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_grace_ms() -> u64 {
    10_000
}

impl GrpcServerConfig {
    /// A loopback server on a free port, for tests.
    pub fn for_test() -> Self {
        Self {
            addr: "127.0.0.1:0".into(),
            request_timeout_ms: default_request_timeout_ms(),
            concurrency_limit: default_concurrency(),
            max_message_bytes: default_max_message_bytes(),
            shutdown_grace_ms: 2_000,
            tls: None,
        }
    }
}

/// How a handler's panic is answered: `INTERNAL` with the mesh's `ErrorInfo`.
pub type PanicResponse =
    fn(Box<dyn std::any::Any + Send + 'static>) -> http::Response<tonic::body::Body>;

/// The layer that turns a handler's panic into `INTERNAL` (logged once, by the panic hook that
/// `healthpoints_telemetry::init` installs).
pub fn catch_panics() -> tower_http::catch_panic::CatchPanicLayer<PanicResponse> {
    fn internal(_: Box<dyn std::any::Any + Send + 'static>) -> http::Response<tonic::body::Body> {
        // With the mesh's ErrorInfo: callers read it as our INTERNAL, not a cut-off call.
        tonic::Status::from(healthpoints_errors::ApiError::internal()).into_http()
    }
    tower_http::catch_panic::CatchPanicLayer::custom(internal)
}

/// Flips the health of a server's services.
#[derive(Clone, Debug)]
pub struct Health {
    reporter: HealthReporter,
    service: &'static str,
}

impl Health {
    /// Reports the service (and the server as a whole) ready for traffic.
    pub async fn set_serving(&self) {
        self.set(ServingStatus::Serving).await;
    }

    /// Reports the service not ready: load balancers and the gateway stop sending traffic.
    pub async fn set_not_serving(&self) {
        self.set(ServingStatus::NotServing).await;
    }

    async fn set(&self, status: ServingStatus) {
        self.reporter.set_service_status("", status).await;
        self.reporter.set_service_status(self.service, status).await;
    }
}

/// The standard gRPC health service every port serves.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
/// The gRPC reflection service every port serves.
pub const REFLECTION_SERVICE: &str = "grpc.reflection.v1.ServerReflection";

/// The same, in the protocol's first version (older grpcurl, Python's grpcio-reflection).
pub const REFLECTION_SERVICE_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// A bound gRPC server, not yet serving.
#[derive(Debug)]
pub struct GrpcServer {
    config: GrpcServerConfig,
    name: &'static str,
    listener: TcpListener,
    tls: Option<tonic::transport::ServerTlsConfig>,
    health: Health,
    health_service:
        tonic_health::pb::health_server::HealthServer<tonic_health::server::HealthService>,
}

impl GrpcServer {
    /// Binds the listener. `name` is the short service name used in span names (`identity`);
    /// `grpc_service` the fully-qualified gRPC service whose health is reported.
    pub async fn bind(
        name: &'static str,
        grpc_service: &'static str,
        config: &GrpcServerConfig,
    ) -> std::io::Result<Self> {
        let tls = match &config.tls {
            Some(tls) => Some(tls.load().map_err(std::io::Error::other)?),
            None => None,
        };
        let listener = TcpListener::bind(&config.addr).await?;
        let reporter = HealthReporter::new();
        let health_service = tonic_health::pb::health_server::HealthServer::new(
            tonic_health::server::HealthService::from_health_reporter(reporter.clone()),
        );
        let health = Health {
            reporter,
            service: grpc_service,
        };
        health.set_not_serving().await;
        Ok(Self {
            config: config.clone(),
            name,
            listener,
            tls,
            health,
            health_service,
        })
    }

    /// The address actually bound (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// A handle to report readiness.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Largest message size; services apply it to their generated server
    /// (`max_decoding_message_size`), which owns message decoding.
    pub fn max_message_bytes(&self) -> usize {
        self.config.max_message_bytes
    }

    /// Serves `routes` plus health and reflection until `shutdown` fires, then drains for at most
    /// the grace period.
    pub async fn serve(
        self,
        routes: Routes,
        verifier: Verifier,
        shutdown: Shutdown,
    ) -> Result<(), tonic::transport::Error> {
        // Every contract can be described (a message of another package may be named), but a
        // port lists only what it serves: its service, health and reflection itself.
        // Both versions of the protocol: grpcurl speaks v1, older grpcurl and Python's
        // grpcio-reflection speak v1alpha.
        let service = self.health.service;
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(healthpoints_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .with_service_name(service)
                .with_service_name(HEALTH_SERVICE)
                .with_service_name(REFLECTION_SERVICE)
                .with_service_name(REFLECTION_SERVICE_V1ALPHA)
        };
        let valid = "the mesh's descriptor set is valid: it was produced by protox at build time";
        let reflection_v1alpha = reflection().build_v1alpha().expect(valid);
        let reflection = reflection().build_v1().expect(valid);
        let grace = Duration::from_millis(self.config.shutdown_grace_ms);
        let health = self.health.clone();
        let mut drained = shutdown.clone();
        let stop_accepting = async move {
            drained.wait().await;
            health.set_not_serving().await;
        };

        // Prometheus scrapes `GET /metrics` over HTTP/1.1 on the same port.
        let routes = Routes::from(routes.into_axum_router().route(
            "/metrics",
            axum::routing::get(|| async {
                (
                    [(
                        http::header::CONTENT_TYPE,
                        healthpoints_telemetry::metrics::CONTENT_TYPE,
                    )],
                    healthpoints_telemetry::metrics::render(),
                )
            }),
        ));
        let mut builder = Server::builder();
        if let Some(tls) = self.tls {
            builder = builder.tls_config(tls)?;
        }
        let mut builder = builder
            .accept_http1(true)
            // Cancels handlers that overrun; clients see DEADLINE_EXCEEDED rather than a hang.
            .timeout(Duration::from_millis(self.config.request_timeout_ms))
            // With the global limit below, an overloaded server answers RESOURCE_EXHAUSTED at
            // once instead of queueing work it cannot finish in time.
            .load_shed(true)
            .tcp_nodelay(true)
            // Outermost of ours (tonic's timeout and load shedding wrap it): the span, the
            // deadline and the metrics cover everything below; a call the timeout cancels is
            // counted `CANCELLED`, one shed before it arrives is not seen.
            .layer(RpcLayer::new(self.name))
            // A panic in any handler (a bug) becomes INTERNAL for that call, never a dropped
            // stream that callers read as UNAVAILABLE and retry for ever. Inside the span, so
            // the panic hook's one log line carries the RPC's name and trace.
            .layer(catch_panics())
            // One semaphore shared by every connection: protects the database pool, not just
            // one connection's stream budget.
            .layer(GlobalConcurrencyLimitLayer::new(
                self.config.concurrency_limit,
            ))
            // Innermost: only admitted requests pay for signature checks, and a request with a
            // bad token never reaches a handler. Requests without a token pass without a
            // principal (health, reflection, public RPCs).
            .layer(AuthLayer::new(verifier));
        let router = builder
            .add_routes(routes)
            .add_service(self.health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha);
        // Our own listener (so port 0 can be reported before serving): set TCP_NODELAY on
        // accepted sockets here, or multiplexed responses wait on Nagle + delayed ACK (~40 ms).
        let incoming =
            tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true));
        let server = router.serve_with_incoming_shutdown(incoming, stop_accepting);
        tokio::pin!(server);
        let mut started = shutdown;
        tokio::select! {
            result = &mut server => result,
            () = started.wait() => match tokio::time::timeout(grace, &mut server).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(service = self.name, "shutdown grace period elapsed; dropping in-flight calls");
                    Ok(())
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use tower::{Layer as _, ServiceExt as _};

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_internal_not_a_dropped_stream() {
        let panicking = tower::service_fn(|_: http::Request<tonic::body::Body>| async {
            if true {
                panic!("a bug in a handler");
            }
            Ok::<_, std::convert::Infallible>(http::Response::new(tonic::body::Body::empty()))
        });
        let response = catch_panics()
            .layer(panicking)
            .oneshot(http::Request::new(tonic::body::Body::empty()))
            .await
            .unwrap();
        let status = tonic::Status::from_header_map(response.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::Internal);
        assert_eq!(status.message(), "internal error");
        let read = healthpoints_errors::ApiError::from_status(&status);
        assert_eq!(read.code, healthpoints_errors::ErrorCode::Internal);
    }
}
