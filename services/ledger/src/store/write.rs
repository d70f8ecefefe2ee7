//! The write path: a group of requests is *planned* (state loaded, decided by the engine) and its
//! outcome *committed*, either in one locked transaction ([`Store::write_group`]) or
//! optimistically and pipelined ([`Store::plan_group`] then [`Store::commit_plan`]).
//!
//! The pipelined path lets the writer plan group N+1 while the database still writes group N:
//! what N did but the database may not show yet lives in an [`Overlay`], and N+1 reads through
//! it. Nothing is locked while planning; instead the commit is a compare-and-set on each book's
//! head (its journal position and hash). Every balance change is a transfer, every transfer
//! moves its book's head, so if anything else wrote in the book since the planned state was
//! read — another ledger process, or a group N that failed — the head is not where the plan
//! expects it and the commit is refused whole. The caller then drops the overlay and writes the
//! group again on the locked path.
//!
//! Why that is sound: a plan reads a book's head before any balance of that book (or takes it
//! from the overlay, where it came from this writer's own earlier plan), so a foreign write after
//! that point moves the head the commit expects. Transfer ids and resolutions need no such
//! care: a foreign insert of the same id or the same resolution breaks a primary key.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use healthpoints_types::Book;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use uuid::Uuid;

use super::{
    INSERT_CHUNK, Store, book, by_ids, corrupt, day_column, to_account, to_i64, to_transfer,
    to_u64, transfer_row,
};
use crate::domain::{
    engine::{self, Request, State},
    error::{LedgerError, Result},
    journal::GENESIS,
    model::{Account, CreateResult, PendingAction, Resolution, Transfer, book_of_account},
};
use crate::store::entities::{account, book_head, resolution, transfer};

/// A decided group: per request, per transfer, the result; and what to write.
#[derive(Debug)]
pub struct Plan {
    pub results: Vec<Vec<(CreateResult, Option<Transfer>)>>,
    pub writes: Writes,
}

/// The effects of groups planned but perhaps not yet committed — each group's [`Writes`],
/// shared with its commit, and indexes into them — plus the last head this writer knows of each
/// book. Plans read through it.
#[derive(Debug, Default)]
pub struct Overlay {
    epoch: u64,
    groups: HashMap<u64, Arc<Writes>>,
    accounts: HashMap<Uuid, (u64, usize)>,
    transfers: HashMap<Uuid, (u64, usize)>,
    resolutions: HashMap<Uuid, (u64, usize)>,
    heads: HashMap<Book, Head>,
}

impl Overlay {
    /// An empty overlay valid for the store's current configuration epoch.
    pub fn new(store: &Store) -> Self {
        Self {
            epoch: store.epoch(),
            ..Self::default()
        }
    }

    /// Whether accounts' settings changed behind the writer's back since the overlay began.
    pub fn is_stale(&self, store: &Store) -> bool {
        self.epoch != store.epoch()
    }

    fn writes(&self, at: Option<&(u64, usize)>) -> Option<(&Writes, usize)> {
        let (group, i) = at?;
        Some((self.groups.get(group)?, *i))
    }

    fn account(&self, id: &Uuid) -> Option<&Account> {
        let (w, i) = self.writes(self.accounts.get(id))?;
        w.accounts.get(i)
    }

    fn transfer(&self, id: &Uuid) -> Option<&Transfer> {
        let (w, i) = self.writes(self.transfers.get(id))?;
        w.transfers.get(i)
    }

    fn resolution(&self, pending_id: &Uuid) -> Option<Resolution> {
        let (w, i) = self.writes(self.resolutions.get(pending_id))?;
        w.resolutions.get(i).map(|r| r.resolution)
    }

    /// In-flight refunds naming one of `debits`.
    fn refunds_of(&self, debits: &HashSet<Uuid>) -> Vec<Transfer> {
        self.groups
            .values()
            .flat_map(|w| &w.transfers)
            .filter(|t| t.refund_of.is_some_and(|d| debits.contains(&d)))
            .cloned()
            .collect()
    }

    /// Remembers what `group` writes, for the plans that follow it.
    pub fn record(&mut self, writes: Arc<Writes>, group: u64) {
        for (i, a) in writes.accounts.iter().enumerate() {
            self.accounts.insert(a.id, (group, i));
        }
        for (i, t) in writes.transfers.iter().enumerate() {
            self.transfers.insert(t.id, (group, i));
        }
        for (i, r) in writes.resolutions.iter().enumerate() {
            self.resolutions.insert(r.pending_id, (group, i));
        }
        for h in &writes.heads {
            self.heads.insert(h.book, h.to.clone());
        }
        self.groups.insert(group, writes);
    }

    /// Forgets what `group` wrote once the database shows it, unless a later group overwrote it.
    /// The heads stay: they are where this writer left each book.
    pub fn settle(&mut self, group: u64) {
        if let Some(writes) = self.groups.remove(&group) {
            for a in &writes.accounts {
                if self.accounts.get(&a.id).is_some_and(|(g, _)| *g == group) {
                    self.accounts.remove(&a.id);
                }
            }
            for t in &writes.transfers {
                if self.transfers.get(&t.id).is_some_and(|(g, _)| *g == group) {
                    self.transfers.remove(&t.id);
                }
            }
            for r in &writes.resolutions {
                if self
                    .resolutions
                    .get(&r.pending_id)
                    .is_some_and(|(g, _)| *g == group)
                {
                    self.resolutions.remove(&r.pending_id);
                }
            }
        }
    }

    /// Forgets everything: after a failed commit the database is the only truth.
    pub fn reset(&mut self, store: &Store) {
        *self = Self::new(store);
    }
}

/// What a group names: transfer ids (its own, the pending ones it resolves and the debits its
/// refunds return), accounts, pending ids, and the ids that must be read (those it resolves or
/// returns).
fn wanted(requests: &[Request]) -> (Vec<Uuid>, BTreeSet<Uuid>, Vec<Uuid>, HashSet<Uuid>) {
    let mut ids: HashSet<Uuid> = HashSet::new();
    let mut accounts = BTreeSet::new();
    let mut pending = Vec::new();
    let mut referenced = HashSet::new();
    for t in requests.iter().flat_map(|r| &r.transfers) {
        ids.insert(t.id);
        if let Some(p) = t.pending_id {
            ids.insert(p);
            pending.push(p);
            referenced.insert(p);
        }
        if let Some(r) = t.refund_of {
            ids.insert(r);
            referenced.insert(r);
        }
        for a in [t.debit_account_id, t.credit_account_id] {
            if !a.is_nil() {
                accounts.insert(a);
            }
        }
    }
    (ids.into_iter().collect(), accounts, pending, referenced)
}

/// The books of `accounts`: an account's id carries its book (the database checks it).
fn books_of<'a>(accounts: impl IntoIterator<Item = &'a Uuid>) -> BTreeSet<Book> {
    accounts
        .into_iter()
        .filter_map(|id| book_of_account(*id))
        .collect()
}

pub(super) async fn read_transfers(
    conn: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<Vec<Transfer>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    by_ids::<transfer::Entity>(conn, transfer::Column::Id, ids)
        .await?
        .into_iter()
        .map(to_transfer)
        .collect()
}

/// Stored refunds naming one of `debits` (the partial index `transfers_refund_of`).
pub(super) async fn read_refunds(
    conn: &impl ConnectionTrait,
    debits: &HashSet<Uuid>,
) -> Result<Vec<Transfer>> {
    if debits.is_empty() {
        return Ok(Vec::new());
    }
    transfer::Entity::find()
        .filter(transfer::Column::RefundOf.is_in(debits.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .map(to_transfer)
        .collect()
}

/// The debits the group's refunds name.
fn refunded_debits(requests: &[Request]) -> HashSet<Uuid> {
    requests
        .iter()
        .flat_map(|r| &r.transfers)
        .filter_map(|t| t.refund_of)
        .collect()
}

/// Stored and in-flight refunds, each once.
fn merge_refunds(stored: Vec<Transfer>, in_flight: Vec<Transfer>) -> Vec<Transfer> {
    let mut by_id: HashMap<Uuid, Transfer> = stored.into_iter().map(|t| (t.id, t)).collect();
    for t in in_flight {
        by_id.insert(t.id, t);
    }
    by_id.into_values().collect()
}

pub(super) async fn read_accounts(
    conn: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<Vec<Account>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    by_ids::<account::Entity>(conn, account::Column::Id, ids)
        .await?
        .into_iter()
        .map(to_account)
        .collect()
}

pub(super) async fn read_resolutions(
    conn: &impl ConnectionTrait,
    pending_ids: Vec<Uuid>,
) -> Result<Vec<(Uuid, Resolution)>> {
    if pending_ids.is_empty() {
        return Ok(Vec::new());
    }
    resolution::Entity::find()
        .filter(resolution::Column::PendingId.is_in(pending_ids))
        .all(conn)
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

/// The heads of `books`; a book without a head row yet starts at the genesis hash. With `lock`
/// (PostgreSQL) the rows are locked in book order, so locking writers never deadlock.
async fn read_heads(
    conn: &impl ConnectionTrait,
    books: &BTreeSet<Book>,
    lock: bool,
) -> Result<HashMap<Book, Head>> {
    if books.is_empty() {
        return Ok(HashMap::new());
    }
    let names: Vec<String> = books.iter().map(ToString::to_string).collect();
    let mut query = book_head::Entity::find()
        .filter(book_head::Column::Book.is_in(names))
        .order_by_asc(book_head::Column::Book);
    if lock && conn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let mut heads: HashMap<Book, Head> = query
        .all(conn)
        .await?
        .into_iter()
        .map(|h| Ok((book(&h.book)?, (to_u64(h.seq, "sequence")?, h.hash))))
        .collect::<Result<_>>()?;
    for b in books {
        heads.entry(*b).or_insert_with(|| (0, GENESIS.to_owned()));
    }
    Ok(heads)
}

/// Creates the head rows of books that have none yet (a book's first group).
async fn ensure_heads(conn: &impl ConnectionTrait, books: &[Book]) -> Result<()> {
    for b in books {
        book_head::Entity::insert(book_head::ActiveModel {
            book: Set(b.to_string()),
            seq: Set(0),
            hash: Set(GENESIS.to_owned()),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::column(book_head::Column::Book)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// Runs the engine over the loaded state and sorts out what to write.
fn decide(mut state: State, requests: &[Request], now_us: i64) -> Result<Plan> {
    let found = state.heads.clone();
    let applied = engine::apply(&mut state, requests, now_us);
    let mut accounts: Vec<Account> = applied
        .touched_accounts
        .iter()
        .map(|id| {
            state
                .accounts
                .remove(id)
                .ok_or_else(|| LedgerError::fault("touched account vanished"))
        })
        .collect::<Result<_>>()?;
    accounts.sort_by_key(|a| a.id);
    let kinds: HashMap<Uuid, _> = accounts.iter().map(|a| (a.id, a.kind)).collect();
    let mut figures = Figures::of(&applied.new_transfers, &kinds)?;
    let mut heads: Vec<HeadMove> = state
        .heads
        .into_iter()
        .filter_map(|(b, to)| {
            let from = found
                .get(&b)
                .cloned()
                .unwrap_or_else(|| (0, GENESIS.to_owned()));
            (from.0 != to.0).then(|| HeadMove {
                book: b,
                from,
                to,
                adds: figures.remove(&b).unwrap_or_default(),
            })
        })
        .collect();
    heads.sort_by_key(|h| h.book);
    Ok(Plan {
        results: applied.results,
        writes: Writes {
            transfers: applied.new_transfers,
            resolutions: applied.new_resolutions,
            accounts,
            heads,
        },
    })
}

impl Store {
    /// Plans a group without locking, reading through `overlay` (see the module docs). Reads
    /// that do not depend on each other run side by side.
    pub async fn plan_group(
        &self,
        requests: &[Request],
        now_us: i64,
        overlay: &Overlay,
    ) -> Result<Plan> {
        let plan = self.plan(requests, now_us, overlay, false).await?;
        // A refusal might really be a retry of a stored transfer (a redemption retried after
        // its points were spent is no longer affordable, yet must answer as the original):
        // refused ids are looked up, and if any is stored the group is planned knowing them all.
        let refused: Vec<Uuid> = requests
            .iter()
            .zip(&plan.results)
            .flat_map(|(r, results)| r.transfers.iter().zip(results))
            .filter(|(t, (result, _))| {
                !matches!(result, CreateResult::Ok | CreateResult::Exists)
                    && !overlay.transfers.contains_key(&t.id)
            })
            .map(|(t, _)| t.id)
            .collect();
        if refused.is_empty() || read_transfers(&self.db, refused).await?.is_empty() {
            return Ok(plan);
        }
        self.plan(requests, now_us, overlay, true).await
    }

    /// [`Self::plan_group`]; with `probe`, every id the group names is looked up first.
    async fn plan(
        &self,
        requests: &[Request],
        now_us: i64,
        overlay: &Overlay,
        probe: bool,
    ) -> Result<Plan> {
        let (ids, mut account_ids, pending, referenced) = wanted(requests);
        let mut state = State {
            accounts: HashMap::new(),
            transfers: HashMap::new(),
            resolutions: HashMap::new(),
            heads: HashMap::new(),
            refunds: Vec::new(),
        };
        let debits = refunded_debits(requests);
        // Heads first: a head read after a balance could hide a foreign write to that balance.
        self.load_heads(&mut state, overlay, books_of(&account_ids))
            .await?;
        // The group's own ids are presumed new — the primary key is the check: a retried id
        // fails the commit, and the locked path then answers it as a retry. Only the pending
        // transfers a group resolves (and the debits its refunds return) must be read.
        // In-flight groups' ids are known for free.
        let mut to_read = Vec::new();
        for id in ids {
            match overlay.transfer(&id) {
                Some(t) => {
                    state.transfers.insert(id, t.clone());
                }
                None if probe || referenced.contains(&id) => to_read.push(id),
                None => {}
            }
        }
        let mut resolutions_to_read = Vec::new();
        for id in pending {
            match overlay.resolution(&id) {
                Some(r) => {
                    state.resolutions.insert(id, r);
                }
                None => resolutions_to_read.push(id),
            }
        }
        let accounts_todo: Vec<Uuid> = account_ids
            .iter()
            .filter(|id| !overlay.accounts.contains_key(id))
            .copied()
            .collect();
        let (stored, accounts, resolutions, refunds) = tokio::try_join!(
            read_transfers(&self.db, to_read),
            read_accounts(&self.db, accounts_todo),
            read_resolutions(&self.db, resolutions_to_read),
            read_refunds(&self.db, &debits),
        )?;
        state.refunds = merge_refunds(refunds, overlay.refunds_of(&debits));
        state
            .transfers
            .extend(stored.into_iter().map(|t| (t.id, t)));
        state.resolutions.extend(resolutions);
        state.accounts = accounts.into_iter().map(|a| (a.id, a)).collect();
        for id in &account_ids {
            if let Some(a) = overlay.account(id) {
                state.accounts.insert(*id, a.clone());
            }
        }

        // A post or void may name neither account: they come from the pending transfer.
        let mut more: BTreeSet<Uuid> = BTreeSet::new();
        for t in state.transfers.values() {
            for a in [t.debit_account_id, t.credit_account_id] {
                if account_ids.insert(a) {
                    more.insert(a);
                }
            }
        }
        if !more.is_empty() {
            self.load_heads(&mut state, overlay, books_of(&more))
                .await?;
            let todo: Vec<Uuid> = more
                .iter()
                .filter(|id| !overlay.accounts.contains_key(id))
                .copied()
                .collect();
            for a in read_accounts(&self.db, todo).await? {
                state.accounts.insert(a.id, a);
            }
            for id in &more {
                if let Some(a) = overlay.account(id) {
                    state.accounts.insert(*id, a.clone());
                }
            }
        }
        decide(state, requests, now_us)
    }

    /// Adds the heads of `books` the state lacks: from the overlay, or read.
    async fn load_heads(
        &self,
        state: &mut State,
        overlay: &Overlay,
        books: BTreeSet<Book>,
    ) -> Result<()> {
        let mut todo = BTreeSet::new();
        for b in books {
            if state.heads.contains_key(&b) {
                continue;
            }
            match overlay.heads.get(&b) {
                Some(h) => {
                    state.heads.insert(b, h.clone());
                }
                None => {
                    todo.insert(b);
                }
            }
        }
        state
            .heads
            .extend(read_heads(&self.db, &todo, false).await?);
        Ok(())
    }

    /// Commits a planned group if every book's head is still where the plan found it; refused
    /// whole otherwise. On PostgreSQL this is one statement (atomic by itself, one round trip).
    pub async fn commit_plan(&self, writes: &Writes) -> Result<()> {
        let started = std::time::Instant::now();
        self.commit_plan_unmeasured(writes).await?;
        counted(writes, started.elapsed());
        Ok(())
    }

    async fn commit_plan_unmeasured(&self, writes: &Writes) -> Result<()> {
        let fresh: Vec<Book> = writes
            .heads
            .iter()
            .filter(|h| h.from.0 == 0)
            .map(|h| h.book)
            .collect();
        ensure_heads(&self.db, &fresh).await?;
        if self.postgres() {
            write_outcome_direct(self.db.get_postgres_connection_pool(), writes).await
        } else {
            let txn = self.db.begin().await?;
            write_outcome_rows(&txn, writes).await?;
            txn.commit().await?;
            Ok(())
        }
    }

    /// Loads what `requests` touch, decides them, writes the outcome and commits — all or
    /// nothing, in one transaction that locks the books' head rows (`FOR UPDATE`, in book order)
    /// before reading any balance: concurrent ledgers on one database serialise per book and
    /// never deadlock. The path for retries and for when the optimistic one is refused.
    pub async fn write_group(&self, requests: &[Request], now_us: i64) -> Result<Plan> {
        let started = std::time::Instant::now();
        let txn = self.db.begin().await?;
        let (ids, mut account_ids, pending, _) = wanted(requests);
        let stored = read_transfers(&txn, ids).await?;
        for t in &stored {
            account_ids.extend([t.debit_account_id, t.credit_account_id]);
        }
        let books = books_of(&account_ids);
        ensure_heads(&txn, &books.iter().copied().collect::<Vec<_>>()).await?;
        let heads = read_heads(&txn, &books, true).await?;
        let accounts = read_accounts(&txn, account_ids.into_iter().collect()).await?;
        let resolutions = read_resolutions(&txn, pending).await?;
        let refunds = read_refunds(&txn, &refunded_debits(requests)).await?;
        let state = State {
            accounts: accounts.into_iter().map(|a| (a.id, a)).collect(),
            transfers: stored.into_iter().map(|t| (t.id, t)).collect(),
            resolutions: resolutions.into_iter().collect(),
            heads,
            refunds,
        };
        let plan = decide(state, requests, now_us)?;
        if plan.writes.is_empty() {
            txn.rollback().await?;
            return Ok(plan);
        }
        if self.postgres() {
            write_outcome_unnest(&txn, &plan.writes).await?;
        } else {
            write_outcome_rows(&txn, &plan.writes).await?;
        }
        txn.commit().await?;
        counted(&plan.writes, started.elapsed());
        Ok(plan)
    }
}

/// A committed group in the process's metrics: its size, its commit time, and the points its
/// settled transfers moved per book and kind (a pending reservation counts when it is posted,
/// a void not at all).
fn counted(writes: &Writes, took: std::time::Duration) {
    use healthpoints_telemetry::metrics::{BookLabels, metrics};
    let m = metrics();
    m.ledger_group_size.observe(writes.transfers.len() as f64);
    m.ledger_commit.observe(took.as_secs_f64());
    for t in &writes.transfers {
        if t.pending || t.action == PendingAction::Void || t.amount == 0 {
            continue;
        }
        m.points
            .get_or_create(&BookLabels {
                book: t.book.to_string(),
                kind: t.kind.as_str().to_owned(),
            })
            .inc_by(t.amount);
    }
}

/// SQLite (and any backend): a group's outcome in a few multi-row statements, inside the
/// caller's transaction; each head moves only from where the plan found it.
async fn write_outcome_rows(txn: &sea_orm::DatabaseTransaction, writes: &Writes) -> Result<()> {
    for h in &writes.heads {
        let mut update = book_head::Entity::update_many()
            .col_expr(book_head::Column::Seq, Expr::value(to_i64(h.to.0)?))
            .col_expr(book_head::Column::Hash, Expr::value(h.to.1.as_str()));
        for (figure, adds) in [
            (book_head::Column::Issued, h.adds.issued),
            (book_head::Column::Redeemed, h.adds.redeemed),
            (book_head::Column::Refunded, h.adds.refunded),
            (book_head::Column::Expired, h.adds.expired),
            (book_head::Column::Outstanding, h.adds.outstanding),
        ] {
            update = update.col_expr(figure, Expr::col(figure).add(adds));
        }
        let moved = update
            .filter(book_head::Column::Book.eq(h.book.to_string()))
            .filter(book_head::Column::Seq.eq(to_i64(h.from.0)?))
            .filter(book_head::Column::Hash.eq(h.from.1.as_str()))
            .exec(txn)
            .await?;
        if moved.rows_affected != 1 {
            return Err(head_moved());
        }
    }
    for chunk in writes.transfers.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().map(transfer_row).collect::<Result<Vec<_>>>()?;
        transfer::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    for chunk in writes.resolutions.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().map(|r| resolution::ActiveModel {
            pending_id: Set(r.pending_id),
            resolution: Set(r.resolution.as_str().to_owned()),
            resolved_by: Set(r.resolved_by),
            resolved_at_us: Set(r.resolved_at_us),
        });
        resolution::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    for chunk in writes.accounts.chunks(INSERT_CHUNK) {
        update_balances(txn, chunk).await?;
    }
    Ok(())
}

/// Writes the balances and lots of `accounts` in one statement (`UPDATE … FROM (VALUES …)`)
/// instead of one round trip per account.
async fn update_balances(txn: &sea_orm::DatabaseTransaction, accounts: &[Account]) -> Result<()> {
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(accounts.len() * 7);
    let mut rows = Vec::with_capacity(accounts.len());
    for a in accounts {
        rows.push("(?, ?, ?, ?, ?, ?, ?)");
        values.push(a.id.into());
        for v in [
            a.debits_posted,
            a.credits_posted,
            a.debits_pending,
            a.credits_pending,
        ] {
            values.push(to_i64(v)?.into());
        }
        values.push(a.lots.encode().into());
        values.push(day_column(a.lots.next_expiry()).into());
    }
    let sql = format!(
        "UPDATE accounts SET debits_posted = v.dp, credits_posted = v.cp, debits_pending = v.dpe, \
         credits_pending = v.cpe, lots = v.lots, next_expiry = v.ne FROM (SELECT column1 AS id, \
         column2 AS dp, column3 AS cp, column4 AS dpe, column5 AS cpe, column6 AS lots, \
         column7 AS ne FROM (VALUES {})) AS v WHERE accounts.id = v.id",
        rows.join(", ")
    );
    let result = txn
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            txn.get_database_backend(),
            sql,
            values,
        ))
        .await?;
    if result.rows_affected() != accounts.len() as u64 {
        return Err(LedgerError::fault("not every touched account was updated"));
    }
    Ok(())
}

mod outcome;
mod postgres;

pub use outcome::Writes;
use outcome::{Figures, Head, HeadMove, head_moved};
use postgres::{write_outcome_direct, write_outcome_unnest};
