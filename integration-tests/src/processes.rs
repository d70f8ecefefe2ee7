//! The mesh as separate OS processes: identity, ledger, intake, exchange, the city mall, the
//! district malls of Qingpu and Yangpu and the gateway, each started from its built binary
//! (`target/<profile>/<name>`, which `cargo test --workspace` builds) with a config file of its
//! own, on a free loopback port, with its own database — a SQLite file, or a fresh PostgreSQL
//! database per service when `HP_TEST_DATABASE_URL` is set. Any one of them can be killed with
//! SIGKILL, stopped with SIGTERM, paused with SIGSTOP (a hung service) and resumed, and started
//! again on the same port and database.
//!
//! Each process writes its log to `<name>.log` in the mesh's temporary directory; a failed
//! start shows the tail of it.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use healthpoints_testkit::TestDatabase;

use healthpoints::plan::{MeshPlan, Node};

use crate::{ADMIN, Gateway};

/// One service process: how to start it and, while it runs, the child.
#[derive(Debug)]
struct Process {
    binary: PathBuf,
    config: PathBuf,
    /// The config entries, written to `config` (see [`ProcessMesh::configure`]).
    entries: Vec<(String, String)>,
    log: PathBuf,
    port: u16,
    /// The gRPC service to ask for health; `None` for the gateway and the web client (HTTP
    /// `/readyz`).
    health: Option<&'static str>,
    child: Option<Child>,
}

/// A running mesh of processes and an HTTP client for its gateway.
#[derive(Debug)]
pub struct ProcessMesh {
    gateway: Gateway,
    nodes: BTreeMap<String, Process>,
    dir: tempfile::TempDir,
    databases: BTreeMap<String, TestDatabase>,
    /// In front of the gateway's replicas, when it has several.
    _balancer: Option<crate::balancer::Balancer>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

/// One process mesh at a time in a test binary: eight services per mesh on a 2-core machine
/// already compete; several meshes at once would turn deadlines and drain times into noise.
static TURN: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(Default::default);

impl std::ops::Deref for ProcessMesh {
    type Target = Gateway;

    fn deref(&self) -> &Gateway {
        &self.gateway
    }
}

/// Where cargo put the service binaries: beside the test binary's `deps` directory.
fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let deps = exe.parent().expect("the test binary is in a directory");
    let dir = if deps.ends_with("deps") {
        deps.parent().expect("target/<profile>")
    } else {
        deps
    };
    dir.to_path_buf()
}

/// A built binary of the workspace (`target/<profile>/<name>`); panics, saying how to build
/// it, when it is missing.
pub fn binary(name: &str) -> PathBuf {
    let path = binary_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the service binaries first (`cargo test --workspace` or `cargo build --workspace --bins`)",
        path.display()
    );
    path
}

use crate::free_ports;

/// A config file of `key = "value"` lines (TOML dotted keys) over the embedded defaults.
fn write_config(path: &Path, entries: &[(String, String)]) {
    let mut text = String::new();
    for (key, value) in entries {
        let _ = writeln!(text, "{key} = {}", serde_json::Value::String(value.clone()));
    }
    std::fs::write(path, text).expect("the config file can be written");
}

fn kv(key: &str, value: impl Into<String>) -> (String, String) {
    (key.to_owned(), value.into())
}

impl ProcessMesh {
    /// Starts every service and the gateway as processes and returns once all are ready.
    pub async fn start() -> Self {
        Self::start_replicated(&[]).await
    }

    /// The same, with a second replica of each of `replicated` (named `<name>-2`: its own
    /// process and port, the same database). Their callers spread calls over both replicas
    /// (the plan gives them both addresses); the gateway's replicas stand behind a TCP
    /// balancer ([`crate::balancer`]), which is where this mesh's HTTP client connects.
    pub async fn start_replicated(replicated: &[Node]) -> Self {
        Self::start_with(replicated, None).await
    }

    /// The same, with every service's database on the PostgreSQL server of `database_server`
    /// (an admin URL, e.g. `postgres://postgres@127.0.0.1:5432/postgres`) instead of the one
    /// `HP_TEST_DATABASE_URL` names (or SQLite).
    pub async fn start_with(replicated: &[Node], database_server: Option<&str>) -> Self {
        let turn = TURN.clone().lock_owned().await;
        let dir = healthpoints_db::private::tempdir().expect("temporary directory");
        let mut plan = MeshPlan::pilot();
        let mut databases = BTreeMap::new();
        let mut fresh = free_ports(plan.nodes().len() + replicated.len()).into_iter();
        let ports: BTreeMap<Node, u16> = plan.nodes().into_iter().zip(fresh.by_ref()).collect();
        let replica_ports: BTreeMap<Node, u16> = replicated.iter().copied().zip(fresh).collect();
        for (&node, port) in &replica_ports {
            plan.add_replica(node, format!("127.0.0.1:{port}"));
        }
        for (&node, port) in &ports {
            plan.set_address(node, format!("127.0.0.1:{port}"));
            if node.has_database() {
                let name = node.to_string();
                let db = match database_server {
                    Some(url) => TestDatabase::postgres(url, &name).await,
                    None => TestDatabase::create(&name).await,
                };
                plan.set_database(node, db.config.url.clone());
                databases.insert(name, db);
            }
        }
        let quiet = [
            kv("telemetry.log_filter", "warn"),
            kv("telemetry.log_format", "text"),
        ];
        let mut configs: Vec<(Node, Vec<(String, String)>)> = Vec::new();
        for node in plan.nodes() {
            let mut entries = plan.config(node);
            match node {
                Node::Identity => {
                    entries.push(kv(
                        "secrets.master_key_file",
                        dir.path().join("identity.key").display().to_string(),
                    ));
                    entries.push(kv("bootstrap_admin", format!("{}:{}", ADMIN.0, ADMIN.1)));
                    entries.push(kv(
                        "password_reset.sender",
                        format!("file:{}", dir.path().join("messages").display()),
                    ));
                }
                // The tests register and log in many residents from one loopback address.
                Node::Gateway => entries
                    .extend(healthpoints_gateway::throttle::RateLimits::unthrottled().overrides()),
                // The tests' webhook receivers listen on loopback.
                Node::Exchange => entries.push(kv("webhooks.allow_loopback", "true")),
                _ => {}
            }
            entries.extend(quiet.iter().cloned());
            configs.push((node, entries));
        }

        let mut nodes = BTreeMap::new();
        let (mut backends, mut front) = (Vec::new(), Vec::new());
        for (node, entries) in configs {
            // The node, and its second replica: the same configuration but where it listens.
            let mut instances = vec![(node.to_string(), ports[&node], entries.clone())];
            if let Some(&port) = replica_ports.get(&node) {
                let listen = if node.serves_http() {
                    "http.addr"
                } else {
                    "grpc.addr"
                };
                let mut entries = entries;
                entries.retain(|(k, _)| k != listen);
                entries.push(kv(listen, format!("127.0.0.1:{port}")));
                instances.push((format!("{node}-2"), port, entries));
            }
            for (name, port, entries) in instances {
                let config = dir.path().join(format!("{name}.toml"));
                write_config(&config, &entries);
                if node.serves_http() {
                    front.push(name.clone());
                } else {
                    backends.push(name.clone());
                }
                nodes.insert(
                    name.clone(),
                    Process {
                        binary: binary(node.binary()),
                        config,
                        entries,
                        log: dir.path().join(format!("{name}.log")),
                        port,
                        health: node.grpc_service(),
                        child: None,
                    },
                );
            }
        }
        let (base, balancer) = match replica_ports.get(&Node::Gateway) {
            Some(&port) => {
                let balancer = crate::balancer::Balancer::start(vec![
                    ([127, 0, 0, 1], ports[&Node::Gateway]).into(),
                    ([127, 0, 0, 1], port).into(),
                ])
                .await;
                (format!("http://{}", balancer.addr), Some(balancer))
            }
            None => (plan.endpoint(Node::Gateway), None),
        };
        let mut mesh = Self {
            gateway: Gateway::new(base),
            nodes,
            dir,
            databases,
            _balancer: balancer,
            _turn: turn,
        };
        // The backends first; the gateway once they serve, so that its first look at the
        // malls' health finds them all up.
        for group in [backends, front] {
            for name in &group {
                mesh.spawn(name);
            }
            for name in &group {
                mesh.wait_ready(name).await;
            }
        }
        mesh
    }

    /// The names of the processes: `identity`, `ledger`, `intake`, `exchange`, `city-mall`,
    /// `mall-310118`, `mall-310110`, `gateway`, `web`.
    pub fn names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// A process's loopback address, `http://127.0.0.1:port` (gRPC, or HTTP for the gateway).
    pub fn endpoint(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}", self.nodes[name].port)
    }

    /// Signs `claims` with identity's current signing key, read from identity's own database
    /// with its master key — as only identity could. For tests of validly signed tokens the
    /// gateway must still refuse (expired, another audience).
    pub async fn sign_as_identity(&self, claims: &healthpoints_auth::Claims) -> String {
        use healthpoints_identity::{
            crypto::Crypto,
            service::tokens::{TokenPolicy, Tokens},
            store::{Migrator, Store},
        };
        let master = std::fs::read_to_string(self.dir.path().join("identity.key"))
            .expect("identity's master key file");
        let crypto = Crypto::from_master_key(master.trim()).expect("the master key");
        let db = healthpoints_db::connect::<Migrator>(&self.databases["identity"].config)
            .await
            .expect("identity's database");
        let tokens = Tokens::new(TokenPolicy {
            issuer: claims.iss.clone(),
            audience: claims.aud.clone(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(900),
            refresh_reuse_grace: Duration::from_secs(30),
            key_reload: Duration::from_secs(60),
        });
        tokens
            .load(&Store::new(db), &crypto, chrono::Utc::now())
            .await
            .expect("identity's keys load");
        tokens.sign(claims).expect("the claims are signed")
    }

    /// Whether a service's process is still running (started, and not exited since).
    pub fn is_running(&mut self, name: &str) -> bool {
        self.nodes
            .get_mut(name)
            .and_then(|n| n.child.as_mut())
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The process id of a running service.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.nodes[name].child.as_ref().map(Child::id)
    }

    fn spawn(&mut self, name: &str) {
        let node = self.nodes.get_mut(name).expect("a known process");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .expect("the log file opens");
        let child = Command::new(&node.binary)
            .arg("--config")
            .arg(&node.config)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file is shared"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        node.child = Some(child);
    }

    /// Waits until the process answers SERVING (the gateway: `/readyz` 200), or panics with the
    /// tail of its log.
    pub async fn wait_ready(&mut self, name: &str) {
        let (port, health) = (self.nodes[name].port, self.nodes[name].health);
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = match health {
                Some(service) => {
                    healthpoints_grpc::health::is_serving(
                        &endpoint,
                        service,
                        Duration::from_millis(500),
                    )
                    .await
                }
                None => self
                    .http
                    .get(format!("{endpoint}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()),
            };
            if ready {
                return;
            }
            let exited = self
                .nodes
                .get_mut(name)
                .and_then(|n| n.child.as_mut().and_then(|c| c.try_wait().ok().flatten()));
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "{name} did not become ready ({}); its log ends:\n{}",
                    exited.map_or_else(|| "timed out".to_owned(), |s| s.to_string()),
                    self.log_tail(name)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of a process's log.
    pub fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(&self.nodes[name].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `kill -9`: the process dies at once, whatever it was doing.
    pub async fn kill(&mut self, name: &str) {
        if let Some(mut child) = self.nodes.get_mut(name).and_then(|n| n.child.take()) {
            let _ = child.kill();
            let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        }
    }

    /// SIGSTOP: the process stays, its sockets stay open, and it answers nothing — a hung
    /// service, as seen from its callers — until [`resume`](Self::resume).
    pub fn pause(&self, name: &str) {
        self.signal(name, "-STOP");
    }

    /// SIGCONT: a paused process carries on where it stopped.
    pub fn resume(&self, name: &str) {
        self.signal(name, "-CONT");
    }

    fn signal(&self, name: &str, signal: &str) {
        let pid = self.pid(name).expect("the process is running");
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {name}");
    }

    /// SIGTERM, then waits for the exit: how long it took and whether it exited cleanly.
    /// Panics if it is still running after `grace`.
    pub async fn terminate(&mut self, name: &str, grace: Duration) -> (Duration, bool) {
        let mut child = self
            .nodes
            .get_mut(name)
            .and_then(|n| n.child.take())
            .expect("the process is running");
        let started = Instant::now();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return (started.elapsed(), status.success());
            }
            if started.elapsed() > grace {
                let _ = child.kill();
                panic!(
                    "{name} was still running {grace:?} after SIGTERM; its log ends:\n{}",
                    self.log_tail(name)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts a stopped process again on its port and database, and waits until it is ready.
    pub async fn restart(&mut self, name: &str) {
        self.spawn(name);
        self.wait_ready(name).await;
    }

    /// Sets one config entry of a process; it takes effect when the process next starts.
    pub fn configure(&mut self, name: &str, key: &str, value: &str) {
        let node = self.nodes.get_mut(name).expect("a known process");
        node.entries.retain(|(k, _)| k != key);
        node.entries.push(kv(key, value));
        write_config(&node.config, &node.entries);
    }

    /// Everything a process has logged so far (every start of it).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(&self.nodes[name].log).unwrap_or_default()
    }
}

impl Drop for ProcessMesh {
    fn drop(&mut self) {
        // A failing test keeps every process's log, and says where.
        if std::thread::panicking() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let kept =
                std::env::temp_dir().join(format!("hp-failed-mesh-{}-{nanos}", std::process::id()));
            if std::fs::create_dir_all(&kept).is_ok() {
                for (name, node) in &self.nodes {
                    let _ = std::fs::copy(&node.log, kept.join(format!("{name}.log")));
                }
                eprintln!("the mesh's logs are kept in {}", kept.display());
            }
        }
        for node in self.nodes.values_mut() {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
