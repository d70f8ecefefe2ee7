//! `mesh-demo` (`just demo`): starts the mesh as separate processes — identity, ledger, intake,
//! exchange, the city mall, the Qingpu and Yangpu malls and the gateway, each from its built
//! binary with its own port and database — runs the whole resident journey through the
//! gateway's HTTP API and prints what happened at each step. It exits 0 when every step did
//! what it should, 1 with the failing step's answer otherwise. Set `HP_TEST_DATABASE_URL`
//! (`postgres://…`) to give each service a fresh PostgreSQL database instead of SQLite.

use healthpoints_integration_tests::{journey, processes::ProcessMesh};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    println!("Starting the mesh as separate processes…");
    let mesh = ProcessMesh::start().await;
    for name in mesh.names() {
        println!(
            "  {name:<12} pid {}",
            mesh.pid(&name)
                .map_or_else(|| "-".into(), |p| p.to_string())
        );
    }
    println!("  gateway at {}", mesh.base);
    match journey::run(&mesh).await {
        Ok(report) => {
            println!(
                "Done: the resident earned {} city and {} Yangpu points; {} points were written off at a counter; every figure checked.",
                report.earned_city, report.earned_yangpu, report.written_off
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("The journey failed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
