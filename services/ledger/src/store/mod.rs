//! The ledger repository on sea-orm (SQLite or PostgreSQL). Rows become domain records here and
//! nowhere else; one group of requests is loaded, decided by the engine and written in one
//! database transaction.

mod entities;
mod migration;

use std::collections::{BTreeSet, HashMap, HashSet};

use healthpoints_types::Book;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use uuid::Uuid;

use crate::domain::{
    engine::{self, Applied, Request, State},
    error::{LedgerError, Result},
    journal::GENESIS,
    model::{
        Account, AccountKind, BookStatistics, HistoryEntry, Metadata, PendingAction, Resolution,
        Transfer, TransferKind, book_of_account, new_account_id,
    },
};
use entities::{account, book_head, resolution, transfer};
pub use migration::Migrator;

impl From<sea_orm::DbErr> for LedgerError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Store(err.to_string())
    }
}

fn corrupt(what: &str) -> LedgerError {
    LedgerError::Store(format!("stored {what} is not valid"))
}

fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt(what))
}

fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| LedgerError::Store("amount beyond the storable range".into()))
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
    })
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
    })
}

/// Rows per multi-row INSERT: 20 columns × 400 stays under every backend's parameter limit.
const INSERT_CHUNK: usize = 400;

/// A fact that never changes once written, remembered to save round trips: which books already
/// have a head row.
#[derive(Debug, Default)]
struct Known {
    heads: HashSet<Book>,
}

/// The ledger repository.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    known: std::sync::Arc<std::sync::Mutex<Known>>,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            known: std::sync::Arc::default(),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    fn postgres(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }

    // === accounts ===

    /// Opens each account unless it exists (by book + kind + owner) and returns them in order.
    pub async fn open_accounts(
        &self,
        specs: &[(Book, AccountKind, String)],
        now_us: i64,
    ) -> Result<Vec<Account>> {
        let mut out = Vec::with_capacity(specs.len());
        for (book, kind, owner) in specs {
            let row = account::ActiveModel {
                id: Set(new_account_id(*book)),
                book: Set(book.to_string()),
                kind: Set(kind.as_str().to_owned()),
                owner_id: Set(owner.clone()),
                debits_posted: Set(0),
                credits_posted: Set(0),
                debits_pending: Set(0),
                credits_pending: Set(0),
                budget: Set(None),
                opened_at_us: Set(now_us),
            };
            account::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([
                        account::Column::Book,
                        account::Column::Kind,
                        account::Column::OwnerId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&self.db)
                .await?;
            let found = account::Entity::find()
                .filter(account::Column::Book.eq(book.to_string()))
                .filter(account::Column::Kind.eq(kind.as_str()))
                .filter(account::Column::OwnerId.eq(owner.as_str()))
                .one(&self.db)
                .await?
                .ok_or_else(|| LedgerError::Store("opened account not found".into()))?;
            out.push(to_account(found)?);
        }
        Ok(out)
    }

    pub async fn accounts(&self, ids: &[Uuid]) -> Result<Vec<Account>> {
        by_ids::<account::Entity>(&self.db, account::Column::Id, ids.to_vec())
            .await?
            .into_iter()
            .map(to_account)
            .collect()
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
            Ok(_) => self
                .account_of(book, AccountKind::Issuance, &book.to_string())
                .await?
                .ok_or(LedgerError::NotFound("issuance account of this book")),
            Err(e) if e.to_string().to_lowercase().contains("check") => Err(
                LedgerError::Precondition("the budget is below what this book has already issued"),
            ),
            Err(e) => Err(e.into()),
        }
    }

    // === transfers ===

    pub async fn transfers(&self, ids: &[Uuid]) -> Result<Vec<Transfer>> {
        by_ids::<transfer::Entity>(&self.db, transfer::Column::Id, ids.to_vec())
            .await?
            .into_iter()
            .map(to_transfer)
            .collect()
    }

    pub async fn resolutions(&self, pending_ids: &[Uuid]) -> Result<HashMap<Uuid, Resolution>> {
        resolution::Entity::find()
            .filter(resolution::Column::PendingId.is_in(pending_ids.to_vec()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| {
                Ok((
                    r.pending_id,
                    Resolution::parse(&r.resolution).ok_or_else(|| corrupt("resolution"))?,
                ))
            })
            .collect()
    }

    /// Loads what `requests` touch, decides them, writes the outcome and commits — all or
    /// nothing. Every change to an account's balances happens while its book's head row is
    /// locked (`FOR UPDATE`, books in sorted order), so concurrent ledgers on one database
    /// serialise per book, never deadlock, and read balances only after taking the lock.
    pub async fn write_group(&self, requests: &[Request], now_us: i64) -> Result<Applied> {
        let txn = self.db.begin().await?;
        let mut ids: HashSet<Uuid> = HashSet::new();
        let mut account_ids: BTreeSet<Uuid> = BTreeSet::new();
        for t in requests.iter().flat_map(|r| &r.transfers) {
            ids.insert(t.id);
            ids.extend(t.pending_id);
            for a in [t.debit_account_id, t.credit_account_id] {
                if !a.is_nil() {
                    account_ids.insert(a);
                }
            }
        }
        let stored: Vec<Transfer> =
            by_ids::<transfer::Entity>(&txn, transfer::Column::Id, ids.iter().copied().collect())
                .await?
                .into_iter()
                .map(to_transfer)
                .collect::<Result<_>>()?;
        for t in &stored {
            account_ids.extend([t.debit_account_id, t.credit_account_id]);
        }

        // Which books: an account's id carries its book (the database checks it), no read needed.
        let books: BTreeSet<Book> = account_ids
            .iter()
            .filter_map(|id| book_of_account(*id))
            .collect();
        let new_heads: Vec<Book> = {
            let known = self.known();
            books
                .iter()
                .filter(|b| !known.heads.contains(b))
                .copied()
                .collect()
        };
        for b in &new_heads {
            book_head::Entity::insert(book_head::ActiveModel {
                book: Set(b.to_string()),
                seq: Set(0),
                hash: Set(GENESIS.to_owned()),
            })
            .on_conflict(
                OnConflict::column(book_head::Column::Book)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        }
        let mut book_names: Vec<String> = books.iter().map(ToString::to_string).collect();
        book_names.sort();
        let mut heads_query = book_head::Entity::find()
            .filter(book_head::Column::Book.is_in(book_names))
            .order_by_asc(book_head::Column::Book);
        if self.postgres() {
            heads_query = heads_query.lock_exclusive();
        }
        let heads: HashMap<Book, (u64, String)> = heads_query
            .all(&txn)
            .await?
            .into_iter()
            .map(|h| Ok((book(&h.book)?, (to_u64(h.seq, "sequence")?, h.hash))))
            .collect::<Result<_>>()?;

        // Balances, read under the book locks.
        let accounts: HashMap<Uuid, Account> = by_ids::<account::Entity>(
            &txn,
            account::Column::Id,
            account_ids.iter().copied().collect(),
        )
        .await?
        .into_iter()
        .map(|m| to_account(m).map(|a| (a.id, a)))
        .collect::<Result<_>>()?;

        let pending_ids: Vec<Uuid> = requests
            .iter()
            .flat_map(|r| &r.transfers)
            .filter_map(|t| t.pending_id)
            .collect();
        let resolutions = if pending_ids.is_empty() {
            HashMap::new()
        } else {
            resolution::Entity::find()
                .filter(resolution::Column::PendingId.is_in(pending_ids))
                .all(&txn)
                .await?
                .into_iter()
                .map(|r| {
                    Ok((
                        r.pending_id,
                        Resolution::parse(&r.resolution).ok_or_else(|| corrupt("resolution"))?,
                    ))
                })
                .collect::<Result<_>>()?
        };

        let mut state = State {
            accounts,
            transfers: stored.into_iter().map(|t| (t.id, t)).collect(),
            resolutions,
            heads: heads.clone(),
        };
        let applied = engine::apply(&mut state, requests, now_us);
        if applied.new_transfers.is_empty() {
            txn.rollback().await?;
            return Ok(applied);
        }

        let mut touched: Vec<&Account> = applied
            .touched_accounts
            .iter()
            .map(|id| {
                state
                    .accounts
                    .get(id)
                    .ok_or_else(|| LedgerError::Store("touched account vanished".into()))
            })
            .collect::<Result<_>>()?;
        touched.sort_by_key(|a| a.id);
        let moved_heads: Vec<(Book, u64, &str)> = state
            .heads
            .iter()
            .filter(|(b, (seq, _))| heads.get(b).map(|(s, _)| s) != Some(seq))
            .map(|(b, (seq, hash))| (*b, *seq, hash.as_str()))
            .collect();
        if self.postgres() {
            write_outcome_unnest(&txn, &applied, &touched, &moved_heads).await?;
        } else {
            for chunk in applied.new_transfers.chunks(INSERT_CHUNK) {
                let rows = chunk.iter().map(transfer_row).collect::<Result<Vec<_>>>()?;
                transfer::Entity::insert_many(rows)
                    .exec_without_returning(&txn)
                    .await?;
            }
            for chunk in applied.new_resolutions.chunks(INSERT_CHUNK) {
                let rows = chunk.iter().map(|r| resolution::ActiveModel {
                    pending_id: Set(r.pending_id),
                    resolution: Set(r.resolution.as_str().to_owned()),
                    resolved_by: Set(r.resolved_by),
                    resolved_at_us: Set(r.resolved_at_us),
                });
                resolution::Entity::insert_many(rows)
                    .exec_without_returning(&txn)
                    .await?;
            }
            for chunk in touched.chunks(INSERT_CHUNK) {
                self.update_balances(&txn, chunk).await?;
            }
            for (b, seq, hash) in &moved_heads {
                book_head::Entity::update_many()
                    .col_expr(book_head::Column::Seq, Expr::value(to_i64(*seq)?))
                    .col_expr(book_head::Column::Hash, Expr::value(*hash))
                    .filter(book_head::Column::Book.eq(b.to_string()))
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        self.known().heads.extend(new_heads);
        Ok(applied)
    }

    /// Writes the balances of `accounts` in one statement (`UPDATE … FROM (VALUES …)`, which
    /// both backends speak), instead of one round trip per account.
    async fn update_balances(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        accounts: &[&Account],
    ) -> Result<()> {
        let postgres = self.postgres();
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(accounts.len() * 5);
        let mut rows = Vec::with_capacity(accounts.len());
        for (i, a) in accounts.iter().enumerate() {
            let n = i * 5;
            rows.push(if postgres {
                format!(
                    "(${}::uuid, ${}::bigint, ${}::bigint, ${}::bigint, ${}::bigint)",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5
                )
            } else {
                "(?, ?, ?, ?, ?)".to_owned()
            });
            values.push(a.id.into());
            for v in [
                a.debits_posted,
                a.credits_posted,
                a.debits_pending,
                a.credits_pending,
            ] {
                values.push(to_i64(v)?.into());
            }
        }
        let columns = if postgres {
            ""
        } else {
            "column1 AS id, column2 AS dp, column3 AS cp, column4 AS dpe, column5 AS cpe FROM ("
        };
        let sql = if postgres {
            format!(
                "UPDATE accounts SET debits_posted = v.dp, credits_posted = v.cp, debits_pending = v.dpe, credits_pending = v.cpe \
                 FROM (VALUES {}) AS v(id, dp, cp, dpe, cpe) WHERE accounts.id = v.id",
                rows.join(", ")
            )
        } else {
            format!(
                "UPDATE accounts SET debits_posted = v.dp, credits_posted = v.cp, debits_pending = v.dpe, credits_pending = v.cpe \
                 FROM (SELECT {columns}VALUES {})) AS v WHERE accounts.id = v.id",
                rows.join(", ")
            )
        };
        let result = txn
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                values,
            ))
            .await?;
        if result.rows_affected() != accounts.len() as u64 {
            return Err(LedgerError::Store(
                "not every touched account was updated".into(),
            ));
        }
        Ok(())
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
                    transfer: t,
                })
            })
            .collect()
    }

    /// Issued, redeemed, refunded, expired and outstanding points of a book.
    pub async fn book_statistics(&self, b: Book) -> Result<BookStatistics> {
        let sums: Vec<(String, String, bool, i64)> = transfer::Entity::find()
            .select_only()
            .column(transfer::Column::Kind)
            .column(transfer::Column::Action)
            .column(transfer::Column::Pending)
            .column_as(Expr::cust("CAST(SUM(amount) AS BIGINT)"), "total")
            .filter(transfer::Column::Book.eq(b.to_string()))
            .group_by(transfer::Column::Kind)
            .group_by(transfer::Column::Action)
            .group_by(transfer::Column::Pending)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut stats = BookStatistics::default();
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
        let residents: Option<(i64, i64)> = account::Entity::find()
            .select_only()
            .column_as(
                Expr::cust("CAST(COALESCE(SUM(credits_posted - debits_posted), 0) AS BIGINT)"),
                "outstanding",
            )
            .column_as(Expr::cust("COUNT(*)"), "n")
            .filter(account::Column::Book.eq(b.to_string()))
            .filter(account::Column::Kind.eq(AccountKind::Resident.as_str()))
            .into_tuple()
            .one(&self.db)
            .await?;
        if let Some((outstanding, n)) = residents {
            stats.outstanding = to_u64(outstanding, "outstanding")?;
            stats.resident_accounts = to_u64(n, "count")?;
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
        Ok(stats)
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

/// PostgreSQL: a group's whole outcome — new transfers, resolutions, balances and book heads —
/// in one statement of array parameters (`UNNEST` in data-modifying CTEs): one round trip,
/// and 32 bound values instead of one per cell. The counts it returns are checked, so a row
/// that was not written fails the group.
async fn write_outcome_unnest(
    txn: &sea_orm::DatabaseTransaction,
    applied: &Applied,
    accounts: &[&Account],
    heads: &[(Book, u64, &str)],
) -> Result<()> {
    let transfers = &applied.new_transfers;
    let n = transfers.len();
    let mut ids = Vec::with_capacity(n);
    let mut books = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    let mut debits = Vec::with_capacity(n);
    let mut credits = Vec::with_capacity(n);
    let mut amounts = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut pendings = Vec::with_capacity(n);
    let mut timeouts = Vec::with_capacity(n);
    let mut actions = Vec::with_capacity(n);
    let mut pending_ids = Vec::with_capacity(n);
    let mut expiries = Vec::with_capacity(n);
    let mut event_ids = Vec::with_capacity(n);
    let mut order_ids = Vec::with_capacity(n);
    let mut rule_codes = Vec::with_capacity(n);
    let mut rule_versions = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    let mut prevs = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    for t in transfers {
        ids.push(t.id);
        books.push(t.book.to_string());
        seqs.push(to_i64(t.seq)?);
        debits.push(t.debit_account_id);
        credits.push(t.credit_account_id);
        amounts.push(to_i64(t.amount)?);
        kinds.push(t.kind.as_str().to_owned());
        pendings.push(t.pending);
        // Arrays carry no NULLs here: sentinels, turned back into NULL by NULLIF below.
        timeouts.push(t.timeout_at_us.unwrap_or(-1));
        actions.push(t.action.as_str().to_owned());
        pending_ids.push(t.pending_id.unwrap_or_else(Uuid::nil));
        expiries.push(t.expiry);
        event_ids.push(t.metadata.event_id.clone());
        order_ids.push(t.metadata.order_id.clone());
        rule_codes.push(t.metadata.rule_code.clone());
        rule_versions.push(i64::from(t.metadata.rule_version));
        reasons.push(t.metadata.reason.clone());
        created.push(t.created_at_us);
        prevs.push(t.prev_hash.clone());
        hashes.push(t.hash.clone());
    }
    let mut account_ids = Vec::with_capacity(accounts.len());
    let (mut dp, mut cp, mut dpe, mut cpe) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for a in accounts {
        account_ids.push(a.id);
        dp.push(to_i64(a.debits_posted)?);
        cp.push(to_i64(a.credits_posted)?);
        dpe.push(to_i64(a.debits_pending)?);
        cpe.push(to_i64(a.credits_pending)?);
    }
    let resolutions = &applied.new_resolutions;
    let r_pending: Vec<Uuid> = resolutions.iter().map(|r| r.pending_id).collect();
    let r_kind: Vec<String> = resolutions
        .iter()
        .map(|r| r.resolution.as_str().to_owned())
        .collect();
    let r_by: Vec<Uuid> = resolutions.iter().map(|r| r.resolved_by).collect();
    let r_at: Vec<i64> = resolutions.iter().map(|r| r.resolved_at_us).collect();
    let h_book: Vec<String> = heads.iter().map(|(b, _, _)| b.to_string()).collect();
    let h_seq: Vec<i64> = heads
        .iter()
        .map(|(_, seq, _)| to_i64(*seq))
        .collect::<Result<_>>()?;
    let h_hash: Vec<String> = heads.iter().map(|(_, _, h)| (*h).to_owned()).collect();
    let values: Vec<sea_orm::Value> = vec![
        ids.into(),
        books.into(),
        seqs.into(),
        debits.into(),
        credits.into(),
        amounts.into(),
        kinds.into(),
        pendings.into(),
        timeouts.into(),
        actions.into(),
        pending_ids.into(),
        expiries.into(),
        event_ids.into(),
        order_ids.into(),
        rule_codes.into(),
        rule_versions.into(),
        reasons.into(),
        created.into(),
        prevs.into(),
        hashes.into(),
        account_ids.into(),
        dp.into(),
        cp.into(),
        dpe.into(),
        cpe.into(),
        r_pending.into(),
        r_kind.into(),
        r_by.into(),
        r_at.into(),
        h_book.into(),
        h_seq.into(),
        h_hash.into(),
    ];
    let sql = "WITH ins AS (INSERT INTO transfers (id, book, seq, debit_account_id, \
               credit_account_id, amount, kind, pending, timeout_at_us, action, pending_id, \
               expiry, event_id, order_id, rule_code, rule_version, reason, created_at_us, \
               prev_hash, hash) \
               SELECT id, book, seq, d, c, amount, kind, pending, NULLIF(timeout, -1), action, \
               NULLIF(pid, '00000000-0000-0000-0000-000000000000'::uuid), expiry, event_id, \
               order_id, rule_code, rule_version, reason, created, prev, hash \
               FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::uuid[], $5::uuid[], \
               $6::int8[], $7::text[], $8::bool[], $9::int8[], $10::text[], $11::uuid[], \
               $12::bool[], $13::text[], $14::text[], $15::text[], $16::int8[], $17::text[], \
               $18::int8[], $19::text[], $20::text[]) \
               AS t(id, book, seq, d, c, amount, kind, pending, timeout, action, pid, expiry, \
               event_id, order_id, rule_code, rule_version, reason, created, prev, hash) \
               RETURNING 1), \
               upd AS (UPDATE accounts SET debits_posted = v.dp, credits_posted = v.cp, \
               debits_pending = v.dpe, credits_pending = v.cpe \
               FROM UNNEST($21::uuid[], $22::int8[], $23::int8[], $24::int8[], $25::int8[]) \
               AS v(id, dp, cp, dpe, cpe) WHERE accounts.id = v.id RETURNING 1), \
               res AS (INSERT INTO pending_resolutions (pending_id, resolution, resolved_by, \
               resolved_at_us) SELECT * FROM UNNEST($26::uuid[], $27::text[], $28::uuid[], \
               $29::int8[]) RETURNING 1), \
               hd AS (UPDATE book_heads SET seq = h.seq, hash = h.hash \
               FROM UNNEST($30::text[], $31::int8[], $32::text[]) AS h(book, seq, hash) \
               WHERE book_heads.book = h.book RETURNING 1) \
               SELECT (SELECT count(*) FROM ins) AS transfers, (SELECT count(*) FROM upd) \
               AS accounts, (SELECT count(*) FROM res) AS resolutions, \
               (SELECT count(*) FROM hd) AS heads";
    let row = txn
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?
        .ok_or_else(|| LedgerError::Store("the group's write answered nothing".into()))?;
    let count = |column: &str| row.try_get::<i64>("", column).map(|c| c as usize);
    if count("transfers")? != n
        || count("accounts")? != accounts.len()
        || count("resolutions")? != resolutions.len()
        || count("heads")? != heads.len()
    {
        return Err(LedgerError::Store(
            "not every row of the group was written".into(),
        ));
    }
    Ok(())
}
