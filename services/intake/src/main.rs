//! Intake as its own process.

use clap::Parser;
use healthpoints_config::ServiceArgs;
use healthpoints_grpc::host::run_process;
use healthpoints_intake::{config::IntakeConfig, grpc::LiveIntake};

#[derive(Debug, Parser)]
#[command(name = "intake", about = "The healthpoints behaviour intake")]
struct Cli {
    #[command(flatten)]
    args: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = IntakeConfig::load(cli.args.config.as_deref(), &[])?;
    run_process::<LiveIntake>(config, cli.args.dump_config).await
}
