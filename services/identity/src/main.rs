//! The identity service as its own process.

use clap::Parser;
use healthpoints_config::ServiceArgs;
use healthpoints_grpc::host::run_process;
use healthpoints_identity::{config::IdentityConfig, service::Identity};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ServiceArgs::parse();
    let config = IdentityConfig::load(args.config.as_deref(), &[])?;
    run_process::<Identity>(config, args.dump_config).await
}
