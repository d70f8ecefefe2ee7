//! The ledger's rules, applied in memory to one group of requests at a time: which transfers
//! succeed, what each does to the balances, and the journal entry each one adds. Pure: the
//! writer loads the state (under row locks), calls [`apply`], and writes what it returns in the
//! same database transaction. The database's constraints re-check the invariants on commit.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use healthpoints_types::Book;
use uuid::Uuid;

use super::{
    journal,
    lots::{LotError, Lots, Shares},
    model::{
        Account, AccountKind, CreateResult, NewTransfer, PendingAction, Resolution, Transfer,
        TransferKind,
    },
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
    /// Stored (or in-flight) refunds naming a debit that the group's refunds name: what they
    /// returned is not returned again.
    pub refunds: Vec<Transfer>,
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
        && t.expires_on == s.expires_on
        && t.refund_of == s.refund_of
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

/// A lot change refused, as the transfer's result.
fn lot_result(e: LotError) -> CreateResult {
    match e {
        LotError::Short => CreateResult::ExceedsLot,
        LotError::NoSuchLot => CreateResult::ExpiryLotNotFound,
        LotError::NotYetDue => CreateResult::ExpiryNotDue,
        LotError::Overflow => CreateResult::ExceedsBalance,
    }
}

/// `lots` with `shares` added.
fn given(lots: &Lots, shares: &Shares) -> Result<Lots, CreateResult> {
    let mut lots = lots.clone();
    lots.give(shares).map_err(lot_result)?;
    Ok(lots)
}

struct Ctx<'a> {
    state: &'a mut State,
    allowed_book: Option<Book>,
    now_us: i64,
    /// Today in Asia/Shanghai: lots whose day is before it may expire.
    today: NaiveDate,
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
        // The lots: a resident's debit takes from them (an expiry from the one lot it names),
        // a resident's posted credit gives to them; decided before anything changes.
        let resident_debit = debit.kind == AccountKind::Resident;
        let resident_credit = credit.kind == AccountKind::Resident;
        let mut shares = Shares::default();
        let mut debit_lots = None;
        if resident_debit {
            let mut lots = debit.lots.clone();
            shares = if kind == TransferKind::Expire {
                let day = t.expires_on.ok_or(CreateResult::ExpiryLotNotFound)?;
                lots.expire(day, t.amount, self.today).map_err(lot_result)?;
                Shares::one(Some(day), t.amount)
            } else {
                // The balance check passed, so the lots hold enough: they add up to it.
                lots.take_oldest(t.amount)
                    .map_err(|_| CreateResult::ExceedsBalance)?
            };
            debit_lots = Some(lots);
        } else if kind == TransferKind::Expire {
            return Err(CreateResult::ExpiryLotNotFound);
        }
        let mut credit_lots = None;
        if resident_credit && !t.pending {
            // Points moved between residents keep their days.
            if !resident_debit {
                shares = self.refunded(t, credit_id)?;
            }
            credit_lots = Some(given(&credit.lots, &shares)?);
        }
        // Every check passed: apply.
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
        if let Some(lots) = debit_lots {
            debit.lots = lots;
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
        if let Some(lots) = credit_lots {
            credit.lots = lots;
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
            expires_on: t.expires_on,
            refund_of: t.refund_of,
            lots: shares,
            prev_hash: String::new(),
            hash: String::new(),
        })
    }

    /// The lots a credit to a resident's account goes to: a refund's points go back where the
    /// debit it names took them from and no earlier refund of it returned them (the latest
    /// first when it returns only part; beyond that, to the day the refund carries); any other
    /// credit to its own day.
    fn refunded(&self, t: &NewTransfer, account: Uuid) -> Result<Shares, CreateResult> {
        let Some(of) = t.refund_of else {
            return Ok(Shares::one(t.expires_on, t.amount));
        };
        let spent = self
            .find(&of)
            .filter(|r| {
                r.debit_account_id == account && !r.pending && r.action != PendingAction::Void
            })
            .ok_or(CreateResult::RefundOfNotFound)?;
        // What earlier refunds of this debit (stored, in flight, or earlier in this group)
        // returned is not returned again: a lot never gets back more than the debit took.
        let mut returned = Shares::default();
        for r in self
            .state
            .refunds
            .iter()
            .chain(&self.applied.new_transfers)
            .filter(|r| r.refund_of == Some(of) && r.id != t.id && r.credit_account_id == account)
        {
            returned.0.extend(r.lots.0.iter().copied());
        }
        let mut taken = spent.lots.covering(spent.amount).minus(&returned);
        let mut back = taken.split_latest(t.amount);
        let beyond = u128::from(t.amount) - back.total();
        if beyond > 0 {
            back.0
                .push((t.expires_on, u64::try_from(beyond).unwrap_or(u64::MAX)));
        }
        Ok(back)
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
        let mut shares = Shares::default();
        let (mut debit_lots, mut credit_lots) = (None, None);
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
            let credit = self
                .state
                .accounts
                .get(&credit_id)
                .ok_or(CreateResult::CreditAccountNotFound)?;
            // A reservation took points from the resident's lots: what it does not spend goes
            // back to them, the latest first (a reservation from before lots, to `never`).
            if debit.kind == AccountKind::Resident {
                let mut kept = p.lots.covering(p.amount);
                let back = if posting {
                    kept.split_latest(p.amount - amount)
                } else {
                    std::mem::take(&mut kept)
                };
                debit_lots = Some(given(&debit.lots, &back)?);
                shares = if posting { kept } else { back };
            }
            if credit.kind == AccountKind::Resident && posting {
                if debit.kind != AccountKind::Resident {
                    shares = Shares::one(p.expires_on, amount);
                }
                credit_lots = Some(given(&credit.lots, &shares)?);
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
        if let Some(lots) = debit_lots {
            debit.lots = lots;
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
        if let Some(lots) = credit_lots {
            credit.lots = lots;
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
            expires_on: t.expires_on,
            refund_of: t.refund_of,
            lots: shares,
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
    let today = healthpoints_types::calendar::local_date(
        chrono::DateTime::from_timestamp_micros(now_us).unwrap_or_default(),
    );
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
                today,
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
mod tests;
