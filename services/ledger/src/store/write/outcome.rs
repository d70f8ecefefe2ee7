//! What a planned group writes — its new transfers, resolutions, balances and book-head moves
//! (with what it adds to each book's running figures) —
//! and how a commit that finds a head moved is refused. Both write paths (the portable rows in
//! `write.rs` and PostgreSQL's one statement in `postgres.rs`) take it from here, so neither
//! reaches into the other.

use std::collections::HashMap;

use healthpoints_types::Book;
use uuid::Uuid;

use crate::{
    domain::{
        engine::NewResolution,
        error::{LedgerError, Result},
        model::{Account, AccountKind, PendingAction, Transfer, TransferKind},
    },
    store::to_i64,
};

/// A book's journal head: last position and hash.
pub(super) type Head = (u64, String);

/// A book whose head the group moves, from where the plan found it to where the group leaves
/// it, and what the group adds to the book's running figures on the same row.
#[derive(Debug, Clone)]
pub(super) struct HeadMove {
    pub(super) book: Book,
    pub(super) from: Head,
    pub(super) to: Head,
    pub(super) adds: Figures,
}

/// What a group adds to a book's running figures (`migration::FIGURES_RECOUNTED`): the points
/// it posted by kind, and the change in what the book's residents hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Figures {
    pub(super) issued: i64,
    pub(super) redeemed: i64,
    pub(super) refunded: i64,
    pub(super) expired: i64,
    pub(super) outstanding: i64,
}

impl Figures {
    /// Each book's figures added by `transfers`, whose accounts are all in `kinds`. A movement
    /// counts when it is posted: a direct transfer, or the post of a reservation.
    pub(super) fn of(
        transfers: &[Transfer],
        kinds: &HashMap<Uuid, AccountKind>,
    ) -> Result<HashMap<Book, Figures>> {
        let mut books: HashMap<Book, Figures> = HashMap::new();
        for t in transfers {
            let posted =
                (t.action == PendingAction::None && !t.pending) || t.action == PendingAction::Post;
            if !posted || t.amount == 0 {
                continue;
            }
            let amount = to_i64(t.amount)?;
            let kind = |id: &Uuid| {
                kinds
                    .get(id)
                    .copied()
                    .ok_or_else(|| LedgerError::fault("a transfer's account was not loaded"))
            };
            let held = match (kind(&t.credit_account_id)?, kind(&t.debit_account_id)?) {
                (AccountKind::Resident, AccountKind::Resident) => 0,
                (AccountKind::Resident, _) => amount,
                (_, AccountKind::Resident) => -amount,
                _ => 0,
            };
            let f = books.entry(t.book).or_default();
            match t.kind {
                TransferKind::Award => add(&mut f.issued, amount)?,
                TransferKind::Redeem => add(&mut f.redeemed, amount)?,
                TransferKind::Refund => add(&mut f.refunded, amount)?,
                TransferKind::Expire => add(&mut f.expired, amount)?,
                TransferKind::Adjust | TransferKind::Settle => {}
            }
            add(&mut f.outstanding, held)?;
        }
        Ok(books)
    }
}

fn add(figure: &mut i64, amount: i64) -> Result<()> {
    *figure = figure
        .checked_add(amount)
        .ok_or_else(|| LedgerError::fault("a book's figure is out of range"))?;
    Ok(())
}

/// What a group writes.
#[derive(Debug, Default)]
pub struct Writes {
    pub(super) transfers: Vec<Transfer>,
    pub(super) resolutions: Vec<NewResolution>,
    /// Balances after the group of every account it touched, sorted by id.
    pub(super) accounts: Vec<Account>,
    pub(super) heads: Vec<HeadMove>,
}

impl Writes {
    /// Whether the group changes nothing (every transfer failed or already existed).
    pub fn is_empty(&self) -> bool {
        self.transfers.is_empty()
    }
}

/// The refusal when a book's head is not where a plan found it.
pub(super) fn head_moved() -> LedgerError {
    LedgerError::fault("a book's journal head moved while the group was planned")
}
