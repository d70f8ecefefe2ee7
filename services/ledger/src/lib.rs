//! The points ledger of the healthpoints mesh: books, accounts and immutable transfers with
//! TigerBeetle's semantics — two-phase pending transfers (post, void, timeout), idempotent
//! client-chosen ids, linked batches, balance and budget limits — on sea-orm over SQLite or
//! PostgreSQL, with a per-book hash-chained journal.
//!
//! Correctness lives in three places that agree: the pure `domain::engine` decides each
//! transfer; the database re-checks every invariant (CHECK constraints — account ids carry their book —,
//! a one-row-per-resolution primary key, immutability triggers); and `VerifyJournal` recomputes
//! the hash chain. Speed comes from the writer grouping concurrent requests into one
//! transaction. Layout as in every service (docs/architecture.md): `domain` (the engine, the
//! journal, the model), `store`, `service` (the ledger, its writer and sweeper), `convert` and
//! `grpc`, `config`.

pub mod config;
pub mod convert;
pub mod domain;
pub mod grpc;
pub mod service;
pub mod store;

use std::{sync::Arc, time::Duration};

use healthpoints_auth::Verifier;
use healthpoints_grpc::{Host, Ready, Service, identity_keys};
use healthpoints_proto::ledger::v1::ledger_service_server::{LedgerServiceServer, SERVICE_NAME};
use tonic::service::Routes;

use crate::{
    config::LedgerConfig,
    grpc::LedgerGrpc,
    service::{Ledger, LedgerOptions},
    store::{Migrator, Store},
};

/// The fully-qualified gRPC service name, for health checks.
pub const GRPC_SERVICE: &str = SERVICE_NAME;

/// The ledger as its own server: bind with `Application::build`, serve with `run_until_stopped`.
pub type Application = Host<Ledger>;

impl Service for Ledger {
    const NAME: &'static str = "ledger";
    const TITLE: &'static str = "the ledger";
    const GRPC_SERVICE: &'static str = SERVICE_NAME;
    type Config = LedgerConfig;

    fn listen(config: &LedgerConfig) -> &healthpoints_grpc::GrpcServerConfig {
        &config.grpc
    }

    fn telemetry(config: &LedgerConfig) -> &healthpoints_telemetry::TelemetryConfig {
        &config.telemetry
    }

    fn verifier(config: &LedgerConfig, _: &Ready<Self>) -> anyhow::Result<Verifier> {
        identity_keys(&config.identity, config.verifier.clone())
    }

    async fn prepare(config: LedgerConfig) -> Result<Arc<Self>, String> {
        let db = healthpoints_db::connect::<Migrator>(&config.database)
            .await
            .map_err(|e| e.to_string())?;
        let options = LedgerOptions {
            sweep_interval: Duration::from_millis(config.sweeper.interval_ms),
            commits_in_flight: config.writer.commits_in_flight,
            expiry_notice_days: config.sweeper.expiry_notice_days,
            ..LedgerOptions::default()
        };
        Ok(Ledger::start(Store::new(db), options))
    }

    async fn healthy(self: Arc<Self>) -> bool {
        healthpoints_db::ping(self.store().connection()).await
    }

    fn routes(ready: Ready<Self>, max: usize) -> Routes {
        Routes::new(
            LedgerServiceServer::new(LedgerGrpc::new(ready))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
    }
}
