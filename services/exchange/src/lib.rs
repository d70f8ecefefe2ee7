//! The inter-department data exchange of the healthpoints mesh: the interfaces through which
//! partner departments send data in and get data out.
//!
//! This release holds:
//! - the **partner registry** (city admins register a department or a commercial partner with
//!   the behaviours it may report and its scopes; its client-credentials client is created in
//!   identity);
//! - **behaviour records** (scope and behaviour list checked, the person resolved through
//!   identity's keyed-hash lookup, a commercial partner's records checked against the
//!   resident's **consent**, the batch forwarded to intake, one outcome per record, idempotent
//!   per (partner, record id));
//! - **consent** per resident, partner and data category;
//! - the **family-doctor contracts feed** (identity's contract set, a signing reported to
//!   intake);
//! - **FHIR R4** bundles and NDJSON of a profiled subset, mapped to behaviour records;
//! - the **points summary**, a data product read under the resident's consent;
//! - **de-identified statistics** (intake's award cohorts and the ledger's book figures, cells
//!   under 10 people hidden);
//! - the append-only **access log**;
//! - the **health-station counter** (a resident proves who they are; visits, records, orders);
//! - **notifications** (residents' inboxes) and partners' **webhooks**, from events written in
//!   the transaction of the change that causes them, delivered signed and retried.
//!
//! Layout as in every service (docs/architecture.md): `domain` (types, pure checks and the
//! ports to its peers), `store`, `service` (the `Exchange` struct and its use cases, one file
//! each), `clients`, `convert` and `grpc` (with `LiveExchange`, the exchange over its real
//! peers), `config`.

pub mod clients;
pub mod config;
pub mod convert;
pub mod domain;
pub mod grpc;
pub mod service;
pub mod store;

use std::sync::Arc;

use chrono::Utc;
use healthpoints_auth::Verifier;
use healthpoints_grpc::{
    Chore, GrpcServerConfig, Host, Ready, Service, Shutdown, credentials::ServiceToken, every,
    identity_keys,
};
use healthpoints_proto::exchange::v1::exchange_service_server::{
    ExchangeServiceServer, SERVICE_NAME,
};
use tonic::service::Routes;

use crate::{
    clients::{IdentityPeer, IntakePeer, LedgerPeer},
    config::ExchangeConfig,
    grpc::{ExchangeGrpc, LiveExchange},
    service::{Exchange, notify::LogSender},
    store::{Migrator, Store},
};

/// The fully-qualified gRPC service name, for health checks.
pub const GRPC_SERVICE: &str = SERVICE_NAME;

/// The exchange as its own server: bind with `Application::build`, serve with
/// `run_until_stopped`.
pub type Application = Host<LiveExchange>;

impl Service for LiveExchange {
    const NAME: &'static str = "exchange";
    const TITLE: &'static str = "the exchange";
    const GRPC_SERVICE: &'static str = SERVICE_NAME;
    type Config = ExchangeConfig;

    fn listen(config: &ExchangeConfig) -> &GrpcServerConfig {
        &config.grpc
    }

    fn telemetry(config: &ExchangeConfig) -> &healthpoints_telemetry::TelemetryConfig {
        &config.telemetry
    }

    fn verifier(config: &ExchangeConfig, _: &Ready<Self>) -> anyhow::Result<Verifier> {
        identity_keys(&config.identity, config.verifier.clone())
    }

    async fn prepare(config: ExchangeConfig) -> Result<Arc<Self>, String> {
        prepare(config).await
    }

    async fn healthy(self: Arc<Self>) -> bool {
        healthpoints_db::ping(self.store().connection()).await
    }

    /// Takes intake's and the ledger's events, delivers due webhooks and hands unsent
    /// notifications to the sender.
    fn chores(ready: Ready<Self>, config: &ExchangeConfig, shutdown: Shutdown) -> Vec<Chore> {
        let period = std::time::Duration::from_millis(config.webhooks.poll_interval_ms);
        vec![every(ready, period, shutdown, |x: Arc<Self>| async move {
            match x.deliver_once().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(attempts = n, "webhook deliveries attempted"),
                Err(e) => tracing::warn!(error = %e, "webhook deliveries not completed"),
            }
            match x.pull_events_once().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(events = n, "events taken from intake and the ledger"),
                Err(e) => tracing::warn!(error = %e, "events of intake and the ledger wait"),
            }
            if let Err(e) = x.send_notifications_once(&LogSender).await {
                tracing::warn!(error = %e, "notifications not sent");
            }
        })]
    }

    fn routes(ready: Ready<Self>, max: usize) -> Routes {
        Routes::new(
            ExchangeServiceServer::new(ExchangeGrpc::new(ready))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
    }
}

async fn prepare(config: ExchangeConfig) -> Result<Arc<LiveExchange>, String> {
    let db = healthpoints_db::connect::<Migrator>(&config.database)
        .await
        .map_err(|e| e.to_string())?;
    let identity =
        healthpoints_grpc::client::connect(&config.identity).map_err(|e| e.to_string())?;
    let intake = healthpoints_grpc::client::connect(&config.intake).map_err(|e| e.to_string())?;
    let ledger = healthpoints_grpc::client::connect(&config.ledger).map_err(|e| e.to_string())?;
    let token = ServiceToken::new(identity.clone(), config.credentials.clone());
    Ok(Arc::new(
        Exchange::new(
            Store::new(db),
            IdentityPeer::new(identity, token.clone()),
            IntakePeer::new(intake, token.clone()),
            LedgerPeer::new(ledger, token),
            Arc::new(Utc::now),
        )
        .with_webhooks(config.webhooks.options()),
    ))
}
