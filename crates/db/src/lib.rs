//! Database access shared by every healthpoints service: connect to the service's own database
//! (`sqlite://…` embedded, `postgres://…` in production), apply its migrations at start, and
//! keep the files of personal data private ([`private`]), and the transactional [`outbox`] of
//! the events a service's changes cause. Tests get their fresh databases from
//! `healthpoints-testkit`.

use std::{path::Path, time::Duration};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use serde::{Deserialize, Serialize};

pub use sea_orm;

pub mod outbox;
pub mod private;
mod transient;

pub use transient::{is_transient, storage_fault};

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

    /// Whether it is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")
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
    #[error("the database URL must be postgres://user[:password]@host[:port]/database")]
    Url,
    #[error("database name {0:?}: 1 to 63 lower-case letters, digits and _")]
    Name(String),
}

/// Connects and applies `M`'s migrations ([`migrate`]). For SQLite the file (and its folder)
/// is created.
pub async fn connect<M: MigratorTrait>(
    config: &DatabaseConfig,
) -> Result<DatabaseConnection, DbError> {
    if config.is_postgres() {
        migrate::<M>(config).await?;
        return pool(config).await;
    }
    let db = pool(config).await?;
    M::up(&db, None).await.map_err(DbError::Migrate)?;
    Ok(db)
}

/// The connection pool of a service's database, as configured. Nothing is sent at connection
/// start but the login (no `options` startup parameter), so a pooler such as PgBouncer in
/// transaction mode can stand between the service and PostgreSQL.
async fn pool(config: &DatabaseConfig) -> Result<DatabaseConnection, DbError> {
    let sqlite = !config.is_postgres();
    if !sqlite {
        checked_postgres_url(&config.url)?;
    }
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
        .test_before_acquire_if_idle_for(Duration::from_secs(30));
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
    Ok(db)
}

/// The advisory lock every healthpoints migration takes (PostgreSQL scopes it to one database).
const MIGRATION_LOCK: i64 = 0x6870_6d69_6772_6174; // "hpmigrat"

/// Applies `M`'s pending migrations to a PostgreSQL database, once however many replicas start
/// at the same moment: in one transaction that first takes a transaction-scoped advisory lock,
/// so the others wait for it (at most 5 minutes, then the start is retried) and then find
/// nothing to do. A transaction lock is released however the transaction ends, also through a
/// transaction pooler such as PgBouncer. Afterwards it sets the database's `plan_cache_mode` to
/// `force_custom_plan` — every statement planned with its actual parameters: tables here start
/// empty and grow fast, and a generic plan cached while a table was small (a sequential scan)
/// would outlive the growth on a long-lived connection (measured on the ledger's id probes). A
/// database setting rather than a startup parameter, so poolers pass it.
pub async fn migrate<M: MigratorTrait>(config: &DatabaseConfig) -> Result<(), DbError> {
    checked_postgres_url(&config.url)?;
    let mut options = ConnectOptions::new(config.url.clone());
    options
        .max_connections(1)
        .min_connections(1)
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .sqlx_logging(false);
    let db = Database::connect(options).await.map_err(DbError::Connect)?;
    let applied = async {
        let txn = db.begin().await?;
        txn.execute_unprepared("SET LOCAL lock_timeout = '300s'")
            .await?;
        tracing::debug!("taking the migration lock");
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
        let pending = M::get_pending_migrations(&txn).await?.len();
        M::up(&txn, None).await?;
        txn.commit().await?;
        if pending > 0 {
            tracing::info!(applied = pending, "database migrations applied");
        }
        Ok::<_, DbErr>(())
    }
    .await;
    if applied.is_ok() {
        // Only the database's owner may; without it the services run with the server's
        // default.
        if let Err(e) = db
            .execute_unprepared(
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = force_custom_plan', current_database()); END $$",
            )
            .await
        {
            tracing::warn!(error = %e, "plan_cache_mode not set: the database's owner may set it");
        }
    }
    let _ = db.close().await;
    applied.map_err(DbError::Migrate)
}

/// A PostgreSQL URL that parses, checked before it is handed to the driver (whose errors
/// would quote it, password and all).
fn checked_postgres_url(url: &str) -> Result<url::Url, DbError> {
    url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "postgres" | "postgresql") && u.has_host())
        .ok_or(DbError::Url)
}

/// Creates the database `name` on the PostgreSQL server of `server_url` (whose own database is
/// only used to connect) unless it exists, and returns the URL of `name` on that server. Safe to
/// run from several processes at once.
pub async fn ensure_postgres_database(server_url: &str, name: &str) -> Result<String, DbError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(DbError::Name(name.to_owned()));
    }
    if name.len() > 63 {
        return Err(DbError::Name(name.to_owned()));
    }
    let mut url = checked_postgres_url(server_url)?;
    let admin = Database::connect(server_url)
        .await
        .map_err(DbError::Connect)?;
    let exists = admin
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await
        .map_err(DbError::Connect)?
        .is_some();
    if !exists {
        match admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
        {
            Ok(_) => tracing::info!(database = name, "database created"),
            // Another process created it meanwhile (`duplicate_database`, or the catalogue's
            // unique index when both got past the check).
            Err(e) if is_unique_violation(&e) || e.to_string().contains("already exists") => {}
            Err(e) => {
                let _ = admin.close().await;
                return Err(DbError::Connect(e));
            }
        }
    }
    let _ = admin.close().await;
    url.set_path(name);
    Ok(url.to_string())
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
