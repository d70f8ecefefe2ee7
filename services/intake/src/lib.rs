//! Behaviour intake of the healthpoints mesh: turns reports of healthy behaviour into points,
//! fairly, explainably and exactly once.
//!
//! - `domain`: the versioned rule catalogue (the default shipped as a data file,
//!   `catalogue/default.toml`, and seeded into the database on first start), the Asia/Shanghai
//!   calendar caps count in, the pure judge, events and outcomes.
//! - `service`: `SubmitBehaviours` with its exactly-once hand-off to the ledger, check-ins with
//!   streaks, outcomes ("why did I (not) get points?"), challenges and honours, review, and
//!   rule drafts, what-if and publication.
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
pub mod service;
pub mod store;

use std::{sync::Arc, time::Duration};

use healthpoints_auth::Verifier;
use healthpoints_grpc::{
    Chore, GrpcServerConfig, Host, Ready, Service, Shutdown, credentials::ServiceToken, every,
    identity_keys,
};
use healthpoints_proto::intake::v1::intake_service_server::{IntakeServiceServer, SERVICE_NAME};
use tonic::service::Routes;

use crate::{
    clients::{IdentityResidents, LedgerAwards},
    config::IntakeConfig,
    domain::catalogue::Catalogue,
    grpc::{IntakeGrpc, LiveIntake},
    service::{Intake, IntakeOptions, Velocity},
    store::{Migrator, Store},
};

/// The fully-qualified gRPC service name, for health checks.
pub const GRPC_SERVICE: &str = SERVICE_NAME;

/// Intake as its own server: bind with `Application::build`, serve with `run_until_stopped`.
pub type Application = Host<LiveIntake>;

impl Service for LiveIntake {
    const NAME: &'static str = "intake";
    const TITLE: &'static str = "intake";
    const GRPC_SERVICE: &'static str = SERVICE_NAME;
    type Config = IntakeConfig;

    fn listen(config: &IntakeConfig) -> &GrpcServerConfig {
        &config.grpc
    }

    fn telemetry(config: &IntakeConfig) -> &healthpoints_telemetry::TelemetryConfig {
        &config.telemetry
    }

    fn verifier(config: &IntakeConfig, _: &Ready<Self>) -> anyhow::Result<Verifier> {
        identity_keys(&config.identity, config.verifier.clone())
    }

    async fn prepare(config: IntakeConfig) -> Result<Arc<Self>, String> {
        prepare(config).await
    }

    async fn healthy(self: Arc<Self>) -> bool {
        healthpoints_db::ping(self.store().connection()).await
    }

    fn routes(ready: Ready<Self>, max: usize) -> Routes {
        Routes::new(
            IntakeServiceServer::new(IntakeGrpc::new(ready))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
    }

    /// Finishes cut-short ledger hand-offs, and picks up other replicas' rule publications.
    fn chores(ready: Ready<Self>, config: &IntakeConfig, shutdown: Shutdown) -> Vec<Chore> {
        let handoff = Duration::from_millis(config.handoff.interval_ms);
        let reload = Duration::from_secs(u64::from(config.rules.reload_seconds));
        vec![
            every(
                ready.clone(),
                handoff,
                shutdown.clone(),
                |intake: Arc<Self>| async move {
                    match intake.finish_pending().await {
                        Ok(0) => {}
                        Ok(n) => {
                            healthpoints_telemetry::metrics::swept(
                                "intake",
                                "finish_awards",
                                n as u64,
                            );
                            tracing::info!(awards = n, "cut-short ledger hand-offs completed");
                        }
                        Err(e) => tracing::warn!(error = %e, "ledger hand-off not completed yet"),
                    }
                },
            ),
            every(ready, reload, shutdown, |intake: Arc<Self>| async move {
                if let Err(e) = intake.reload_catalogue().await {
                    tracing::warn!(error = %e, "rule catalogue not reloaded");
                }
            }),
        ]
    }
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
    let (expiry_city, expiry_district) = config.expiry.policies().map_err(|e| e.to_string())?;
    let options = IntakeOptions {
        window: chrono::Duration::days(i64::from(config.rules.window_days)),
        future_skew: chrono::Duration::seconds(i64::from(config.rules.future_skew_seconds)),
        pending_grace: chrono::Duration::seconds(i64::from(config.handoff.pending_grace_seconds)),
        velocity: Velocity {
            resident_per_hour: config.fraud.resident_reports_per_hour,
            source_per_day: config.fraud.source_reports_per_day,
        },
        expiry_city,
        expiry_district,
        ..IntakeOptions::default()
    };
    let intake = Arc::new(Intake::new(
        store,
        catalogue,
        IdentityResidents::new(
            identity,
            token.clone(),
            Duration::from_secs(u64::from(config.residents.cache_seconds)),
        ),
        LedgerAwards::new(ledger, token),
        options,
    ));
    // The published expiry policies, before the first award.
    intake.reload_catalogue().await.map_err(|e| e.to_string())?;
    Ok(intake)
}
