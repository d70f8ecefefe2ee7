//! The exchange as its own process.

use clap::Parser;
use healthpoints_config::ServiceArgs;
use healthpoints_exchange::{config::ExchangeConfig, grpc::LiveExchange};
use healthpoints_grpc::host::run_process;

#[derive(Debug, Parser)]
#[command(
    name = "exchange",
    about = "The healthpoints inter-department data exchange"
)]
struct Cli {
    #[command(flatten)]
    args: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = ExchangeConfig::load(cli.args.config.as_deref(), &[])?;
    run_process::<LiveExchange>(config, cli.args.dump_config).await
}
