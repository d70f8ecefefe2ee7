//! PostgreSQL's write of a group's outcome: every row of the group in one statement of array
//! parameters, the heads moved first (why, below).

use sea_orm::{ConnectionTrait, DbBackend};
use uuid::Uuid;

use super::outcome::{Writes, head_moved};
use crate::{
    domain::{
        error::{LedgerError, Result},
        lots,
    },
    store::to_i64,
};

/// What `ledger_refuse_group()` raises (see the migration).
const GROUP_REFUSED: &str = "ledger group refused";

/// PostgreSQL: a group's whole outcome — new transfers, resolutions, book heads and balances —
/// in one statement of array parameters (`UNNEST` in data-modifying CTEs): one round trip,
/// 44 bound values instead of one per cell, and atomic without a surrounding transaction. Each
/// head moves only from where the plan found it, and every row must be written: otherwise
/// `ledger_refuse_group()` raises and the whole statement is undone.
///
/// The final SELECT reads the sub-statements in order, and PostgreSQL runs each when first
/// read: the **heads first**. Every writer — this statement, the locked path's `FOR UPDATE`, a
/// replica's — takes a book's head row before it touches anything else of the book, so no two
/// wait on each other in a cycle. (Inserting first, to overlap with an earlier commit, was
/// tried: a locked writer on another replica then waited on the inserted `(book, seq)` while
/// holding the head this statement waited for — a deadlock, seen in CI.)
const WRITE_OUTCOME_SQL: &str = "WITH hd AS (UPDATE book_heads SET seq = h.seq, hash = h.hash, \
    issued = book_heads.issued + h.issued, redeemed = book_heads.redeemed + h.redeemed, \
    refunded = book_heads.refunded + h.refunded, expired = book_heads.expired + h.expired, \
    outstanding = book_heads.outstanding + h.outstanding \
    FROM UNNEST($30::text[], $31::int8[], $32::text[], $33::int8[], $34::text[], $40::int8[], \
    $41::int8[], $42::int8[], $43::int8[], $44::int8[]) \
    AS h(book, seq, hash, from_seq, from_hash, issued, redeemed, refunded, expired, outstanding) \
    WHERE book_heads.book = h.book AND book_heads.seq = h.from_seq \
    AND book_heads.hash = h.from_hash RETURNING 1), \
    ins AS (INSERT INTO transfers (id, book, seq, debit_account_id, \
    credit_account_id, amount, kind, pending, timeout_at_us, action, pending_id, \
    expiry, event_id, order_id, rule_code, rule_version, reason, created_at_us, \
    prev_hash, hash, expires_on, refund_of, lots) \
    SELECT id, book, seq, d, c, amount, kind, pending, NULLIF(timeout, -1), action, \
    NULLIF(pid, '00000000-0000-0000-0000-000000000000'::uuid), expiry, event_id, \
    order_id, rule_code, rule_version, reason, created, prev, hash, NULLIF(exp, 0), \
    NULLIF(rof, '00000000-0000-0000-0000-000000000000'::uuid), lots \
    FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::uuid[], $5::uuid[], \
    $6::int8[], $7::text[], $8::bool[], $9::int8[], $10::text[], $11::uuid[], \
    $12::bool[], $13::text[], $14::text[], $15::text[], $16::int8[], $17::text[], \
    $18::int8[], $19::text[], $20::text[], $35::int8[], $36::uuid[], $37::text[]) \
    AS t(id, book, seq, d, c, amount, kind, pending, timeout, action, pid, expiry, \
    event_id, order_id, rule_code, rule_version, reason, created, prev, hash, exp, rof, lots) \
    RETURNING 1), \
    upd AS (UPDATE accounts SET debits_posted = v.dp, credits_posted = v.cp, \
    debits_pending = v.dpe, credits_pending = v.cpe, lots = v.lots, \
    next_expiry = NULLIF(v.ne, 0) \
    FROM UNNEST($21::uuid[], $22::int8[], $23::int8[], $24::int8[], $25::int8[], \
    $38::text[], $39::int8[]) \
    AS v(id, dp, cp, dpe, cpe, lots, ne) WHERE accounts.id = v.id RETURNING 1), \
    res AS (INSERT INTO pending_resolutions (pending_id, resolution, resolved_by, \
    resolved_at_us) SELECT * FROM UNNEST($26::uuid[], $27::text[], $28::uuid[], \
    $29::int8[]) RETURNING 1) \
    SELECT CASE WHEN (SELECT count(*) FROM hd) = cardinality($30::text[]) \
    AND (SELECT count(*) FROM ins) = cardinality($1::uuid[]) \
    AND (SELECT count(*) FROM upd) = cardinality($21::uuid[]) \
    AND (SELECT count(*) FROM res) = cardinality($26::uuid[]) \
    THEN 0 ELSE ledger_refuse_group() END AS written";

/// A group's outcome as typed columns, the array parameters of [`WRITE_OUTCOME_SQL`] in order.
struct Columns {
    ids: Vec<Uuid>,
    books: Vec<String>,
    seqs: Vec<i64>,
    debits: Vec<Uuid>,
    credits: Vec<Uuid>,
    amounts: Vec<i64>,
    kinds: Vec<String>,
    pendings: Vec<bool>,
    timeouts: Vec<i64>,
    actions: Vec<String>,
    pending_ids: Vec<Uuid>,
    expiries: Vec<bool>,
    event_ids: Vec<String>,
    order_ids: Vec<String>,
    rule_codes: Vec<String>,
    rule_versions: Vec<i64>,
    reasons: Vec<String>,
    created: Vec<i64>,
    prevs: Vec<String>,
    hashes: Vec<String>,
    account_ids: Vec<Uuid>,
    dp: Vec<i64>,
    cp: Vec<i64>,
    dpe: Vec<i64>,
    cpe: Vec<i64>,
    r_pending: Vec<Uuid>,
    r_kind: Vec<String>,
    r_by: Vec<Uuid>,
    r_at: Vec<i64>,
    h_book: Vec<String>,
    h_seq: Vec<i64>,
    h_hash: Vec<String>,
    h_from_seq: Vec<i64>,
    h_from_hash: Vec<String>,
    t_expires: Vec<i64>,
    t_refund_of: Vec<Uuid>,
    t_lots: Vec<String>,
    a_lots: Vec<String>,
    a_next_expiry: Vec<i64>,
    h_issued: Vec<i64>,
    h_redeemed: Vec<i64>,
    h_refunded: Vec<i64>,
    h_expired: Vec<i64>,
    h_outstanding: Vec<i64>,
}

impl Columns {
    fn new(writes: &Writes) -> Result<Self> {
        let transfers = &writes.transfers;
        let n = transfers.len();
        let mut c = Columns {
            ids: Vec::with_capacity(n),
            books: Vec::with_capacity(n),
            seqs: Vec::with_capacity(n),
            debits: Vec::with_capacity(n),
            credits: Vec::with_capacity(n),
            amounts: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            pendings: Vec::with_capacity(n),
            timeouts: Vec::with_capacity(n),
            actions: Vec::with_capacity(n),
            pending_ids: Vec::with_capacity(n),
            expiries: Vec::with_capacity(n),
            event_ids: Vec::with_capacity(n),
            order_ids: Vec::with_capacity(n),
            rule_codes: Vec::with_capacity(n),
            rule_versions: Vec::with_capacity(n),
            reasons: Vec::with_capacity(n),
            created: Vec::with_capacity(n),
            prevs: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
            account_ids: Vec::new(),
            dp: Vec::new(),
            cp: Vec::new(),
            dpe: Vec::new(),
            cpe: Vec::new(),
            r_pending: Vec::new(),
            r_kind: Vec::new(),
            r_by: Vec::new(),
            r_at: Vec::new(),
            h_book: Vec::new(),
            h_seq: Vec::new(),
            h_hash: Vec::new(),
            h_from_seq: Vec::new(),
            h_from_hash: Vec::new(),
            t_expires: Vec::with_capacity(n),
            t_refund_of: Vec::with_capacity(n),
            t_lots: Vec::with_capacity(n),
            a_lots: Vec::new(),
            a_next_expiry: Vec::new(),
            h_issued: Vec::new(),
            h_redeemed: Vec::new(),
            h_refunded: Vec::new(),
            h_expired: Vec::new(),
            h_outstanding: Vec::new(),
        };
        for t in transfers {
            c.ids.push(t.id);
            c.books.push(t.book.to_string());
            c.seqs.push(to_i64(t.seq)?);
            c.debits.push(t.debit_account_id);
            c.credits.push(t.credit_account_id);
            c.amounts.push(to_i64(t.amount)?);
            c.kinds.push(t.kind.as_str().to_owned());
            c.pendings.push(t.pending);
            // Arrays carry no NULLs here: sentinels, turned back into NULL by NULLIF in SQL.
            c.timeouts.push(t.timeout_at_us.unwrap_or(-1));
            c.actions.push(t.action.as_str().to_owned());
            c.pending_ids.push(t.pending_id.unwrap_or_else(Uuid::nil));
            c.expiries.push(t.expiry);
            c.event_ids.push(t.metadata.event_id.clone());
            c.order_ids.push(t.metadata.order_id.clone());
            c.rule_codes.push(t.metadata.rule_code.clone());
            c.rule_versions.push(i64::from(t.metadata.rule_version));
            c.reasons.push(t.metadata.reason.clone());
            c.created.push(t.created_at_us);
            c.prevs.push(t.prev_hash.clone());
            c.hashes.push(t.hash.clone());
            c.t_expires.push(lots::day_number(t.expires_on));
            c.t_refund_of.push(t.refund_of.unwrap_or_else(Uuid::nil));
            c.t_lots.push(t.lots.encode());
        }
        for a in &writes.accounts {
            c.account_ids.push(a.id);
            c.dp.push(to_i64(a.debits_posted)?);
            c.cp.push(to_i64(a.credits_posted)?);
            c.dpe.push(to_i64(a.debits_pending)?);
            c.cpe.push(to_i64(a.credits_pending)?);
            c.a_lots.push(a.lots.encode());
            c.a_next_expiry.push(lots::day_number(a.lots.next_expiry()));
        }
        for r in &writes.resolutions {
            c.r_pending.push(r.pending_id);
            c.r_kind.push(r.resolution.as_str().to_owned());
            c.r_by.push(r.resolved_by);
            c.r_at.push(r.resolved_at_us);
        }
        for h in &writes.heads {
            c.h_book.push(h.book.to_string());
            c.h_seq.push(to_i64(h.to.0)?);
            c.h_hash.push(h.to.1.clone());
            c.h_from_seq.push(to_i64(h.from.0)?);
            c.h_from_hash.push(h.from.1.clone());
            c.h_issued.push(h.adds.issued);
            c.h_redeemed.push(h.adds.redeemed);
            c.h_refunded.push(h.adds.refunded);
            c.h_expired.push(h.adds.expired);
            c.h_outstanding.push(h.adds.outstanding);
        }
        Ok(c)
    }

    /// As sea-orm values (which sea-orm copies once more before binding).
    fn into_values(self) -> Vec<sea_orm::Value> {
        vec![
            self.ids.into(),
            self.books.into(),
            self.seqs.into(),
            self.debits.into(),
            self.credits.into(),
            self.amounts.into(),
            self.kinds.into(),
            self.pendings.into(),
            self.timeouts.into(),
            self.actions.into(),
            self.pending_ids.into(),
            self.expiries.into(),
            self.event_ids.into(),
            self.order_ids.into(),
            self.rule_codes.into(),
            self.rule_versions.into(),
            self.reasons.into(),
            self.created.into(),
            self.prevs.into(),
            self.hashes.into(),
            self.account_ids.into(),
            self.dp.into(),
            self.cp.into(),
            self.dpe.into(),
            self.cpe.into(),
            self.r_pending.into(),
            self.r_kind.into(),
            self.r_by.into(),
            self.r_at.into(),
            self.h_book.into(),
            self.h_seq.into(),
            self.h_hash.into(),
            self.h_from_seq.into(),
            self.h_from_hash.into(),
            self.t_expires.into(),
            self.t_refund_of.into(),
            self.t_lots.into(),
            self.a_lots.into(),
            self.a_next_expiry.into(),
            self.h_issued.into(),
            self.h_redeemed.into(),
            self.h_refunded.into(),
            self.h_expired.into(),
            self.h_outstanding.into(),
        ]
    }
}

/// Maps the statement's refusal to [`head_moved`].
fn refused_or(e: sea_orm::DbErr) -> LedgerError {
    if e.to_string().contains(GROUP_REFUSED) {
        head_moved()
    } else {
        e.into()
    }
}

/// [`WRITE_OUTCOME_SQL`] inside the caller's transaction (the locked path).
pub(super) async fn write_outcome_unnest(
    conn: &impl ConnectionTrait,
    writes: &Writes,
) -> Result<()> {
    conn.query_one_raw(sea_orm::Statement::from_sql_and_values(
        DbBackend::Postgres,
        WRITE_OUTCOME_SQL,
        Columns::new(writes)?.into_values(),
    ))
    .await
    .map_err(refused_or)?
    .ok_or_else(|| LedgerError::fault("the group's write answered nothing"))?;
    Ok(())
}

/// [`WRITE_OUTCOME_SQL`] on its own (atomic by itself), bound straight through sqlx by
/// reference: sea-orm would copy every array twice more, measured as a large share of a big
/// group's commit.
pub(super) async fn write_outcome_direct(
    pool: &sea_orm::sqlx::PgPool,
    writes: &Writes,
) -> Result<()> {
    let c = Columns::new(writes)?;
    sea_orm::sqlx::query(WRITE_OUTCOME_SQL)
        .bind(&c.ids)
        .bind(&c.books)
        .bind(&c.seqs)
        .bind(&c.debits)
        .bind(&c.credits)
        .bind(&c.amounts)
        .bind(&c.kinds)
        .bind(&c.pendings)
        .bind(&c.timeouts)
        .bind(&c.actions)
        .bind(&c.pending_ids)
        .bind(&c.expiries)
        .bind(&c.event_ids)
        .bind(&c.order_ids)
        .bind(&c.rule_codes)
        .bind(&c.rule_versions)
        .bind(&c.reasons)
        .bind(&c.created)
        .bind(&c.prevs)
        .bind(&c.hashes)
        .bind(&c.account_ids)
        .bind(&c.dp)
        .bind(&c.cp)
        .bind(&c.dpe)
        .bind(&c.cpe)
        .bind(&c.r_pending)
        .bind(&c.r_kind)
        .bind(&c.r_by)
        .bind(&c.r_at)
        .bind(&c.h_book)
        .bind(&c.h_seq)
        .bind(&c.h_hash)
        .bind(&c.h_from_seq)
        .bind(&c.h_from_hash)
        .bind(&c.t_expires)
        .bind(&c.t_refund_of)
        .bind(&c.t_lots)
        .bind(&c.a_lots)
        .bind(&c.a_next_expiry)
        .bind(&c.h_issued)
        .bind(&c.h_redeemed)
        .bind(&c.h_refunded)
        .bind(&c.h_expired)
        .bind(&c.h_outstanding)
        .fetch_one(pool)
        .await
        .map_err(|e| refused_or(sea_orm::DbErr::Custom(e.to_string())))?;
    Ok(())
}
