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
//! - the append-only **access log**.
//!
//! Layout as in every service: `domain`, `store`, `clients`, `grpc`, `config`.

pub mod clients;
pub mod config;
pub mod domain;
pub mod grpc;
pub mod store;

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use healthpoints_auth::Verifier;
use healthpoints_grpc::{GrpcServer, RemoteJwks, Shutdown, credentials::ServiceToken};
use healthpoints_proto::exchange::v1::exchange_service_server::ExchangeServiceServer;
use tokio::sync::OnceCell;
use tonic::service::Routes;

use crate::{
    clients::{IdentityPeer, IntakePeer, LedgerPeer},
    config::ExchangeConfig,
    grpc::ExchangeGrpc,
    store::{Migrator, Store},
};

/// The fully-qualified gRPC service name, for health checks.
pub const GRPC_SERVICE: &str =
    healthpoints_proto::exchange::v1::exchange_service_server::SERVICE_NAME;

/// The exchange as it runs: its store and its peers.
#[derive(Debug)]
pub struct Exchange {
    pub store: Store,
    pub identity: IdentityPeer,
    pub intake: IntakePeer,
    pub ledger: LedgerPeer,
}

/// A bound exchange service.
#[derive(Debug)]
pub struct Application {
    server: GrpcServer,
    config: ExchangeConfig,
    exchange: Arc<OnceCell<Arc<Exchange>>>,
}

async fn prepare(config: ExchangeConfig) -> Result<Arc<Exchange>, String> {
    let db = healthpoints_db::connect::<Migrator>(&config.database)
        .await
        .map_err(|e| e.to_string())?;
    let identity =
        healthpoints_grpc::client::connect(&config.identity).map_err(|e| e.to_string())?;
    let intake = healthpoints_grpc::client::connect(&config.intake).map_err(|e| e.to_string())?;
    let ledger = healthpoints_grpc::client::connect(&config.ledger).map_err(|e| e.to_string())?;
    let token = ServiceToken::new(identity.clone(), config.credentials.clone());
    Ok(Arc::new(Exchange {
        store: Store::new(db),
        identity: IdentityPeer::new(identity, token.clone()),
        intake: IntakePeer::new(intake, token.clone()),
        ledger: LedgerPeer::new(ledger, token),
    }))
}

impl Application {
    /// Binds the listener; the database is connected when serving starts.
    pub async fn build(config: ExchangeConfig) -> anyhow::Result<Self> {
        let server = GrpcServer::bind("exchange", GRPC_SERVICE, &config.grpc)
            .await
            .with_context(|| format!("binding exchange gRPC on {}", config.grpc.addr))?;
        Ok(Self {
            server,
            config,
            exchange: Arc::new(OnceCell::new()),
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
            "exchange",
            self.exchange.clone(),
            self.server.health(),
            shutdown.clone(),
            move || prepare(config.clone()),
            |x: Arc<Exchange>| async move { healthpoints_db::ping(x.store.connection()).await },
        ));
        let max = self.server.max_message_bytes();
        let service = ExchangeServiceServer::new(ExchangeGrpc::new(self.exchange.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let result = self
            .server
            .serve(Routes::new(service), verifier, shutdown)
            .await;
        ready.abort();
        result.context("exchange gRPC server failed")
    }
}
