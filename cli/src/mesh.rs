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
use healthpoints_exchange::{config::ExchangeConfig, grpc::LiveExchange};
use healthpoints_gateway::{Application, config::GatewayConfig};
use healthpoints_grpc::{Host, Service, Shutdown};
use healthpoints_identity::service::Identity;
use healthpoints_intake::{config::IntakeConfig, grpc::LiveIntake};
use healthpoints_ledger::{config::LedgerConfig, service::Ledger};
use healthpoints_mall::{config::MallConfig, grpc::LiveMall};
use healthpoints_types::{DistrictCode, MallId};
use healthpoints_web::config::WebConfig;
use tokio::task::JoinHandle;

use crate::plan::{MeshPlan, Node, borrowed};

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
    /// A PostgreSQL server for every service's database instead of SQLite files:
    /// `postgres://user@host:port/prefix` ([`crate::databases`]).
    pub database_server: Option<String>,
    /// The districts whose malls run beside the city mall.
    pub district_malls: Vec<DistrictCode>,
    /// Rate limits of the routes that need no token instead of the gateway's defaults (tests
    /// and benchmarks that register thousands of residents from one address).
    pub rate_limits: Option<healthpoints_gateway::throttle::RateLimits>,
    /// Origins whose browser pages may call the API (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// Where the web client listens (port 0 picks one); `None` runs no web client.
    pub web_addr: Option<String>,
    /// Settings every mall takes on top of the plan's (`orders.expiry_notice_hours`…): tests
    /// that need a mall tuned.
    pub mall_settings: Vec<(String, String)>,
}

pub use crate::plan::pilot_districts;

/// One running mall, which tests may stop and start again on the same port.
#[derive(Debug)]
struct MallProcess {
    config: MallConfig,
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
    /// The web client's address to open, and its task.
    web: Option<(String, JoinHandle<anyhow::Result<()>>)>,
    services: Vec<JoinHandle<anyhow::Result<()>>>,
}

/// Binds one service and serves it until `stop`; returns where it listens.
async fn serve<S: Service>(
    config: S::Config,
    stop: &Shutdown,
) -> anyhow::Result<(SocketAddr, JoinHandle<anyhow::Result<()>>)> {
    let host = Host::<S>::build(config).await?;
    let addr = host.local_addr();
    Ok((addr, tokio::spawn(host.run_until_stopped(stop.clone()))))
}

fn sqlite_url(dir: &Path, service: &str) -> String {
    format!("sqlite://{}", dir.join(format!("{service}.db")).display())
}

/// Starts every service and the gateway, and returns once every backend reports SERVING.
pub async fn start(options: MeshOptions) -> anyhow::Result<RunningMesh> {
    // Personal data lives here: the directory is the owner's alone (0700), or we refuse to
    // start and say which directory to close.
    healthpoints_db::private::dir(&options.data_dir)?;
    let front = Shutdown::new();
    let back = Shutdown::new();
    // The topology, and each service's client credentials: a fresh secret every start,
    // provisioned in identity and handed to the service (nothing to configure).
    let mut plan = MeshPlan::new(options.district_malls.clone());
    let on_server = match &options.database_server {
        Some(url) => crate::databases::on_server(url, &plan).await?,
        None => Default::default(),
    };
    for node in plan.nodes() {
        if node.has_database() {
            let url = on_server
                .get(&node)
                .cloned()
                .unwrap_or_else(|| options.database_url(&node.to_string()));
            plan.set_database(node, url);
        }
    }
    plan.set_address(Node::Gateway, &options.http_addr);

    let mut overrides = plan.config(Node::Identity);
    overrides.push((
        "secrets.master_key_file".into(),
        options.data_dir.join("identity.key").display().to_string(),
    ));
    if let Some(admin) = &options.bootstrap_admin {
        overrides.push(("bootstrap_admin".into(), admin.clone()));
    }
    // Password reset codes a developer reads instead of a phone (never in production, where
    // the chart sets no sender unless an SMS adapter is deployed).
    overrides.push((
        "password_reset.sender".into(),
        format!("file:{}", options.data_dir.join("messages").display()),
    ));
    let identity_config =
        healthpoints_identity::config::IdentityConfig::load(None, &borrowed(&overrides))?;
    let (identity_addr, identity) = serve::<Identity>(identity_config, &back).await?;
    plan.set_address(Node::Identity, identity_addr);
    let mut services = vec![identity];

    let config = LedgerConfig::load(None, &borrowed(&plan.config(Node::Ledger)))?;
    let (ledger_addr, ledger) = serve::<Ledger>(config, &back).await?;
    plan.set_address(Node::Ledger, ledger_addr);
    services.push(ledger);

    let config = IntakeConfig::load(None, &borrowed(&plan.config(Node::Intake)))?;
    let (intake_addr, intake) = serve::<LiveIntake>(config, &back).await?;
    plan.set_address(Node::Intake, intake_addr);
    services.push(intake);

    // A mesh on one machine is a developer's: their webhook receiver runs on it too.
    let mut exchange_overrides = plan.config(Node::Exchange);
    exchange_overrides.push(("webhooks.allow_loopback".into(), "true".into()));
    let config = ExchangeConfig::load(None, &borrowed(&exchange_overrides))?;
    let (exchange_addr, exchange) = serve::<LiveExchange>(config, &back).await?;
    plan.set_address(Node::Exchange, exchange_addr);
    services.push(exchange);

    let mut malls = std::collections::BTreeMap::new();
    for mall in plan.malls() {
        let node = Node::Mall(mall);
        let mut settings = plan.config(node);
        settings.extend(options.mall_settings.iter().cloned());
        let mut config = MallConfig::load(None, &borrowed(&settings))?;
        let stop = Shutdown::new();
        let (addr, task) = serve::<LiveMall>(config.clone(), &stop).await?;
        plan.set_address(node, addr);
        // A restart binds the same port, so the gateway's registry finds it again.
        config.grpc.addr = addr.to_string();
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
    let mut gateway_overrides = plan.config(Node::Gateway);
    if let Some(limits) = &options.rate_limits {
        gateway_overrides.extend(limits.overrides());
    }
    if !options.cors_origins.is_empty() {
        gateway_overrides.push((
            "http.cors.allowed_origins".into(),
            options.cors_origins.join(","),
        ));
    }
    if options.web_addr.is_some() {
        // The web client on this machine forwards each browser's address, so the gateway's
        // per-address limits count people, not the web client.
        gateway_overrides.push(("http.trusted_proxies".into(), "127.0.0.1,::1".into()));
    }
    let gateway_config = GatewayConfig::load(None, &borrowed(&gateway_overrides))?;
    let gateway = Application::build(gateway_config).await?;
    let http_addr = gateway.local_addr();
    let backends = gateway.state().backends().to_vec();
    let gateway_registry = gateway.state().malls().clone();
    let gateway = tokio::spawn(gateway.run_until_stopped(front.clone()));
    plan.set_address(Node::Gateway, http_addr);
    let web = match &options.web_addr {
        Some(addr) => {
            plan.set_address(Node::Web, addr);
            let config = WebConfig::load(None, &borrowed(&plan.config(Node::Web)))?;
            let web = healthpoints_web::Application::build(config).await?;
            let url = web.url().to_owned();
            Some((url, tokio::spawn(web.run_until_stopped(front.clone()))))
        }
        None => None,
    };

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
        web,
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

    /// The web client's address, when it runs.
    pub fn web_url(&self) -> Option<&str> {
        self.web.as_ref().map(|(url, _)| url.as_str())
    }

    /// Stops the front end first (no new requests), then the services, each draining.
    pub async fn stop(self) {
        self.front.trigger();
        if let Some((_, web)) = self.web
            && let Ok(Err(e)) = web.await
        {
            tracing::warn!(error = %format!("{e:#}"), "web client stopped with an error");
        }
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

    /// Every service's gRPC address, by name (`mall city`, `mall 310118` for the malls), for an
    /// operator's grpcurl.
    pub fn grpc_addresses(&self) -> Vec<(String, SocketAddr)> {
        let services = [
            ("identity", self.identity_addr),
            ("ledger", self.ledger_addr),
            ("intake", self.intake_addr),
            ("exchange", self.exchange_addr),
        ];
        services
            .into_iter()
            .map(|(name, addr)| (name.to_owned(), addr))
            .chain(self.mall_ids().into_iter().filter_map(|mall| {
                let addr = self.mall_addr(&mall.to_string())?;
                Some((format!("mall {mall}"), addr))
            }))
            .collect()
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
        let stop = Shutdown::new();
        let (_, task) = serve::<LiveMall>(m.config.clone(), &stop).await?;
        m.stop = stop;
        m.task = Some(task);
        Ok(())
    }

    /// Runs until `shutdown` fires, then stops in order.
    pub async fn run_until(self, mut shutdown: Shutdown) {
        shutdown.wait().await;
        self.stop().await;
    }
}
