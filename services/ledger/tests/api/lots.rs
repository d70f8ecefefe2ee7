//! Points expiry by lots, on the real ledger: random awards (each with a day it expires on, or
//! none), reservations, posts in full or in part, voids, redemptions, refunds and days that
//! pass with the sweeper run. After every step:
//! - each resident's lots add up to what they can spend (and no lot is below zero: the stored
//!   text has no minus sign, which the database checks too);
//! - a debit took its points oldest first: every lot it touched but the last is now empty;
//! - a refund gave its points back to the days the debit it names took them from;
//! - nothing expired twice: what expired from each resident's lot of a day is at most what was
//!   ever awarded for that day, the book's `expired` figure equals what the lots count, and a
//!   second sweep finds nothing;
//! - after a day passes, no points remain in a lot whose day has ended;
//! - the invariants of docs/ledger.md hold (debits equal credits per book, no resident below
//!   zero, balances equal their history), and at the end the journal verifies.
//!
//! Cases: `HP_LEDGER_PROPERTY_CASES` (default 200; each is a fresh database).

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate};
use healthpoints_ledger::domain::{
    lots::Lots,
    model::{CreateResult, NewTransfer, PendingAction, TransferKind},
};
use proptest::prelude::*;
use uuid::Uuid;

use crate::helpers::*;

#[derive(Debug, Clone)]
enum Op {
    /// Expires `days` days from today, or never.
    Award {
        to: usize,
        amount: u64,
        days: Option<u64>,
    },
    Reserve {
        from: usize,
        amount: u64,
    },
    Post {
        which: usize,
        amount: u64,
    },
    Void {
        which: usize,
    },
    Redeem {
        from: usize,
        amount: u64,
    },
    Refund {
        which: usize,
        amount: u64,
    },
    /// A day passes; the sweeper runs.
    Day,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 1..400u64, prop::option::of(0..4u64)).prop_map(|(to, amount, days)| Op::Award { to, amount, days }),
        2 => (0..2usize, 1..300u64).prop_map(|(from, amount)| Op::Reserve { from, amount }),
        2 => (0..8usize, 0..=150u64).prop_map(|(which, amount)| Op::Post { which, amount }),
        1 => (0..8usize).prop_map(|which| Op::Void { which }),
        2 => (0..2usize, 1..300u64).prop_map(|(from, amount)| Op::Redeem { from, amount }),
        2 => (0..8usize, 1..300u64).prop_map(|(which, amount)| Op::Refund { which, amount }),
        2 => Just(Op::Day),
    ]
}

fn cases() -> u32 {
    std::env::var("HP_LEDGER_PROPERTY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Points by lot day (`None`: never).
type ByDay = BTreeMap<Option<NaiveDate>, u64>;

/// A refund in flight: the resident, what its debit still has to return, the amount, and the
/// debit's place among the spent.
type RefundAsked = (usize, ByDay, u64, usize);

/// A lot's points by day (`None`: never).
fn by_day(lots: &Lots) -> BTreeMap<Option<NaiveDate>, u64> {
    lots.iter().map(|l| (l.expires_on, l.points)).collect()
}

/// `before - after` per day, for days that lost points.
fn taken(
    before: &BTreeMap<Option<NaiveDate>, u64>,
    after: &BTreeMap<Option<NaiveDate>, u64>,
) -> BTreeMap<Option<NaiveDate>, u64> {
    before
        .iter()
        .filter_map(|(d, p)| {
            let now = after.get(d).copied().unwrap_or_default();
            (now < *p).then_some((*d, p - now))
        })
        .collect()
}

/// Lot order: by day, never last.
fn order(d: &Option<NaiveDate>) -> (bool, NaiveDate) {
    (d.is_none(), d.unwrap_or(NaiveDate::MIN))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn lots_add_up_spend_oldest_first_return_home_and_expire_once(ops in prop::collection::vec(op(), 1..30)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let f = ledger("ledger_lots").await;
            let admin = healthpoints_auth::Principal::CityAdmin { staff_id: Uuid::now_v7() };
            f.ledger.set_budget(&admin, "city", None).await.ok();
            let (issuance, residents, merchant) = open_city(&f.ledger, 2).await;
            let today = |f: &Fixture| {
                let us = f.clock.load(std::sync::atomic::Ordering::SeqCst);
                healthpoints_types::calendar::local_date(chrono::DateTime::from_timestamp_micros(us).unwrap())
            };
            let who: HashMap<Uuid, usize> = residents.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
            let mut reservations: Vec<Uuid> = Vec::new();
            // Posted debits a refund may name: id, resident, what it took from each day.
            let mut spent: Vec<(Uuid, usize, BTreeMap<Option<NaiveDate>, u64>)> = Vec::new();
            let mut awarded: HashMap<(usize, NaiveDate), u64> = HashMap::new();
            for op in ops {
                let shown = op.clone();
                let before: Vec<_> = {
                    let mut v = Vec::new();
                    for r in &residents {
                        v.push(by_day(&account(&f.ledger, r.id).await.lots));
                    }
                    v
                };
                let mut debit_of: Option<(usize, Uuid)> = None;
                let mut refund: Option<RefundAsked> = None;
                let batch: Option<NewTransfer> = match op {
                    Op::Award { to, amount, days } => {
                        let day = days.map(|d| today(&f).checked_add_days(Days::new(d)).unwrap());
                        if let Some(day) = day {
                            *awarded.entry((to, day)).or_default() += amount;
                        }
                        let mut t = transfer(issuance.id, residents[to].id, amount, TransferKind::Award);
                        t.expires_on = day;
                        Some(t)
                    }
                    Op::Reserve { from, amount } => {
                        let t = pending(residents[from].id, merchant.id, amount, 0);
                        reservations.push(t.id);
                        debit_of = Some((from, t.id));
                        Some(t)
                    }
                    Op::Post { which, amount } => reservations.get(which % reservations.len().max(1)).map(|id| resolve(*id, PendingAction::Post, amount)),
                    Op::Void { which } => reservations.get(which % reservations.len().max(1)).map(|id| resolve(*id, PendingAction::Void, 0)),
                    Op::Redeem { from, amount } => {
                        let t = transfer(residents[from].id, merchant.id, amount, TransferKind::Redeem);
                        debit_of = Some((from, t.id));
                        Some(t)
                    }
                    Op::Refund { which, amount } => {
                        let slot = which % spent.len().max(1);
                        spent.get(slot).cloned().map(|(id, r, took)| {
                            let mut t = transfer(merchant.id, residents[r].id, amount, TransferKind::Refund);
                            t.refund_of = Some(id);
                            refund = Some((r, took, amount, slot));
                            t
                        })
                    }
                    Op::Day => {
                        f.advance_secs(86_400);
                        f.ledger.sweep_once().await.unwrap();
                        f.ledger.expire_lots_once().await.unwrap();
                        prop_assert_eq!(f.ledger.expire_lots_once().await.unwrap(), 0, "a second sweep finds nothing");
                        None
                    }
                };
                let mut ok = false;
                if let Some(t) = batch.clone() {
                    let result = create(&f.ledger, vec![t]).await[0];
                    ok = result == CreateResult::Ok;
                    // A refund beyond what the merchant holds is refused; nothing else may be
                    // refused for lots' sake.
                    prop_assert!(!matches!(result, CreateResult::ExceedsLot | CreateResult::ExpiryLotNotFound | CreateResult::RefundOfNotFound), "{result:?} after {shown:?}");
                }
                let mut after = Vec::new();
                for (i, r) in residents.iter().enumerate() {
                    let a = account(&f.ledger, r.id).await;
                    let available = i128::from(a.credits_posted) - i128::from(a.debits_posted) - i128::from(a.debits_pending);
                    prop_assert_eq!(i128::try_from(a.lots.total()).unwrap(), available, "resident {}'s lots add up, after {:?}", i, shown);
                    prop_assert!(!a.lots.encode().contains('-'));
                    after.push(by_day(&a.lots));
                    if matches!(shown, Op::Day) {
                        let t = today(&f);
                        prop_assert!(a.lots.iter().all(|l| l.points == 0 || l.expires_on.is_none_or(|d| d >= t)), "no ended lot keeps points: {:?}", a.lots);
                    }
                    for l in a.lots.iter() {
                        if let Some(d) = l.expires_on {
                            prop_assert!(l.expired <= awarded.get(&(i, d)).copied().unwrap_or_default(), "lot {d} expired more than it was given");
                        }
                    }
                }
                if ok {
                    if let Some((r, id)) = debit_of {
                        let took = taken(&before[r], &after[r]);
                        // Oldest first: every lot the debit touched but the last is now empty.
                        let mut touched: Vec<_> = took.keys().copied().collect();
                        touched.sort_by_key(order);
                        if let Some((_, earlier)) = touched.split_last() {
                            for d in earlier {
                                prop_assert_eq!(after[r].get(d).copied().unwrap_or_default(), 0, "{:?} was not the oldest: {:?} -> {:?}", d, before[r], after[r]);
                            }
                        }
                        let older_left = after[r].iter().any(|(d, p)| *p > 0 && touched.first().is_some_and(|first| order(d) < order(first)));
                        prop_assert!(!older_left, "older points were left: {:?} -> {:?}", before[r], after[r]);
                        if matches!(shown, Op::Redeem { .. }) {
                            spent.push((id, r, took));
                        }
                    }
                    if let (Op::Post { .. }, Some(t)) = (&shown, &batch) {
                        // The post is a debit a refund may name: it spent what its reservation
                        // took, less what it released.
                        let stored = f.ledger.store().transfers(&[t.id]).await.unwrap();
                        if let Some(p) = stored.first() {
                            let owner = who[&p.debit_account_id];
                            let took: BTreeMap<_, _> = p.lots.0.iter().fold(BTreeMap::new(), |mut m, (d, pts)| { *m.entry(*d).or_default() += pts; m });
                            prop_assert_eq!(u128::from(p.amount), p.lots.total(), "a post's shares are what it spent");
                            spent.push((p.id, owner, took));
                        }
                    }
                    if let Some((r, took, amount, slot)) = refund {
                        let gave: BTreeMap<_, _> = after[r].iter().filter_map(|(d, p)| {
                            let was = before[r].get(d).copied().unwrap_or_default();
                            (*p > was).then_some((*d, p - was))
                        }).collect();
                        let total: u64 = gave.values().sum();
                        prop_assert_eq!(total, amount);
                        let debit_total: u64 = took.values().sum();
                        for (d, p) in &gave {
                            let from_debit = took.get(d).copied().unwrap_or_default();
                            // Beyond what the debit took (and earlier refunds of it did not
                            // return), a refund's points never expire.
                            prop_assert!(*p <= from_debit || (d.is_none() && amount > debit_total), "refund gave {p} to {d:?}; the debit took {took:?}");
                        }
                        // What this refund returned to the debit's days is not the debit's to
                        // return again.
                        if let Some(entry) = spent.get_mut(slot) {
                            for (d, p) in &gave {
                                if let Some(left) = entry.2.get_mut(d) {
                                    *left = left.saturating_sub(*p);
                                }
                            }
                        }
                    }
                }
                assert_invariants(&f.ledger).await;
                let expired_in_lots: u64 = {
                    let mut sum = 0;
                    for r in &residents {
                        sum += account(&f.ledger, r.id).await.lots.iter().map(|l| l.expired).sum::<u64>();
                    }
                    sum
                };
                let (_, stats) = f.ledger.book_statistics(&admin, "city", "").await.unwrap();
                prop_assert_eq!(stats.expired, expired_in_lots, "every expiry counted once");
            }
            let (_, journal) = f.ledger.verify_journal(&admin, "city", 0, "", 0).await.unwrap();
            prop_assert!(journal.complete && journal.first_broken_seq.is_none(), "{}", journal.detail);
            Ok(())
        })?;
    }
}
