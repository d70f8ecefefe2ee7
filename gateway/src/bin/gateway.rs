//! The gateway as its own process.

use clap::Parser;
use healthpoints_config::ServiceArgs;
use healthpoints_gateway::{Application, config::GatewayConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ServiceArgs::parse();
    let config = GatewayConfig::load(args.config.as_deref(), &[])?;
    if args.dump_config {
        println!("{}", healthpoints_config::dump(&config));
        return Ok(());
    }
    let _telemetry = healthpoints_telemetry::init("gateway", &config.telemetry)?;
    let app = Application::build(config).await?;
    tracing::info!(addr = %app.local_addr(), "gateway listening");
    app.run_until_stopped(healthpoints_grpc::Shutdown::on_signals())
        .await
}
