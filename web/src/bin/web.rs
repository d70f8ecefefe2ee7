//! The web client as its own process.

use clap::Parser;
use healthpoints_config::ServiceArgs;
use healthpoints_web::{Application, config::WebConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ServiceArgs::parse();
    let config = WebConfig::load(args.config.as_deref(), &[])?;
    if args.dump_config {
        println!("{}", healthpoints_config::dump(&config));
        return Ok(());
    }
    let _telemetry = healthpoints_telemetry::init("web", &config.telemetry)?;
    let app = Application::build(config).await?;
    tracing::info!(url = %app.url(), "web client listening");
    app.run_until_stopped(healthpoints_grpc::Shutdown::on_signals())
        .await
}
