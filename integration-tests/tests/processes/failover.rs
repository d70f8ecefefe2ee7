use healthpoints_integration_tests::{invariants, processes::ProcessMesh, replication::PgPair};

use crate::support::{Load, World, verify};

/// Every service's database on a PostgreSQL primary with a synchronous streaming standby,
/// reached through one address (as a failover manager keeps it). Under a steady load — a
/// partner sending steps, residents ordering at the Qingpu clinic, both retrying as real
/// clients do — the primary is killed, the standby promoted and the address pointed at it.
/// The services reconnect by themselves; clients see only retryable failures; every
/// acknowledged award and order is there exactly once; the journals verify. Runs in the
/// PostgreSQL pass (`HP_TEST_DATABASE_URL` set), which has the PostgreSQL binaries.
#[tokio::test]
async fn a_primary_killed_under_load_fails_over_to_its_synchronous_standby_losing_nothing() {
    if std::env::var("HP_TEST_DATABASE_URL").is_err() {
        println!("failover: PostgreSQL pass only (HP_TEST_DATABASE_URL is not set)");
        return;
    }
    let pair = PgPair::start()
        .await
        .expect("the PostgreSQL pass has the PostgreSQL binaries");
    let mut mesh = ProcessMesh::start_with(&[], Some(&pair.url())).await;
    let world = World::build(&mesh, 12).await;
    let stock_before = world.stock(&mesh).await;
    let load = Load::start(&mesh, &world, 4);

    load.until_more_answered(3, "before the failover").await;
    let unreachable = pair.fail_over().await;
    assert!(pair.promoted(), "the standby is the primary now");
    let recovered = load.until_more_answered(3, "after the failover").await;
    load.until_more_answered(3, "after the recovery").await;
    let batches = load.batches.clone();
    let told = load.stop().await;
    assert!(
        told.answers.len() < batches.len(),
        "the load ran out before the last phase: every phase must see batches flow"
    );

    let (records, awarded, placed) = verify(&mesh, &world, &batches, &told, stock_before, 0).await;
    let checked = invariants::check(&mesh, &mesh.endpoint("ledger"), &world.tokens())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    // Every service is still the one started: they reconnected, none was restarted.
    for name in mesh.names() {
        assert!(
            mesh.is_running(&name),
            "{name} runs:\n{}",
            mesh.log_tail(&name)
        );
    }
    println!(
        "PostgreSQL failover: primary killed and standby promoted in {:.1} s, 3 batches answered {:.1} s after; \
         {records} records in {} batches ({} retried requests), {awarded} points awarded once; \
         {placed} orders ({} retried requests); invariants: {checked}",
        unreachable.as_secs_f64(),
        recovered.as_secs_f64(),
        told.answers.len(),
        told.batch_retries,
        told.order_retries,
    );
}
