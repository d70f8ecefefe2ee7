//! `connect` and `TestDatabase` on the backend the suite runs on (SQLite, or PostgreSQL when
//! `HP_TEST_DATABASE_URL` is set): migrations applied once, SQLite tuned and private, unique
//! violations recognised on both backends, and no URL (which may hold a password) in an error.

use healthpoints_db::{
    DatabaseConfig, DbError, connect, ensure_postgres_database, is_unique_violation, ping,
    sea_orm::{self, ConnectionTrait, DbBackend, Statement},
};
use healthpoints_testkit::TestDatabase;
use sea_orm_migration::{async_trait::async_trait, prelude::*};

/// One table with a unique column.
#[derive(Debug)]
struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Things)]
    }
}

#[derive(Debug)]
struct Things;

impl MigrationName for Things {
    fn name(&self) -> &str {
        "m20261204_000001_things"
    }
}

#[async_trait]
impl MigrationTrait for Things {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("things"))
                .col(
                    ColumnDef::new(Alias::new("name"))
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .to_owned(),
        )
        .await
    }
}

#[tokio::test]
async fn connect_migrates_once_and_recognises_unique_violations() {
    let db = TestDatabase::create("db_connect").await;
    let conn = connect::<Migrator>(&db.config).await.unwrap();
    assert!(ping(&conn).await);
    conn.execute_unprepared("INSERT INTO things (name) VALUES ('a')")
        .await
        .unwrap();
    let duplicate = conn
        .execute_unprepared("INSERT INTO things (name) VALUES ('a')")
        .await
        .unwrap_err();
    assert!(is_unique_violation(&duplicate), "{duplicate}");
    let other = conn
        .execute_unprepared("INSERT INTO no_such_table (name) VALUES ('a')")
        .await
        .unwrap_err();
    assert!(!is_unique_violation(&other), "{other}");

    // A second start on the same database applies nothing again and keeps the data.
    conn.close().await.unwrap();
    let again = connect::<Migrator>(&db.config).await.unwrap();
    let backend = again.get_database_backend();
    let row = again
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM things",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
    assert_eq!(db.is_postgres(), backend == DbBackend::Postgres);

    if backend == DbBackend::Sqlite {
        // Write-ahead logging, enforced foreign keys, and a private file.
        let pragma = async |name: &str| {
            let row = again
                .query_one_raw(Statement::from_string(backend, format!("PRAGMA {name}")))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<String>(0)
                .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
                .unwrap()
        };
        assert_eq!(pragma("journal_mode").await, "wal");
        assert_eq!(pragma("foreign_keys").await, "1");
        use std::os::unix::fs::PermissionsExt as _;
        let path = db.config.url.trim_start_matches("sqlite://");
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
}

#[tokio::test]
async fn an_unreachable_database_fails_without_echoing_its_url() {
    let mut config = DatabaseConfig::new("postgres://app:s3cret-pw@127.0.0.1:1/points");
    config.connect_timeout_ms = 500;
    let error = connect::<Migrator>(&config).await.unwrap_err();
    assert!(matches!(error, DbError::Connect(_)), "{error}");
    let shown = error.to_string();
    assert!(!shown.contains("s3cret-pw"), "{shown}");
}

#[test]
fn only_sqlite_and_postgres_urls_are_accepted() {
    for ok in [
        "sqlite://data/ledger.db",
        "sqlite::memory:",
        "postgres://app@db:5432/ledger",
        "postgresql://app@db/ledger",
    ] {
        assert_eq!(
            DatabaseConfig::new(ok).check("database.url"),
            Ok(()),
            "{ok}"
        );
    }
    let refused = DatabaseConfig::new("mysql://app@db/ledger")
        .check("database.url")
        .unwrap_err();
    assert!(refused.starts_with("database.url:"), "{refused}");
}

#[tokio::test]
async fn replicas_starting_at_once_apply_each_migration_once() {
    let db = TestDatabase::create("db_replicas").await;
    if !db.is_postgres() {
        // SQLite is one process's file: replicas run on PostgreSQL (the suite's second pass).
        return;
    }
    // Eight replicas start at the same moment; each takes the advisory lock in turn.
    let starts = (0..8).map(|_| connect::<Migrator>(&db.config));
    let conns = futures::future::join_all(starts).await;
    let conns: Vec<_> = conns.into_iter().map(Result::unwrap).collect();
    let row = conns[0]
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1, "applied once");
    // No startup parameter: the planner setting is the database's own.
    let row = conns[7]
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_setting('plan_cache_mode') AS m",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<String>("", "m").unwrap(), "force_custom_plan");
    for c in conns {
        c.close().await.unwrap();
    }
}

#[tokio::test]
async fn a_missing_database_is_created_once_however_many_ask() {
    let Ok(server) = std::env::var("HP_TEST_DATABASE_URL") else {
        // Creating databases is PostgreSQL's (the suite's second pass); names are checked below.
        return;
    };
    if server.is_empty() {
        return;
    }
    let name = format!("hp_ensure_{}", uuid_like());
    let asks = (0..4).map(|_| ensure_postgres_database(&server, &name));
    let urls: Vec<String> = futures::future::join_all(asks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(
        urls.iter()
            .all(|u| u == &urls[0] && u.ends_with(&format!("/{name}")))
    );
    let conn = connect::<Migrator>(&DatabaseConfig::new(urls[0].clone()))
        .await
        .unwrap();
    assert!(ping(&conn).await);
    conn.close().await.unwrap();
    let admin = sea_orm::Database::connect(server.as_str()).await.unwrap();
    admin
        .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{}_{}", std::process::id(), nanos % 1_000_000_000)
}

#[tokio::test]
async fn database_names_and_urls_are_checked_before_anything_is_sent() {
    let bad = ensure_postgres_database("postgres://app@127.0.0.1:1/postgres", "Bad-Name").await;
    assert!(matches!(bad, Err(DbError::Name(_))), "{bad:?}");
    let bad = ensure_postgres_database("sqlite://x.db", "good").await;
    assert!(matches!(bad, Err(DbError::Url)), "{bad:?}");
}
