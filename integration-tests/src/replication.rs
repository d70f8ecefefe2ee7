//! A PostgreSQL primary with a streaming standby under synchronous commit, on loopback, for the
//! failover test: the primary acknowledges a commit only once the standby has it. Clients
//! connect through a TCP balancer ([`crate::balancer`]) that stands for the address a failover
//! manager (Patroni, a cloud database's endpoint) keeps pointing at the primary: after
//! [`PgPair::fail_over`] it points at the promoted standby.
//!
//! Built from the PostgreSQL binaries in `/usr/lib/postgresql/*/bin` (CI installs them); as
//! root, every command runs as the `postgres` user. Both servers run with `fsync=off`: the test
//! kills processes, not the machine.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::balancer::Balancer;

/// The running pair and the address clients use.
#[derive(Debug)]
pub struct PgPair {
    bin: PathBuf,
    dir: PathBuf,
    standby_port: u16,
    proxy: Balancer,
}

fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").exists() && d.join("pg_basebackup").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Whether this process runs as root (asked once).
fn as_root() -> bool {
    static ROOT: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    });
    *ROOT
}

/// `program`, run as the `postgres` user when `as_postgres` (PostgreSQL refuses root).
fn command(program: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    crate::free_ports(1)[0]
}

impl PgPair {
    /// Starts the pair and waits until the standby streams synchronously. Panics, with the
    /// servers' logs, when it cannot; `None` when this machine has no PostgreSQL binaries.
    pub async fn start() -> Option<Self> {
        let bin = pg_bin()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("hp-failover-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let (primary_port, standby_port) = (free_port(), free_port());
        let proxy = Balancer::start(vec![([127, 0, 0, 1], primary_port).into()]).await;
        let pair = Self {
            bin,
            dir,
            standby_port,
            proxy,
        };
        if as_root() {
            pair.run("chown", &["-R", "postgres", &pair.path("")], false);
        }
        let primary = pair.path("primary");
        pair.run_pg(
            "initdb",
            &["-D", &primary, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        pair.start_server("primary", primary_port, "-c wal_level=replica");
        pair.run_pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                &pair.path("standby"),
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        pair.start_server("standby", standby_port, "-c hot_standby=on");
        // Synchronous from here: every commit waits until the standby has flushed it.
        pair.sql(
            primary_port,
            "ALTER SYSTEM SET synchronous_standby_names = '*'",
        );
        pair.sql(primary_port, "SELECT pg_reload_conf()");
        let deadline = Instant::now() + Duration::from_secs(30);
        while pair.sql(
            primary_port,
            "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'",
        ) != "1"
        {
            assert!(
                Instant::now() < deadline,
                "the standby did not stream synchronously within 30 s:\n{}",
                pair.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(pair)
    }

    /// The admin URL clients use (through the balancer).
    pub fn url(&self) -> String {
        format!("postgres://postgres@{}/postgres", self.proxy.addr)
    }

    /// Kills the primary (`pg_ctl stop -m immediate`: no shutdown checkpoint, connections
    /// cut), promotes the standby and points the balancer at it. Returns how long the database
    /// was unreachable for writes.
    pub async fn fail_over(&self) -> Duration {
        let started = Instant::now();
        self.run_pg(
            "pg_ctl",
            &["-D", &self.path("primary"), "-m", "immediate", "stop"],
        );
        self.run_pg("pg_ctl", &["-D", &self.path("standby"), "-w", "promote"]);
        self.proxy
            .route_to(vec![([127, 0, 0, 1], self.standby_port).into()]);
        started.elapsed()
    }

    /// Whether the standby is now a primary.
    pub fn promoted(&self) -> bool {
        self.sql(self.standby_port, "SELECT pg_is_in_recovery()") == "f"
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn start_server(&self, name: &str, port: u16, extra: &str) {
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=300 -c fsync=off {extra}",
            self.path("")
        );
        self.run_pg(
            "pg_ctl",
            &[
                "-D",
                &self.path(name),
                "-l",
                &self.path(&format!("{name}.log")),
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
    }

    /// One value of a query, through psql.
    fn sql(&self, port: u16, query: &str) -> String {
        self.run_pg(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-tAc",
                query,
            ],
        )
        .trim()
        .to_owned()
    }

    fn run_pg(&self, tool: &str, args: &[&str]) -> String {
        let tool = self.bin.join(tool).display().to_string();
        self.run(&tool, args, as_root())
    }

    fn run(&self, program: &str, args: &[&str], as_postgres: bool) -> String {
        let output = command(program, as_postgres)
            .args(args)
            .current_dir(Path::new("/tmp"))
            .output()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn logs(&self) -> String {
        ["primary", "standby"]
            .iter()
            .map(|n| {
                let text =
                    std::fs::read_to_string(self.dir.join(format!("{n}.log"))).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                format!(
                    "{n}.log:\n{}",
                    lines[lines.len().saturating_sub(20)..].join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        for name in ["standby", "primary"] {
            let tool = self.bin.join("pg_ctl").display().to_string();
            let _ = command(&tool, as_root())
                .args(["-D", &self.path(name), "-m", "immediate", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
