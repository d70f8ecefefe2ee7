//! Behaviour intake of the healthpoints mesh: turns reports of healthy behaviour into points,
//! fairly, explainably and exactly once.
//!
//! - `domain`: the versioned rule catalogue (the default shipped as a data file,
//!   `catalogue/default.toml`, and seeded into the database on first start), the Asia/Shanghai
//!   calendar caps count in, the pure judge, `SubmitBehaviours` with its exactly-once hand-off
//!   to the ledger, check-ins with streaks, outcomes ("why did I (not) get points?"), and rule
//!   drafts, what-if and publication.
//! - `store`: events with their one outcome each, rule versions, drafts and the changelog.
//! - `clients`: identity (who a resident is) and the ledger (where awards go), called with
//!   intake's own service token. `grpc`: the thin adapter. `config`: layered configuration.
//!
//! Still to come (see the intake issue): fraud guards and the review queue, challenges,
//! leaderboards and honours; their RPCs answer FAILED_PRECONDITION until then.

pub mod clients;
pub mod config;
mod convert;
pub mod domain;
pub mod grpc;
pub mod store;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use healthpoints_auth::Verifier;
use healthpoints_grpc::{GrpcServer, RemoteJwks, Shutdown, credentials::ServiceToken};
use healthpoints_proto::intake::v1::intake_service_server::IntakeServiceServer;
use tokio::sync::OnceCell;
use tonic::service::Routes;

use crate::{
    clients::{IdentityResidents, LedgerAwards},
    config::IntakeConfig,
    domain::{
        catalogue::Catalogue,
        service::{Intake, IntakeOptions, Velocity},
    },
    grpc::{IntakeGrpc, LiveIntake},
    store::{Migrator, Store},
};

/// The fully-qualified gRPC service name, for health checks.
pub const GRPC_SERVICE: &str = healthpoints_proto::intake::v1::intake_service_server::SERVICE_NAME;

/// A bound intake service.
#[derive(Debug)]
pub struct Application {
    server: GrpcServer,
    config: IntakeConfig,
    intake: Arc<OnceCell<Arc<LiveIntake>>>,
}

/// Connects, migrates, seeds the default catalogue into an empty database and loads the
/// published one.
async fn prepare(config: IntakeConfig) -> Result<Arc<LiveIntake>, String> {
    let db = healthpoints_db::connect::<Migrator>(&config.database)
        .await
        .map_err(|e| e.to_string())?;
    let store = Store::new(db);
    let defaults = Catalogue::default_catalogue();
    if store
        .seed_rules(defaults.rules(), chrono::Utc::now())
        .await
        .map_err(|e| e.to_string())?
    {
        tracing::info!(rules = defaults.rules().len(), "default catalogue seeded");
    }
    let catalogue = Catalogue::new(store.rules().await.map_err(|e| e.to_string())?);
    let identity =
        healthpoints_grpc::client::connect(&config.identity).map_err(|e| e.to_string())?;
    let ledger = healthpoints_grpc::client::connect(&config.ledger).map_err(|e| e.to_string())?;
    let token = ServiceToken::new(identity.clone(), config.credentials.clone());
    let options = IntakeOptions {
        window: chrono::Duration::days(i64::from(config.rules.window_days)),
        future_skew: chrono::Duration::seconds(i64::from(config.rules.future_skew_seconds)),
        pending_grace: chrono::Duration::seconds(i64::from(config.handoff.pending_grace_seconds)),
        velocity: Velocity {
            resident_per_hour: config.fraud.resident_reports_per_hour,
            source_per_day: config.fraud.source_reports_per_day,
        },
        ..IntakeOptions::default()
    };
    Ok(Arc::new(Intake::new(
        store,
        catalogue,
        IdentityResidents::new(
            identity,
            token.clone(),
            Duration::from_secs(u64::from(config.residents.cache_seconds)),
        ),
        LedgerAwards::new(ledger, token),
        options,
    )))
}

/// Finishes cut-short ledger hand-offs and picks up other replicas' rule publications, until
/// shutdown.
async fn background(
    cell: Arc<OnceCell<Arc<LiveIntake>>>,
    config: IntakeConfig,
    mut shutdown: Shutdown,
) {
    let mut handoff = tokio::time::interval(Duration::from_millis(config.handoff.interval_ms));
    let mut reload =
        tokio::time::interval(Duration::from_secs(u64::from(config.rules.reload_seconds)));
    handoff.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = handoff.tick() => {
                if let Some(intake) = cell.get() {
                    match intake.finish_pending().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(awards = n, "cut-short ledger hand-offs completed"),
                        Err(e) => tracing::warn!(error = %e, "ledger hand-off not completed yet"),
                    }
                }
            }
            _ = reload.tick() => {
                if let Some(intake) = cell.get()
                    && let Err(e) = intake.reload_catalogue().await
                {
                    tracing::warn!(error = %e, "rule catalogue not reloaded");
                }
            }
            () = shutdown.wait() => return,
        }
    }
}

impl Application {
    /// Binds the listener; the database is connected when serving starts.
    pub async fn build(config: IntakeConfig) -> anyhow::Result<Self> {
        let server = GrpcServer::bind("intake", GRPC_SERVICE, &config.grpc)
            .await
            .with_context(|| format!("binding intake gRPC on {}", config.grpc.addr))?;
        Ok(Self {
            server,
            config,
            intake: Arc::new(OnceCell::new()),
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
            "intake",
            self.intake.clone(),
            self.server.health(),
            shutdown.clone(),
            move || prepare(config.clone()),
            |intake: Arc<LiveIntake>| async move {
                healthpoints_db::ping(intake.store().connection()).await
            },
        ));
        let chores = tokio::spawn(background(
            self.intake.clone(),
            self.config.clone(),
            shutdown.clone(),
        ));
        let max = self.server.max_message_bytes();
        let service = IntakeServiceServer::new(IntakeGrpc::new(self.intake.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let result = self
            .server
            .serve(Routes::new(service), verifier, shutdown)
            .await;
        ready.abort();
        chores.abort();
        result.context("intake gRPC server failed")
    }
}
