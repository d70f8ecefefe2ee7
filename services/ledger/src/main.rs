//! The ledger as its own process, the auditor's `verify-journal` command, and the operator's
//! `recount-figures`.

use clap::{Parser, Subcommand};
use healthpoints_config::ServiceArgs;
use healthpoints_grpc::host::run_process;
use healthpoints_ledger::{
    config::LedgerConfig,
    domain::{journal::GENESIS, model::Checkpoint},
    service::{Ledger, verify},
    store::{Migrator, Store},
};
use healthpoints_types::Book;

#[derive(Debug, Parser)]
#[command(name = "ledger", about = "The healthpoints points ledger")]
struct Cli {
    #[command(flatten)]
    args: ServiceArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Recompute a book's hash chain from the database and report the first broken link.
    /// Exits 1 when the journal is not intact.
    VerifyJournal {
        /// `city` or `district:<code>`.
        #[arg(long)]
        book: String,
    },
    /// Rewrite every book's running figures (issued, redeemed, refunded, expired, outstanding,
    /// resident accounts) from its transfers and accounts. Run with every ledger process
    /// stopped.
    RecountFigures,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = LedgerConfig::load(cli.args.config.as_deref(), &[])?;
    match cli.command {
        Some(Command::VerifyJournal { book }) if !cli.args.dump_config => {
            let _telemetry = healthpoints_telemetry::init("ledger", &config.telemetry)?;
            let book = Book::parse(&book).map_err(|e| anyhow::anyhow!("--book: {e}"))?;
            let store = Store::new(healthpoints_db::connect::<Migrator>(&config.database).await?);
            let start = Checkpoint {
                seq: 0,
                hash: GENESIS.to_owned(),
            };
            let report = verify(&store, book, start, u64::MAX).await?;
            match report.first_broken_seq {
                None => println!("{book}: intact ({} entries)", report.entries_checked),
                Some(seq) => {
                    println!(
                        "{book}: BROKEN at entry {seq}: {} ({} entries checked)",
                        report.detail, report.entries_checked
                    );
                    std::process::exit(1);
                }
            }
            Ok(())
        }
        Some(Command::RecountFigures) if !cli.args.dump_config => {
            let _telemetry = healthpoints_telemetry::init("ledger", &config.telemetry)?;
            let store = Store::new(healthpoints_db::connect::<Migrator>(&config.database).await?);
            store.recount_figures().await?;
            println!("every book's figures recounted");
            Ok(())
        }
        // Serving, or --dump-config with or without a subcommand.
        _ => run_process::<Ledger>(config, cli.args.dump_config).await,
    }
}
