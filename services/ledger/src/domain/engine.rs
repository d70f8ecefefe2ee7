//! The ledger's rules, applied in memory to one group of requests at a time: which transfers
//! succeed, what each does to the balances, and the journal entry each one adds. Pure: the
//! writer loads the state (under row locks), calls [`apply`], and writes what it returns in the
//! same database transaction. The database's constraints re-check the invariants on commit.

use std::collections::{HashMap, HashSet};

use healthpoints_types::Book;
use uuid::Uuid;

use super::{
    journal,
    model::{Account, CreateResult, NewTransfer, PendingAction, Resolution, Transfer},
};

/// One client request: a batch of transfers, optionally linked (all or none).
#[derive(Debug, Clone)]
pub struct Request {
    pub transfers: Vec<NewTransfer>,
    pub linked: bool,
    /// The only book the caller may write in; `None` for any book.
    pub allowed_book: Option<Book>,
}

/// What the writer loaded for a group.
#[derive(Debug, Clone)]
pub struct State {
    pub accounts: HashMap<Uuid, Account>,
    /// Stored transfers whose ids the group names (its own ids and the pending ids it resolves).
    pub transfers: HashMap<Uuid, Transfer>,
    pub resolutions: HashMap<Uuid, Resolution>,
    /// Each book's last journal position and hash.
    pub heads: HashMap<Book, (u64, String)>,
}

/// A pending transfer that this group resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResolution {
    pub pending_id: Uuid,
    pub resolution: Resolution,
    pub resolved_by: Uuid,
    pub resolved_at_us: i64,
}

/// What the group changed.
#[derive(Debug, Default)]
pub struct Applied {
    /// Per request, per transfer: the result and, on success, the stored transfer.
    pub results: Vec<Vec<(CreateResult, Option<Transfer>)>>,
    pub new_transfers: Vec<Transfer>,
    pub new_resolutions: Vec<NewResolution>,
    pub touched_accounts: HashSet<Uuid>,
    /// Where each of `new_transfers` sits, by id: later transfers of the group find earlier
    /// ones (a retry within the group, a post of a reservation made in the group).
    new_index: HashMap<Uuid, usize>,
}

/// Whether a request is an exact retry of a stored transfer.
fn same_body(t: &NewTransfer, s: &Transfer) -> bool {
    let accounts_match = |asked: Uuid, stored: Uuid| asked.is_nil() || asked == stored;
    let amount_matches = t.amount == s.amount
        || (t.amount == 0 && matches!(t.action, PendingAction::Post | PendingAction::Void));
    let timeout_matches = match s.timeout_at_us {
        Some(at) => i64::from(t.timeout_seconds) * 1_000_000 == at - s.created_at_us,
        None => t.timeout_seconds == 0,
    };
    t.action == s.action
        && t.pending_id == s.pending_id
        && t.pending == s.pending
        && t.kind.is_none_or(|k| k == s.kind)
        && t.metadata == s.metadata
        && accounts_match(t.debit_account_id, s.debit_account_id)
        && accounts_match(t.credit_account_id, s.credit_account_id)
        && amount_matches
        && timeout_matches
}

/// Debits `amount` as pending or posted, refusing when the account's limits would break.
fn check_debit(account: &Account, amount: u64, pending_release: u64) -> Result<(), CreateResult> {
    let debits = u128::from(account.debits_posted) + u128::from(account.debits_pending)
        - u128::from(pending_release)
        + u128::from(amount);
    if !account.kind.may_go_negative() && debits > u128::from(account.credits_posted) {
        return Err(CreateResult::ExceedsBalance);
    }
    if let Some(budget) = account.budget
        && debits > u128::from(budget)
    {
        return Err(CreateResult::ExceedsBudget);
    }
    Ok(())
}

/// Points add up in `u64`; a ledger of 25 million residents is far from overflowing, but an
/// overflow must be refused, never wrapped.
fn add(a: u64, b: u64) -> Result<u64, CreateResult> {
    a.checked_add(b).ok_or(CreateResult::ExceedsBalance)
}

struct Ctx<'a> {
    state: &'a mut State,
    allowed_book: Option<Book>,
    now_us: i64,
    applied: &'a mut Applied,
}

impl Ctx<'_> {
    /// A transfer stored before the group or made earlier in it.
    fn find(&self, id: &Uuid) -> Option<&Transfer> {
        self.state.transfers.get(id).or_else(|| {
            self.applied
                .new_index
                .get(id)
                .and_then(|&i| self.applied.new_transfers.get(i))
        })
    }

    /// Decides one transfer. A retry answers with the stored original; a fresh success needs
    /// no copy of what the client sent.
    fn one(&mut self, t: &NewTransfer) -> Result<(CreateResult, Option<Transfer>), CreateResult> {
        if t.id.is_nil() {
            return Err(CreateResult::InvalidId);
        }
        if let Some(stored) = self.find(&t.id) {
            return if same_body(t, stored) {
                Ok((CreateResult::Exists, Some(stored.clone())))
            } else {
                Err(CreateResult::ExistsWithDifferentFields)
            };
        }
        let transfer = match t.action {
            PendingAction::None => self.create(t)?,
            PendingAction::Post | PendingAction::Void => self.resolve(t)?,
        };
        self.commit(transfer);
        Ok((CreateResult::Ok, None))
    }

    fn create(&mut self, t: &NewTransfer) -> Result<Transfer, CreateResult> {
        let kind = t.kind.ok_or(CreateResult::KindMustBeSet)?;
        if t.amount == 0 {
            return Err(CreateResult::AmountMustNotBeZero);
        }
        if t.debit_account_id == t.credit_account_id {
            return Err(CreateResult::AccountsMustBeDifferent);
        }
        if !t.pending && t.timeout_seconds > 0 {
            return Err(CreateResult::TimeoutRequiresPending);
        }
        if t.pending_id.is_some() {
            return Err(CreateResult::PendingIdRequired);
        }
        let debit = self
            .state
            .accounts
            .get(&t.debit_account_id)
            .ok_or(CreateResult::DebitAccountNotFound)?;
        let credit = self
            .state
            .accounts
            .get(&t.credit_account_id)
            .ok_or(CreateResult::CreditAccountNotFound)?;
        if debit.book != credit.book {
            return Err(CreateResult::BookMismatch);
        }
        if self.allowed_book.is_some_and(|b| b != debit.book) {
            return Err(CreateResult::BookForbidden);
        }
        check_debit(debit, t.amount, 0)?;
        let book = debit.book;
        let (debit_id, credit_id) = (debit.id, credit.id);
        // Both checks passed: apply.
        let debit = self
            .state
            .accounts
            .get_mut(&debit_id)
            .ok_or(CreateResult::DebitAccountNotFound)?;
        if t.pending {
            debit.debits_pending = add(debit.debits_pending, t.amount)?;
        } else {
            debit.debits_posted = add(debit.debits_posted, t.amount)?;
        }
        let credit = self
            .state
            .accounts
            .get_mut(&credit_id)
            .ok_or(CreateResult::CreditAccountNotFound)?;
        if t.pending {
            credit.credits_pending = add(credit.credits_pending, t.amount)?;
        } else {
            credit.credits_posted = add(credit.credits_posted, t.amount)?;
        }
        self.applied.touched_accounts.extend([debit_id, credit_id]);
        Ok(Transfer {
            id: t.id,
            book,
            seq: 0,
            debit_account_id: debit_id,
            credit_account_id: credit_id,
            amount: t.amount,
            kind,
            pending: t.pending,
            timeout_at_us: (t.pending && t.timeout_seconds > 0)
                .then(|| self.now_us + i64::from(t.timeout_seconds) * 1_000_000),
            action: PendingAction::None,
            pending_id: None,
            metadata: t.metadata.clone(),
            created_at_us: self.now_us,
            expiry: false,
            prev_hash: String::new(),
            hash: String::new(),
        })
    }

    fn resolve(&mut self, t: &NewTransfer) -> Result<Transfer, CreateResult> {
        let pending_id = t.pending_id.ok_or(CreateResult::PendingIdRequired)?;
        let p = self
            .find(&pending_id)
            .ok_or(CreateResult::PendingTransferNotFound)?
            .clone();
        if !p.pending {
            return Err(CreateResult::PendingTransferNotPending);
        }
        match self.state.resolutions.get(&pending_id) {
            Some(Resolution::Posted) => return Err(CreateResult::PendingTransferAlreadyPosted),
            Some(Resolution::Voided) => return Err(CreateResult::PendingTransferAlreadyVoided),
            Some(Resolution::Expired) => return Err(CreateResult::PendingTransferExpired),
            None => {}
        }
        let expiry = t.expiry && t.action == PendingAction::Void;
        let timed_out = p.timeout_at_us.is_some_and(|at| at <= self.now_us);
        if t.action == PendingAction::Post && timed_out {
            return Err(CreateResult::PendingTransferExpired);
        }
        let differs = |asked: Uuid, stored: Uuid| !asked.is_nil() && asked != stored;
        if differs(t.debit_account_id, p.debit_account_id)
            || differs(t.credit_account_id, p.credit_account_id)
        {
            return Err(CreateResult::PendingAccountsDiffer);
        }
        if self.allowed_book.is_some_and(|b| b != p.book) {
            return Err(CreateResult::BookForbidden);
        }
        if t.kind.is_some_and(|k| k != p.kind) {
            return Err(CreateResult::ExistsWithDifferentFields);
        }
        let amount = match t.action {
            PendingAction::Post if t.amount == 0 => p.amount,
            PendingAction::Post if t.amount > p.amount => {
                return Err(CreateResult::ExceedsPendingAmount);
            }
            PendingAction::Post => t.amount,
            _ if t.amount != 0 && t.amount != p.amount => {
                return Err(CreateResult::ExceedsPendingAmount);
            }
            _ => p.amount,
        };
        let (debit_id, credit_id) = (p.debit_account_id, p.credit_account_id);
        let posting = t.action == PendingAction::Post;
        {
            let debit = self
                .state
                .accounts
                .get(&debit_id)
                .ok_or(CreateResult::DebitAccountNotFound)?;
            if posting {
                // Releasing the reservation and posting at most as much never adds debits.
                check_debit(debit, amount, p.amount)?;
            }
        }
        let debit = self
            .state
            .accounts
            .get_mut(&debit_id)
            .ok_or(CreateResult::DebitAccountNotFound)?;
        debit.debits_pending = debit
            .debits_pending
            .checked_sub(p.amount)
            .ok_or(CreateResult::PendingTransferNotPending)?;
        if posting {
            debit.debits_posted = add(debit.debits_posted, amount)?;
        }
        let credit = self
            .state
            .accounts
            .get_mut(&credit_id)
            .ok_or(CreateResult::CreditAccountNotFound)?;
        credit.credits_pending = credit
            .credits_pending
            .checked_sub(p.amount)
            .ok_or(CreateResult::PendingTransferNotPending)?;
        if posting {
            credit.credits_posted = add(credit.credits_posted, amount)?;
        }
        self.applied.touched_accounts.extend([debit_id, credit_id]);
        let resolution = match (posting, expiry) {
            (true, _) => Resolution::Posted,
            (false, true) => Resolution::Expired,
            (false, false) => Resolution::Voided,
        };
        self.state.resolutions.insert(pending_id, resolution);
        self.applied.new_resolutions.push(NewResolution {
            pending_id,
            resolution,
            resolved_by: t.id,
            resolved_at_us: self.now_us,
        });
        Ok(Transfer {
            id: t.id,
            book: p.book,
            seq: 0,
            debit_account_id: debit_id,
            credit_account_id: credit_id,
            amount,
            kind: p.kind,
            pending: false,
            timeout_at_us: None,
            action: t.action,
            pending_id: Some(pending_id),
            metadata: t.metadata.clone(),
            created_at_us: self.now_us,
            expiry,
            prev_hash: String::new(),
            hash: String::new(),
        })
    }

    /// Appends a successful transfer to the journal.
    fn commit(&mut self, mut transfer: Transfer) {
        let head = self
            .state
            .heads
            .entry(transfer.book)
            .or_insert_with(|| (0, journal::GENESIS.to_owned()));
        head.0 += 1;
        transfer.seq = head.0;
        transfer.prev_hash = head.1.clone();
        transfer.hash = journal::entry_hash(&transfer.prev_hash, &transfer);
        head.1 = transfer.hash.clone();
        self.applied
            .new_index
            .insert(transfer.id, self.applied.new_transfers.len());
        self.applied.new_transfers.push(transfer);
    }
}

/// Applies `requests` in order. A linked request either succeeds whole or leaves no trace; the
/// failing transfer carries its reason and the others `LinkedEventFailed`.
pub fn apply(state: &mut State, requests: &[Request], now_us: i64) -> Applied {
    let mut applied = Applied::default();
    for request in requests {
        let snapshot = request.linked.then(|| {
            (
                state.clone(),
                applied.new_transfers.len(),
                applied.new_resolutions.len(),
                applied.touched_accounts.clone(),
            )
        });
        let mut results = Vec::with_capacity(request.transfers.len());
        let mut failed_at = None;
        for (i, t) in request.transfers.iter().enumerate() {
            let mut ctx = Ctx {
                state,
                allowed_book: request.allowed_book,
                now_us,
                applied: &mut applied,
            };
            match ctx.one(t) {
                Ok(decided) => results.push(decided),
                Err(result) => {
                    results.push((result, None));
                    if request.linked {
                        failed_at = Some(i);
                        break;
                    }
                }
            }
        }
        if let (Some(failed), Some((saved, transfers, resolutions, touched))) =
            (failed_at, snapshot)
        {
            *state = saved;
            for undone in &applied.new_transfers[transfers..] {
                applied.new_index.remove(&undone.id);
            }
            applied.new_transfers.truncate(transfers);
            applied.new_resolutions.truncate(resolutions);
            applied.touched_accounts = touched;
            let reason = results[failed].0;
            results = (0..request.transfers.len())
                .map(|i| {
                    (
                        if i == failed {
                            reason
                        } else {
                            CreateResult::LinkedEventFailed
                        },
                        None,
                    )
                })
                .collect();
        }
        applied.results.push(results);
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{AccountKind, Metadata, TransferKind};

    const NOW: i64 = 1_800_000_000_000_000;

    fn account(kind: AccountKind, book: Book, credits: u64) -> Account {
        Account {
            id: Uuid::now_v7(),
            book,
            kind,
            owner_id: "o".into(),
            debits_posted: 0,
            credits_posted: credits,
            debits_pending: 0,
            credits_pending: 0,
            budget: None,
            opened_at_us: 0,
        }
    }

    struct World {
        state: State,
        issuance: Uuid,
        resident: Uuid,
        merchant: Uuid,
        other_book: Uuid,
    }

    fn world(resident_points: u64) -> World {
        let mut issuance = account(AccountKind::Issuance, Book::City, 0);
        issuance.budget = Some(1_000);
        let resident = account(AccountKind::Resident, Book::City, resident_points);
        let merchant = account(AccountKind::MerchantPayable, Book::City, 0);
        let district = Book::parse("district:310118").unwrap();
        let other = account(AccountKind::Resident, district, 0);
        let ids = (issuance.id, resident.id, merchant.id, other.id);
        World {
            state: State {
                accounts: [issuance, resident, merchant, other]
                    .into_iter()
                    .map(|a| (a.id, a))
                    .collect(),
                transfers: HashMap::new(),
                resolutions: HashMap::new(),
                heads: HashMap::new(),
            },
            issuance: ids.0,
            resident: ids.1,
            merchant: ids.2,
            other_book: ids.3,
        }
    }

    fn transfer(debit: Uuid, credit: Uuid, amount: u64, kind: TransferKind) -> NewTransfer {
        NewTransfer {
            id: Uuid::now_v7(),
            debit_account_id: debit,
            credit_account_id: credit,
            amount,
            kind: Some(kind),
            pending: false,
            timeout_seconds: 0,
            action: PendingAction::None,
            pending_id: None,
            metadata: Metadata::default(),
            expiry: false,
        }
    }

    fn resolve(pending: Uuid, action: PendingAction, amount: u64) -> NewTransfer {
        NewTransfer {
            id: Uuid::now_v7(),
            debit_account_id: Uuid::nil(),
            credit_account_id: Uuid::nil(),
            amount,
            kind: None,
            pending: false,
            timeout_seconds: 0,
            action,
            pending_id: Some(pending),
            metadata: Metadata::default(),
            expiry: false,
        }
    }

    fn run(state: &mut State, transfers: Vec<NewTransfer>, linked: bool) -> Vec<CreateResult> {
        run_at(state, transfers, linked, NOW)
    }

    fn run_at(
        state: &mut State,
        transfers: Vec<NewTransfer>,
        linked: bool,
        now: i64,
    ) -> Vec<CreateResult> {
        let request = Request {
            transfers,
            linked,
            allowed_book: None,
        };
        let mut applied = apply(state, &[request], now);
        // As the store would: the next group loads what this one wrote.
        state
            .transfers
            .extend(applied.new_transfers.drain(..).map(|t| (t.id, t)));
        applied
            .results
            .remove(0)
            .into_iter()
            .map(|(r, _)| r)
            .collect()
    }

    fn balance(w: &World, id: Uuid) -> (u64, u64, u64, u64) {
        let a = &w.state.accounts[&id];
        (
            a.debits_posted,
            a.credits_posted,
            a.debits_pending,
            a.credits_pending,
        )
    }

    #[test]
    fn rejects_transfer_beyond_balance_and_budget() {
        let mut w = world(100);
        let r = run(
            &mut w.state,
            vec![transfer(w.resident, w.merchant, 101, TransferKind::Redeem)],
            false,
        );
        assert_eq!(r, [CreateResult::ExceedsBalance]);
        let r = run(
            &mut w.state,
            vec![transfer(w.issuance, w.resident, 1_001, TransferKind::Award)],
            false,
        );
        assert_eq!(r, [CreateResult::ExceedsBudget]);
        let r = run(
            &mut w.state,
            vec![transfer(w.issuance, w.resident, 1_000, TransferKind::Award)],
            false,
        );
        assert_eq!(r, [CreateResult::Ok]);
        assert_eq!(balance(&w, w.resident), (0, 1_100, 0, 0));
    }

    #[test]
    fn refuses_malformed_transfers_with_precise_reasons() {
        let mut w = world(100);
        let mut nil = transfer(w.issuance, w.resident, 1, TransferKind::Award);
        nil.id = Uuid::nil();
        let mut no_kind = transfer(w.issuance, w.resident, 1, TransferKind::Award);
        no_kind.kind = None;
        let mut timeout = transfer(w.issuance, w.resident, 1, TransferKind::Award);
        timeout.timeout_seconds = 5;
        let r = run(
            &mut w.state,
            vec![
                nil,
                no_kind,
                transfer(w.issuance, w.resident, 0, TransferKind::Award),
                transfer(w.resident, w.resident, 1, TransferKind::Award),
                transfer(Uuid::now_v7(), w.resident, 1, TransferKind::Award),
                transfer(w.issuance, Uuid::now_v7(), 1, TransferKind::Award),
                transfer(w.issuance, w.other_book, 1, TransferKind::Award),
                timeout,
            ],
            false,
        );
        assert_eq!(
            r,
            [
                CreateResult::InvalidId,
                CreateResult::KindMustBeSet,
                CreateResult::AmountMustNotBeZero,
                CreateResult::AccountsMustBeDifferent,
                CreateResult::DebitAccountNotFound,
                CreateResult::CreditAccountNotFound,
                CreateResult::BookMismatch,
                CreateResult::TimeoutRequiresPending,
            ]
        );
        assert!(w.state.heads.is_empty(), "nothing was journaled");
    }

    #[test]
    fn retries_are_exact_and_conflicting_reuse_is_refused() {
        let mut w = world(0);
        let t = transfer(w.issuance, w.resident, 10, TransferKind::Award);
        assert_eq!(
            run(&mut w.state, vec![t.clone()], false),
            [CreateResult::Ok]
        );
        assert_eq!(
            run(&mut w.state, vec![t.clone()], false),
            [CreateResult::Exists]
        );
        let mut changed = t.clone();
        changed.amount = 11;
        assert_eq!(
            run(&mut w.state, vec![changed], false),
            [CreateResult::ExistsWithDifferentFields]
        );
        assert_eq!(balance(&w, w.resident), (0, 10, 0, 0));
        // Within one group: a repeated id is a retry, and a reservation made earlier in the
        // group can be posted by a later entry.
        let again = transfer(w.issuance, w.resident, 5, TransferKind::Award);
        let mut hold = transfer(w.resident, w.merchant, 4, TransferKind::Redeem);
        hold.pending = true;
        let post = resolve(hold.id, PendingAction::Post, 0);
        assert_eq!(
            run(&mut w.state, vec![again.clone(), again, hold, post], false),
            [
                CreateResult::Ok,
                CreateResult::Exists,
                CreateResult::Ok,
                CreateResult::Ok
            ]
        );
        assert_eq!(balance(&w, w.resident), (4, 15, 0, 0));
    }

    #[test]
    fn a_linked_batch_is_all_or_nothing() {
        let mut w = world(50);
        let r = run(
            &mut w.state,
            vec![
                transfer(w.issuance, w.resident, 10, TransferKind::Award),
                transfer(w.resident, w.merchant, 100, TransferKind::Redeem),
                transfer(w.issuance, w.resident, 5, TransferKind::Award),
            ],
            true,
        );
        assert_eq!(
            r,
            [
                CreateResult::LinkedEventFailed,
                CreateResult::ExceedsBalance,
                CreateResult::LinkedEventFailed
            ]
        );
        assert_eq!(balance(&w, w.resident), (0, 50, 0, 0));
        assert!(w.state.heads.is_empty());
    }

    #[test]
    fn pending_reserves_then_posts_part_and_releases_the_rest() {
        let mut w = world(100);
        let mut p = transfer(w.resident, w.merchant, 80, TransferKind::Redeem);
        p.pending = true;
        p.timeout_seconds = 60;
        assert_eq!(
            run(&mut w.state, vec![p.clone()], false),
            [CreateResult::Ok]
        );
        assert_eq!(balance(&w, w.resident), (0, 100, 80, 0));
        // Reserved points cannot be spent twice.
        let r = run(
            &mut w.state,
            vec![transfer(w.resident, w.merchant, 30, TransferKind::Redeem)],
            false,
        );
        assert_eq!(r, [CreateResult::ExceedsBalance]);
        assert_eq!(
            run(
                &mut w.state,
                vec![resolve(p.id, PendingAction::Post, 90)],
                false
            ),
            [CreateResult::ExceedsPendingAmount]
        );
        assert_eq!(
            run(
                &mut w.state,
                vec![resolve(p.id, PendingAction::Post, 50)],
                false
            ),
            [CreateResult::Ok]
        );
        assert_eq!(balance(&w, w.resident), (50, 100, 0, 0));
        assert_eq!(balance(&w, w.merchant), (0, 50, 0, 0));
        assert_eq!(
            run(
                &mut w.state,
                vec![resolve(p.id, PendingAction::Void, 0)],
                false
            ),
            [CreateResult::PendingTransferAlreadyPosted]
        );
        assert_eq!(
            run(
                &mut w.state,
                vec![resolve(p.id, PendingAction::Post, 0)],
                false
            ),
            [CreateResult::PendingTransferAlreadyPosted]
        );
    }

    #[test]
    fn voids_release_and_timeouts_forbid_posting() {
        let mut w = world(100);
        let mut p = transfer(w.resident, w.merchant, 40, TransferKind::Redeem);
        p.pending = true;
        p.timeout_seconds = 1;
        run(&mut w.state, vec![p.clone()], false);
        let later = NOW + 2_000_000;
        assert_eq!(
            run_at(
                &mut w.state,
                vec![resolve(p.id, PendingAction::Post, 0)],
                false,
                later
            ),
            [CreateResult::PendingTransferExpired]
        );
        let mut expire = resolve(p.id, PendingAction::Void, 0);
        expire.expiry = true;
        assert_eq!(
            run_at(&mut w.state, vec![expire], false, later),
            [CreateResult::Ok]
        );
        assert_eq!(w.state.resolutions[&p.id], Resolution::Expired);
        assert_eq!(balance(&w, w.resident), (0, 100, 0, 0));
        assert_eq!(
            run(
                &mut w.state,
                vec![resolve(p.id, PendingAction::Void, 0)],
                false
            ),
            [CreateResult::PendingTransferExpired]
        );
        let plain = transfer(w.issuance, w.resident, 1, TransferKind::Award);
        let plain_id = plain.id;
        run(&mut w.state, vec![plain], false);
        assert_eq!(
            run(
                &mut w.state,
                vec![resolve(plain_id, PendingAction::Void, 0)],
                false
            ),
            [CreateResult::PendingTransferNotPending]
        );
    }

    #[test]
    fn a_district_service_writes_only_in_its_book() {
        let mut w = world(0);
        let request = Request {
            transfers: vec![transfer(w.issuance, w.resident, 1, TransferKind::Award)],
            linked: false,
            allowed_book: Some(Book::parse("district:310118").unwrap()),
        };
        let results = apply(&mut w.state, &[request], NOW).results;
        assert_eq!(results[0][0].0, CreateResult::BookForbidden);
    }

    #[test]
    fn every_success_extends_its_books_chain() {
        let mut w = world(0);
        run(
            &mut w.state,
            vec![
                transfer(w.issuance, w.resident, 1, TransferKind::Award),
                transfer(w.issuance, w.resident, 2, TransferKind::Award),
            ],
            false,
        );
        let (seq, head) = &w.state.heads[&Book::City];
        assert_eq!(*seq, 2);
        let mut chain: Vec<&Transfer> = w.state.transfers.values().collect();
        chain.sort_by_key(|t| t.seq);
        assert_eq!(chain[0].prev_hash, journal::GENESIS);
        assert_eq!(chain[1].prev_hash, chain[0].hash);
        assert_eq!(&chain[1].hash, head);
    }
}
