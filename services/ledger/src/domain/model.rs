//! Ledger records, free of transport and storage types. Points are `u64`; times are Unix
//! microseconds (exact on every backend, and part of the journal's hashed bytes).

use healthpoints_types::Book;
use uuid::Uuid;

use super::lots::{ExpiresOn, Lots, Shares};

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

named_enum!(
    /// What an account is for.
    AccountKind {
        Resident => "resident",
        Issuance => "issuance",
        MerchantPayable => "merchant_payable",
        Settled => "settled",
        Expiry => "expiry",
        Adjustment => "adjustment",
        Migration => "migration",
    }
);

impl AccountKind {
    /// Whether debits may exceed credits: only the sources of points (issuance, adjustment, and
    /// migration: the points a city's earlier platform had issued).
    /// Every other account must keep `debits_posted + debits_pending <= credits_posted`.
    pub fn may_go_negative(self) -> bool {
        matches!(self, Self::Issuance | Self::Adjustment | Self::Migration)
    }
}

/// The number a book carries in its accounts' ids: 0 for `city`, the district's six-digit code
/// for `district:<code>`.
pub fn book_number(book: Book) -> u32 {
    match book {
        Book::City => 0,
        Book::District(code) => code.as_str().parse().unwrap_or(u32::MAX),
    }
}

/// A fresh account id for `book`. Its first four bytes are [`book_number`] (big-endian), the
/// rest random (a version 8 UUID). The database checks that prefix against the book with a
/// plain CHECK constraint on every account and on both sides of every transfer, so "both
/// accounts of a transfer are in its book" needs no lookup per row.
pub fn new_account_id(book: Book) -> Uuid {
    let mut bytes = Uuid::new_v4().into_bytes();
    bytes[..4].copy_from_slice(&book_number(book).to_be_bytes());
    Uuid::new_v8(bytes)
}

/// The book an account id was minted for, if it is one of ours.
pub fn book_of_account(id: Uuid) -> Option<Book> {
    if id.get_version_num() != 8 {
        return None;
    }
    let bytes = id.as_bytes();
    match u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) {
        0 => Some(Book::City),
        n => Book::parse(&format!("district:{n:06}")).ok(),
    }
}

named_enum!(
    /// Why points moved.
    TransferKind {
        Award => "award",
        Redeem => "redeem",
        Refund => "refund",
        Expire => "expire",
        Adjust => "adjust",
        Settle => "settle",
    }
);

named_enum!(
    /// What a transfer does to an earlier pending transfer.
    PendingAction {
        None => "none",
        Post => "post",
        Void => "void",
    }
);

named_enum!(
    /// How a pending transfer ended.
    Resolution {
        Posted => "posted",
        Voided => "voided",
        Expired => "expired",
    }
);

/// An account and its four balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub book: Book,
    pub kind: AccountKind,
    pub owner_id: String,
    pub debits_posted: u64,
    pub credits_posted: u64,
    pub debits_pending: u64,
    pub credits_pending: u64,
    pub budget: Option<u64>,
    pub opened_at_us: i64,
    /// Resident accounts: what can be spent, by the day it expires (see [`super::lots`]).
    pub lots: Lots,
}

impl Account {
    /// Points held: credits minus debits, posted only.
    pub fn posted(&self) -> i128 {
        i128::from(self.credits_posted) - i128::from(self.debits_posted)
    }

    /// What can still be spent: posted minus reserved.
    pub fn available(&self) -> i128 {
        self.posted() - i128::from(self.debits_pending)
    }
}

/// Why a transfer happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub event_id: String,
    pub order_id: String,
    pub rule_code: String,
    pub rule_version: u32,
    pub reason: String,
}

/// A transfer as a client asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransfer {
    pub id: Uuid,
    pub debit_account_id: Uuid,
    pub credit_account_id: Uuid,
    /// For a post, 0 means the full pending amount.
    pub amount: u64,
    pub kind: Option<TransferKind>,
    pub pending: bool,
    pub timeout_seconds: u32,
    pub action: PendingAction,
    pub pending_id: Option<Uuid>,
    pub metadata: Metadata,
    /// Set only by the sweeper: this void expires a pending transfer whose timeout passed.
    pub expiry: bool,
    /// A credit to a resident: the day its points expire (`None`: never). An expiry: the lot
    /// it expires.
    pub expires_on: ExpiresOn,
    /// A refund to a resident: the posted debit whose points come back, to the lots they were
    /// taken from.
    pub refund_of: Option<Uuid>,
}

/// A committed, immutable transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub id: Uuid,
    pub book: Book,
    /// Position in the book's journal, from 1.
    pub seq: u64,
    pub debit_account_id: Uuid,
    pub credit_account_id: Uuid,
    pub amount: u64,
    pub kind: TransferKind,
    pub pending: bool,
    /// Pending transfers with a timeout: when the sweeper voids it.
    pub timeout_at_us: Option<i64>,
    pub action: PendingAction,
    pub pending_id: Option<Uuid>,
    pub metadata: Metadata,
    pub created_at_us: i64,
    /// Set when it voids a pending transfer because its timeout passed.
    pub expiry: bool,
    /// As asked (see [`NewTransfer::expires_on`]).
    pub expires_on: ExpiresOn,
    pub refund_of: Option<Uuid>,
    /// Set by the ledger: the resident's lots this transfer took points from (a debit) or gave
    /// them to (a credit); empty when no resident account is on either side.
    pub lots: Shares,
    pub prev_hash: String,
    pub hash: String,
}

/// The result of one requested transfer (TigerBeetle-style, one per request entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreateResult {
    Ok,
    Exists,
    ExistsWithDifferentFields,
    LinkedEventFailed,
    InvalidId,
    AmountMustNotBeZero,
    AccountsMustBeDifferent,
    DebitAccountNotFound,
    CreditAccountNotFound,
    BookMismatch,
    BookForbidden,
    ExceedsBalance,
    ExceedsBudget,
    KindMustBeSet,
    PendingIdRequired,
    PendingTransferNotFound,
    PendingTransferNotPending,
    PendingTransferAlreadyPosted,
    PendingTransferAlreadyVoided,
    PendingTransferExpired,
    ExceedsPendingAmount,
    PendingAccountsDiffer,
    TimeoutRequiresPending,
    /// An expiry named no lot of the account that expires (or none at all).
    ExpiryLotNotFound,
    /// An expiry named a lot whose last day has not ended.
    ExpiryNotDue,
    /// An expiry asked for more than its lot holds.
    ExceedsLot,
    /// A refund named no posted debit of the account it credits.
    RefundOfNotFound,
}

impl CreateResult {
    /// Success, including an exact retry of an earlier success.
    pub fn is_success(self) -> bool {
        matches!(self, Self::Ok | Self::Exists)
    }
}

/// Balances of one account, as residents see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub book: Book,
    pub account_id: Uuid,
    pub posted: u64,
    pub pending: u64,
    pub available: u64,
    /// Points of `available` that expire, by day, soonest first.
    pub expiring: Vec<(chrono::NaiveDate, u64)>,
}

/// A line of an account's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub transfer: Transfer,
    /// Credited (+) or debited (-) to this account.
    pub credit: bool,
    pub counterparty_kind: AccountKind,
    /// For a pending transfer: how it was resolved, if it was (a post, a void, the timeout).
    pub resolution: Option<Resolution>,
}

impl HistoryEntry {
    fn signed(&self, amount: u64) -> i64 {
        let amount = i64::try_from(amount).unwrap_or(i64::MAX);
        if self.credit { amount } else { -amount }
    }

    /// What this line did to the account's posted balance, signed: an ordinary transfer or
    /// a post moves it; a reservation (pending) and a void do not. Summed over the account's
    /// whole history it is the posted balance (credits − debits), so a reservation and its
    /// post are never counted twice.
    pub fn posted_points(&self) -> i64 {
        if self.transfer.pending || self.transfer.action == PendingAction::Void {
            0
        } else {
            self.signed(self.transfer.amount)
        }
    }

    /// For a reservation (a pending transfer), the points it set aside, signed; `None` on
    /// every other line. Summed over the reservations still pending (no `resolution`) it is
    /// the account's pending balance.
    pub fn pending_points(&self) -> Option<i64> {
        self.transfer
            .pending
            .then(|| self.signed(self.transfer.amount))
    }
}

/// Figures of one book.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookStatistics {
    pub issued: u64,
    pub redeemed: u64,
    pub refunded: u64,
    pub expired: u64,
    pub outstanding: u64,
    pub budget: Option<u64>,
    pub budget_left: Option<u64>,
    pub resident_accounts: u64,
    /// Points brought from the city's earlier platform (the migration account's net debit).
    pub migrated: u64,
}

/// Where a verification of a book's hash chain starts: after entry `seq`, whose hash the
/// auditor recorded as `hash` (the start of the book is `0` and the genesis hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
}

/// The outcome of recomputing (a range of) a book's hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalReport {
    pub entries_checked: u64,
    pub first_broken_seq: Option<u64>,
    pub detail: String,
    /// The last entry verified intact: the checkpoint to continue from.
    pub last: Checkpoint,
    /// Whether the verification reached the book's head (and checked it).
    pub complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_carry_their_book() {
        for book in std::iter::once(Book::City)
            .chain(healthpoints_types::DistrictCode::all().map(Book::District))
        {
            let id = new_account_id(book);
            assert_eq!(book_of_account(id), Some(book));
            assert_ne!(id, new_account_id(book), "ids are random beyond the book");
        }
        let qingpu = Book::parse("district:310118").unwrap();
        assert!(new_account_id(qingpu).to_string().starts_with("0004bb66-"));
        assert_eq!(
            book_of_account(Uuid::now_v7()),
            None,
            "not minted by the ledger"
        );
        assert_eq!(
            book_of_account(Uuid::new_v8([0xff; 16])),
            None,
            "no such district"
        );
    }
}
