//! The points ledger of the healthpoints mesh: books, accounts and immutable transfers with
//! TigerBeetle's semantics — two-phase pending transfers (post, void, timeout), idempotent
//! client-chosen ids, linked batches, balance and budget limits — on sea-orm over SQLite or
//! PostgreSQL, with a per-book hash-chained journal.
//!
//! Correctness lives in three places that agree: the pure `domain::engine` decides each
//! transfer; the database re-checks every invariant (CHECK constraints — account ids carry their book —,
//! a one-row-per-resolution primary key, immutability triggers); and `VerifyJournal` recomputes
//! the hash chain. Speed comes from the writer grouping concurrent requests into one
//! transaction. Layout as in every service: `domain`, `store`, `grpc`, `config`.

pub mod config;
pub mod domain;
pub mod grpc;
pub mod store;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use healthpoints_auth::Verifier;
use healthpoints_grpc::{GrpcServer, RemoteJwks, Shutdown};
use healthpoints_proto::ledger::v1::ledger_service_server::LedgerServiceServer;
use tokio::sync::OnceCell;
use tonic::service::Routes;

use crate::{
    config::LedgerConfig,
    domain::{Ledger, LedgerOptions},
    grpc::LedgerGrpc,
    store::{Migrator, Store},
};

/// The fully-qualified gRPC service name, for health checks.
pub const GRPC_SERVICE: &str = healthpoints_proto::ledger::v1::ledger_service_server::SERVICE_NAME;

/// A bound ledger service.
#[derive(Debug)]
pub struct Application {
    server: GrpcServer,
    config: LedgerConfig,
    ledger: Arc<OnceCell<Arc<Ledger>>>,
}

impl Application {
    /// Binds the listener; the database is connected when serving starts.
    pub async fn build(config: LedgerConfig) -> anyhow::Result<Self> {
        let server = GrpcServer::bind("ledger", GRPC_SERVICE, &config.grpc)
            .await
            .with_context(|| format!("binding ledger gRPC on {}", config.grpc.addr))?;
        Ok(Self {
            server,
            config,
            ledger: Arc::new(OnceCell::new()),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Serves until `shutdown` fires, then drains.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let identity = healthpoints_grpc::client::connect(&self.config.identity)?;
        let verifier = Verifier::new(self.config.verifier.clone(), RemoteJwks::new(identity));
        let config = self.config.clone();
        let ready = tokio::spawn(healthpoints_grpc::ready::become_ready(
            "ledger",
            self.ledger.clone(),
            self.server.health(),
            shutdown.clone(),
            move || {
                let config = config.clone();
                async move {
                    let db = healthpoints_db::connect::<Migrator>(&config.database)
                        .await
                        .map_err(|e| e.to_string())?;
                    let options = LedgerOptions {
                        sweep_interval: Duration::from_millis(config.sweeper.interval_ms),
                        commits_in_flight: config.writer.commits_in_flight,
                        ..LedgerOptions::default()
                    };
                    Ok(Ledger::start(Store::new(db), options))
                }
            },
            |ledger: Arc<Ledger>| async move {
                healthpoints_db::ping(ledger.store().connection()).await
            },
        ));
        let max = self.server.max_message_bytes();
        let service = LedgerServiceServer::new(LedgerGrpc::new(self.ledger.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let result = self
            .server
            .serve(Routes::new(service), verifier, shutdown)
            .await;
        ready.abort();
        result.context("ledger gRPC server failed")
    }
}
