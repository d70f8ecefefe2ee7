//! `scale-bench`: the city at scale. Imports `--residents N` residents and an opening balance
//! each through the admin import API (identity, the ledger, intake and the exchange on fresh
//! PostgreSQL databases of one server), then runs a wearable morning sync of `--records M` step,
//! exercise and sleep records spread over them through the partner API (gateway → exchange →
//! intake → ledger), printed beside a reference the caller measured on the same server
//! (`pgbench -N`); see `bench/scale.sh`, which starts the server and runs both.
//!
//! Figures: residents/s and balances/s imported, each database's size (and per million
//! residents), sync records/s with p50/p99 per request. Checks: every resident and balance was
//! imported; the city book's `migrated` is the balances' sum; the points the sync's outcomes
//! reported are the points the book issued.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures::StreamExt as _;
use healthpoints_integration_tests::{
    bench::{
        BenchArgs, Tally, admin_token, behaviour_record, client_token, percentile, send_records,
        start_mesh, wearables_partner,
    },
    id_number,
};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    common: BenchArgs,
    /// Residents imported before the sync.
    #[arg(long, default_value_t = 100_000)]
    residents: u64,
    /// Opening balances imported, one each for the first residents (default: every resident).
    #[arg(long)]
    balances: Option<u64>,
    /// Records of the morning sync, spread evenly over the residents.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Partners' connections sending at once.
    #[arg(long, default_value_t = 4)]
    clients: u64,
    /// Records per request.
    #[arg(long, default_value_t = 500)]
    batch: u64,
    /// The sync stops after this many minutes whatever it has sent (and says so).
    #[arg(long, default_value_t = 60)]
    max_minutes: u64,
}

/// Lines of the import files generated per chunk of the streamed body.
const CHUNK: u64 = 1_000;
/// The pilot districts, which the mesh enrols.
const DISTRICTS: [&str; 2] = ["310118", "310110"];

/// Resident `i`'s ID number: unique for `i` below 2 × 1,000 × 36,500.
fn resident_id_number(i: u64) -> String {
    let district = DISTRICTS[(i % 2) as usize];
    let k = i / 2;
    let born = chrono::NaiveDate::from_ymd_opt(1930, 1, 1).unwrap_or_default()
        + chrono::Days::new(k / 1_000);
    id_number(
        district,
        &born.format("%Y%m%d").to_string(),
        u32::try_from(k % 1_000).unwrap_or_default(),
    )
}

fn resident_line(i: u64) -> Value {
    json!({"name": "居民", "id_number": resident_id_number(i), "phone": format!("13{i:09}"),
        "residence_district": DISTRICTS[(i % 2) as usize], "residence_type": "registered"})
}

/// Resident `i`'s opening balance in the city book.
fn balance_points(i: u64) -> u64 {
    100 + i % 900
}

fn balance_line(i: u64) -> Value {
    json!({"record_id": format!("hc-{i}"), "id_number": resident_id_number(i), "book": "city",
        "points": balance_points(i)})
}

/// Lines per import request. The gateway hands identity and the ledger the admin's own token
/// batch by batch, so one request must end before that token does (15 minutes by default):
/// the import goes as parts, each with a fresh login, as an operator would resume it.
const PART: u64 = 1_000_000;

/// Streams `n` lines made by `line` to `/v1/admin/imports/{what}` as NDJSON, in parts of
/// [`PART`], and reads the answers as they come; the resident id of each line where the answer
/// gives one, and how long it took. Any refused line, or a part that stops early, fails the run.
async fn import(
    http: &reqwest::Client,
    url: &str,
    what: &str,
    n: u64,
    line: fn(u64) -> Value,
) -> anyhow::Result<(Vec<Uuid>, Duration)> {
    let start = Instant::now();
    let mut ids = Vec::with_capacity(usize::try_from(n).unwrap_or_default());
    for first in (0..n).step_by(PART as usize) {
        let admin = admin_token(http, url).await?;
        let last = (first + PART).min(n);
        ids.extend(import_part(http, url, &admin, what, first..last, line).await?);
    }
    Ok((ids, start.elapsed()))
}

/// One request of [`import`]: the lines `range`.
async fn import_part(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    what: &str,
    range: std::ops::Range<u64>,
    line: fn(u64) -> Value,
) -> anyhow::Result<Vec<Uuid>> {
    let (first_line, n) = (range.start, range.end - range.start);
    let chunks = futures::stream::iter(range.clone().step_by(CHUNK as usize)).map(move |first| {
        let mut text = String::new();
        for i in first..(first + CHUNK).min(range.end) {
            text.push_str(&line(i).to_string());
            text.push('\n');
        }
        Ok::<_, std::io::Error>(text)
    });
    let mut response = http
        .post(format!("{url}/v1/admin/imports/{what}"))
        .bearer_auth(admin)
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "the import from line {first_line} answered {}",
        response.status()
    );
    let mut ids = Vec::with_capacity(usize::try_from(n).unwrap_or_default());
    let mut pending = Vec::new();
    let mut summary = None;
    while let Some(chunk) = response.chunk().await? {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let text: Vec<u8> = pending.drain(..=end).collect();
            let answer: Value = serde_json::from_slice(&text)?;
            if answer.get("line").is_none() {
                summary = Some(answer);
                continue;
            }
            if answer["outcome"] == "refused" {
                bail!("{what}: line {} refused: {answer}", answer["line"]);
            }
            if let Some(id) = answer["resident_id"].as_str() {
                ids.push(Uuid::parse_str(id)?);
            }
        }
    }
    let summary = summary.context("the import ended without its summary")?;
    anyhow::ensure!(
        summary["done"] == true && summary["lines"].as_u64() == Some(n),
        "{what}: the import from line {first_line} stopped: {summary}"
    );
    Ok(ids)
}

/// How long a sync connection uses one access token before asking for another (tokens live 15
/// minutes by default; a sync of 10 million records takes longer).
const TOKEN_RENEWAL: Duration = Duration::from_secs(600);

/// The morning sync: `clients` connections send batches until `records` are sent or the time
/// is up. Each renews its client-credentials token as a partner's client would.
async fn sync(
    http: &reqwest::Client,
    url: &str,
    partner: &(String, String),
    residents: Arc<Vec<String>>,
    args: &Args,
) -> anyhow::Result<(Tally, Duration)> {
    let start = Instant::now();
    let until = start + Duration::from_secs(args.max_minutes * 60);
    let next = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..args.clients {
        let (http, url, (id, secret), residents, next) = (
            http.clone(),
            url.to_owned(),
            partner.clone(),
            residents.clone(),
            next.clone(),
        );
        let (total, batch) = (args.records, args.batch);
        handles.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let count = residents.len() as u64;
            let (mut token, mut renewed) = (String::new(), None::<Instant>);
            while Instant::now() < until {
                if renewed.is_none_or(|at| at.elapsed() > TOKEN_RENEWAL) {
                    token = client_token(&http, &url, &id, &secret).await?;
                    renewed = Some(Instant::now());
                }
                let first = next.fetch_add(batch, Ordering::SeqCst);
                if first >= total {
                    break;
                }
                let body: Vec<Value> = (first..(first + batch).min(total))
                    .map(|n| behaviour_record(n, &residents[(n % count) as usize], n / count))
                    .collect();
                send_records(&http, &url, &token, &body, &mut tally).await?;
            }
            anyhow::Ok(tally)
        }));
    }
    let mut total = Tally::default();
    for h in handles {
        total.add(h.await??);
    }
    total.latencies.sort();
    Ok((total, start.elapsed()))
}

/// Each database's size, and per million residents.
async fn print_sizes(
    running: &healthpoints_integration_tests::bench::BenchMesh,
    when: &str,
    residents: u64,
) -> anyhow::Result<()> {
    for (service, bytes) in running.database_sizes().await? {
        let mb = bytes as f64 / 1e6;
        println!(
            "database {service} {when}: {mb:.0} MB ({:.0} MB per million residents)",
            mb * 1e6 / residents as f64
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.residents > 0 && args.residents <= 2 * 1_000 * 36_500,
        "--residents must be 1 to 73,000,000"
    );
    anyhow::ensure!(
        args.clients > 0 && args.batch > 0,
        "--clients and --batch must be at least 1"
    );
    let running = start_mesh(
        &args.common.database_url,
        &["identity", "ledger", "intake", "exchange"],
    )
    .await?;
    let url = running.mesh.url();
    // No deadline on a whole request: importing 25 million residents is one request of about
    // an hour, streamed both ways. Ten minutes without a byte still ends it.
    let http = reqwest::Client::builder()
        .read_timeout(Duration::from_secs(600))
        .build()?;
    let mut admin = admin_token(&http, &url).await?;
    let partner = wearables_partner(&http, &url, &admin).await?;
    let ref_tps = args.common.reference_tps;
    println!(
        "reference: {} = {ref_tps:.0} tps (same PostgreSQL server)",
        args.common.reference_name
    );

    let n = args.residents;
    eprintln!("importing {n} residents …");
    let (ids, took) = import(&http, &url, "residents", n, resident_line).await?;
    anyhow::ensure!(ids.len() as u64 == n, "a resident id per line");
    let rate = n as f64 / took.as_secs_f64();
    println!(
        "import residents: {n} in {:.1} s = {rate:.0}/s ({:.3}× ref)",
        took.as_secs_f64(),
        rate / ref_tps
    );
    let b = args.balances.unwrap_or(n).min(n);
    if b > 0 {
        eprintln!("importing {b} opening balances …");
        let (_, took) = import(&http, &url, "balances", b, balance_line).await?;
        let rate = b as f64 / took.as_secs_f64();
        println!(
            "import balances: {b} in {:.1} s = {rate:.0}/s ({:.3}× ref)",
            took.as_secs_f64(),
            rate / ref_tps
        );
    }
    print_sizes(&running, "after the import", n).await?;

    eprintln!("morning sync of {} records …", args.records);
    let residents = Arc::new(ids.iter().map(Uuid::to_string).collect::<Vec<_>>());
    drop(ids);
    let (s, took) = sync(&http, &url, &partner, residents, &args).await?;
    let rate = s.records as f64 / took.as_secs_f64();
    println!(
        "sync ({} clients × {} records/request): {} records in {:.1} s = {rate:.0}/s ({:.3}× ref), p50 {:.1} ms, p99 {:.1} ms  {:?}",
        args.clients,
        args.batch,
        s.records,
        took.as_secs_f64(),
        rate / ref_tps,
        percentile(&s.latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&s.latencies, 0.99).as_secs_f64() * 1e3,
        s.outcomes,
    );
    if s.records < args.records {
        println!(
            "the sync stopped after {} minutes with {} of {} records sent",
            args.max_minutes, s.records, args.records
        );
    }

    admin = admin_token(&http, &url).await?;
    let began = Instant::now();
    let stats: Value = http
        .get(format!("{url}/v1/admin/books/city/stats"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let stats_ms = began.elapsed().as_secs_f64() * 1e3;
    let issued = stats["issued"].as_u64().context("issued")?;
    let migrated = stats["migrated"].as_u64().context("migrated")?;
    print_sizes(&running, "after the sync", n).await?;
    let balances: u64 = (0..b).map(balance_points).sum();
    println!(
        "check: balances {balances} points, the city book migrated {migrated}; outcomes reported {} points, the book issued {issued} (book statistics read in {stats_ms:.0} ms)",
        s.points
    );
    running.stop().await;
    anyhow::ensure!(
        migrated == balances,
        "balances imported and migrated differ"
    );
    anyhow::ensure!(s.points == issued, "points reported and issued differ");
    Ok(())
}
