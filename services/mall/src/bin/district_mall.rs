//! A district mall as its own process: `HP_MALL__MALL=<district code>`, its own database and
//! its own service credentials.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    healthpoints_mall::main(true).await
}
