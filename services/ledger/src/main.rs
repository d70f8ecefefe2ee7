//! The ledger as its own process, and the auditor's `verify-journal` command.

use clap::{Parser, Subcommand};
use healthpoints_config::ServiceArgs;
use healthpoints_ledger::{
    Application,
    config::LedgerConfig,
    domain::{journal::GENESIS, model::Checkpoint},
    service::verify,
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = LedgerConfig::load(cli.args.config.as_deref(), &[])?;
    if cli.args.dump_config {
        println!("{}", healthpoints_config::dump(&config));
        return Ok(());
    }
    let _telemetry = healthpoints_telemetry::init("ledger", &config.telemetry)?;
    match cli.command {
        Some(Command::VerifyJournal { book }) => {
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
        None => {
            let app = Application::build(config).await?;
            tracing::info!(addr = %app.local_addr(), "ledger listening");
            app.run_until_stopped(healthpoints_grpc::Shutdown::on_signals())
                .await
        }
    }
}
