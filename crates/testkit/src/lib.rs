//! What the tests of every healthpoints crate share, and nothing production uses (a
//! dev-dependency only): a fresh, isolated database per test — SQLite, or PostgreSQL when
//! `HP_TEST_DATABASE_URL` is set, so one suite runs against both; valid resident ID numbers;
//! and gRPC requests carrying a bearer token.

use healthpoints_db::{
    DatabaseConfig, private,
    sea_orm::{ConnectionTrait, Database},
};

/// A fresh database for one test: a temporary SQLite file, or a new PostgreSQL database on the
/// server named by `HP_TEST_DATABASE_URL`. Either is removed when the value is dropped (a
/// PostgreSQL database with `DROP DATABASE … WITH (FORCE)`, so connections a test left open do
/// not keep it): a few hundred tests per run would otherwise fill the server's disk.
#[derive(Debug)]
pub struct TestDatabase {
    pub config: DatabaseConfig,
    _dir: Option<tempfile::TempDir>,
    /// The server's admin URL and the database's name, to drop it.
    postgres: Option<(String, String)>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // A thread of its own: a drop inside a test's runtime may not block on that runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                let dropped = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                let _ = admin.close().await;
                dropped
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("a test database was left behind: {e}");
        }
    }
}

impl TestDatabase {
    /// Creates the database; `label` becomes part of its name for easier debugging.
    pub async fn create(label: &str) -> Self {
        match std::env::var("HP_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => Self::postgres(&admin_url, label).await,
            _ => Self::sqlite(label),
        }
    }

    /// Always a temporary SQLite file.
    pub fn sqlite(label: &str) -> Self {
        let dir = private::tempdir().expect("a temporary directory can be created");
        let path = dir.path().join(format!("{label}.db"));
        Self {
            config: DatabaseConfig::new(format!("sqlite://{}", path.display())),
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A new database on the PostgreSQL server of `admin_url` (a role that may create
    /// databases), for tests and benchmarks.
    pub async fn postgres(admin_url: &str, label: &str) -> Self {
        let name = format!(
            "hp_{}_{}",
            label
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            uuid::Uuid::new_v4().simple()
        );
        let admin = Database::connect(admin_url)
            .await
            .expect("HP_TEST_DATABASE_URL must point at a reachable PostgreSQL server");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("the test role may create databases");
        let _ = admin.close().await;
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url, String::new()),
        };
        let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
        let mut config = DatabaseConfig::new(format!("{base}/{name}{query}"));
        config.max_connections = 8;
        Self {
            config,
            _dir: None,
            postgres: Some((admin_url.to_owned(), name)),
        }
    }

    /// Whether this test runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.config.url.starts_with("postgres")
    }
}

/// A valid resident ID number: born on `birth` (`YYYYMMDD`) in `district` (six digits), with a
/// three-digit sequence number and the right check character.
pub fn id_number(district: &str, birth: &str, seq: u32) -> String {
    healthpoints_types::id_number::complete(&format!("{district}{birth}{seq:03}"))
        .expect("a district code, a date and a sequence number make 17 digits")
}

/// A gRPC request carrying `token` as its bearer token.
pub fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("a token is ASCII"),
    );
    request
}
