//! `healthpoints`: the operator's command. `healthpoints up` runs the whole mesh in one process
//! on the embedded default (SQLite under `./data`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use healthpoints_gateway::mesh::{self, MeshOptions};
use healthpoints_telemetry::TelemetryConfig;

#[derive(Debug, Parser)]
#[command(name = "healthpoints", about = "The city health points programme")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start every service and the gateway in this process.
    Up {
        /// Where each service keeps its SQLite database.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// The gateway's HTTP address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http_addr: String,
        /// `username:password` of the first city admin, created if none exists.
        #[arg(long, env = "HP_BOOTSTRAP_ADMIN", hide_env_values = true)]
        bootstrap_admin: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up {
            data_dir,
            http_addr,
            bootstrap_admin,
        } => {
            let _telemetry =
                healthpoints_telemetry::init("healthpoints", &TelemetryConfig::default())?;
            let shutdown = healthpoints_grpc::Shutdown::on_signals();
            let running = mesh::start(MeshOptions {
                data_dir,
                http_addr,
                bootstrap_admin,
                database_urls: Default::default(),
            })
            .await?;
            println!("healthpoints is up: {}", running.url());
            println!("  API description: {}/openapi.json", running.url());
            println!("  stop with Ctrl-C");
            running.run_until(shutdown).await;
            Ok(())
        }
    }
}
