//! The engine decided in memory: limits, retries, linked batches, reservations and their
//! resolutions, district books, and the journal chain.

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
        lots: if kind == AccountKind::Resident && credits > 0 {
            let mut lots = Lots::default();
            lots.give(&Shares::one(None, credits)).unwrap();
            lots
        } else {
            Lots::default()
        },
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
            refunds: Vec::new(),
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
        expires_on: None,
        refund_of: None,
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
        expires_on: None,
        refund_of: None,
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
    // As the store would: the next group loads what this one wrote (and the refunds of a
    // debit it names).
    state.refunds.extend(
        applied
            .new_transfers
            .iter()
            .filter(|t| t.refund_of.is_some())
            .cloned(),
    );
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

/// A reservation of `amount` from the resident to the merchant, made.
fn hold(w: &mut World, amount: u64) -> NewTransfer {
    let mut p = transfer(w.resident, w.merchant, amount, TransferKind::Redeem);
    p.pending = true;
    assert_eq!(
        run(&mut w.state, vec![p.clone()], false),
        [CreateResult::Ok]
    );
    p
}

#[test]
fn a_retried_resolution_must_repeat_its_amount() {
    let mut w = world(100);
    let p = hold(&mut w, 80);
    let post = resolve(p.id, PendingAction::Post, 50);
    assert_eq!(
        run(&mut w.state, vec![post.clone()], false),
        [CreateResult::Ok]
    );
    assert_eq!(
        run(&mut w.state, vec![post.clone()], false),
        [CreateResult::Exists]
    );
    // "0" means the whole reservation only when the resolution itself said so.
    let mut other = post;
    other.amount = 60;
    assert_eq!(
        run(&mut w.state, vec![other], false),
        [CreateResult::ExistsWithDifferentFields]
    );
    assert_eq!(balance(&w, w.resident), (50, 100, 0, 0));
}

#[test]
fn resolutions_are_checked_against_their_reservation() {
    let mut w = world(100);
    // Posting exactly the reserved amount, named, is the whole of it.
    let p = hold(&mut w, 10);
    assert_eq!(
        run(
            &mut w.state,
            vec![resolve(p.id, PendingAction::Post, 10)],
            false
        ),
        [CreateResult::Ok]
    );
    // A void names no amount or exactly the reserved one; voided is voided, not expired.
    let p = hold(&mut w, 10);
    assert_eq!(
        run(
            &mut w.state,
            vec![resolve(p.id, PendingAction::Void, 11)],
            false
        ),
        [CreateResult::ExceedsPendingAmount]
    );
    assert_eq!(
        run(
            &mut w.state,
            vec![resolve(p.id, PendingAction::Void, 10)],
            false
        ),
        [CreateResult::Ok]
    );
    assert_eq!(
        run(
            &mut w.state,
            vec![resolve(p.id, PendingAction::Void, 0)],
            false
        ),
        [CreateResult::PendingTransferAlreadyVoided]
    );
    // Accounts, when named, must be the reservation's: one wrong side is enough to refuse.
    let p = hold(&mut w, 10);
    let named = |debit: Uuid, credit: Uuid| {
        let mut r = resolve(p.id, PendingAction::Post, 0);
        r.debit_account_id = debit;
        r.credit_account_id = credit;
        r
    };
    for wrong in [named(w.resident, w.issuance), named(w.issuance, w.merchant)] {
        assert_eq!(
            run(&mut w.state, vec![wrong], false),
            [CreateResult::PendingAccountsDiffer]
        );
    }
    assert_eq!(
        run(&mut w.state, vec![named(w.resident, w.merchant)], false),
        [CreateResult::Ok]
    );
    assert_eq!(balance(&w, w.resident), (20, 100, 0, 0));
}

#[test]
fn a_district_service_resolves_only_in_its_book() {
    let mut w = world(100);
    let district = Book::parse("district:310118").unwrap();
    let payer = account(AccountKind::Resident, district, 50);
    let shop = account(AccountKind::MerchantPayable, district, 0);
    let mut local = transfer(payer.id, shop.id, 5, TransferKind::Redeem);
    local.pending = true;
    w.state
        .accounts
        .extend([(payer.id, payer), (shop.id, shop)]);
    assert_eq!(
        run(&mut w.state, vec![local.clone()], false),
        [CreateResult::Ok]
    );
    let city = hold(&mut w, 5);
    let mut as_district = |t: NewTransfer| {
        let request = Request {
            transfers: vec![t],
            linked: false,
            allowed_book: Some(district),
        };
        apply(&mut w.state, &[request], NOW).results[0][0].0
    };
    assert_eq!(
        as_district(resolve(city.id, PendingAction::Post, 0)),
        CreateResult::BookForbidden
    );
    assert_eq!(
        as_district(resolve(local.id, PendingAction::Post, 0)),
        CreateResult::Ok
    );
}

#[test]
fn the_whole_balance_may_be_spent_and_not_a_point_more() {
    let mut w = world(100);
    let mut p = transfer(w.resident, w.merchant, 60, TransferKind::Redeem);
    p.pending = true;
    let rest = transfer(w.resident, w.merchant, 40, TransferKind::Redeem);
    let more = transfer(w.resident, w.merchant, 1, TransferKind::Redeem);
    assert_eq!(
        run(&mut w.state, vec![p.clone(), rest, more], false),
        [
            CreateResult::Ok,
            CreateResult::Ok,
            CreateResult::ExceedsBalance
        ]
    );
    assert_eq!(
        run(
            &mut w.state,
            vec![resolve(p.id, PendingAction::Post, 0)],
            false
        ),
        [CreateResult::Ok]
    );
    assert_eq!(balance(&w, w.resident), (100, 100, 0, 0));
}

#[test]
fn a_debit_goes_back_to_its_days_once_and_a_second_refund_beyond_it() {
    let mut w = world(0);
    if let Some(m) = w.state.accounts.get_mut(&w.merchant) {
        m.credits_posted = 100;
    }
    let day = NaiveDate::from_ymd_opt(2027, 1, 31);
    let mut award = transfer(w.issuance, w.resident, 71, TransferKind::Award);
    award.expires_on = day;
    let redeem = transfer(w.resident, w.merchant, 1, TransferKind::Redeem);
    let refund = |amount| {
        let mut t = transfer(w.merchant, w.resident, amount, TransferKind::Refund);
        t.refund_of = Some(redeem.id);
        t
    };
    let (first, second) = (refund(1), refund(1));
    assert_eq!(
        run(&mut w.state, vec![award, redeem.clone()], false),
        [CreateResult::Ok, CreateResult::Ok]
    );
    // One group and then the next: both see the first refund.
    assert_eq!(run(&mut w.state, vec![first], false), [CreateResult::Ok]);
    assert_eq!(
        run(&mut w.state, vec![second, refund(1)], false),
        [CreateResult::Ok, CreateResult::Ok]
    );
    let lots = &w.state.accounts[&w.resident].lots;
    let by_day: Vec<(Option<NaiveDate>, u64)> =
        lots.iter().map(|l| (l.expires_on, l.points)).collect();
    assert_eq!(
        by_day,
        [(day, 71), (None, 2)],
        "the day got back only what the debit took"
    );
}
