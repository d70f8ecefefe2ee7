//! `intake-bench`: behaviour events per second end to end — partner HTTP → gateway → exchange
//! → intake → ledger — with intake, the ledger and the exchange each on a fresh PostgreSQL
//! database, printed beside a reference the caller measured on the same server (`pgbench -N`);
//! see `bench/intake.sh`, which starts the server and runs both.
//!
//! Phases: requests of 1 record from 8 concurrent partners' connections, and batches of 500
//! from 4. Records are daily steps, exercise and sleep of registered residents on distinct days,
//! so most are awarded (and reach the ledger) and the rest capped. Afterwards the city book's
//! issued total is checked against the points the outcomes reported.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::Parser;
use healthpoints_integration_tests::bench::{
    BenchArgs, Tally, admin_token, behaviour_record, percentile, register_residents, send_records,
    start_mesh, wearables_token,
};
use serde_json::Value;

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    common: BenchArgs,
    /// Residents the records are about (a morning sync: each sends a few records).
    #[arg(long, default_value_t = 2_000)]
    residents: u32,
}

/// The n-th record of the run: a resident, a behaviour and a day no earlier record used.
fn record(n: u64, residents: &[String]) -> Value {
    let count = residents.len() as u64;
    behaviour_record(n, &residents[(n % count) as usize], n / count)
}

/// Where records go and what they are about; `next` numbers them across phases.
#[derive(Clone)]
struct Feed {
    http: reqwest::Client,
    url: String,
    token: String,
    residents: Arc<Vec<String>>,
    next: Arc<AtomicU64>,
}

/// One phase: `clients` connections send batches of `batch` for `seconds`; the tally and how
/// long it took.
async fn phase(
    feed: &Feed,
    clients: usize,
    batch: u64,
    seconds: u64,
) -> anyhow::Result<(Tally, Duration)> {
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let mut handles = Vec::new();
    for _ in 0..clients {
        let Feed {
            http,
            url,
            token,
            residents,
            next,
        } = feed.clone();
        handles.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < until {
                let first = next.fetch_add(batch, Ordering::SeqCst);
                let body: Vec<Value> = (first..first + batch)
                    .map(|n| record(n, &residents))
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let running = start_mesh(&args.common.database_url, &["ledger", "intake", "exchange"]).await?;
    let url = running.mesh.url();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let admin = admin_token(&http, &url).await?;
    let token = wearables_token(&http, &url, &admin).await?;

    eprintln!("registering {} residents …", args.residents);
    let residents: Vec<String> = register_residents(&http, &url, args.residents)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let feed = Feed {
        http: http.clone(),
        url: url.clone(),
        token,
        residents: Arc::new(residents),
        next: Arc::new(AtomicU64::new(0)),
    };

    println!(
        "reference: {} = {:.0} tps (same PostgreSQL server)",
        args.common.reference_name, args.common.reference_tps
    );
    println!(
        "{:<34} {:>10} {:>10} {:>9} {:>9} {:>9}  outcomes",
        "phase", "records", "records/s", "× ref", "p50 ms", "p99 ms"
    );
    let mut reported_points = 0;
    for (name, clients, batch) in [
        ("1 record/request, 8 clients", 8, 1),
        ("500 records/request, 4 clients", 4, 500),
    ] {
        let (p, elapsed) = phase(&feed, clients, batch, args.common.seconds).await?;
        reported_points += p.points;
        let rate = p.records as f64 / elapsed.as_secs_f64();
        println!(
            "{:<34} {:>10} {:>10.0} {:>9.3} {:>9.1} {:>9.1}  {:?}",
            name,
            p.records,
            rate,
            rate / args.common.reference_tps,
            percentile(&p.latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&p.latencies, 0.99).as_secs_f64() * 1e3,
            p.outcomes,
        );
    }

    // Every point an outcome reported was issued in the ledger's city book, once (all three
    // rules award municipal points).
    let stats: Value = http
        .get(format!("{url}/v1/admin/books/city/stats"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let ledger_points = stats["issued"].as_u64().context("issued")?;
    println!(
        "check: outcomes reported {reported_points} points; the ledger's city book issued {ledger_points}"
    );
    running.stop().await;
    anyhow::ensure!(
        reported_points == ledger_points,
        "points reported and issued differ"
    );
    Ok(())
}
