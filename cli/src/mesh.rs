//! The all-in-one runner behind `healthpoints up`: every service of the mesh in one process,
//! each with its own SQLite file under the data directory and its own loopback port, talking
//! real gRPC to each other, with the gateway in front. Tests start it the same way on random
//! ports.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;
use healthpoints_grpc::Shutdown;
use healthpoints_types::{DistrictCode, MallId};
use tokio::task::JoinHandle;

use healthpoints_gateway::{Application, config::GatewayConfig};

/// Where and how to run the mesh.
#[derive(Debug, Clone)]
pub struct MeshOptions {
    /// Each service keeps `<service>.db` (and identity its key file) here.
    pub data_dir: PathBuf,
    /// The gateway's address; port 0 picks one.
    pub http_addr: String,
    /// `username:password` of the first city admin, if none exists yet.
    pub bootstrap_admin: Option<String>,
    /// A database URL per service name (`identity`, `ledger`, `intake`, `exchange`,
    /// `city-mall`, `mall-<district code>`) instead of its SQLite file, e.g. a PostgreSQL
    /// database for benchmarks.
    pub database_urls: std::collections::BTreeMap<String, String>,
    /// The districts whose malls run beside the city mall.
    pub district_malls: Vec<DistrictCode>,
    /// Rate limits of the routes that need no token instead of the gateway's defaults (tests
    /// and benchmarks that register thousands of residents from one address).
    pub rate_limits: Option<healthpoints_gateway::throttle::RateLimits>,
}

/// The pilot districts, Qingpu and Yangpu: their malls run by default.
pub fn pilot_districts() -> Vec<DistrictCode> {
    ["310118", "310110"]
        .iter()
        .filter_map(|c| DistrictCode::parse(c).ok())
        .collect()
}

/// The service name of a mall: its database file and its client id.
fn mall_service(mall: MallId) -> String {
    match mall {
        MallId::City => "city-mall".to_owned(),
        MallId::District(d) => format!("mall-{d}"),
    }
}

/// One running mall, which tests may stop and start again on the same port.
#[derive(Debug)]
struct MallProcess {
    config: healthpoints_mall::config::MallConfig,
    addr: SocketAddr,
    stop: Shutdown,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl MeshOptions {
    /// The service's database: its configured URL, else `<service>.db` in the data directory.
    fn database_url(&self, service: &str) -> String {
        self.database_urls
            .get(service)
            .cloned()
            .unwrap_or_else(|| sqlite_url(&self.data_dir, service))
    }
}

/// A running mesh.
#[derive(Debug)]
pub struct RunningMesh {
    pub http_addr: SocketAddr,
    pub identity_addr: SocketAddr,
    pub ledger_addr: SocketAddr,
    pub intake_addr: SocketAddr,
    pub exchange_addr: SocketAddr,
    malls: std::collections::BTreeMap<String, MallProcess>,
    front: Shutdown,
    back: Shutdown,
    gateway: JoinHandle<anyhow::Result<()>>,
    services: Vec<JoinHandle<anyhow::Result<()>>>,
}

fn sqlite_url(dir: &Path, service: &str) -> String {
    format!("sqlite://{}", dir.join(format!("{service}.db")).display())
}

/// Overrides with computed keys, in the shape the loaders take.
fn borrowed(owned: &[(String, String)]) -> Vec<(&str, String)> {
    owned.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

/// 32 random hex characters (from the OS generator, through UUID v4).
fn fresh_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Starts every service and the gateway, and returns once every backend reports SERVING.
pub async fn start(options: MeshOptions) -> anyhow::Result<RunningMesh> {
    // Personal data lives here: the directory is the owner's alone (0700), or we refuse to
    // start and say which directory to close.
    healthpoints_db::private::dir(&options.data_dir)?;
    let front = Shutdown::new();
    let back = Shutdown::new();

    let mut overrides = vec![
        ("grpc.addr", "127.0.0.1:0".to_owned()),
        ("database.url", options.database_url("identity")),
        (
            "secrets.master_key_file",
            options.data_dir.join("identity.key").display().to_string(),
        ),
    ];
    if let Some(admin) = &options.bootstrap_admin {
        overrides.push(("bootstrap_admin", admin.clone()));
    }
    // Each service's own client credentials: a fresh secret every start, provisioned in
    // identity and handed to the service (nothing to configure for the embedded mesh).
    let intake_secret = fresh_secret();
    overrides.push(("service_clients.intake.service", "intake".to_owned()));
    overrides.push(("service_clients.intake.secret", intake_secret.clone()));
    let exchange_secret = fresh_secret();
    overrides.push(("service_clients.exchange.service", "exchange".to_owned()));
    overrides.push(("service_clients.exchange.secret", exchange_secret.clone()));
    let mall_ids: Vec<MallId> = std::iter::once(MallId::City)
        .chain(options.district_malls.iter().map(|d| MallId::District(*d)))
        .collect();
    // Each mall's own client; a district mall's is bound to its district's book.
    let mut mall_secrets = Vec::new();
    let mut client_overrides: Vec<(String, String)> = Vec::new();
    for mall in &mall_ids {
        let name = mall_service(*mall);
        let secret = fresh_secret();
        let service = match mall {
            MallId::City => "city-mall",
            MallId::District(_) => "district-mall",
        };
        client_overrides.push((
            format!("service_clients.{name}.service"),
            service.to_owned(),
        ));
        client_overrides.push((format!("service_clients.{name}.secret"), secret.clone()));
        if let MallId::District(d) = mall {
            client_overrides.push((format!("service_clients.{name}.district"), d.to_string()));
        }
        mall_secrets.push(secret);
    }
    overrides.extend(borrowed(&client_overrides));
    let identity_config = healthpoints_identity::config::IdentityConfig::load(None, &overrides)?;
    let identity = healthpoints_identity::Application::build(identity_config).await?;
    let identity_addr = identity.local_addr();
    let identity_endpoint = format!("http://{identity_addr}");
    let mut services = vec![tokio::spawn(identity.run_until_stopped(back.clone()))];

    let ledger_config = healthpoints_ledger::config::LedgerConfig::load(
        None,
        &[
            ("grpc.addr", "127.0.0.1:0".to_owned()),
            ("database.url", options.database_url("ledger")),
            ("identity.endpoint", identity_endpoint.clone()),
        ],
    )?;
    let ledger = healthpoints_ledger::Application::build(ledger_config).await?;
    let ledger_addr = ledger.local_addr();
    services.push(tokio::spawn(ledger.run_until_stopped(back.clone())));

    let intake_config = healthpoints_intake::config::IntakeConfig::load(
        None,
        &[
            ("grpc.addr", "127.0.0.1:0".to_owned()),
            ("database.url", options.database_url("intake")),
            ("identity.endpoint", identity_endpoint.clone()),
            ("ledger.endpoint", format!("http://{ledger_addr}")),
            ("credentials.client_id", "intake".to_owned()),
            ("credentials.client_secret", intake_secret),
        ],
    )?;
    let intake = healthpoints_intake::Application::build(intake_config).await?;
    let intake_addr = intake.local_addr();
    services.push(tokio::spawn(intake.run_until_stopped(back.clone())));

    let exchange_config = healthpoints_exchange::config::ExchangeConfig::load(
        None,
        &[
            ("grpc.addr", "127.0.0.1:0".to_owned()),
            ("database.url", options.database_url("exchange")),
            ("identity.endpoint", identity_endpoint.clone()),
            ("intake.endpoint", format!("http://{intake_addr}")),
            ("ledger.endpoint", format!("http://{ledger_addr}")),
            ("credentials.client_id", "exchange".to_owned()),
            ("credentials.client_secret", exchange_secret),
        ],
    )?;
    let exchange = healthpoints_exchange::Application::build(exchange_config).await?;
    let exchange_addr = exchange.local_addr();
    services.push(tokio::spawn(exchange.run_until_stopped(back.clone())));

    let mut malls = std::collections::BTreeMap::new();
    let mut gateway_overrides: Vec<(String, String)> = vec![
        ("http.addr".into(), options.http_addr.clone()),
        ("identity.endpoint".into(), identity_endpoint.clone()),
        ("ledger.endpoint".into(), format!("http://{ledger_addr}")),
        ("intake.endpoint".into(), format!("http://{intake_addr}")),
        (
            "exchange.endpoint".into(),
            format!("http://{exchange_addr}"),
        ),
    ];
    for (mall, secret) in mall_ids.iter().zip(mall_secrets) {
        let name = mall_service(*mall);
        let mut config = healthpoints_mall::config::MallConfig::load(
            None,
            &[
                ("mall", mall.to_string()),
                ("name", healthpoints_gateway::malls::mall_name(*mall)),
                ("grpc.addr", "127.0.0.1:0".to_owned()),
                ("database.url", options.database_url(&name)),
                ("identity.endpoint", identity_endpoint.clone()),
                ("ledger.endpoint", format!("http://{ledger_addr}")),
                ("credentials.client_id", name.clone()),
                ("credentials.client_secret", secret),
            ],
        )?;
        let app = healthpoints_mall::Application::build(config.clone()).await?;
        let addr = app.local_addr();
        // A restart binds the same port, so the gateway's registry finds it again.
        config.grpc.addr = addr.to_string();
        let stop = Shutdown::new();
        let task = tokio::spawn(app.run_until_stopped(stop.clone()));
        let key = match mall {
            MallId::City => "malls.city.endpoint".to_owned(),
            MallId::District(d) => format!("malls.districts.{d}.endpoint"),
        };
        gateway_overrides.push((key, format!("http://{addr}")));
        malls.insert(
            mall.to_string(),
            MallProcess {
                config,
                addr,
                stop,
                task: Some(task),
            },
        );
    }
    if let Some(limits) = &options.rate_limits {
        gateway_overrides.extend(limits.overrides());
    }
    let gateway_config = GatewayConfig::load(None, &borrowed(&gateway_overrides))?;
    let gateway = Application::build(gateway_config).await?;
    let http_addr = gateway.local_addr();
    let backends = gateway.state().backends().to_vec();
    let gateway_registry = gateway.state().malls().clone();
    let gateway = tokio::spawn(gateway.run_until_stopped(front.clone()));

    let mesh = RunningMesh {
        http_addr,
        identity_addr,
        ledger_addr,
        intake_addr,
        exchange_addr,
        malls,
        front,
        back,
        gateway,
        services,
    };
    // The same check as GET /readyz, and every district mall.
    let registry = gateway_registry;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let health = healthpoints_gateway::routes::ops::check_backends(&backends).await;
        registry.check_now().await;
        if health.iter().all(|b| b.serving) && registry.all().iter().all(|(_, up)| *up) {
            return Ok(mesh);
        }
        if tokio::time::Instant::now() > deadline {
            let down: Vec<_> = health
                .iter()
                .filter(|b| !b.serving)
                .map(|b| b.name.clone())
                .collect();
            mesh.stop().await;
            anyhow::bail!("backends not ready after 60s: {}", down.join(", "));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl RunningMesh {
    /// The gateway's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stops the front end first (no new requests), then the services, each draining.
    pub async fn stop(self) {
        self.front.trigger();
        if let Ok(Err(e)) = self.gateway.await {
            tracing::warn!(error = %format!("{e:#}"), "gateway stopped with an error");
        }
        for mall in self.malls.values() {
            mall.stop.trigger();
        }
        for (_, mut mall) in self.malls {
            if let Some(task) = mall.task.take()
                && let Ok(Err(e)) = task.await
            {
                tracing::warn!(error = %format!("{e:#}"), "mall stopped with an error");
            }
        }
        self.back.trigger();
        for service in self.services {
            if let Ok(Err(e)) = service.await {
                tracing::warn!(error = %format!("{e:#}"), "service stopped with an error");
            }
        }
    }

    /// The running malls: the city mall first, then the district malls.
    pub fn mall_ids(&self) -> Vec<MallId> {
        let mut ids: Vec<MallId> = self
            .malls
            .keys()
            .filter_map(|k| MallId::parse(k).ok())
            .collect();
        ids.sort_by_key(|m| !matches!(m, MallId::City));
        ids
    }

    /// The address of a mall (`city` or a district code).
    pub fn mall_addr(&self, mall: &str) -> Option<SocketAddr> {
        self.malls.get(mall).map(|m| m.addr)
    }

    /// Stops one mall (as an operator or a crash would); the others keep serving.
    pub async fn stop_mall(&mut self, mall: &str) -> anyhow::Result<()> {
        let m = self
            .malls
            .get_mut(mall)
            .with_context(|| format!("no mall {mall}"))?;
        m.stop.trigger();
        if let Some(task) = m.task.take() {
            task.await??;
        }
        Ok(())
    }

    /// Starts a stopped mall again on its port, with its database.
    pub async fn start_mall(&mut self, mall: &str) -> anyhow::Result<()> {
        let m = self
            .malls
            .get_mut(mall)
            .with_context(|| format!("no mall {mall}"))?;
        anyhow::ensure!(m.task.is_none(), "mall {mall} is running");
        let app = healthpoints_mall::Application::build(m.config.clone()).await?;
        m.stop = Shutdown::new();
        m.task = Some(tokio::spawn(app.run_until_stopped(m.stop.clone())));
        Ok(())
    }

    /// Runs until `shutdown` fires, then stops in order.
    pub async fn run_until(self, mut shutdown: Shutdown) {
        shutdown.wait().await;
        self.stop().await;
    }
}
