//! What the benchmark binaries share: latency percentiles, and residents registered through
//! the gateway a few at a time (each registration hashes a password, which is what takes time).

use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::id_number;

/// What every benchmark binary is told: where PostgreSQL is, the reference measured on it, and
/// how long each phase runs.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// PostgreSQL server (a role that may create databases); fresh databases are made on it.
    #[arg(long)]
    pub database_url: String,
    /// The reference throughput measured on the same server (e.g. `pgbench -N` tps).
    #[arg(long)]
    pub reference_tps: f64,
    /// What the reference was, for the report.
    #[arg(long, default_value = "pgbench -N")]
    pub reference_name: String,
    /// Seconds per phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

/// The mesh of a benchmark run: every service in one process, the listed services on fresh
/// databases of the PostgreSQL server (the rest on SQLite in a temporary directory), and the
/// bootstrap admin `bench` / `Bench-pass-123`. Dropping it removes the databases' handles and the
/// directory; stop the mesh first.
#[derive(Debug)]
pub struct BenchMesh {
    pub mesh: healthpoints::mesh::RunningMesh,
    dbs: Vec<(String, healthpoints_testkit::TestDatabase)>,
    _dir: tempfile::TempDir,
}

/// Starts the mesh for a benchmark (no district malls).
pub async fn start_mesh(database_url: &str, on_postgres: &[&str]) -> anyhow::Result<BenchMesh> {
    let dir = healthpoints_db::private::tempdir()?;
    let mut dbs = Vec::new();
    let mut database_urls = std::collections::BTreeMap::new();
    for service in on_postgres {
        let db =
            healthpoints_testkit::TestDatabase::postgres(database_url, &format!("bench_{service}"))
                .await;
        database_urls.insert((*service).to_owned(), db.config.url.clone());
        dbs.push(((*service).to_owned(), db));
    }
    let mesh = healthpoints::mesh::start(healthpoints::mesh::MeshOptions {
        data_dir: dir.path().to_path_buf(),
        http_addr: "127.0.0.1:0".into(),
        bootstrap_admin: Some("bench:Bench-pass-123".into()),
        database_urls,
        database_server: None,
        district_malls: Vec::new(),
        rate_limits: Some(healthpoints_gateway::throttle::RateLimits::unthrottled()),
        cors_origins: Vec::new(),
        web_addr: None,
        mall_settings: Vec::new(),
    })
    .await?;
    Ok(BenchMesh {
        mesh,
        dbs,
        _dir: dir,
    })
}

impl BenchMesh {
    /// Stops the mesh, then lets the databases and the directory go.
    pub async fn stop(self) {
        self.mesh.stop().await;
    }

    /// The bytes each service's PostgreSQL database takes on disk, by service.
    pub async fn database_sizes(&self) -> anyhow::Result<Vec<(String, u64)>> {
        use healthpoints_db::sea_orm::{ConnectionTrait as _, Database, Statement};
        let mut sizes = Vec::new();
        for (service, db) in &self.dbs {
            let conn = Database::connect(db.config.url.as_str()).await?;
            let row = conn
                .query_one_raw(Statement::from_string(
                    conn.get_database_backend(),
                    "SELECT CAST(pg_database_size(current_database()) AS BIGINT)",
                ))
                .await?
                .context("a size")?;
            let bytes: i64 = row.try_get_by_index(0)?;
            sizes.push((service.clone(), u64::try_from(bytes).unwrap_or_default()));
            conn.close().await?;
        }
        Ok(sizes)
    }
}

/// The `p` quantile (0–1) of sorted latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Registers `count` residents of Qingpu through the gateway, eight at a time, and returns
/// their ids and phone numbers in sequence order. Password: `Resident-pass-1`.
pub async fn register_residents(
    http: &reqwest::Client,
    url: &str,
    count: u32,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut residents = Vec::with_capacity(count as usize);
    let seqs: Vec<u32> = (0..count).collect();
    for chunk in seqs.chunks(8) {
        let mut registering = tokio::task::JoinSet::new();
        for &seq in chunk {
            let phone = format!("139{seq:08}");
            let request = http.post(format!("{url}/v1/auth/register")).json(&json!({
                "name": "测试",
                "id_number": id_number("310118", &format!("19{:02}{:02}{:02}", 50 + seq / 12_000 % 40, 1 + seq / 1000 % 12, 10 + seq / 12_000 % 18), seq % 1000),
                "phone": phone, "password": "Resident-pass-1",
                "residence_district": "310118", "residence_type": "registered"}));
            registering.spawn(async move { (seq, phone, request.send().await) });
        }
        let mut answers = Vec::new();
        while let Some(joined) = registering.join_next().await {
            let (seq, phone, sent) = joined?;
            let r: Value = sent?.json().await?;
            let id = r["resident_id"]
                .as_str()
                .with_context(|| format!("registration failed: {r}"))?
                .to_owned();
            answers.push((seq, id, phone));
        }
        answers.sort();
        residents.extend(answers.into_iter().map(|(_, id, phone)| (id, phone)));
    }
    Ok(residents)
}

/// Signs in the bench admin (`bench`); its access token.
pub async fn admin_token(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let login: Value = http
        .post(format!("{url}/v1/auth/login"))
        .json(&json!({"login": "bench", "password": "Bench-pass-123"}))
        .send()
        .await?
        .json()
        .await?;
    Ok(login["access_token"]
        .as_str()
        .context("admin token")?
        .to_owned())
}

/// A wearables department (steps, exercise and sleep) registered by `admin`, and its
/// client-credentials token. A department, so the figures stay those of judging: a commercial
/// partner's records would first need each resident's consent.
pub async fn wearables_token(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
) -> anyhow::Result<String> {
    let (id, secret) = wearables_partner(http, url, admin).await?;
    client_token(http, url, &id, &secret).await
}

/// [`wearables_token`]'s department, registered: its client id and secret.
pub async fn wearables_partner(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
) -> anyhow::Result<(String, String)> {
    let partner: Value = http
        .post(format!("{url}/v1/admin/partners"))
        .bearer_auth(admin)
        .json(
            &json!({"name": "Wearables feed", "department": "wearables", "kind": "department",
               "behaviours": ["steps.daily", "exercise.session", "sleep.healthy"],
               "scopes": ["behaviours:submit"]}),
        )
        .send()
        .await?
        .json()
        .await?;
    let field = |name: &str| {
        partner[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("partner {name}"))
    };
    Ok((field("client_id")?, field("client_secret")?))
}

/// A client-credentials access token (it lives at most an hour: a long run asks again).
pub async fn client_token(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    secret: &str,
) -> anyhow::Result<String> {
    let token: Value = http
        .post(format!("{url}/v1/auth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": id,
               "client_secret": secret}))
        .send()
        .await?
        .json()
        .await?;
    Ok(token["access_token"]
        .as_str()
        .context("partner token")?
        .to_owned())
}

/// Record `n` of a run, about `resident`, the `round`-th record sent about them: daily steps,
/// exercise or sleep on a day no earlier round used (within the 30-day window; after 28 days per
/// behaviour the caps say `capped`).
pub fn behaviour_record(n: u64, resident: &str, round: u64) -> Value {
    let (behaviour, quantity) = match round % 3 {
        0 => ("steps.daily", 10_000),
        1 => ("exercise.session", 45),
        _ => ("sleep.healthy", 450),
    };
    let days_back = 1 + (round / 3) % 28;
    let at = chrono::Utc::now() - chrono::Duration::days(i64::try_from(days_back).unwrap_or(1));
    json!({
        "record_id": format!("bench-{n}"),
        "resident_id": resident,
        "behaviour": behaviour,
        "occurred_at": at.to_rfc3339(),
        "quantity": quantity,
    })
}

/// What a partner's requests of records were answered: records, each request's latency, the
/// outcomes by kind and the points they reported.
#[derive(Debug, Default)]
pub struct Tally {
    pub records: u64,
    pub latencies: Vec<Duration>,
    pub outcomes: std::collections::BTreeMap<String, u64>,
    pub points: u64,
}

impl Tally {
    /// Adds another connection's tally.
    pub fn add(&mut self, other: Tally) {
        self.records += other.records;
        self.latencies.extend(other.latencies);
        self.points += other.points;
        for (k, v) in other.outcomes {
            *self.outcomes.entry(k).or_default() += v;
        }
    }
}

/// Sends `records` in one `POST /v1/partner/behaviours` as the partner holding `token`, and
/// counts the answer into `tally`; anything but a success fails the run.
pub async fn send_records(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    records: &[Value],
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let began = std::time::Instant::now();
    let response = http
        .post(format!("{url}/v1/partner/behaviours"))
        .bearer_auth(token)
        .json(records)
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    anyhow::ensure!(
        status.is_success(),
        "the gateway answered {status}: {answer}"
    );
    tally.latencies.push(began.elapsed());
    for r in answer["results"].as_array().context("results")? {
        *tally
            .outcomes
            .entry(r["outcome"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
        tally.points += r["points"].as_u64().unwrap_or(0);
    }
    tally.records += records.len() as u64;
    Ok(())
}
