//! `mall-bench`: orders per second through the gateway — resident HTTP → gateway → city mall →
//! identity and ledger — with the mall and the ledger on fresh PostgreSQL databases, printed
//! beside a reference measured on the same server (`pgbench -N`); see `bench/mall.sh`.
//!
//! Phases: every client orders the same hot product (all orders contend for one stock row),
//! then orders spread over 100 products. Each order reserves points (a pending ledger transfer)
//! and a unit of stock and issues a voucher. Afterwards the stock taken is checked against the
//! orders placed (zero oversell) and against the mall's own count.

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
    BenchArgs, percentile, register_residents, start_mesh,
};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    common: BenchArgs,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Residents placing the orders (logins are rate-limited per address: at most 25).
    #[arg(long, default_value_t = 24)]
    residents: u32,
}

const STOCK: u64 = 1_000_000;

struct Phase {
    orders: u64,
    refused: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

#[derive(Clone)]
struct Shop {
    http: reqwest::Client,
    url: String,
    tokens: Arc<Vec<String>>,
    next: Arc<AtomicU64>,
}

async fn phase(
    shop: &Shop,
    products: &[String],
    clients: usize,
    seconds: u64,
) -> anyhow::Result<Phase> {
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let mut handles = Vec::new();
    for _ in 0..clients {
        let shop = shop.clone();
        let products = products.to_vec();
        handles.push(tokio::spawn(async move {
            let mut p = Phase {
                orders: 0,
                refused: 0,
                elapsed: Duration::ZERO,
                latencies: Vec::new(),
            };
            while Instant::now() < until {
                let n = shop.next.fetch_add(1, Ordering::SeqCst);
                let token = &shop.tokens[(n % shop.tokens.len() as u64) as usize];
                let product = &products[(n.wrapping_mul(7919) % products.len() as u64) as usize];
                let began = Instant::now();
                let response = shop
                    .http
                    .post(format!("{}/v1/malls/city/orders", shop.url))
                    .bearer_auth(token)
                    .header("Idempotency-Key", format!("bench-{n}"))
                    .json(&json!({"product_id": product}))
                    .send()
                    .await?;
                let status = response.status();
                let body: Value = response.json().await?;
                p.latencies.push(began.elapsed());
                match status.as_u16() {
                    201 => p.orders += 1,
                    422 => p.refused += 1,
                    _ => anyhow::bail!("the gateway answered {status}: {body}"),
                }
            }
            anyhow::Ok(p)
        }));
    }
    let mut total = Phase {
        orders: 0,
        refused: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for h in handles {
        let p = h.await??;
        total.orders += p.orders;
        total.refused += p.refused;
        total.latencies.extend(p.latencies);
    }
    total.elapsed = start.elapsed();
    total.latencies.sort();
    Ok(total)
}

async fn send(request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{what}: {status} {body}");
    Ok(body)
}

fn token(body: &Value) -> anyhow::Result<String> {
    Ok(body["access_token"]
        .as_str()
        .context("access_token")?
        .to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let running = start_mesh(&args.common.database_url, &["ledger", "city-mall"]).await?;
    let url = running.mesh.url();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build()?;
    let post = |path: &str| http.post(format!("{url}{path}"));
    let admin = token(
        &send(
            post("/v1/auth/login").json(&json!({"login": "bench", "password": "Bench-pass-123"})),
            "admin login",
        )
        .await?,
    )?;
    let merchant = send(
        post("/v1/admin/malls/city/merchants")
            .bearer_auth(&admin)
            .json(&json!({"name": "Bench Pharmacy", "licence_no": "BENCH-1", "contact": "021"})),
        "admission",
    )
    .await?;
    send(
        post("/v1/admin/staff").bearer_auth(&admin).json(&json!({
            "username": "bench-shop", "password": "Merchant-pass-1", "role": "merchant_operator",
            "merchant_id": merchant["merchant_id"], "mall": "city"})),
        "operator",
    )
    .await?;
    let operator = token(
        &send(
            post("/v1/auth/login")
                .json(&json!({"login": "bench-shop", "password": "Merchant-pass-1"})),
            "operator login",
        )
        .await?,
    )?;
    let mut products = Vec::new();
    for i in 0..101 {
        let p = send(
            post("/v1/merchant/products")
                .bearer_auth(&operator)
                .json(&json!({
                "title": format!("Product {i}"), "category": "health_product",
                "price_points": 1, "stock": STOCK})),
            "product",
        )
        .await?;
        products.push(p["product_id"].as_str().context("product_id")?.to_owned());
    }
    let hot = vec![products[0].clone()];
    let many = products[1..].to_vec();

    eprintln!("registering {} residents …", args.residents);
    let residents = register_residents(&http, &url, args.residents).await?;
    let month = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m")
        .to_string();
    let mut tokens = Vec::new();
    for (id, phone) in &residents {
        send(
            post("/v1/admin/honours").bearer_auth(&admin).json(&json!({
                "resident_id": id, "honour": "bench", "period": month, "points": 10_000,
                "citation": "benchmark points"})),
            "points",
        )
        .await?;
        tokens.push(token(
            &send(
                post("/v1/auth/login")
                    .json(&json!({"login": phone, "password": "Resident-pass-1"})),
                "resident login",
            )
            .await?,
        )?);
    }
    let shop = Shop {
        http: http.clone(),
        url: url.clone(),
        tokens: Arc::new(tokens),
        next: Arc::new(AtomicU64::new(0)),
    };

    println!(
        "reference: {} = {:.0} tps (same PostgreSQL server)",
        args.common.reference_name, args.common.reference_tps
    );
    println!(
        "{:<36} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "phase", "orders", "orders/s", "× ref", "p50 ms", "p99 ms"
    );
    let mut placed = 0;
    for (name, products) in [
        (format!("one hot product, {} clients", args.clients), &hot),
        (format!("100 products, {} clients", args.clients), &many),
    ] {
        let p = phase(&shop, products, args.clients, args.common.seconds).await?;
        anyhow::ensure!(p.refused == 0, "{} orders were refused", p.refused);
        placed += p.orders;
        let rate = p.orders as f64 / p.elapsed.as_secs_f64();
        println!(
            "{:<36} {:>8} {:>9.0} {:>9.3} {:>9.1} {:>9.1}",
            name,
            p.orders,
            rate,
            rate / args.common.reference_tps,
            percentile(&p.latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&p.latencies, 0.99).as_secs_f64() * 1e3,
        );
    }

    // Zero oversell: every unit taken is one order, and the mall counts the same orders.
    let mut taken = 0;
    let mut cursor = String::new();
    loop {
        let page = send(
            http.get(format!(
                "{url}/v1/merchant/products?page_size=500&cursor={cursor}"
            ))
            .bearer_auth(&operator),
            "products",
        )
        .await?;
        for p in page["products"].as_array().context("products")? {
            taken += STOCK - p["stock"].as_u64().context("stock")?;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let stats = send(
        http.get(format!("{url}/v1/admin/malls/city/stats"))
            .bearer_auth(&admin),
        "stats",
    )
    .await?;
    let reserved = stats["orders_reserved"]
        .as_u64()
        .context("orders_reserved")?;
    println!(
        "check: {placed} orders placed; stock taken {taken}; the mall counts {reserved} reserved"
    );
    running.stop().await;
    anyhow::ensure!(
        placed == taken && placed == reserved,
        "orders, stock and the mall's count differ"
    );
    Ok(())
}
