//! The malls of the healthpoints mesh: where residents redeem points for health services and
//! products. One crate, two deployments — the **city mall** (municipal points, book `city`)
//! and a **district mall** per district (that district's points, book `district:<code>`, its
//! own database and its own service credentials) — behind one contract, `healthpoints.mall.v1`.
//!
//! - `domain`: merchants, products, orders with unguessable vouchers, settlement periods and
//!   statements, as types and pure rules.
//! - `service`: admitting merchants, their catalogue, ordering, write-off, cancel, expiry,
//!   refunds and settlement. Every ledger step of an order is recorded before it is taken and
//!   driven to its end by whoever comes next, so points move exactly once across retries and
//!   restarts.
//! - `store`: the mall's tables; stock is taken by a guarded update, so orders cannot oversell.
//! - `clients`: identity (resident status and age) and the ledger (pending transfers in this
//!   mall's book). `convert` and `grpc`: the adapter. `config`: layered configuration.

pub mod clients;
pub mod config;
pub mod convert;
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
use healthpoints_proto::mall::v1::mall_service_server::{MallServiceServer, SERVICE_NAME};
use tonic::service::Routes;

use crate::{
    clients::{ExchangeEvents, IdentityResidents, LedgerRedemptions},
    config::MallConfig,
    domain::model::PeriodKind,
    grpc::{LiveMall, MallGrpc},
    service::{Mall, MallOptions},
    store::{Migrator, Store},
};

/// The fully-qualified gRPC service name, for health checks.
pub const GRPC_SERVICE: &str = SERVICE_NAME;

/// A mall as its own server: bind with `Application::build`, serve with `run_until_stopped`.
pub type Application = Host<LiveMall>;

impl Service for LiveMall {
    const NAME: &'static str = "mall";
    const TITLE: &'static str = "the mall";
    const GRPC_SERVICE: &'static str = SERVICE_NAME;
    type Config = MallConfig;

    fn listen(config: &MallConfig) -> &GrpcServerConfig {
        &config.grpc
    }

    fn telemetry(config: &MallConfig) -> &healthpoints_telemetry::TelemetryConfig {
        &config.telemetry
    }

    fn verifier(config: &MallConfig, _: &Ready<Self>) -> anyhow::Result<Verifier> {
        identity_keys(&config.identity, config.verifier.clone())
    }

    async fn prepare(config: MallConfig) -> Result<Arc<Self>, String> {
        prepare(config).await
    }

    async fn healthy(self: Arc<Self>) -> bool {
        healthpoints_db::ping(self.store().connection()).await
    }

    fn routes(ready: Ready<Self>, max: usize) -> Routes {
        Routes::new(
            MallServiceServer::new(MallGrpc::new(ready))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
    }

    /// Drives interrupted ledger steps and expires overdue vouchers.
    fn chores(ready: Ready<Self>, config: &MallConfig, shutdown: Shutdown) -> Vec<Chore> {
        let period = Duration::from_millis(config.orders.sweep_interval_ms);
        let relay = match (
            healthpoints_grpc::client::connect(&config.exchange),
            healthpoints_grpc::client::connect(&config.identity),
        ) {
            (Ok(exchange), Ok(identity)) => Some(ExchangeEvents::new(
                exchange,
                ServiceToken::new(identity, config.credentials.clone()),
            )),
            _ => {
                tracing::error!(
                    "the outbox has no exchange to publish to (exchange.endpoint); its events wait"
                );
                None
            }
        };
        let mut chores = Vec::new();
        if let Some(publisher) = relay {
            // The outbox: the orders' events to the exchange, every half second.
            chores.push(every(
                ready.clone(),
                Duration::from_millis(500),
                shutdown.clone(),
                move |mall: Arc<Self>| {
                    let publisher = publisher.clone();
                    async move {
                        match mall.store().relay(&publisher, chrono::Utc::now()).await {
                            Ok(0) => {}
                            Ok(n) => tracing::debug!(events = n, "outbox events published"),
                            Err(e) => {
                                tracing::warn!(error = %e, "outbox events wait for the exchange")
                            }
                        }
                    }
                },
            ));
        }
        chores.push(every(
            ready,
            period,
            shutdown,
            |mall: Arc<Self>| async move {
                match mall.sweep().await {
                    Ok(0) => {}
                    Ok(n) => {
                        healthpoints_telemetry::metrics::swept(
                            "mall",
                            "finish_order_steps",
                            n as u64,
                        );
                        tracing::info!(steps = n, "order steps finished by the sweeper");
                    }
                    Err(e) => tracing::warn!(error = %e, "sweep not completed"),
                }
                match mall.announce_expiring_vouchers().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(notices = n, "residents told of vouchers expiring"),
                    Err(e) => tracing::warn!(error = %e, "voucher notices not completed"),
                }
            },
        ));
        chores
    }
}

/// The domain options a configuration asks for.
pub fn options(config: &MallConfig) -> MallOptions {
    let mut options = MallOptions::new(config.mall_id());
    options.name = config.name.clone();
    options.voucher_valid = chrono::Duration::hours(i64::from(config.orders.voucher_valid_hours));
    options.voucher_notice = chrono::Duration::hours(i64::from(config.orders.expiry_notice_hours));
    options.max_quantity = config.orders.max_quantity;
    options.period = PeriodKind::parse(&config.settlement.period).unwrap_or(PeriodKind::Month);
    options
}

async fn prepare(config: MallConfig) -> Result<Arc<LiveMall>, String> {
    let db = healthpoints_db::connect::<Migrator>(&config.database)
        .await
        .map_err(|e| e.to_string())?;
    let identity =
        healthpoints_grpc::client::connect(&config.identity).map_err(|e| e.to_string())?;
    let ledger = healthpoints_grpc::client::connect(&config.ledger).map_err(|e| e.to_string())?;
    let token = ServiceToken::new(identity.clone(), config.credentials.clone());
    Ok(Arc::new(Mall::new(
        Store::new(db),
        IdentityResidents::new(identity, token.clone()),
        LedgerRedemptions::new(ledger, token, config.mall_id().book()),
        options(&config),
    )))
}

/// The `main` of both binaries: loads the configuration, checks it is the kind of mall the
/// binary is (`district == false`: the city mall), and serves until a signal.
pub async fn main(district: bool) -> anyhow::Result<()> {
    use clap::Parser as _;
    #[derive(Debug, clap::Parser)]
    #[command(about = "A healthpoints mall (city or district)")]
    struct Cli {
        #[command(flatten)]
        args: healthpoints_config::ServiceArgs,
    }
    let cli = Cli::parse();
    let config = MallConfig::load(cli.args.config.as_deref(), &[])?;
    match (district, config.mall_id()) {
        (false, healthpoints_types::MallId::District(_)) => {
            anyhow::bail!("mall: the city mall binary serves mall = \"city\"; run district-mall")
        }
        (true, healthpoints_types::MallId::City) => {
            anyhow::bail!("mall: a district mall needs its district code (HP_MALL__MALL=310118)")
        }
        _ => {}
    }
    healthpoints_grpc::host::run_process::<LiveMall>(config, cli.args.dump_config).await
}
