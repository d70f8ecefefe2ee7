//! Intake as its own process.

use clap::Parser;
use healthpoints_config::ServiceArgs;
use healthpoints_intake::{Application, config::IntakeConfig};

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
    if cli.args.dump_config {
        println!("{}", healthpoints_config::dump(&config));
        return Ok(());
    }
    let _telemetry = healthpoints_telemetry::init("intake", &config.telemetry)?;
    let app = Application::build(config).await?;
    tracing::info!(addr = %app.local_addr(), "intake listening");
    app.run_until_stopped(healthpoints_grpc::Shutdown::on_signals())
        .await
}
