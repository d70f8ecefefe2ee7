//! The exchange as its own process.

use clap::Parser;
use healthpoints_config::ServiceArgs;
use healthpoints_exchange::{Application, config::ExchangeConfig};

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
    if cli.args.dump_config {
        println!("{}", healthpoints_config::dump(&config));
        return Ok(());
    }
    let _telemetry = healthpoints_telemetry::init("exchange", &config.telemetry)?;
    let app = Application::build(config).await?;
    tracing::info!(addr = %app.local_addr(), "exchange listening");
    app.run_until_stopped(healthpoints_grpc::Shutdown::on_signals())
        .await
}
