//! Random sequences of awards, reservations, posts, voids, timeouts and retries; after every
//! step the invariants of DESIGN.md §4 hold, and at the end every resident's history adds up
//! to their balances: posted points sum to the posted balance, the reservations still pending
//! to the pending one (a reservation and its post never counted twice).

use healthpoints_ledger::domain::model::{NewTransfer, PendingAction, TransferKind};
use proptest::prelude::*;
use uuid::Uuid;

use crate::helpers::*;

#[derive(Debug, Clone)]
enum Op {
    Award {
        to: usize,
        amount: u64,
    },
    Reserve {
        from: usize,
        amount: u64,
        short: bool,
    },
    Post {
        which: usize,
        percent: u64,
    },
    Void {
        which: usize,
    },
    Redeem {
        from: usize,
        amount: u64,
    },
    Tick,
    RetryLast,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 1..400u64).prop_map(|(to, amount)| Op::Award { to, amount }),
        3 => (0..3usize, 1..300u64, any::<bool>()).prop_map(|(from, amount, short)| Op::Reserve { from, amount, short }),
        2 => (0..8usize, 0..=100u64).prop_map(|(which, percent)| Op::Post { which, percent }),
        2 => (0..8usize).prop_map(|which| Op::Void { which }),
        1 => (0..3usize, 1..200u64).prop_map(|(from, amount)| Op::Redeem { from, amount }),
        1 => Just(Op::Tick),
        2 => Just(Op::RetryLast),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_step(ops in prop::collection::vec(op(), 1..30)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let f = ledger("ledger_property").await;
            let admin = healthpoints_auth::Principal::CityAdmin { staff_id: Uuid::now_v7() };
            f.ledger.set_budget(&admin, "city", None).await.ok();
            let (issuance, residents, merchant) = open_city(&f.ledger, 3).await;
            let mut reservations: Vec<Uuid> = Vec::new();
            let mut last: Option<Vec<NewTransfer>> = None;
            for op in ops {
                let batch = match op {
                    Op::Award { to, amount } => Some(vec![transfer(issuance.id, residents[to].id, amount, TransferKind::Award)]),
                    Op::Reserve { from, amount, short } => {
                        let t = pending(residents[from].id, merchant.id, amount, if short { 2 } else { 3_600 });
                        reservations.push(t.id);
                        Some(vec![t])
                    }
                    Op::Post { which, percent } => reservations
                        .get(which % reservations.len().max(1))
                        .map(|id| vec![resolve(*id, PendingAction::Post, percent)]),
                    Op::Void { which } => reservations
                        .get(which % reservations.len().max(1))
                        .map(|id| vec![resolve(*id, PendingAction::Void, 0)]),
                    Op::Redeem { from, amount } => Some(vec![transfer(residents[from].id, merchant.id, amount, TransferKind::Redeem)]),
                    Op::Tick => {
                        f.advance_secs(3);
                        f.ledger.sweep_once().await.unwrap();
                        None
                    }
                    Op::RetryLast => last.clone(),
                };
                if let Some(batch) = batch {
                    let before = f.ledger.lookup_transfers(&intake(), &batch.iter().map(|t| t.id.to_string()).collect::<Vec<_>>()).await.unwrap();
                    let results = create(&f.ledger, batch.clone()).await;
                    // A retry of something that succeeded is an exact success, never a second effect.
                    if !before.is_empty() {
                        prop_assert!(results.iter().all(|r| *r == healthpoints_ledger::domain::model::CreateResult::Exists), "{results:?}");
                    }
                    last = Some(batch);
                }
                assert_invariants(&f.ledger).await;
            }
            for r in &residents {
                let (posted, pending) = history_sums(&f.ledger, r).await;
                let now = account(&f.ledger, r.id).await;
                prop_assert_eq!(posted, i128::from(now.credits_posted) - i128::from(now.debits_posted));
                prop_assert_eq!(pending, -i128::from(now.debits_pending));
            }
            Ok(())
        })?;
    }
}
