//! Many clients redeem from one resident account at once — through several ledger instances
//! (as replicas would) on PostgreSQL, through one on SQLite. Exactly floor(balance / cost)
//! succeed and the balance ends at the remainder.

use std::sync::Arc;

use healthpoints_ledger::domain::model::{CreateResult, TransferKind};
use healthpoints_testkit::TestDatabase;

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
        ledgers.push(healthpoints_ledger::service::Ledger::start(
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

/// Two ledgers on one database take turns in the same book. Each writer plans optimistically
/// from the book head it last saw, so every turn finds the head moved by the other: the commit
/// is refused whole and the group is written again under locks — no lost update, no gap in the
/// journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_whose_view_of_the_book_is_stale_writes_again_under_locks() {
    healthpoints_telemetry::init_for_tests();
    let db = TestDatabase::create("ledger_stale_writer").await;
    let config = db.config.clone();
    let first = ledger_on(db).await;
    let conn = healthpoints_db::connect::<healthpoints_ledger::store::Migrator>(&config)
        .await
        .unwrap();
    let second = healthpoints_ledger::service::Ledger::start(
        healthpoints_ledger::store::Store::new(conn),
        Default::default(),
    );
    let (issuance, residents, _) = open_city(&first.ledger, 1).await;
    let resident = residents[0].id;
    let locked_before =
        first.ledger.groups_written_with_locks() + second.groups_written_with_locks();
    for round in 0..6u64 {
        let ledger = if round % 2 == 0 {
            &first.ledger
        } else {
            &second
        };
        let t = transfer(issuance.id, resident, 10 + round, TransferKind::Award);
        let retry = t.clone();
        assert_eq!(create(ledger, vec![t]).await, vec![CreateResult::Ok]);
        // The other writer sees the same transfer as already there, with its body.
        let other = if round % 2 == 0 {
            &second
        } else {
            &first.ledger
        };
        assert_eq!(create(other, vec![retry]).await, vec![CreateResult::Exists]);
    }
    let a = account(&first.ledger, resident).await;
    assert_eq!(a.credits_posted, (10..16).sum::<u64>());
    // Every turn after the first found the head moved by the other writer: its optimistic
    // commit was refused and the group written again under locks.
    let locked = first.ledger.groups_written_with_locks() + second.groups_written_with_locks()
        - locked_before;
    assert!(locked >= 5, "{locked} groups went the locked way");
    assert_invariants(&first.ledger).await;
    let admin = healthpoints_auth::Principal::CityAdmin {
        staff_id: uuid::Uuid::now_v7(),
    };
    let (_, report) = second
        .verify_journal(&admin, "city", 0, "", 0)
        .await
        .unwrap();
    assert_eq!((report.entries_checked, report.first_broken_seq), (6, None));
    assert!(report.complete);
}

/// Many clients at once keep the pipelined writer's groups overlapping — with one group commit
/// under way and with three — : awards, retries of the same ids, reservations, posts and voids.
/// Every acknowledged transfer is stored once and the balances equal their history.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_groups_keep_every_balance_exact() {
    for commits_in_flight in [1, 3] {
        healthpoints_telemetry::init_for_tests();
        let db = TestDatabase::create("ledger_overlap").await;
        overlapping_groups(ledger_on_with(db, commits_in_flight).await).await;
    }
}

async fn overlapping_groups(f: Fixture) {
    let (issuance, residents, merchant) = open_city(&f.ledger, 20).await;
    let mut handles = Vec::new();
    for task in 0..40usize {
        let ledger = Arc::clone(&f.ledger);
        let resident = residents[task % residents.len()].id;
        let (issuance, merchant) = (issuance.id, merchant.id);
        handles.push(tokio::spawn(async move {
            let mut awarded = 0u64;
            for round in 0..10u64 {
                let award = transfer(issuance, resident, 50 + round, TransferKind::Award);
                let again = award.clone();
                let hold = pending(resident, merchant, 20, 600);
                let hold_id = hold.id;
                let results = create(&ledger, vec![award, hold]).await;
                assert_eq!(results[0], CreateResult::Ok);
                awarded += 50 + round;
                let action = if round % 2 == 0 {
                    healthpoints_ledger::domain::model::PendingAction::Post
                } else {
                    healthpoints_ledger::domain::model::PendingAction::Void
                };
                let mut next = vec![again];
                if results[1] == CreateResult::Ok {
                    next.push(resolve(hold_id, action, 0));
                }
                let results = create(&ledger, next).await;
                assert_eq!(results[0], CreateResult::Exists);
                assert!(results[1..].iter().all(|r| *r == CreateResult::Ok));
            }
            awarded
        }));
    }
    let mut awarded = 0;
    for h in handles {
        awarded += h.await.unwrap();
    }
    let issued = account(&f.ledger, issuance.id).await.debits_posted;
    assert_eq!(
        issued, awarded,
        "every acknowledged award stored exactly once"
    );
    assert_invariants(&f.ledger).await;
}
