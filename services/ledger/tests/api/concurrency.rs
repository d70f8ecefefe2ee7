//! Many clients redeem from one resident account at once — through several ledger instances
//! (as replicas would) on PostgreSQL, through one on SQLite. Exactly floor(balance / cost)
//! succeed and the balance ends at the remainder.

use std::sync::Arc;

use healthpoints_db::TestDatabase;
use healthpoints_ledger::domain::model::{CreateResult, TransferKind};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_never_overspend() {
    healthpoints_telemetry::init_for_tests();
    let db = TestDatabase::create("ledger_concurrency").await;
    let config = db.config.clone();
    let first = ledger_on(db).await;
    let replicas = if first.db.is_postgres() { 4 } else { 1 };
    let mut ledgers = vec![first.ledger.clone()];
    for _ in 1..replicas {
        let conn = healthpoints_db::connect::<healthpoints_ledger::store::Migrator>(&config)
            .await
            .unwrap();
        ledgers.push(healthpoints_ledger::domain::Ledger::start(
            healthpoints_ledger::store::Store::new(conn),
            Default::default(),
        ));
    }
    let (issuance, residents, merchant) = open_city(&first.ledger, 1).await;
    let resident = residents[0].id;
    let (balance, cost, tasks) = (1_000u64, 70u64, 100usize);
    create(
        &first.ledger,
        vec![transfer(
            issuance.id,
            resident,
            balance,
            TransferKind::Award,
        )],
    )
    .await;

    let mut handles = Vec::new();
    for i in 0..tasks {
        let ledger = Arc::clone(&ledgers[i % ledgers.len()]);
        let (from, to) = (resident, merchant.id);
        handles.push(tokio::spawn(async move {
            // Half reserve (two-phase), half redeem directly: both draw on the same balance.
            let t = if i % 2 == 0 {
                pending(from, to, cost, 600)
            } else {
                transfer(from, to, cost, TransferKind::Redeem)
            };
            create(&ledger, vec![t]).await[0]
        }));
    }
    let mut ok = 0u64;
    for h in handles {
        match h.await.unwrap() {
            CreateResult::Ok => ok += 1,
            CreateResult::ExceedsBalance => {}
            other => panic!("unexpected result {other:?}"),
        }
    }
    assert_eq!(ok, balance / cost, "exactly floor(balance / cost) succeed");
    let a = account(&first.ledger, resident).await;
    assert_eq!(
        a.credits_posted - a.debits_posted - a.debits_pending,
        balance % cost
    );
    assert_invariants(&first.ledger).await;
}
