//! Every node's database on one PostgreSQL server: `healthpoints up --database-url
//! postgres://user@host:5432/healthpoints` keeps each service in a database of its own on that
//! server — `healthpoints_identity`, `healthpoints_ledger`, `healthpoints_city_mall`,
//! `healthpoints_mall_310118`, … (the URL's database name is the prefix; without one,
//! `healthpoints`) — created if missing; `healthpoints migrate` applies every service's
//! migrations there and exits (the step a deployment runs before the services start).

use std::collections::BTreeMap;

use anyhow::Context as _;
use healthpoints_db::{DatabaseConfig, ensure_postgres_database, migrate};
use healthpoints_types::MallId;

use crate::plan::{MeshPlan, Node};

/// The server's maintenance URL (its `postgres` database) and the databases' prefix, from a
/// URL naming the prefix as its database.
fn server_and_prefix(url: &str) -> anyhow::Result<(String, String)> {
    let mut parsed = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "postgres" | "postgresql") && u.has_host())
        .context("--database-url: must be postgres://user[:password]@host[:port][/prefix]")?;
    let prefix = match parsed.path().trim_start_matches('/') {
        "" => "healthpoints".to_owned(),
        p if p
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && p.len() <= 40 =>
        {
            p.to_owned()
        }
        _ => anyhow::bail!(
            "--database-url: the database name is the prefix of every service's database: lower-case letters, digits and _ only, at most 40"
        ),
    };
    parsed.set_path("postgres");
    Ok((parsed.to_string(), prefix))
}

/// Where the databases are, for an operator (no user or password): `host:port, databases
/// <prefix>_<service>`.
pub fn describe(url: &str) -> anyhow::Result<String> {
    let (server, prefix) = server_and_prefix(url)?;
    let parsed = url::Url::parse(&server)?;
    Ok(format!(
        "PostgreSQL at {}:{}, one database per service: {prefix}_identity, {prefix}_ledger, …",
        parsed.host_str().unwrap_or_default(),
        parsed.port().unwrap_or(5432)
    ))
}

/// The database name of `node` under `prefix`.
pub fn database_name(prefix: &str, node: Node) -> String {
    format!("{prefix}_{}", node.to_string().replace('-', "_"))
}

/// Creates (if missing) the database of every node of `plan` that keeps one, on the server of
/// `url`; returns each node's database URL.
pub async fn on_server(url: &str, plan: &MeshPlan) -> anyhow::Result<BTreeMap<Node, String>> {
    let (server, prefix) = server_and_prefix(url)?;
    let mut urls = BTreeMap::new();
    for node in plan.nodes().into_iter().filter(|n| n.has_database()) {
        let name = database_name(&prefix, node);
        let url = ensure_postgres_database(&server, &name)
            .await
            .with_context(|| format!("the database {name}"))?;
        urls.insert(node, url);
    }
    Ok(urls)
}

/// Creates every node's database of `plan` on the server of `url` if missing and applies its
/// migrations (each once, however many run at the same time). Returns the databases migrated.
pub async fn migrate_all(url: &str, plan: &MeshPlan) -> anyhow::Result<Vec<String>> {
    let (_, prefix) = server_and_prefix(url)?;
    let mut done = Vec::new();
    for (node, url) in on_server(url, plan).await? {
        let config = DatabaseConfig::new(url);
        match node {
            Node::Identity => migrate::<healthpoints_identity::store::Migrator>(&config).await,
            Node::Ledger => migrate::<healthpoints_ledger::store::Migrator>(&config).await,
            Node::Intake => migrate::<healthpoints_intake::store::Migrator>(&config).await,
            Node::Exchange => migrate::<healthpoints_exchange::store::Migrator>(&config).await,
            Node::Mall(MallId::City | MallId::District(_)) => {
                migrate::<healthpoints_mall::store::Migrator>(&config).await
            }
            Node::Gateway | Node::Web => Ok(()),
        }
        .with_context(|| format!("migrating {node}"))?;
        done.push(database_name(&prefix, node));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_the_server_and_the_prefix() {
        let (server, prefix) =
            server_and_prefix("postgres://hp:pw@db.internal:6432/points").unwrap();
        assert_eq!(server, "postgres://hp:pw@db.internal:6432/postgres");
        assert_eq!(prefix, "points");
        let (_, prefix) = server_and_prefix("postgresql://hp@db").unwrap();
        assert_eq!(prefix, "healthpoints");
        for bad in ["sqlite://x.db", "postgres://hp@db/Bad-Name", "not a url"] {
            let e = server_and_prefix(bad).unwrap_err().to_string();
            assert!(e.starts_with("--database-url"), "{bad}: {e}");
            assert!(!e.contains("pw"), "{e}");
        }
        let qingpu = Node::Mall(MallId::parse("310118").unwrap());
        assert_eq!(database_name("hp", qingpu), "hp_mall_310118");
        assert_eq!(
            database_name("hp", Node::Mall(MallId::City)),
            "hp_city_mall"
        );
    }
}
