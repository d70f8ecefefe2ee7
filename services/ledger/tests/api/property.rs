//! Random sequences of awards, reservations, posts, voids, timeouts and retries, run against
//! the real ledger and against a model of what each step must do (who may spend what, which
//! reservation is still open). After every step the ledger's answer is the model's, every
//! account the model touched holds exactly the model's figures, and the invariants of
//! docs/ledger.md hold; after every sequence the book's hash-chained journal verifies intact and
//! every resident's history adds up to their balances (posted points to the posted balance,
//! open reservations to the pending one — a reservation and its post never counted twice).
//!
//! Cases: `HP_LEDGER_PROPERTY_CASES` (default 200; each is a fresh database).

use std::collections::HashMap;

use healthpoints_ledger::domain::model::{CreateResult, NewTransfer, PendingAction, TransferKind};
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
        amount: u64,
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
        2 => (0..8usize, 0..=100u64).prop_map(|(which, amount)| Op::Post { which, amount }),
        2 => (0..8usize).prop_map(|which| Op::Void { which }),
        1 => (0..3usize, 1..200u64).prop_map(|(from, amount)| Op::Redeem { from, amount }),
        1 => Just(Op::Tick),
        2 => Just(Op::RetryLast),
    ]
}

fn cases() -> u32 {
    std::env::var("HP_LEDGER_PROPERTY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// A reservation as the model knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Posted,
    Voided,
}

#[derive(Debug, Clone, Copy)]
struct Reservation {
    from: usize,
    amount: u64,
    expires_at: i64,
    state: State,
}

/// What each account must hold: per resident (credits posted, debits posted, debits pending),
/// and the merchant's credits posted and pending.
#[derive(Debug, Default)]
struct Model {
    credits: [u64; 3],
    debits: [u64; 3],
    pending: [u64; 3],
    merchant_posted: u64,
    merchant_pending: u64,
    now: i64,
    reservations: HashMap<Uuid, Reservation>,
    /// Ids the ledger accepted: a retry of one is answered `Exists` and does nothing.
    done: std::collections::HashSet<Uuid>,
}

/// The model's answer to one transfer: exactly this result, or some refusal.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Exactly(CreateResult),
    Refused,
}

impl Model {
    fn available(&self, r: usize) -> u64 {
        self.credits[r] - self.debits[r] - self.pending[r]
    }

    /// Applies what the ledger must do with `t` (an award, a reservation, a redemption or a
    /// resolution, as [`Op`] builds them) and says what it must answer.
    fn apply(&mut self, t: &NewTransfer, who: &HashMap<Uuid, usize>) -> Expect {
        if self.done.contains(&t.id) {
            return Expect::Exactly(CreateResult::Exists);
        }
        let answer = match (t.action, t.pending_id) {
            (PendingAction::None, _) if t.kind == Some(TransferKind::Award) => {
                self.credits[who[&t.credit_account_id]] += t.amount;
                Expect::Exactly(CreateResult::Ok)
            }
            (PendingAction::None, _) => {
                let r = who[&t.debit_account_id];
                if t.amount > self.available(r) {
                    Expect::Exactly(CreateResult::ExceedsBalance)
                } else if t.pending {
                    self.pending[r] += t.amount;
                    self.merchant_pending += t.amount;
                    self.reservations.insert(
                        t.id,
                        Reservation {
                            from: r,
                            amount: t.amount,
                            expires_at: self.now + i64::from(t.timeout_seconds),
                            state: State::Open,
                        },
                    );
                    Expect::Exactly(CreateResult::Ok)
                } else {
                    self.debits[r] += t.amount;
                    self.merchant_posted += t.amount;
                    Expect::Exactly(CreateResult::Ok)
                }
            }
            (action, Some(id)) => match self.reservations.get_mut(&id) {
                Some(res) if res.state == State::Open => {
                    if action == PendingAction::Post && t.amount > res.amount {
                        return Expect::Exactly(CreateResult::ExceedsPendingAmount);
                    }
                    self.pending[res.from] -= res.amount;
                    self.merchant_pending -= res.amount;
                    if action == PendingAction::Post {
                        let posted = if t.amount == 0 { res.amount } else { t.amount };
                        self.debits[res.from] += posted;
                        self.merchant_posted += posted;
                        res.state = State::Posted;
                    } else {
                        res.state = State::Voided;
                    }
                    Expect::Exactly(CreateResult::Ok)
                }
                _ => Expect::Refused,
            },
            (_, None) => Expect::Refused,
        };
        if answer == Expect::Exactly(CreateResult::Ok) {
            self.done.insert(t.id);
        }
        answer
    }

    /// Time passes and the sweeper runs: open reservations past their timeout are voided.
    fn tick(&mut self, secs: i64) {
        self.now += secs;
        for res in self.reservations.values_mut() {
            if res.state == State::Open && res.expires_at < self.now {
                self.pending[res.from] -= res.amount;
                self.merchant_pending -= res.amount;
                res.state = State::Voided;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_ledger_does_what_the_model_says_and_its_invariants_hold(ops in prop::collection::vec(op(), 1..30)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let f = ledger("ledger_property").await;
            let admin = healthpoints_auth::Principal::CityAdmin { staff_id: Uuid::now_v7() };
            f.ledger.set_budget(&admin, "city", None).await.ok();
            let (issuance, residents, merchant) = open_city(&f.ledger, 3).await;
            let who: HashMap<Uuid, usize> = residents.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
            let mut model = Model::default();
            let mut reservations: Vec<Uuid> = Vec::new();
            let mut last: Option<Vec<NewTransfer>> = None;
            for op in ops {
                let op_shown = op.clone();
                let batch = match op {
                    Op::Award { to, amount } => Some(vec![transfer(issuance.id, residents[to].id, amount, TransferKind::Award)]),
                    Op::Reserve { from, amount, short } => {
                        let t = pending(residents[from].id, merchant.id, amount, if short { 2 } else { 3_600 });
                        reservations.push(t.id);
                        Some(vec![t])
                    }
                    Op::Post { which, amount } => reservations
                        .get(which % reservations.len().max(1))
                        .map(|id| vec![resolve(*id, PendingAction::Post, amount)]),
                    Op::Void { which } => reservations
                        .get(which % reservations.len().max(1))
                        .map(|id| vec![resolve(*id, PendingAction::Void, 0)]),
                    Op::Redeem { from, amount } => Some(vec![transfer(residents[from].id, merchant.id, amount, TransferKind::Redeem)]),
                    Op::Tick => {
                        f.advance_secs(3);
                        f.ledger.sweep_once().await.unwrap();
                        model.tick(3);
                        None
                    }
                    Op::RetryLast => last.clone(),
                };
                if let Some(batch) = batch {
                    let expected: Vec<Expect> = batch.iter().map(|t| model.apply(t, &who)).collect();
                    let results = create(&f.ledger, batch.clone()).await;
                    for (got, want) in results.iter().zip(&expected) {
                        match want {
                            Expect::Exactly(want) => prop_assert_eq!(got, want),
                            Expect::Refused => prop_assert!(!got.is_success(), "{got:?}, the model refuses"),
                        }
                    }
                    last = Some(batch);
                }
                for (i, r) in residents.iter().enumerate() {
                    let a = account(&f.ledger, r.id).await;
                    prop_assert_eq!(
                        (a.credits_posted, a.debits_posted, a.debits_pending),
                        (model.credits[i], model.debits[i], model.pending[i]),
                        "resident {} after {:?}", i, op_shown
                    );
                }
                let m = account(&f.ledger, merchant.id).await;
                prop_assert_eq!((m.credits_posted, m.credits_pending), (model.merchant_posted, model.merchant_pending));
                assert_invariants(&f.ledger).await;
            }
            let (_, journal) = f.ledger.verify_journal(&admin, "city", 0, "", 0).await.unwrap();
            prop_assert!(journal.complete && journal.first_broken_seq.is_none(), "{}", journal.detail);
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
