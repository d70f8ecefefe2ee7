//! `web-bench`: how long the web client takes to answer its main pages, end to end (browser
//! HTTP → web client → gateway → services, every service on fresh PostgreSQL databases), and
//! how heavy each page is; see `bench/web.sh`.
//!
//! Each page is asked for by one client, one request after another, for its share of the
//! phase (at most 2,000 times): p50 and p99. Then eight clients ask for the resident's home page
//! together: pages per second beside the reference measured on the same server. The weight of a
//! page is its HTML plus the stylesheet, the script and the icon a first visit fetches.
//! Afterwards the home page must show exactly the balance the API reports.

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use clap::Parser;
use healthpoints::demo::DEMO_PASSWORD;
use healthpoints_integration_tests::{
    bench::{BenchArgs, percentile, start_mesh},
    web_client::WebClient,
};
use healthpoints_web::config::WebConfig;

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    common: BenchArgs,
    /// Clients asking for the home page together in the throughput phase.
    #[arg(long, default_value_t = 8)]
    clients: usize,
}

const BENCH_ADMIN: (&str, &str) = ("bench", "Bench-pass-123");

/// Latencies of `path`, asked for again and again for `seconds` (at most 2,000 times).
async fn timed(
    web: &WebClient,
    path: &str,
    seconds: f64,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut latencies = Vec::new();
    let mut bytes = 0;
    while Instant::now() < until && latencies.len() < 2_000 {
        let started = Instant::now();
        let page = web.get(path).await;
        latencies.push(started.elapsed());
        ensure!(page.status == 200, "{path}: {}", page.status);
        bytes = page.body.len();
    }
    latencies.sort();
    Ok((latencies, bytes))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seconds = args.common.seconds as f64;
    let mesh = start_mesh(
        &args.common.database_url,
        &["identity", "ledger", "intake", "exchange", "city-mall"],
    )
    .await?;
    healthpoints::demo::seed(&mesh.mesh, BENCH_ADMIN).await?;
    let config = WebConfig::load(
        None,
        &[
            ("http.addr", "127.0.0.1:0".into()),
            ("gateway.url", mesh.mesh.url()),
            ("telemetry.log_filter", "warn".into()),
        ],
    )?;
    let app = healthpoints_web::Application::build(config).await?;
    let url = app.url().to_owned();
    let stop = healthpoints_grpc::Shutdown::new();
    let served = tokio::spawn(app.run_until_stopped(stop.clone()));

    // One order, so the orders and the voucher pages have something to show.
    let resident = WebClient::new(url.clone());
    ensure!(resident.sign_in("13900000001", DEMO_PASSWORD).await.status == 303);
    let mall = resident.get("/mall").await;
    let ordered = resident
        .post(
            "/mall/order",
            &[
                ("mall", &mall.input("mall").context("a mall")?),
                (
                    "product_id",
                    &mall.input("product_id").context("a product")?,
                ),
                ("key", &mall.input("key").context("a key")?),
            ],
        )
        .await;
    let voucher = ordered.location.context("the order's page")?;
    let counter = WebClient::new(url.clone());
    ensure!(counter.sign_in("shop-city-1", DEMO_PASSWORD).await.status == 303);
    let office = WebClient::new(url.clone());
    ensure!(office.sign_in(BENCH_ADMIN.0, BENCH_ADMIN.1).await.status == 303);

    let login = WebClient::new(url.clone());
    let first = login.get("/login").await;
    let mut assets = 0;
    for href in first.body.split("=\"/assets/").skip(1) {
        let name = href.split('"').next().unwrap_or_default();
        let asset = login.get(&format!("/assets/{name}")).await;
        ensure!(asset.status == 200, "/assets/{name}");
        assets += asset.body.len();
    }

    let pages: [(&str, &WebClient, &str); 8] = [
        ("sign-in", &login, "/login"),
        ("resident home", &resident, "/me"),
        ("history", &resident, "/me/history"),
        ("mall (routed)", &resident, "/mall"),
        ("my orders", &resident, "/orders"),
        ("voucher with QR", &resident, voucher.as_str()),
        ("counter", &counter, "/counter"),
        ("officials' dashboard", &office, "/office"),
    ];
    println!(
        "== one client, one page after another; weight = HTML + CSS + JS + icon ({assets} B of assets)"
    );
    println!("| page | requests | p50 ms | p99 ms | HTML kB | weight kB |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, client, path) in pages {
        let (latencies, bytes) = timed(client, path, seconds / 4.0).await?;
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            latencies.len(),
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            bytes as f64 / 1024.0,
            (bytes + assets) as f64 / 1024.0,
        );
    }

    // Eight residents' browsers at once on the home page.
    let mut homes = tokio::task::JoinSet::new();
    let started = Instant::now();
    for _ in 0..args.clients {
        let url = url.clone();
        homes.spawn(async move {
            let web = WebClient::new(url);
            web.sign_in("13900000002", DEMO_PASSWORD).await;
            timed(&web, "/me", seconds).await
        });
    }
    let mut all = Vec::new();
    while let Some(done) = homes.join_next().await {
        all.extend(done??.0);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let rate = all.len() as f64 / elapsed;
    println!(
        "\n== {} clients on the resident home page: {:.0} pages/s = {:.3}× {} ({:.0} tps); p50 {:.1} ms, p99 {:.1} ms",
        args.clients,
        rate,
        rate / args.common.reference_tps,
        args.common.reference_name,
        args.common.reference_tps,
        percentile(&all, 0.5).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
    );

    // The check: the home page shows the balance the API reports.
    let balances = {
        let http = reqwest::Client::new();
        let r: serde_json::Value = http
            .post(format!("{}/v1/auth/login", mesh.mesh.url()))
            .json(&serde_json::json!({"login": "13900000001", "password": DEMO_PASSWORD}))
            .send()
            .await?
            .json()
            .await?;
        let token = r["access_token"].as_str().context("a token")?.to_owned();
        let balances: serde_json::Value = http
            .get(format!("{}/v1/me/balances", mesh.mesh.url()))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        balances
    };
    let home = resident.get("/me").await;
    for b in balances["balances"].as_array().context("balances")? {
        let available = b["available"].as_u64().unwrap_or(0);
        if available == 0 {
            continue;
        }
        let shown = healthpoints_web::i18n::ZH.points_yuan(available);
        ensure!(
            home.body.contains(&shown),
            "the home page does not show {shown} for {}",
            b["book"]
        );
    }
    println!("check: the home page shows every balance the API reports: ok");
    stop.trigger();
    served.await??;
    mesh.stop().await;
    Ok(())
}
