//! Database access shared by every healthpoints service: connect to the service's own database
//! (`sqlite://…` embedded, `postgres://…` in production), apply its migrations at start, and
//! keep the files of personal data private ([`private`]). Tests get their fresh databases from
//! `healthpoints-testkit`.

use std::{path::Path, time::Duration};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};
use sea_orm_migration::MigratorTrait;
use serde::{Deserialize, Serialize};

pub use sea_orm;

pub mod private;

/// Where a service keeps its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` or `postgres://user@host:port/db`. The password, when there is
    /// one, is best given through the environment (`HP_<SERVICE>__DATABASE__URL`).
    pub url: String,
    /// Pool size for PostgreSQL; SQLite always uses one connection (one writer at a time).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

fn default_max_connections() -> u32 {
    16
}
fn default_connect_timeout_ms() -> u64 {
    5_000
}

impl DatabaseConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: default_max_connections(),
            connect_timeout_ms: default_connect_timeout_ms(),
        }
    }

    /// Checks the URL scheme, naming `key` when it is wrong.
    pub fn check(&self, key: &str) -> Result<(), String> {
        if self.url.starts_with("sqlite:")
            || self.url.starts_with("postgres://")
            || self.url.starts_with("postgresql://")
        {
            Ok(())
        } else {
            Err(format!("{key}: must start with sqlite: or postgres://"))
        }
    }
}

/// Why the database could not be used; the URL is never included (it may hold a password).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database directory could not be created: {0}")]
    Directory(std::io::Error),
    /// The directory or file is open to other users of the machine.
    #[error("{0}")]
    NotPrivate(String),
    #[error("database connection failed: {0}")]
    Connect(DbErr),
    #[error("database migration failed: {0}")]
    Migrate(DbErr),
}

/// Connects and applies `M`'s migrations. For SQLite the file (and its folder) is created.
pub async fn connect<M: MigratorTrait>(
    config: &DatabaseConfig,
) -> Result<DatabaseConnection, DbError> {
    let sqlite = config.url.starts_with("sqlite:");
    let mut url = config.url.clone();
    if sqlite {
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or_default();
        if !path.is_empty() && path != ":memory:" {
            // A file in the working directory itself: its own mode protects it; the working
            // directory is not the service's to judge.
            if let Some(dir) = Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty() && *d != Path::new("."))
            {
                private::dir(dir)?;
            }
            private::file(Path::new(path))?;
        }
        if !url.contains('?') {
            url.push_str("?mode=rwc");
        }
    }
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(if sqlite { 1 } else { config.max_connections })
        .min_connections(if sqlite { 1 } else { 2 })
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .acquire_timeout(Duration::from_millis(config.connect_timeout_ms))
        .sqlx_logging(false)
        // The pool's default pings every connection before handing it out: one extra round
        // trip per query, measured as a third of a ledger write's time. A connection idle long
        // enough to have been dropped by a firewall or a restart is still checked.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        // Plan every statement with its actual parameters. Tables here start empty and grow
        // fast: a generic plan cached while a table was small (a sequential scan) would outlive
        // the growth on a long-lived pooled connection — measured on the ledger's id probes.
        .map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", "force_custom_plan")]));
    let db = Database::connect(options).await.map_err(DbError::Connect)?;
    if db.get_database_backend() == DbBackend::Sqlite {
        for pragma in [
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 5000",
        ] {
            db.execute_unprepared(pragma)
                .await
                .map_err(DbError::Connect)?;
        }
    }
    M::up(&db, None).await.map_err(DbError::Migrate)?;
    Ok(db)
}

/// Checks that the database answers (readiness).
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}

/// Whether an error is a unique-constraint violation, on either backend.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
