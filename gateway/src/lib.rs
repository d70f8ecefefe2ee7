//! The healthpoints gateway: the public HTTP/JSON API (docs/api.md) in front of the gRPC mesh,
//! and the redemption router with its health-tracked mall registry ([`malls`]). It knows the
//! services only by their contracts (`healthpoints-proto`); the all-in-one runner behind
//! `healthpoints up` lives in the `healthpoints` crate (`cli/`).
//!
//! Handlers are thin: parse JSON, check the caller's role, call a backend over gRPC with the
//! caller's token (backends check again, with the object-level rules), and render the answer —
//! or the backend's error, unchanged in meaning, as `application/problem+json`. The OpenAPI
//! document is served at `/openapi.json`.

pub mod auth;
pub mod body;
pub mod config;
pub mod cors;
pub mod error;
pub mod malls;
pub mod observe;
pub mod routes;
pub mod throttle;

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use axum::{extract::DefaultBodyLimit, http::StatusCode};
use healthpoints_auth::Verifier;
use healthpoints_grpc::{RemoteJwks, Shutdown, client::PeerChannel};
use healthpoints_proto::{
    exchange::v1::exchange_service_client::ExchangeServiceClient,
    identity::v1::identity_service_client::IdentityServiceClient,
    intake::v1::intake_service_client::IntakeServiceClient,
    ledger::v1::ledger_service_client::LedgerServiceClient,
};
use tokio::net::TcpListener;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
};

use crate::config::GatewayConfig;

/// A backend whose health `/readyz` reports.
#[derive(Debug, Clone)]
pub struct Backend {
    pub name: &'static str,
    /// Where it is and how it is called (TLS, replicas).
    pub peer: healthpoints_grpc::client::GrpcClientConfig,
    pub grpc_service: &'static str,
}

/// What every handler shares; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    identity: IdentityServiceClient<PeerChannel>,
    ledger: LedgerServiceClient<PeerChannel>,
    intake: IntakeServiceClient<PeerChannel>,
    exchange: ExchangeServiceClient<PeerChannel>,
    verifier: Verifier,
    malls: malls::MallRegistry,
    backends: std::sync::Arc<Vec<Backend>>,
    throttle: throttle::Throttle,
}

impl AppState {
    /// A client of identity (clones share one connection).
    pub fn identity(&self) -> IdentityServiceClient<PeerChannel> {
        self.identity.clone()
    }

    /// A client of the ledger.
    pub fn ledger(&self) -> LedgerServiceClient<PeerChannel> {
        self.ledger.clone()
    }

    /// A client of intake.
    pub fn intake(&self) -> IntakeServiceClient<PeerChannel> {
        self.intake.clone()
    }

    /// A client of the exchange.
    pub fn exchange(&self) -> ExchangeServiceClient<PeerChannel> {
        self.exchange.clone()
    }

    /// The mall registry with each mall's tracked health.
    pub fn malls(&self) -> &malls::MallRegistry {
        &self.malls
    }

    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// The rate limits of the unauthenticated routes, and who the client is.
    pub fn throttle(&self) -> &throttle::Throttle {
        &self.throttle
    }
}

/// A bound gateway.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
}

impl Application {
    /// Builds clients to the backends and binds the HTTP listener.
    pub async fn build(config: GatewayConfig) -> anyhow::Result<Self> {
        let identity_channel = healthpoints_grpc::client::connect(&config.identity)?;
        let verifier = Verifier::new(
            config.verifier.clone(),
            RemoteJwks::new(identity_channel.clone()),
        );
        let state = AppState {
            identity: IdentityServiceClient::new(identity_channel),
            ledger: LedgerServiceClient::new(healthpoints_grpc::client::connect(&config.ledger)?),
            intake: IntakeServiceClient::new(healthpoints_grpc::client::connect(&config.intake)?),
            exchange: ExchangeServiceClient::new(healthpoints_grpc::client::connect(
                &config.exchange,
            )?),
            verifier,
            malls: malls::MallRegistry::new(&config.malls)?,
            backends: std::sync::Arc::new(vec![
                Backend {
                    name: "identity",
                    peer: config.identity.clone(),
                    grpc_service:
                        healthpoints_proto::identity::v1::identity_service_server::SERVICE_NAME,
                },
                Backend {
                    name: "ledger",
                    peer: config.ledger.clone(),
                    grpc_service:
                        healthpoints_proto::ledger::v1::ledger_service_server::SERVICE_NAME,
                },
                Backend {
                    name: "intake",
                    peer: config.intake.clone(),
                    grpc_service:
                        healthpoints_proto::intake::v1::intake_service_server::SERVICE_NAME,
                },
                Backend {
                    name: "exchange",
                    peer: config.exchange.clone(),
                    grpc_service:
                        healthpoints_proto::exchange::v1::exchange_service_server::SERVICE_NAME,
                },
                // The city mall is every resident's fallback; district malls are tracked by
                // the mall registry and routed around when down, so they are not in /readyz.
                Backend {
                    name: "city-mall",
                    peer: config.malls.city.clone(),
                    grpc_service: healthpoints_proto::mall::v1::mall_service_server::SERVICE_NAME,
                },
            ]),
            throttle: throttle::Throttle::new(
                &config.http.rate_limits,
                &config.http.trusted_proxies,
            )
            .map_err(|e| anyhow::anyhow!("http.trusted_proxies: {e}"))?,
        };
        let router = routes::router(&state)
            // Before any handler or audience gate: a flood of logins or registrations is
            // refused here without costing identity a password hash or a lookup.
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                throttle::limit,
            ))
            .fallback(error::not_found)
            .method_not_allowed_fallback(error::method_not_allowed)
            .with_state(state.clone())
            // Bodies beyond the limit fail extraction: 413 in problem+json (body::unreadable).
            .layer(DefaultBodyLimit::max(config.http.body_limit_bytes))
            // Innermost of the stack below: a slow backend turns into 504, not a hung client.
            .layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                Duration::from_millis(config.http.request_timeout_ms),
            ))
            // A handler's panic (a bug) is a 500 problem like any internal failure, not a
            // dropped connection that clients retry; the panic hook logs it once, in the span.
            .layer(CatchPanicLayer::custom(
                error::panic_response as error::PanicResponse,
            ))
            // Echo the request id so a client can quote it to support.
            .layer(PropagateRequestIdLayer::x_request_id())
            // The request span (and the trace context injected into gRPC calls) covers
            // everything; the access-log line and the metrics when it is answered.
            .layer(axum::middleware::from_fn(observe::observe))
            // Every request has an id before anything logs: the client's when it is a UUID,
            // else a fresh one.
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(axum::middleware::from_fn(observe::only_uuid_request_ids));
        // Browsers on the allowed origins: a preflight is answered here, before any route, gate
        // or budget; without allowed origins there is no such layer and no CORS header.
        let router = match config.http.cors.layer() {
            Some(cors) => router.layer(cors),
            None => router,
        };
        let listener = TcpListener::bind(&config.http.addr)
            .await
            .with_context(|| format!("binding the gateway on {}", config.http.addr))?;
        Ok(Self {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The shared state, for readiness checks by the all-in-one runner.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown`, then stops accepting and lets in-flight requests finish.
    pub async fn run_until_stopped(self, mut shutdown: Shutdown) -> anyhow::Result<()> {
        let watcher = tokio::spawn(self.state.malls.clone().watch(shutdown.clone()));
        let throttle = self.state.throttle.clone();
        let forgetter = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                throttle.forget_idle();
            }
        });
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await;
        watcher.abort();
        forgetter.abort();
        served.context("gateway HTTP server failed")
    }
}
