//! What a planned group writes — its new transfers, resolutions, balances and book-head moves —
//! and how a commit that finds a head moved is refused. Both write paths (the portable rows in
//! `write.rs` and PostgreSQL's one statement in `postgres.rs`) take it from here, so neither
//! reaches into the other.

use healthpoints_types::Book;

use crate::domain::{
    engine::NewResolution,
    error::LedgerError,
    model::{Account, Transfer},
};

/// A book's journal head: last position and hash.
pub(super) type Head = (u64, String);

/// A book whose head the group moves, from where the plan found it to where the group leaves it.
#[derive(Debug, Clone)]
pub(super) struct HeadMove {
    pub(super) book: Book,
    pub(super) from: Head,
    pub(super) to: Head,
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
