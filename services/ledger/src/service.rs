//! Every ledger operation with its authorisation, and the sweeper that expires pending
//! transfers and points whose day ended ([`expiry`]); the [`writer`] turns concurrent requests
//! into few database transactions.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use aws_lc_rs::digest::{SHA256, digest};
use healthpoints_auth::Principal;
use healthpoints_types::Book;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::domain::{
    engine::Request,
    error::{LedgerError, Result},
    journal,
    model::{
        Account, AccountKind, Balance, BookStatistics, Checkpoint, CreateResult, HistoryEntry,
        JournalReport, Metadata, NewTransfer, PendingAction, Resolution, Transfer, TransferKind,
    },
};
use crate::store::Store;

mod expiry;
mod opening;
mod writer;
pub use expiry::{expiry_reason, lot_expiry_id};
pub use opening::{OPENING_BATCH, OPENING_RULE, OpeningBalance, OpeningOutcome, opening_id};
pub use writer::COMMITS_IN_FLIGHT;
use writer::run_writer;

/// The most transfers one request may carry.
pub const MAX_BATCH: usize = 8_000;

/// The most transfers the writer puts in one database transaction.
const MAX_GROUP: usize = 8_000;

/// The clock in Unix microseconds, replaceable in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Tuning of the ledger domain.
#[derive(Clone)]
pub struct LedgerOptions {
    /// How often the sweeper looks for pending transfers whose timeout passed.
    pub sweep_interval: Duration,
    /// Group commits the writer lets run at once while it plans the next group (at least 1).
    pub commits_in_flight: usize,
    /// Days before their points expire that residents are told (0: never).
    pub expiry_notice_days: u32,
    pub clock: Clock,
}

impl std::fmt::Debug for LedgerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerOptions")
            .field("sweep_interval", &self.sweep_interval)
            .field("commits_in_flight", &self.commits_in_flight)
            .finish_non_exhaustive()
    }
}

impl Default for LedgerOptions {
    fn default() -> Self {
        Self {
            sweep_interval: Duration::from_secs(1),
            commits_in_flight: COMMITS_IN_FLIGHT,
            expiry_notice_days: 30,
            clock: Arc::new(now_us),
        }
    }
}

type Outcome = Vec<(CreateResult, Option<Transfer>)>;

struct Job {
    request: Request,
    reply: oneshot::Sender<Result<Outcome>>,
}

/// Which account a history read is about.
#[derive(Debug, Clone)]
pub enum AccountSelector {
    Id(String),
    /// The owner's resident account in a book.
    OwnerBook {
        owner_id: String,
        book: String,
    },
}

/// The ledger's domain; cheap to share.
pub struct Ledger {
    store: Store,
    writer: mpsc::Sender<Job>,
    clock: Clock,
    expiry_notice_days: u32,
    /// Groups the writer had to write again with locks (see [`Ledger::groups_written_with_locks`]).
    locked: Arc<AtomicU64>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").finish_non_exhaustive()
    }
}

/// Now, in Unix microseconds.
/// Journal entries one `VerifyJournal` call checks at most (a few seconds of work); longer
/// books are verified in ranges, each continuing from the checkpoint the previous one returned.
pub const VERIFY_MAX_ENTRIES: u64 = 200_000;

pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The id of the void that expires `pending_id`: derived, so retries and concurrent sweepers
/// (other replicas, restarts) all name the same transfer and it is written once.
pub fn expiry_id(pending_id: Uuid) -> Uuid {
    derived_id(&[b"healthpoints/ledger/expiry/v1/", pending_id.as_bytes()])
}

/// A transfer id derived from its parts (the first 16 bytes of their SHA-256, as a version 8
/// UUID): whoever derives it again — a retry, a restart, another replica — names the same
/// transfer, which the ledger writes once.
fn derived_id(parts: &[&[u8]]) -> Uuid {
    let d = digest(&SHA256, &parts.concat());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d.as_ref()[..16]);
    Uuid::new_v8(bytes)
}

/// Where a principal may write: `Ok(None)` for any book.
fn writable_book(caller: &Principal) -> Result<Option<Book>> {
    match caller {
        Principal::Service { district, .. } => Ok(district.map(Book::District)),
        _ => Err(LedgerError::Forbidden(
            "only mesh services may write to the ledger",
        )),
    }
}

/// Whether a principal may read a book's figures and accounts.
fn may_read_book(caller: &Principal, book: Book) -> bool {
    match caller {
        Principal::CityAdmin { .. } => true,
        Principal::Service { district, .. } => district.is_none_or(|d| book == Book::District(d)),
        Principal::DistrictAdmin { district, .. } => book == Book::District(*district),
        _ => false,
    }
}

/// Whether a principal may read one account.
fn may_read_account(caller: &Principal, account: &Account) -> bool {
    match caller {
        Principal::Resident { resident_id } => {
            account.kind == AccountKind::Resident && account.owner_id == resident_id.to_string()
        }
        Principal::Merchant { merchant_id, .. } => {
            matches!(
                account.kind,
                AccountKind::MerchantPayable | AccountKind::Settled
            ) && account.owner_id == merchant_id.to_string()
        }
        other => may_read_book(other, account.book),
    }
}

fn parse_book(field: &str, raw: &str) -> Result<Book> {
    Book::parse(raw).map_err(|e| LedgerError::invalid(field, e.0))
}

impl Ledger {
    /// Starts the writer and the sweeper; both stop when the last handle is dropped.
    pub fn start(store: Store, options: LedgerOptions) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(4096);
        let locked = Arc::new(AtomicU64::new(0));
        tokio::spawn(run_writer(
            store.clone(),
            rx,
            options.clock.clone(),
            options.commits_in_flight.max(1),
            locked.clone(),
        ));
        let ledger = Arc::new(Self {
            store,
            writer: tx,
            clock: options.clock,
            expiry_notice_days: options.expiry_notice_days,
            locked,
        });
        tokio::spawn(run_sweeper(Arc::downgrade(&ledger), options.sweep_interval));
        ledger
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How many groups the writer wrote again in one locked transaction because their
    /// optimistic commit was refused (another writer moved a book head) or could not be
    /// planned: a figure for operators, and the proof in tests that the locked path ran.
    pub fn groups_written_with_locks(&self) -> u64 {
        self.locked.load(Ordering::Relaxed)
    }

    async fn submit(&self, request: Request) -> Result<Outcome> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Job { request, reply })
            .await
            .map_err(|_| LedgerError::ShuttingDown)?;
        answer.await.map_err(|_| LedgerError::ShuttingDown)?
    }

    // === accounts ===

    /// Opens accounts that do not exist yet. Services only; a district service only in its book.
    pub async fn open_accounts(
        &self,
        caller: &Principal,
        specs: Vec<(String, String, String)>,
    ) -> Result<Vec<Account>> {
        let allowed = writable_book(caller)?;
        if specs.is_empty() || specs.len() > MAX_BATCH {
            return Err(LedgerError::invalid(
                "accounts",
                format!("must hold 1 to {MAX_BATCH} accounts"),
            ));
        }
        let mut parsed = Vec::with_capacity(specs.len());
        for (i, (book, kind, owner)) in specs.into_iter().enumerate() {
            let book = parse_book(&format!("accounts[{i}].book"), &book)?;
            let kind = AccountKind::parse(&kind).ok_or_else(|| {
                LedgerError::invalid(&format!("accounts[{i}].kind"), "must be set")
            })?;
            let owner = match kind {
                // One per book: the book owns its system accounts.
                AccountKind::Issuance
                | AccountKind::Expiry
                | AccountKind::Adjustment
                | AccountKind::Migration => {
                    if !owner.is_empty() && owner != book.to_string() {
                        return Err(LedgerError::invalid(
                            &format!("accounts[{i}].owner_id"),
                            "system accounts are owned by their book; leave it empty",
                        ));
                    }
                    book.to_string()
                }
                _ if owner.trim().is_empty() || owner.len() > 64 => {
                    return Err(LedgerError::invalid(
                        &format!("accounts[{i}].owner_id"),
                        "must be 1 to 64 characters",
                    ));
                }
                _ => owner.trim().to_owned(),
            };
            if allowed.is_some_and(|b| b != book) {
                return Err(LedgerError::Forbidden(
                    "a district service may open accounts only in its own book",
                ));
            }
            parsed.push((book, kind, owner));
        }
        self.store.open_accounts(&parsed, (self.clock)()).await
    }

    /// Accounts by id that the caller may see.
    pub async fn lookup_accounts(
        &self,
        caller: &Principal,
        ids: &[String],
    ) -> Result<Vec<Account>> {
        let ids = parse_ids("ids", ids)?;
        Ok(self
            .store
            .accounts(&ids)
            .await?
            .into_iter()
            .filter(|a| may_read_account(caller, a))
            .collect())
    }

    /// Sets or removes a book's issuance budget. City admin, or the district admin of the book.
    pub async fn set_budget(
        &self,
        caller: &Principal,
        book: &str,
        budget: Option<u64>,
    ) -> Result<Account> {
        let book = parse_book("book", book)?;
        let allowed = match caller {
            Principal::CityAdmin { .. } => true,
            Principal::DistrictAdmin { district, .. } => book == Book::District(*district),
            _ => false,
        };
        if !allowed {
            return Err(LedgerError::Forbidden(
                "only the book's admin may set its budget",
            ));
        }
        self.store.set_budget(book, budget).await
    }

    // === transfers ===

    /// Creates a batch of transfers; one result per entry. Services only.
    pub async fn create_transfers(
        &self,
        caller: &Principal,
        transfers: Vec<NewTransfer>,
        linked: bool,
    ) -> Result<Outcome> {
        let allowed_book = writable_book(caller)?;
        if transfers.is_empty() || transfers.len() > MAX_BATCH {
            return Err(LedgerError::invalid(
                "transfers",
                format!("must hold 1 to {MAX_BATCH} transfers"),
            ));
        }
        if transfers.iter().any(|t| t.expiry) {
            return Err(LedgerError::invalid(
                "transfers",
                "expiry is set by the ledger only",
            ));
        }
        self.submit(Request {
            transfers,
            linked,
            allowed_book,
        })
        .await
    }

    /// Transfers by id, with how each pending one ended, that the caller may see.
    pub async fn lookup_transfers(
        &self,
        caller: &Principal,
        ids: &[String],
    ) -> Result<Vec<(Transfer, Option<Resolution>)>> {
        let ids = parse_ids("ids", ids)?;
        let transfers = self.store.transfers(&ids).await?;
        let visible: Vec<Transfer> = match caller {
            Principal::Resident { .. } | Principal::Merchant { .. } => {
                let mut account_ids: Vec<Uuid> = transfers
                    .iter()
                    .flat_map(|t| [t.debit_account_id, t.credit_account_id])
                    .collect();
                account_ids.dedup();
                let own: Vec<Uuid> = self
                    .store
                    .accounts(&account_ids)
                    .await?
                    .into_iter()
                    .filter(|a| may_read_account(caller, a))
                    .map(|a| a.id)
                    .collect();
                transfers
                    .into_iter()
                    .filter(|t| {
                        own.contains(&t.debit_account_id) || own.contains(&t.credit_account_id)
                    })
                    .collect()
            }
            _ => transfers
                .into_iter()
                .filter(|t| may_read_book(caller, t.book))
                .collect(),
        };
        let pending: Vec<Uuid> = visible.iter().filter(|t| t.pending).map(|t| t.id).collect();
        let resolutions = self.store.resolutions(&pending).await?;
        Ok(visible
            .into_iter()
            .map(|t| {
                let r = resolutions.get(&t.id).copied();
                (t, r)
            })
            .collect())
    }

    // === reads ===

    /// Balances of one owner across books.
    pub async fn balances(&self, caller: &Principal, owner_id: &str) -> Result<Vec<Balance>> {
        if owner_id.trim().is_empty() {
            return Err(LedgerError::invalid("owner_id", "must not be empty"));
        }
        if let Principal::Resident { resident_id } = caller
            && resident_id.to_string() != owner_id
        {
            return Err(LedgerError::Forbidden(
                "residents may read only their own balances",
            ));
        }
        let accounts = self.store.accounts_of_owner(owner_id).await?;
        Ok(accounts
            .into_iter()
            .filter(|a| may_read_account(caller, a))
            .map(|a| {
                let posted = u64::try_from(a.posted().max(0)).unwrap_or_default();
                Balance {
                    book: a.book,
                    account_id: a.id,
                    posted,
                    pending: a.debits_pending,
                    available: u64::try_from(a.available().max(0)).unwrap_or_default(),
                    expiring: a.lots.expiring().collect(),
                }
            })
            .collect())
    }

    /// History of one account, newest first; `cursor` is the position to continue before.
    #[allow(clippy::too_many_arguments)]
    pub async fn history(
        &self,
        caller: &Principal,
        selector: AccountSelector,
        kinds: Vec<TransferKind>,
        from_us: Option<i64>,
        to_us: Option<i64>,
        cursor: &str,
        page_size: u32,
    ) -> Result<(Vec<HistoryEntry>, Option<String>)> {
        let account = match selector {
            AccountSelector::Id(id) => {
                let id = Uuid::parse_str(id.trim())
                    .map_err(|_| LedgerError::invalid("account_id", "must be a UUID"))?;
                self.store.accounts(&[id]).await?.into_iter().next()
            }
            AccountSelector::OwnerBook { owner_id, book } => {
                let book = parse_book("book", &book)?;
                self.store
                    .account_of(book, AccountKind::Resident, &owner_id)
                    .await?
            }
        };
        let account = account
            .filter(|a| may_read_account(caller, a))
            .ok_or(LedgerError::NotFound("account"))?;
        let before = healthpoints_types::position_cursor(cursor)
            .map_err(|e| LedgerError::invalid("cursor", e.0))?;
        let limit = match page_size {
            0 => 50,
            n => n.min(500),
        };
        let entries = self
            .store
            .history(&account, &kinds, from_us, to_us, before, u64::from(limit))
            .await?;
        let next = (entries.len() == limit as usize)
            .then(|| entries.last().map(|e| e.transfer.seq.to_string()))
            .flatten();
        Ok((entries, next))
    }

    /// Figures of one book: of the whole history, or of one month (`2026-11`, Asia/Shanghai)
    /// for the movements; outstanding points are always as of now.
    pub async fn book_statistics(
        &self,
        caller: &Principal,
        book: &str,
        month: &str,
    ) -> Result<(Book, BookStatistics)> {
        let book = parse_book("book", book)?;
        let month = month.trim();
        let during = if month.is_empty() {
            None
        } else {
            Some(
                healthpoints_types::calendar::month_bounds(month)
                    .ok_or_else(|| LedgerError::invalid("month", "must be a month YYYY-MM"))?,
            )
        };
        if !may_read_book(caller, book) {
            return Err(LedgerError::Forbidden(
                "you may read only your own book's figures",
            ));
        }
        Ok((book, self.store.book_statistics(book, during).await?))
    }

    /// Recomputes up to `max_entries` (0: [`VERIFY_MAX_ENTRIES`]) links of a book's hash chain
    /// after `after_seq`, whose hash the caller recorded as `after_hash` (both empty: from the
    /// start), and reports the first broken link, or where to continue.
    pub async fn verify_journal(
        &self,
        caller: &Principal,
        book: &str,
        after_seq: u64,
        after_hash: &str,
        max_entries: u64,
    ) -> Result<(Book, JournalReport)> {
        let book = parse_book("book", book)?;
        if !may_read_book(caller, book) {
            return Err(LedgerError::Forbidden("you may verify only your own book"));
        }
        let from = match (after_seq, after_hash) {
            (0, "") => Checkpoint {
                seq: 0,
                hash: journal::GENESIS.to_owned(),
            },
            (0, _) => {
                return Err(LedgerError::invalid(
                    "after_hash",
                    "must be empty when starting from the beginning of the book",
                ));
            }
            (_, "") => {
                return Err(LedgerError::invalid(
                    "after_hash",
                    "required with after_sequence: the hash recorded for that entry",
                ));
            }
            (seq, hash) => Checkpoint {
                seq,
                hash: hash.to_owned(),
            },
        };
        if max_entries > VERIFY_MAX_ENTRIES {
            return Err(LedgerError::invalid(
                "max_entries",
                format!(
                    "at most {VERIFY_MAX_ENTRIES} per call; continue from the returned checkpoint"
                ),
            ));
        }
        let max = if max_entries == 0 {
            VERIFY_MAX_ENTRIES
        } else {
            max_entries
        };
        Ok((book, verify(&self.store, book, from, max).await?))
    }

    /// Voids pending transfers whose timeout passed; returns how many it expired.
    pub async fn sweep_once(&self) -> Result<usize> {
        let mut expired = 0;
        loop {
            let due = self.store.expired_pending((self.clock)(), 1_000).await?;
            if due.is_empty() {
                return Ok(expired);
            }
            let n = due.len();
            let transfers = due
                .into_iter()
                .map(|p| NewTransfer {
                    id: expiry_id(p.id),
                    debit_account_id: p.debit_account_id,
                    credit_account_id: p.credit_account_id,
                    amount: 0,
                    kind: Some(p.kind),
                    pending: false,
                    timeout_seconds: 0,
                    action: PendingAction::Void,
                    pending_id: Some(p.id),
                    metadata: Metadata {
                        reason: journal::EXPIRY_REASON.into(),
                        order_id: p.metadata.order_id,
                        ..Metadata::default()
                    },
                    expiry: true,
                    expires_on: None,
                    refund_of: None,
                })
                .collect();
            let results = self
                .submit(Request {
                    transfers,
                    linked: false,
                    allowed_book: None,
                })
                .await?;
            expired += results
                .iter()
                .filter(|(r, _)| *r == CreateResult::Ok)
                .count();
            if n < 1_000 {
                return Ok(expired);
            }
        }
    }
}

fn parse_ids(field: &str, ids: &[String]) -> Result<Vec<Uuid>> {
    if ids.len() > MAX_BATCH {
        return Err(LedgerError::invalid(
            field,
            format!("at most {MAX_BATCH} ids"),
        ));
    }
    ids.iter()
        .map(|id| {
            Uuid::parse_str(id.trim())
                .map_err(|_| LedgerError::invalid(field, "every id must be a UUID"))
        })
        .collect()
}

/// Recomputes the chain of `book` from its first entry.
pub async fn verify(
    store: &Store,
    book: Book,
    from: Checkpoint,
    max: u64,
) -> Result<JournalReport> {
    let mut last = from;
    let mut checked = 0u64;
    let broken = |seq: u64, detail: &str, checked: u64, last: Checkpoint| JournalReport {
        entries_checked: checked,
        first_broken_seq: Some(seq),
        detail: detail.to_owned(),
        last,
        complete: false,
    };
    let mut exhausted = false;
    while checked < max {
        let page = store
            .journal_page(book, last.seq, (max - checked).min(5_000))
            .await?;
        if page.is_empty() {
            exhausted = true;
            break;
        }
        for t in page {
            let expected = last.seq + 1;
            if t.seq != expected {
                return Ok(broken(expected, "this entry is missing", checked, last));
            }
            if t.prev_hash != last.hash {
                let detail = "the link to the previous entry does not match";
                return Ok(broken(t.seq, detail, checked, last));
            }
            if journal::entry_hash(&last.hash, &t) != t.hash {
                let detail = "the entry's contents do not match its hash";
                return Ok(broken(t.seq, detail, checked, last));
            }
            last = Checkpoint {
                seq: t.seq,
                hash: t.hash,
            };
            checked += 1;
        }
    }
    let head = store
        .book_head(book)
        .await?
        .unwrap_or((0, journal::GENESIS.to_owned()));
    if head.0 > last.seq && !exhausted {
        // More to verify: the caller continues from `last`.
        return Ok(JournalReport {
            entries_checked: checked,
            first_broken_seq: None,
            detail: "intact so far".into(),
            last,
            complete: false,
        });
    }
    if head != (last.seq, last.hash.clone()) {
        let detail = "the book's head does not match its last entry (entries removed?)";
        return Ok(broken(last.seq + 1, detail, checked, last));
    }
    Ok(JournalReport {
        entries_checked: checked,
        first_broken_seq: None,
        detail: "intact".into(),
        last,
        complete: true,
    })
}

async fn run_sweeper(ledger: std::sync::Weak<Ledger>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(ledger) = ledger.upgrade() else {
            return;
        };
        match ledger.sweep_once().await {
            Ok(0) => {}
            Ok(n) => {
                healthpoints_telemetry::metrics::swept("ledger", "expire_pending", n as u64);
                tracing::info!(expired = n, "expired pending transfers");
            }
            Err(e) => tracing::warn!(error = %e, "sweeping expired pending transfers failed"),
        }
        match ledger.expire_lots_once().await {
            Ok(0) => {}
            Ok(n) => {
                healthpoints_telemetry::metrics::swept("ledger", "expire_points", n as u64);
                tracing::info!(expiries = n, "expired points whose day ended");
            }
            Err(e) => tracing::warn!(error = %e, "expiring points failed"),
        }
        match ledger.announce_expiring_once().await {
            Ok(0) => {}
            Ok(n) => {
                healthpoints_telemetry::metrics::swept("ledger", "expiry_notices", n as u64);
                tracing::info!(notices = n, "residents told of points about to expire");
            }
            Err(e) => tracing::warn!(error = %e, "telling residents of expiring points failed"),
        }
    }
}
