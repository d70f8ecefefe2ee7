use healthpoints::plan::Node;
use healthpoints_integration_tests::{invariants, processes::ProcessMesh};
use healthpoints_types::MallId;

use crate::support::{Load, World, verify};

/// Two replicas each of the gateway (behind a TCP balancer), intake, the ledger and the city
/// mall, on the same databases, under a steady load: a partner sending steps in batches and
/// residents ordering in the city mall, both retrying as real clients do. One replica of each
/// gets `kill -9` in turn and stays down while the load goes on through the other; then all
/// come back, as Kubernetes would restart them. Clients see only retryable failures (anything
/// else fails the test where it is answered); afterwards every record is answered once and the
/// same on a resend, every acknowledged order is there once, the stock taken equals the
/// orders, and every invariant holds. Runs in the PostgreSQL pass (`HP_TEST_DATABASE_URL`
/// set): replicas share a database server; SQLite, the embedded default, is one process's.
#[tokio::test]
async fn one_replica_of_each_killed_under_load_loses_and_doubles_nothing() {
    if std::env::var("HP_TEST_DATABASE_URL").is_err() {
        println!("replicas: PostgreSQL pass only (HP_TEST_DATABASE_URL is not set)");
        return;
    }
    let replicated = [
        Node::Gateway,
        Node::Intake,
        Node::Ledger,
        Node::Mall(MallId::City),
    ];
    let mut mesh = ProcessMesh::start_replicated(&replicated).await;
    let world = World::build_in(&mesh, 12, "city").await;
    let stock_before = world.stock(&mesh).await;
    let load = Load::start(&mesh, &world, 4);

    // One replica of each killed in turn; the load must go on through the other (three more
    // batches answered) before the next is killed.
    let mut phases = Vec::new();
    for name in ["gateway", "intake", "ledger", "city-mall"] {
        load.until_more_answered(3, "before a kill").await;
        mesh.kill(name).await;
        let took = load
            .until_more_answered(3, &format!("after {name} was killed"))
            .await;
        phases.push(format!(
            "{name}: 3 batches {:.1} s after the kill",
            took.as_secs_f64()
        ));
    }
    let batches = load.batches.clone();
    let told = load.stop().await;
    assert!(
        told.answers.len() < batches.len(),
        "the load ran out before the last phase: every phase must see batches flow"
    );
    for name in ["gateway", "intake", "ledger", "city-mall"] {
        mesh.restart(name).await;
    }

    let honoured = world.residents.len() as u64 * crate::support::GRANT;
    let (records, awarded, placed) =
        verify(&mesh, &world, &batches, &told, stock_before, honoured).await;
    assert!(placed > 0, "orders flowed");

    let checked = invariants::check(&mesh, &mesh.endpoint("ledger"), &world.tokens())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    println!(
        "replicas, one of each killed ({}): {records} records in {} batches ({} retried requests), \
         {awarded} points awarded once; {placed} orders ({} retried requests); invariants: {checked}",
        phases.join(", "),
        told.answers.len(),
        told.batch_retries,
        told.order_retries,
    );
}
