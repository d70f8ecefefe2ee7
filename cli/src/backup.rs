//! `healthpoints backup`: a consistent copy of the embedded default's data while it runs. Each
//! service's SQLite file is copied with `VACUUM INTO` (a snapshot of one transaction, taken
//! beside the running writer in WAL mode), and identity's master key file with it — without the
//! key, the residents' encrypted ID and phone numbers in the copy cannot be read. The copy is
//! private like the original (`0700` directory, `0600` files) and never overwrites anything.
//! Restoring is starting on the copy: `healthpoints up --data-dir BACKUP`. (On PostgreSQL, back
//! up with a base backup and WAL archiving: docs/operations.md.)

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use healthpoints_db::sea_orm::{ConnectOptions, ConnectionTrait, Database};

/// Copies every `*.db` of `data_dir` and its `identity.key` into `to`, which must not exist or
/// be empty; returns the files written.
pub async fn backup(data_dir: &Path, to: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut databases: Vec<PathBuf> = std::fs::read_dir(data_dir)
        .with_context(|| format!("reading {}", data_dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "db"))
        .collect();
    databases.sort();
    anyhow::ensure!(
        !databases.is_empty(),
        "{} holds no databases (*.db): is it the data directory?",
        data_dir.display()
    );
    if to.exists() {
        anyhow::ensure!(
            std::fs::read_dir(to)?.next().is_none(),
            "{} is not empty: a backup never overwrites; name a new directory",
            to.display()
        );
    }
    healthpoints_db::private::dir(to)?;
    let mut written = Vec::new();
    for db in databases {
        let name = db.file_name().context("a database file name")?;
        let target = to.join(name);
        // One connection and no pool upkeep: sqlx's idle/lifetime task was seen to spin after
        // `close`, and the command then never exited.
        let mut options = ConnectOptions::new(format!("sqlite://{}?mode=ro", db.display()));
        options
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .sqlx_logging(false);
        let source = Database::connect(options)
            .await
            .with_context(|| format!("opening {}", db.display()))?;
        // One statement, one transaction: the copy is the database as of one moment.
        let quoted = target.display().to_string().replace('\'', "''");
        source
            .execute_unprepared(&format!("VACUUM INTO '{quoted}'"))
            .await
            .with_context(|| format!("copying {}", db.display()))?;
        source.close().await?;
        healthpoints_db::private::file(&target)?;
        written.push(target);
    }
    let key = data_dir.join("identity.key");
    if key.exists() {
        let target = to.join("identity.key");
        std::fs::copy(&key, &target).context("copying identity.key")?;
        healthpoints_db::private::file(&target)?;
        written.push(target);
    }
    Ok(written)
}
