//! The ledger repository on sea-orm (SQLite or PostgreSQL). Rows become domain records here and
//! nowhere else; a group of requests is loaded, decided by the engine and written atomically
//! ([`write`]).

mod entities;
mod migration;
mod notices;
mod write;

pub use write::{Overlay, Plan, Writes};

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use chrono::{DateTime, Utc};
use healthpoints_types::Book;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use uuid::Uuid;

use crate::domain::{
    error::{LedgerError, Result},
    lots::{self, ExpiresOn, Lots, Shares},
    model::{
        Account, AccountKind, BookStatistics, HistoryEntry, Metadata, PendingAction, Resolution,
        Transfer, TransferKind, new_account_id,
    },
};
use entities::{account, book_head, book_resident, resolution, transfer};
pub use migration::{FIGURES_RECOUNTED, Migrator, RESIDENT_ACCOUNTS_RECOUNTED};

impl From<sea_orm::DbErr> for LedgerError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Internal(healthpoints_db::storage_fault(err))
    }
}

fn corrupt(what: &str) -> LedgerError {
    LedgerError::fault(format!("stored {what} is not valid"))
}

fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt(what))
}

fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| LedgerError::fault("amount beyond the storable range"))
}

fn book(s: &str) -> Result<Book> {
    Book::parse(s).map_err(|_| corrupt("book"))
}

fn to_account(m: account::Model) -> Result<Account> {
    Ok(Account {
        id: m.id,
        book: book(&m.book)?,
        kind: AccountKind::parse(&m.kind).ok_or_else(|| corrupt("account kind"))?,
        owner_id: m.owner_id,
        debits_posted: to_u64(m.debits_posted, "balance")?,
        credits_posted: to_u64(m.credits_posted, "balance")?,
        debits_pending: to_u64(m.debits_pending, "balance")?,
        credits_pending: to_u64(m.credits_pending, "balance")?,
        budget: m.budget.map(|b| to_u64(b, "budget")).transpose()?,
        opened_at_us: m.opened_at_us,
        lots: Lots::decode(&m.lots).ok_or_else(|| corrupt("lots"))?,
    })
}

/// A stored day (`YYYYMMDD`, `NULL` for never).
fn to_day(n: Option<i64>) -> Result<ExpiresOn> {
    n.map_or(Ok(None), |n| {
        lots::from_day_number(n)
            .filter(Option::is_some)
            .ok_or_else(|| corrupt("day"))
    })
}

/// The stored form of a day.
fn day_column(day: ExpiresOn) -> Option<i64> {
    day.map(|d| lots::day_number(Some(d)))
}

fn to_transfer(m: transfer::Model) -> Result<Transfer> {
    Ok(Transfer {
        id: m.id,
        book: book(&m.book)?,
        seq: to_u64(m.seq, "sequence")?,
        debit_account_id: m.debit_account_id,
        credit_account_id: m.credit_account_id,
        amount: to_u64(m.amount, "amount")?,
        kind: TransferKind::parse(&m.kind).ok_or_else(|| corrupt("transfer kind"))?,
        pending: m.pending,
        timeout_at_us: m.timeout_at_us,
        action: PendingAction::parse(&m.action).ok_or_else(|| corrupt("action"))?,
        pending_id: m.pending_id,
        metadata: Metadata {
            event_id: m.event_id,
            order_id: m.order_id,
            rule_code: m.rule_code,
            rule_version: u32::try_from(m.rule_version).map_err(|_| corrupt("rule version"))?,
            reason: m.reason,
        },
        created_at_us: m.created_at_us,
        expiry: m.expiry,
        expires_on: to_day(m.expires_on)?,
        refund_of: m.refund_of,
        lots: Shares::decode(&m.lots).ok_or_else(|| corrupt("lots"))?,
        prev_hash: m.prev_hash,
        hash: m.hash,
    })
}

fn transfer_row(t: &Transfer) -> Result<transfer::ActiveModel> {
    Ok(transfer::ActiveModel {
        id: Set(t.id),
        book: Set(t.book.to_string()),
        seq: Set(to_i64(t.seq)?),
        debit_account_id: Set(t.debit_account_id),
        credit_account_id: Set(t.credit_account_id),
        amount: Set(to_i64(t.amount)?),
        kind: Set(t.kind.as_str().to_owned()),
        pending: Set(t.pending),
        timeout_at_us: Set(t.timeout_at_us),
        action: Set(t.action.as_str().to_owned()),
        pending_id: Set(t.pending_id),
        expiry: Set(t.expiry),
        event_id: Set(t.metadata.event_id.clone()),
        order_id: Set(t.metadata.order_id.clone()),
        rule_code: Set(t.metadata.rule_code.clone()),
        rule_version: Set(i64::from(t.metadata.rule_version)),
        reason: Set(t.metadata.reason.clone()),
        created_at_us: Set(t.created_at_us),
        prev_hash: Set(t.prev_hash.clone()),
        hash: Set(t.hash.clone()),
        expires_on: Set(day_column(t.expires_on)),
        refund_of: Set(t.refund_of),
        lots: Set(t.lots.encode()),
    })
}

/// Rows per multi-row INSERT: 23 columns × 400 stays under every backend's parameter limit.
const INSERT_CHUNK: usize = 400;

/// The ledger repository.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Bumped when an account's settings (a budget) change outside the writer, so a pipelined
    /// writer knows to drop what it remembers.
    epoch: Arc<AtomicU64>,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            epoch: Arc::default(),
        }
    }

    /// The configuration epoch (see the field).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    fn postgres(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }

    // === accounts ===

    /// Opens each account unless it exists (by book + kind + owner) and returns them in order:
    /// a few hundred accounts in one insert and one read. The resident accounts it opened are
    /// counted in their book's running figures in the same transaction.
    pub async fn open_accounts(
        &self,
        specs: &[(Book, AccountKind, String)],
        now_us: i64,
    ) -> Result<Vec<Account>> {
        let mut out = Vec::with_capacity(specs.len());
        for chunk in specs.chunks(500) {
            let ids: Vec<Uuid> = chunk.iter().map(|(b, _, _)| new_account_id(*b)).collect();
            // Inserted in key order: two openers whose chunks share accounts never wait on each
            // other in a cycle.
            let mut sorted: Vec<_> = chunk.iter().zip(&ids).collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            let rows = sorted
                .into_iter()
                .map(|((book, kind, owner), id)| account::ActiveModel {
                    id: Set(*id),
                    book: Set(book.to_string()),
                    kind: Set(kind.as_str().to_owned()),
                    owner_id: Set(owner.clone()),
                    debits_posted: Set(0),
                    credits_posted: Set(0),
                    debits_pending: Set(0),
                    credits_pending: Set(0),
                    budget: Set(None),
                    opened_at_us: Set(now_us),
                    lots: Set(String::new()),
                    next_expiry: Set(None),
                });
            let txn = self.db.begin().await?;
            let inserted = account::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        account::Column::Book,
                        account::Column::Kind,
                        account::Column::OwnerId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
            let owners: HashSet<&str> = chunk.iter().map(|(_, _, o)| o.as_str()).collect();
            let found: HashMap<(String, String, String), account::Model> = account::Entity::find()
                .filter(account::Column::OwnerId.is_in(owners))
                .all(&txn)
                .await?
                .into_iter()
                .map(|a| ((a.book.clone(), a.kind.clone(), a.owner_id.clone()), a))
                .collect();
            if inserted > 0 {
                let ours: HashSet<Uuid> = ids.into_iter().collect();
                let mut opened: BTreeMap<Book, i64> = BTreeMap::new();
                for a in found.values() {
                    if ours.contains(&a.id) && a.kind == AccountKind::Resident.as_str() {
                        *opened.entry(book(&a.book)?).or_default() += 1;
                    }
                }
                count_opened(&txn, &opened).await?;
            }
            txn.commit().await?;
            for (book, kind, owner) in chunk {
                let key = (book.to_string(), kind.as_str().to_owned(), owner.clone());
                let row = found
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| LedgerError::fault("opened account not found"))?;
                out.push(to_account(row)?);
            }
        }
        Ok(out)
    }

    pub async fn accounts(&self, ids: &[Uuid]) -> Result<Vec<Account>> {
        write::read_accounts(&self.db, ids.to_vec()).await
    }

    pub async fn accounts_of_owner(&self, owner: &str) -> Result<Vec<Account>> {
        account::Entity::find()
            .filter(account::Column::OwnerId.eq(owner))
            .order_by_asc(account::Column::Book)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_account)
            .collect()
    }

    /// The account of `owner` of `kind` in `book`, if open.
    pub async fn account_of(
        &self,
        book: Book,
        kind: AccountKind,
        owner: &str,
    ) -> Result<Option<Account>> {
        account::Entity::find()
            .filter(account::Column::Book.eq(book.to_string()))
            .filter(account::Column::Kind.eq(kind.as_str()))
            .filter(account::Column::OwnerId.eq(owner))
            .one(&self.db)
            .await?
            .map(to_account)
            .transpose()
    }

    /// Sets the budget of a book's issuance account; refused (by the database's CHECK) when it
    /// would sit below what was already issued.
    pub async fn set_budget(&self, book: Book, budget: Option<u64>) -> Result<Account> {
        let result = account::Entity::update_many()
            .col_expr(
                account::Column::Budget,
                Expr::value(budget.map(to_i64).transpose()?),
            )
            .filter(account::Column::Book.eq(book.to_string()))
            .filter(account::Column::Kind.eq(AccountKind::Issuance.as_str()))
            .exec(&self.db)
            .await;
        match result {
            Ok(r) if r.rows_affected == 0 => {
                Err(LedgerError::NotFound("issuance account of this book"))
            }
            Ok(_) => {
                self.epoch.fetch_add(1, Ordering::AcqRel);
                self.account_of(book, AccountKind::Issuance, &book.to_string())
                    .await?
                    .ok_or(LedgerError::NotFound("issuance account of this book"))
            }
            Err(e) if e.to_string().to_lowercase().contains("check") => Err(
                LedgerError::Precondition("the budget is below what this book has already issued"),
            ),
            Err(e) => Err(e.into()),
        }
    }

    // === transfers ===

    pub async fn transfers(&self, ids: &[Uuid]) -> Result<Vec<Transfer>> {
        write::read_transfers(&self.db, ids.to_vec()).await
    }

    pub async fn resolutions(&self, pending_ids: &[Uuid]) -> Result<HashMap<Uuid, Resolution>> {
        Ok(write::read_resolutions(&self.db, pending_ids.to_vec())
            .await?
            .into_iter()
            .collect())
    }

    /// Resident accounts holding points whose day ended before `today` (`YYYYMMDD`), the
    /// longest due first.
    pub async fn accounts_with_lots_due(&self, today: i64, limit: u64) -> Result<Vec<Account>> {
        account::Entity::find()
            .filter(account::Column::NextExpiry.lt(today))
            .order_by_asc(account::Column::NextExpiry)
            .order_by_asc(account::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_account)
            .collect()
    }

    /// Pending transfers whose timeout has passed and that nothing resolved yet, oldest first.
    pub async fn expired_pending(&self, now_us: i64, limit: u64) -> Result<Vec<Transfer>> {
        let resolved = resolution::Entity::find()
            .select_only()
            .column(resolution::Column::PendingId)
            .into_query();
        transfer::Entity::find()
            .filter(transfer::Column::Pending.eq(true))
            .filter(transfer::Column::TimeoutAtUs.lte(now_us))
            .filter(transfer::Column::Id.not_in_subquery(resolved))
            .order_by_asc(transfer::Column::TimeoutAtUs)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_transfer)
            .collect()
    }

    // === reads ===

    /// An account's transfers, newest first, before journal position `before_seq`.
    pub async fn history(
        &self,
        account: &Account,
        kinds: &[TransferKind],
        from_us: Option<i64>,
        to_us: Option<i64>,
        before_seq: Option<u64>,
        limit: u64,
    ) -> Result<Vec<HistoryEntry>> {
        let mut q = transfer::Entity::find()
            .filter(transfer::Column::Book.eq(account.book.to_string()))
            .filter(
                transfer::Column::DebitAccountId
                    .eq(account.id)
                    .or(transfer::Column::CreditAccountId.eq(account.id)),
            )
            .order_by_desc(transfer::Column::Seq)
            .limit(limit);
        if !kinds.is_empty() {
            q = q.filter(
                transfer::Column::Kind.is_in(kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>()),
            );
        }
        if let Some(from) = from_us {
            q = q.filter(transfer::Column::CreatedAtUs.gte(from));
        }
        if let Some(to) = to_us {
            q = q.filter(transfer::Column::CreatedAtUs.lt(to));
        }
        if let Some(before) = before_seq {
            q = q.filter(transfer::Column::Seq.lt(to_i64(before)?));
        }
        let transfers: Vec<Transfer> = q
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_transfer)
            .collect::<Result<_>>()?;
        let others: Vec<Uuid> = transfers
            .iter()
            .map(|t| {
                if t.debit_account_id == account.id {
                    t.credit_account_id
                } else {
                    t.debit_account_id
                }
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let kinds_of: HashMap<Uuid, AccountKind> = self
            .accounts(&others)
            .await?
            .into_iter()
            .map(|a| (a.id, a.kind))
            .collect();
        let pending: Vec<Uuid> = transfers
            .iter()
            .filter(|t| t.pending)
            .map(|t| t.id)
            .collect();
        let resolutions = if pending.is_empty() {
            HashMap::new()
        } else {
            self.resolutions(&pending).await?
        };
        transfers
            .into_iter()
            .map(|t| {
                let credit = t.credit_account_id == account.id;
                let other = if credit {
                    t.debit_account_id
                } else {
                    t.credit_account_id
                };
                Ok(HistoryEntry {
                    counterparty_kind: *kinds_of
                        .get(&other)
                        .ok_or_else(|| corrupt("counterparty"))?,
                    credit,
                    resolution: resolutions.get(&t.id).copied(),
                    transfer: t,
                })
            })
            .collect()
    }

    /// Rewrites every book's running figures from its transfers and accounts, in one
    /// transaction (`ledger recount-figures`; run with every ledger process stopped).
    pub async fn recount_figures(&self) -> Result<()> {
        let txn = self.db.begin().await?;
        migration::recount_figures(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Issued, redeemed, refunded, expired and outstanding points of a book. The whole
    /// history's are running figures (the book's head row and its count of resident accounts),
    /// two reads at any size; a month's movements are summed over that month's transfers (an
    /// index range), and what residents hold is always as of now.
    pub async fn book_statistics(
        &self,
        b: Book,
        during: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<BookStatistics> {
        let mut stats = BookStatistics::default();
        if let Some(head) = book_head::Entity::find_by_id(b.to_string())
            .one(&self.db)
            .await?
        {
            stats.issued = to_u64(head.issued, "issued")?;
            stats.redeemed = to_u64(head.redeemed, "redeemed")?;
            stats.refunded = to_u64(head.refunded, "refunded")?;
            stats.expired = to_u64(head.expired, "expired")?;
            stats.outstanding = to_u64(head.outstanding, "outstanding")?;
        }
        if let Some(residents) = book_resident::Entity::find_by_id(b.to_string())
            .one(&self.db)
            .await?
        {
            stats.resident_accounts = to_u64(residents.accounts, "resident accounts")?;
        }
        if let Some((from, to)) = during {
            self.movements_during(b, from, to, &mut stats).await?;
        }
        if let Some(issuance) = self
            .account_of(b, AccountKind::Issuance, &b.to_string())
            .await?
        {
            stats.budget = issuance.budget;
            stats.budget_left = issuance.budget.map(|budget| {
                budget.saturating_sub(issuance.debits_posted + issuance.debits_pending)
            });
        }
        if let Some(migration) = self
            .account_of(b, AccountKind::Migration, &b.to_string())
            .await?
        {
            stats.migrated = migration
                .debits_posted
                .saturating_sub(migration.credits_posted);
        }
        Ok(stats)
    }

    /// Sets `stats`' movements (issued, redeemed, refunded, expired) to those of the book's
    /// transfers created in `[from, to)`.
    async fn movements_during(
        &self,
        b: Book,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        stats: &mut BookStatistics,
    ) -> Result<()> {
        let sums: Vec<(String, String, bool, i64)> = transfer::Entity::find()
            .select_only()
            .column(transfer::Column::Kind)
            .column(transfer::Column::Action)
            .column(transfer::Column::Pending)
            .column_as(Expr::cust("CAST(SUM(amount) AS BIGINT)"), "total")
            .filter(transfer::Column::Book.eq(b.to_string()))
            .filter(transfer::Column::CreatedAtUs.gte(from.timestamp_micros()))
            .filter(transfer::Column::CreatedAtUs.lt(to.timestamp_micros()))
            .group_by(transfer::Column::Kind)
            .group_by(transfer::Column::Action)
            .group_by(transfer::Column::Pending)
            .into_tuple()
            .all(&self.db)
            .await?;
        (stats.issued, stats.redeemed, stats.refunded, stats.expired) = (0, 0, 0, 0);
        for (kind, action, pending, total) in sums {
            // A posted movement: a direct transfer, or the post of a reservation.
            let posted = (action == "none" && !pending) || action == "post";
            if !posted {
                continue;
            }
            let total = to_u64(total, "sum")?;
            match TransferKind::parse(&kind) {
                Some(TransferKind::Award) => stats.issued += total,
                Some(TransferKind::Redeem) => stats.redeemed += total,
                Some(TransferKind::Refund) => stats.refunded += total,
                Some(TransferKind::Expire) => stats.expired += total,
                Some(TransferKind::Adjust | TransferKind::Settle) | None => {}
            }
        }
        Ok(())
    }

    /// Journal entries of a book after `after_seq`, in order. Positions are dense, so the page is
    /// a closed range: the plan stays an index range scan even on stale statistics (an open
    /// `seq > n` after a bulk load was planned as a scan of the rest of the book plus a sort).
    pub async fn journal_page(&self, b: Book, after_seq: u64, limit: u64) -> Result<Vec<Transfer>> {
        transfer::Entity::find()
            .filter(transfer::Column::Book.eq(b.to_string()))
            .filter(transfer::Column::Seq.gt(to_i64(after_seq)?))
            .filter(transfer::Column::Seq.lte(to_i64(Ord::min(
                after_seq.saturating_add(limit),
                i64::MAX as u64,
            ))?))
            .order_by_asc(transfer::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_transfer)
            .collect()
    }

    /// The book's recorded head (last position and hash).
    pub async fn book_head(&self, b: Book) -> Result<Option<(u64, String)>> {
        book_head::Entity::find_by_id(b.to_string())
            .one(&self.db)
            .await?
            .map(|h| Ok((to_u64(h.seq, "sequence")?, h.hash)))
            .transpose()
    }
}

/// Counts resident accounts just opened in their books' `book_residents` rows, in book order,
/// inside the transaction that opened them.
async fn count_opened(
    txn: &sea_orm::DatabaseTransaction,
    opened: &BTreeMap<Book, i64>,
) -> Result<()> {
    for (b, n) in opened {
        book_resident::Entity::insert(book_resident::ActiveModel {
            book: Set(b.to_string()),
            accounts: Set(0),
        })
        .on_conflict(
            OnConflict::column(book_resident::Column::Book)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
        book_resident::Entity::update_many()
            .col_expr(
                book_resident::Column::Accounts,
                Expr::col(book_resident::Column::Accounts).add(*n),
            )
            .filter(book_resident::Column::Book.eq(b.to_string()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// The rows of `E` whose `id` column is one of `ids`. On PostgreSQL one array parameter is
/// joined to the primary key: a long `IN` list costs more to parse than to run, and with
/// `id = ANY($1)` the planner may choose a sequential scan.
async fn by_ids<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    id: E::Column,
    ids: Vec<Uuid>,
) -> Result<Vec<E::Model>> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(E::find().filter(id.is_in(ids)).all(conn).await?);
    }
    let sql = format!(
        "SELECT t.* FROM UNNEST($1::uuid[]) AS q(id) JOIN {} AS t ON t.id = q.id",
        E::default().table_name()
    );
    Ok(E::find()
        .from_raw_sql(sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [ids.into()],
        ))
        .all(conn)
        .await?)
}
