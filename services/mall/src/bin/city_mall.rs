//! The city mall as its own process (municipal points).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    healthpoints_mall::main(false).await
}
