//! `ledger-bench`: transfers per second through the ledger's gRPC API on PostgreSQL, printed
//! beside a reference the caller measured on the same server (`pgbench -N` transactions per
//! second) — see `bench/ledger.sh`, which starts the server and runs both.
//!
//! Phases: single-transfer requests with 1, 2 and 8 concurrent clients; batches of 100 and
//! 1,000 transfers; the latency of one transfer (p50/p99, from the one-client phase). Afterwards
//! the journal is verified and the book's issued total is checked against what was sent.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::Parser;
use healthpoints::plan::{MeshPlan, Node, borrowed};
use healthpoints_grpc::{
    Host, Shutdown,
    client::{GrpcClientConfig, PeerChannel},
};
use healthpoints_identity::{config::IdentityConfig, service::Identity};
use healthpoints_integration_tests::bench::BenchArgs;
use healthpoints_ledger::{config::LedgerConfig, service::Ledger};
use healthpoints_proto::{
    identity::v1::{self as idpb, identity_service_client::IdentityServiceClient},
    ledger::v1::{self as pb, ledger_service_client::LedgerServiceClient},
};
use healthpoints_testkit::TestDatabase;
use uuid::Uuid;

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    common: BenchArgs,
    /// Concurrent clients in the batch phases (enough to keep a next group queued while one
    /// commits).
    #[arg(long, default_value_t = 16)]
    batch_clients: usize,
    /// Resident accounts the awards are spread over.
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Skip the single-transfer phases (to study the batch path alone).
    #[arg(long)]
    batches_only: bool,
}

use healthpoints_testkit::bearer;

struct Target {
    ledger: LedgerServiceClient<PeerChannel>,
    token: Arc<str>,
    issuance: String,
    residents: Arc<Vec<String>>,
}

fn award(t: &Target, n: usize) -> pb::Transfer {
    pb::Transfer {
        id: Uuid::now_v7().to_string(),
        debit_account_id: t.issuance.clone(),
        credit_account_id: t.residents[n % t.residents.len()].clone(),
        amount: 1,
        kind: pb::TransferKind::Award as i32,
        metadata: Some(pb::TransferMetadata {
            reason: "benchmark".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

struct PhaseResult {
    transfers: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// `clients` loops sending batches of `batch` awards for `seconds`.
async fn phase(
    t: &Target,
    clients: usize,
    batch: usize,
    seconds: u64,
) -> anyhow::Result<PhaseResult> {
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let mut handles = Vec::new();
    for c in 0..clients {
        let target = Target {
            ledger: t.ledger.clone(),
            token: t.token.clone(),
            issuance: t.issuance.clone(),
            residents: t.residents.clone(),
        };
        handles.push(tokio::spawn(async move {
            let mut sent = 0u64;
            let mut latencies = Vec::new();
            let mut n = c * 7919;
            while Instant::now() < until {
                let transfers: Vec<_> = (0..batch).map(|i| award(&target, n + i)).collect();
                n += batch;
                let began = Instant::now();
                let response = target
                    .ledger
                    .clone()
                    .create_transfers(bearer(
                        pb::CreateTransfersRequest {
                            transfers,
                            linked: false,
                        },
                        &target.token,
                    ))
                    .await?
                    .into_inner();
                latencies.push(began.elapsed());
                let ok = response
                    .results
                    .iter()
                    .filter(|r| r.result == pb::CreateTransferResult::Ok as i32)
                    .count();
                anyhow::ensure!(
                    ok == batch,
                    "a benchmark transfer was refused: {:?}",
                    response.results.first()
                );
                sent += batch as u64;
            }
            anyhow::Ok((sent, latencies))
        }));
    }
    let mut result = PhaseResult {
        transfers: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for h in handles {
        let (sent, latencies) = h.await??;
        result.transfers += sent;
        result.latencies.extend(latencies);
    }
    result.elapsed = start.elapsed();
    Ok(result)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = healthpoints_db::private::tempdir()?;

    // Identity and the ledger as the mesh's plan describes them: identity on its own SQLite
    // (it is not what is measured), the ledger on a fresh PostgreSQL database. The bench acts
    // as intake, the service that awards points, with intake's credentials from the plan.
    let db = TestDatabase::postgres(&args.common.database_url, "bench").await;
    let mut plan = MeshPlan::pilot();
    plan.set_database(
        Node::Identity,
        format!("sqlite://{}", dir.path().join("identity.db").display()),
    );
    plan.set_database(Node::Ledger, db.config.url.clone());
    let mut overrides = plan.config(Node::Identity);
    overrides.push((
        "secrets.master_key_file".into(),
        dir.path().join("identity.key").display().to_string(),
    ));
    let identity =
        Host::<Identity>::build(IdentityConfig::load(None, &borrowed(&overrides))?).await?;
    plan.set_address(Node::Identity, identity.local_addr());
    let stop = Shutdown::new();
    tokio::spawn(identity.run_until_stopped(stop.clone()));

    let mut config = LedgerConfig::load(None, &borrowed(&plan.config(Node::Ledger)))?;
    config.database = db.config.clone();
    config.database.max_connections = 16;
    config.sweeper.interval_ms = 60_000;
    let ledger_app = Host::<Ledger>::build(config).await?;
    plan.set_address(Node::Ledger, ledger_app.local_addr());
    let ledger_endpoint = plan.endpoint(Node::Ledger);
    tokio::spawn(ledger_app.run_until_stopped(stop.clone()));
    for (node, service) in [
        (Node::Identity, healthpoints_identity::GRPC_SERVICE),
        (Node::Ledger, healthpoints_ledger::GRPC_SERVICE),
    ] {
        healthpoints_grpc::health::wait_until_serving(
            &plan.endpoint(node),
            service,
            Duration::from_secs(60),
        )
        .await
        .map_err(anyhow::Error::msg)?;
    }
    let (client_id, client_secret) = plan
        .credentials(Node::Intake)
        .context("the plan gives intake no credentials")?;
    let mut id_client = IdentityServiceClient::new(healthpoints_grpc::client::connect(
        &GrpcClientConfig::new(plan.endpoint(Node::Identity)),
    )?);
    let token: Arc<str> = id_client
        .issue_client_token(idpb::IssueClientTokenRequest {
            client_id,
            client_secret,
            client_address: String::new(),
            scopes: Vec::new(),
        })
        .await?
        .into_inner()
        .tokens
        .context("tokens")?
        .access_token
        .into();

    let mut peer = GrpcClientConfig::new(ledger_endpoint);
    peer.request_timeout_ms = 60_000;
    let mut ledger = LedgerServiceClient::new(healthpoints_grpc::client::connect(&peer)?)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);

    let spec = |kind: pb::AccountKind, owner: String| pb::AccountSpec {
        book: "city".into(),
        kind: kind as i32,
        owner_id: owner,
    };
    let issuance = ledger
        .open_accounts(bearer(
            pb::OpenAccountsRequest {
                accounts: vec![spec(pb::AccountKind::Issuance, String::new())],
            },
            &token,
        ))
        .await?
        .into_inner()
        .accounts
        .remove(0)
        .id;
    let mut residents = Vec::with_capacity(args.accounts);
    while residents.len() < args.accounts {
        let n = (args.accounts - residents.len()).min(2_000);
        let specs = (0..n)
            .map(|_| spec(pb::AccountKind::Resident, Uuid::now_v7().to_string()))
            .collect();
        let opened = ledger
            .open_accounts(bearer(pb::OpenAccountsRequest { accounts: specs }, &token))
            .await?
            .into_inner()
            .accounts;
        residents.extend(opened.into_iter().map(|a| a.id));
    }
    let target = Target {
        ledger: ledger.clone(),
        token: token.clone(),
        issuance,
        residents: Arc::new(residents),
    };

    println!(
        "ledger benchmark: gRPC on loopback, PostgreSQL, {} resident accounts, {} s per phase",
        args.accounts, args.common.seconds
    );
    println!(
        "reference: {} = {:.0} tx/s on the same server",
        args.common.reference_name, args.common.reference_tps
    );
    println!();
    println!(
        "{:<34} {:>12} {:>10} {:>10} {:>10}",
        "phase", "transfers/s", "x ref", "p50 ms", "p99 ms"
    );
    let mut total = 0u64;
    let mut single_latency = None;
    let bc = args.batch_clients;
    for (name, clients, batch) in [
        ("1 transfer/request, 1 client".to_owned(), 1, 1),
        ("1 transfer/request, 2 clients".to_owned(), 2, 1),
        ("1 transfer/request, 8 clients".to_owned(), 8, 1),
        (format!("batch of 100, {bc} clients"), bc, 100),
        (format!("batch of 1000, {bc} clients"), bc, 1_000),
    ] {
        if args.batches_only && batch == 1 {
            continue;
        }
        let mut r = phase(&target, clients, batch, args.common.seconds).await?;
        total += r.transfers;
        r.latencies.sort();
        let rate = r.transfers as f64 / r.elapsed.as_secs_f64();
        let (p50, p99) = (
            percentile(&r.latencies, 0.50),
            percentile(&r.latencies, 0.99),
        );
        if clients == 1 && batch == 1 {
            single_latency = Some((p50, p99));
        }
        println!(
            "{name:<34} {rate:>12.0} {:>10.2} {:>10.2} {:>10.2}",
            rate / args.common.reference_tps,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    if let Some((p50, p99)) = single_latency {
        println!();
        println!(
            "latency of one transfer (1 client): p50 {:.2} ms, p99 {:.2} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }

    // The figures are only worth something if the ledger stayed right.
    let stats = ledger
        .get_book_statistics(bearer(
            pb::GetBookStatisticsRequest {
                book: "city".into(),
                ..Default::default()
            },
            &token,
        ))
        .await?
        .into_inner();
    // The journal, verified in ranges (each call checks at most the server's maximum).
    let (mut after_sequence, mut after_hash, mut intact) = (0, String::new(), true);
    loop {
        let r = ledger
            .verify_journal(bearer(
                pb::VerifyJournalRequest {
                    book: "city".into(),
                    after_sequence,
                    after_hash: after_hash.clone(),
                    max_entries: 0,
                },
                &token,
            ))
            .await?
            .into_inner();
        intact &= r.intact;
        (after_sequence, after_hash) = (r.last_sequence, r.last_hash);
        if r.complete || !r.intact {
            break;
        }
    }
    println!(
        "check: {} transfers sent, book issued {}, journal {} ({} entries)",
        total,
        stats.issued,
        if intact { "intact" } else { "BROKEN" },
        after_sequence
    );
    anyhow::ensure!(
        stats.issued == total && intact && after_sequence == total,
        "the ledger's books do not match what was sent"
    );
    stop.trigger();
    Ok(())
}
