//! Schema of the ledger database. Append-only: never edit a migration that has shipped.
//!
//! (Pre-release, 2026-11-22: the first schema was replaced before any deployment, when account
//! ids began to carry their book. The migration was renamed so a development database made with
//! the old schema fails at start — "table already exists" — instead of misbehaving; delete
//! `data/ledger.db` to start afresh.)
//!
//! The invariants live here, not only in Rust: balance and budget limits are CHECK constraints;
//! an account id carries its book's number in its first four bytes
//! ([`crate::domain::model::new_account_id`]) and CHECK constraints tie that prefix to the
//! account's book and to both sides of every transfer, so debits equal credits per book (a
//! per-row check, measured ≈ 3× cheaper per inserted transfer on PostgreSQL than the composite
//! foreign keys it replaced); a pending transfer resolves at most once (primary key of
//! `pending_resolutions`); and triggers refuse any UPDATE or DELETE of a transfer or a
//! resolution.

use sea_orm_migration::{
    async_trait::async_trait,
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, Statement},
};

/// SQL: the posted points of transfers of `kind` in the row's book (see [`FIGURES_RECOUNTED`]).
macro_rules! posted_sum {
    ($kind:literal) => {
        concat!(
            "(SELECT COALESCE(SUM(t.amount), 0) FROM transfers t WHERE t.book = book_heads.book \
             AND t.kind = '",
            $kind,
            "' AND ((t.action = 'none' AND NOT t.pending) OR t.action = 'post'))"
        )
    };
}

/// Applies the ledger schema.
#[derive(Debug)]
pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all: Vec<Box<dyn MigrationTrait>> = vec![
            Box::new(M20261122_000001Init),
            Box::new(M20261122_000003GroupGuard),
            Box::new(M20261127_000001ByMonth),
            Box::new(M20261207_000001Lots),
            Box::new(M20261208_000001RefundsByDebit),
            Box::new(M20261209_000001ExpiryNotices),
            Box::new(M20261214_000001MigrationAccounts),
            Box::new(M20261221_000001BookFigures),
        ];
        // The outbox the exchange pulls events from.
        all.extend(healthpoints_db::outbox::migrations());
        all
    }
}

struct M20261122_000001Init;

impl MigrationName for M20261122_000001Init {
    fn name(&self) -> &str {
        "m20261122_000002_ledger"
    }
}

fn col(name: &'static str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

/// SQL: the row's `book` column as the eight lower-case hex digits its accounts' ids start with.
fn book_prefix(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "CASE WHEN book = 'city' THEN '00000000' \
             ELSE lpad(to_hex(CAST(substr(book, 10) AS integer)), 8, '0') END"
        }
        _ => {
            "CASE WHEN book = 'city' THEN '00000000' \
              ELSE printf('%08x', CAST(substr(book, 10) AS INTEGER)) END"
        }
    }
}

/// SQL: a check that the uuid column `column` starts with the row's book prefix.
fn in_book(backend: DbBackend, column: &str) -> String {
    let prefix = match backend {
        DbBackend::Postgres => format!("left(CAST({column} AS text), 8)"),
        _ => format!("lower(hex(substr({column}, 1, 4)))"),
    };
    format!("{prefix} = {}", book_prefix(backend))
}

#[async_trait]
impl MigrationTrait for M20261122_000001Init {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let backend = m.get_database_backend();
        m.create_table(
            Table::create()
                .table(Alias::new("accounts"))
                .col(col("id").uuid().not_null().primary_key())
                .col(col("book").string().not_null())
                .col(col("kind").string().not_null())
                .col(col("owner_id").string().not_null())
                .col(col("debits_posted").big_integer().not_null().default(0))
                .col(col("credits_posted").big_integer().not_null().default(0))
                .col(col("debits_pending").big_integer().not_null().default(0))
                .col(col("credits_pending").big_integer().not_null().default(0))
                .col(col("budget").big_integer().null())
                .col(col("opened_at_us").big_integer().not_null())
                .check(Expr::cust(
                    "kind IN ('resident', 'issuance', 'merchant_payable', 'settled', 'expiry', 'adjustment')",
                ))
                .check(Expr::cust(
                    "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND credits_pending >= 0",
                ))
                // No account but a source of points may spend what it does not hold,
                // counting what is reserved.
                .check(Expr::cust(
                    "kind IN ('issuance', 'adjustment') OR debits_posted + debits_pending <= credits_posted",
                ))
                // An issuance account never passes its budget.
                .check(Expr::cust("budget IS NULL OR debits_posted + debits_pending <= budget"))
                // The id carries the book (see the module comment).
                .check(Expr::cust(in_book(backend, "id")))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("accounts_owner_book_kind")
                .table(Alias::new("accounts"))
                .unique()
                .col(Alias::new("book"))
                .col(Alias::new("kind"))
                .col(Alias::new("owner_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("accounts_by_owner")
                .table(Alias::new("accounts"))
                .col(Alias::new("owner_id"))
                .to_owned(),
        )
        .await?;

        let mut transfers = Table::create();
        transfers
            .table(Alias::new("transfers"))
            .col(col("id").uuid().not_null().primary_key())
            .col(col("book").string().not_null())
            .col(col("seq").big_integer().not_null())
            .col(col("debit_account_id").uuid().not_null())
            .col(col("credit_account_id").uuid().not_null())
            .col(col("amount").big_integer().not_null())
            .col(col("kind").string().not_null())
            .col(col("pending").boolean().not_null())
            .col(col("timeout_at_us").big_integer().null())
            .col(col("action").string().not_null())
            .col(col("pending_id").uuid().null())
            .col(col("expiry").boolean().not_null())
            .col(col("event_id").string().not_null())
            .col(col("order_id").string().not_null())
            .col(col("rule_code").string().not_null())
            .col(col("rule_version").big_integer().not_null())
            .col(col("reason").string().not_null())
            .col(col("created_at_us").big_integer().not_null())
            .col(col("prev_hash").string().not_null())
            .col(col("hash").string().not_null())
            .check(Expr::cust("amount > 0"))
            .check(Expr::cust("debit_account_id <> credit_account_id"))
            .check(Expr::cust(
                "kind IN ('award', 'redeem', 'refund', 'expire', 'adjust', 'settle')",
            ))
            .check(Expr::cust("action IN ('none', 'post', 'void')"))
            .check(Expr::cust("(action = 'none') = (pending_id IS NULL)"))
            .check(Expr::cust("timeout_at_us IS NULL OR pending"));
        // Both sides of a transfer belong to the transfer's book: debits equal credits per book.
        for side in ["debit_account_id", "credit_account_id"] {
            transfers.check(Expr::cust(in_book(backend, side)));
        }
        m.create_table(transfers.to_owned()).await?;
        for (name, cols, unique) in [
            ("transfers_book_seq", &["book", "seq"][..], true),
            (
                "transfers_by_debit",
                &["debit_account_id", "seq"][..],
                false,
            ),
            (
                "transfers_by_credit",
                &["credit_account_id", "seq"][..],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Alias::new("transfers"));
            if unique {
                index.unique();
            }
            for c in cols {
                index.col(Alias::new(*c));
            }
            m.create_index(index.to_owned()).await?;
        }

        // Only reservations with a timeout are ever swept: a partial index stays small.
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX transfers_by_timeout ON transfers (timeout_at_us) \
                 WHERE timeout_at_us IS NOT NULL",
            )
            .await?;

        m.create_table(
            Table::create()
                .table(Alias::new("pending_resolutions"))
                // One row per pending transfer: it resolves exactly once, whatever races.
                .col(col("pending_id").uuid().not_null().primary_key())
                .col(col("resolution").string().not_null())
                .col(col("resolved_by").uuid().not_null())
                .col(col("resolved_at_us").big_integer().not_null())
                .check(Expr::cust("resolution IN ('posted', 'voided', 'expired')"))
                .foreign_key(
                    ForeignKey::create()
                        .name("resolutions_pending")
                        .from_tbl(Alias::new("pending_resolutions"))
                        .from_col(Alias::new("pending_id"))
                        .to_tbl(Alias::new("transfers"))
                        .to_col(Alias::new("id")),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("resolutions_by")
                        .from_tbl(Alias::new("pending_resolutions"))
                        .from_col(Alias::new("resolved_by"))
                        .to_tbl(Alias::new("transfers"))
                        .to_col(Alias::new("id")),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Alias::new("book_heads"))
                .col(col("book").string().not_null().primary_key())
                .col(col("seq").big_integer().not_null())
                .col(col("hash").string().not_null())
                .to_owned(),
        )
        .await?;

        let db = m.get_connection();
        match backend {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'ledger history is immutable: % on %', TG_OP, TG_TABLE_NAME; END $$",
                )
                .await?;
                for table in ["transfers", "pending_resolutions"] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} \
                         FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
                    ))
                    .await?;
                }
            }
            _ => {
                for table in ["transfers", "pending_resolutions"] {
                    for op in ["UPDATE", "DELETE"] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER {table}_no_{op} BEFORE {op} ON {table} \
                             BEGIN SELECT RAISE(ABORT, 'ledger history is immutable'); END",
                            op = op
                        ))
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// PostgreSQL: `ledger_refuse_group()`, which the single-statement group write calls to undo
/// itself when a book's head is not where the writer planned from (another writer got there
/// first) or a row was not written. A function because plain SQL has no way to raise.
struct M20261122_000003GroupGuard;

impl MigrationName for M20261122_000003GroupGuard {
    fn name(&self) -> &str {
        "m20261122_000003_group_guard"
    }
}

#[async_trait]
impl MigrationTrait for M20261122_000003GroupGuard {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared(
                    "CREATE FUNCTION ledger_refuse_group() RETURNS bigint LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'ledger group refused: a book head moved or a row was not written' \
                     USING ERRCODE = 'serialization_failure'; END $$",
                )
                .await?;
        }
        Ok(())
    }
}

/// Book statistics of one month (`GetBookStatistics` with `month`) read the book's transfers
/// of that month only.
struct M20261127_000001ByMonth;

impl MigrationName for M20261127_000001ByMonth {
    fn name(&self) -> &str {
        "m20261127_000001_transfers_by_month"
    }
}

#[async_trait]
impl MigrationTrait for M20261127_000001ByMonth {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("transfers_book_created")
                .table(Alias::new("transfers"))
                .col(Alias::new("book"))
                .col(Alias::new("created_at_us"))
                .to_owned(),
        )
        .await
    }
}

/// Points expiry by lots (docs/ledger.md): each account's lots and the first day they expire
/// (the sweeper's partial index); each transfer's expiry day, the debit a refund returns, and
/// the lots it took from or gave to. A stored lot never holds a negative number: its text has
/// no minus sign. Points held before lots existed never expire: they become each resident's
/// `never` lot.
struct M20261207_000001Lots;

impl MigrationName for M20261207_000001Lots {
    fn name(&self) -> &str {
        "m20261207_000001_lots"
    }
}

#[async_trait]
impl MigrationTrait for M20261207_000001Lots {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let add = |table: &str, column: ColumnDef| {
            Table::alter()
                .table(Alias::new(table))
                .add_column(column)
                .to_owned()
        };
        for (table, column) in [
            (
                "accounts",
                col("lots")
                    .string()
                    .not_null()
                    .default("")
                    .check(Expr::cust("lots NOT LIKE '%-%'"))
                    .to_owned(),
            ),
            (
                "accounts",
                col("next_expiry").big_integer().null().to_owned(),
            ),
            (
                "transfers",
                col("expires_on").big_integer().null().to_owned(),
            ),
            ("transfers", col("refund_of").uuid().null().to_owned()),
            (
                "transfers",
                col("lots").string().not_null().default("").to_owned(),
            ),
        ] {
            m.alter_table(add(table, column)).await?;
        }
        let db = m.get_connection();
        db.execute_unprepared(
            "UPDATE accounts SET lots = '0:' || (credits_posted - debits_posted - debits_pending) \
             || ':0' WHERE kind = 'resident' AND credits_posted - debits_posted - debits_pending > 0",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX accounts_by_next_expiry ON accounts (next_expiry) \
             WHERE next_expiry IS NOT NULL",
        )
        .await?;
        Ok(())
    }
}

/// The refunds that name a debit, found when another refund of it is written: a lot never gets
/// back more than the debit took from it.
struct M20261208_000001RefundsByDebit;

impl MigrationName for M20261208_000001RefundsByDebit {
    fn name(&self) -> &str {
        "m20261208_000001_refunds_by_debit"
    }
}

#[async_trait]
impl MigrationTrait for M20261208_000001RefundsByDebit {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX transfers_refund_of ON transfers (refund_of) \
                 WHERE refund_of IS NOT NULL",
            )
            .await
            .map(|_| ())
    }
}

/// Which resident accounts were told of which day's expiry (the outbox and its cursors come with
/// the shared outbox migrations).
struct M20261209_000001ExpiryNotices;

impl MigrationName for M20261209_000001ExpiryNotices {
    fn name(&self) -> &str {
        "m20261209_000001_expiry_notices"
    }
}

#[async_trait]
impl MigrationTrait for M20261209_000001ExpiryNotices {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("expiry_notices"))
                .col(col("account_id").uuid().not_null())
                .col(col("day").big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(Alias::new("account_id"))
                        .col(Alias::new("day")),
                )
                .to_owned(),
        )
        .await
    }
}

/// Opening balances (docs/operations.md, "Onboarding a city"): a book's `migration` account is
/// the source of the points a city's earlier platform had issued, so it may go below zero like
/// the issuance account. The two CHECKs of `accounts` that name the kinds are widened: on
/// PostgreSQL by replacing them; on SQLite, which cannot alter a constraint, by rebuilding the
/// table from its own stored definition (nothing references `accounts`).
struct M20261214_000001MigrationAccounts;

impl MigrationName for M20261214_000001MigrationAccounts {
    fn name(&self) -> &str {
        "m20261214_000001_migration_accounts"
    }
}

/// The kinds CHECK and the "may go negative" CHECK, before and after.
const KIND_CHECKS: [(&str, &str); 2] = [
    (
        "'expiry', 'adjustment')",
        "'expiry', 'adjustment', 'migration')",
    ),
    (
        "kind IN ('issuance', 'adjustment') OR",
        "kind IN ('issuance', 'adjustment', 'migration') OR",
    ),
];

#[async_trait]
impl MigrationTrait for M20261214_000001MigrationAccounts {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if m.get_database_backend() == DbBackend::Postgres {
            let checks = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint \
                     WHERE conrelid = 'accounts'::regclass AND contype = 'c' \
                     AND pg_get_constraintdef(oid) LIKE '%adjustment%'",
                ))
                .await?;
            for row in checks {
                let name: String = row.try_get_by_index(0)?;
                db.execute_unprepared(&format!("ALTER TABLE accounts DROP CONSTRAINT \"{name}\""))
                    .await?;
            }
            db.execute_unprepared(
                "ALTER TABLE accounts ADD CONSTRAINT accounts_kind CHECK (kind IN ('resident', \
                 'issuance', 'merchant_payable', 'settled', 'expiry', 'adjustment', 'migration')), \
                 ADD CONSTRAINT accounts_sources_only_go_negative CHECK (kind IN ('issuance', \
                 'adjustment', 'migration') OR debits_posted + debits_pending <= credits_posted)",
            )
            .await?;
            return Ok(());
        }
        let schema = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT type, sql FROM sqlite_master WHERE tbl_name = 'accounts' AND sql IS NOT NULL",
            ))
            .await?;
        let mut table = None;
        let mut indexes = Vec::new();
        for row in schema {
            let kind: String = row.try_get_by_index(0)?;
            let sql: String = row.try_get_by_index(1)?;
            if kind == "table" {
                table = Some(sql);
            } else {
                indexes.push(sql);
            }
        }
        let mut table = table.ok_or_else(|| DbErr::Migration("no accounts table".into()))?;
        for (before, after) in KIND_CHECKS {
            if !table.contains(before) {
                return Err(DbErr::Migration(format!(
                    "the accounts table has no CHECK with {before}"
                )));
            }
            table = table.replacen(before, after, 1);
        }
        let table = table.replacen("\"accounts\"", "\"accounts_widened\"", 1);
        db.execute_unprepared(&table).await?;
        db.execute_unprepared("INSERT INTO accounts_widened SELECT * FROM accounts")
            .await?;
        db.execute_unprepared("DROP TABLE accounts").await?;
        db.execute_unprepared("ALTER TABLE accounts_widened RENAME TO accounts")
            .await?;
        for index in indexes {
            db.execute_unprepared(&index).await?;
        }
        Ok(())
    }
}

/// A book's figures as running totals (docs/ledger.md, "Book figures"): on its head row what
/// groups posted, added in the same statement that moves the head; in `book_residents` the
/// resident accounts, counted in the transaction that opens them (a table of its own, so
/// opening accounts never waits on the journal's head). `GetBookStatistics` then reads two rows
/// instead of summing every transfer and every account of the book (seconds at a city's 25
/// million residents). Filled once here by [`recount_figures`]; the tests check the totals
/// against [`FIGURES_RECOUNTED`] and [`RESIDENT_ACCOUNTS_RECOUNTED`]. Every ledger process must
/// run this version before any writes again: an earlier one would move heads without adding.
struct M20261221_000001BookFigures;

impl MigrationName for M20261221_000001BookFigures {
    fn name(&self) -> &str {
        "m20261221_000001_book_figures"
    }
}

/// Each running figure of `book_heads`, and the same figure recounted from the book's
/// transfers and accounts (SQL over the row's `book`). A movement counts when it is posted: a
/// direct transfer, or the post of a reservation.
pub const FIGURES_RECOUNTED: [(&str, &str); 5] = [
    ("issued", posted_sum!("award")),
    ("redeemed", posted_sum!("redeem")),
    ("refunded", posted_sum!("refund")),
    ("expired", posted_sum!("expire")),
    (
        "outstanding",
        "(SELECT COALESCE(SUM(a.credits_posted - a.debits_posted), 0) FROM accounts a \
         WHERE a.book = book_heads.book AND a.kind = 'resident')",
    ),
];

/// `book_residents.accounts` recounted (SQL over the row's `book`).
pub const RESIDENT_ACCOUNTS_RECOUNTED: &str = "(SELECT COUNT(*) FROM accounts a \
    WHERE a.book = book_residents.book AND a.kind = 'resident')";

#[async_trait]
impl MigrationTrait for M20261221_000001BookFigures {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in FIGURES_RECOUNTED {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("book_heads"))
                    .add_column(col(name).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(Alias::new("book_residents"))
                .col(col("book").string().not_null().primary_key())
                .col(col("accounts").big_integer().not_null())
                .to_owned(),
        )
        .await?;
        recount_figures(m.get_connection()).await
    }
}

/// Rewrites every book's running figures from its transfers and accounts, in one grouped pass
/// over each table: the migration's backfill, and `ledger recount-figures` (with every ledger
/// process stopped) after figures went wrong, say by a ledger of an earlier version writing on
/// the same database during an upgrade.
pub(crate) async fn recount_figures(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    for sql in [
        "UPDATE book_heads SET issued = 0, redeemed = 0, refunded = 0, expired = 0, outstanding = 0",
        "UPDATE book_heads SET issued = s.issued, redeemed = s.redeemed, refunded = s.refunded, \
         expired = s.expired FROM (SELECT book, \
         SUM(CASE WHEN kind = 'award' THEN amount ELSE 0 END) AS issued, \
         SUM(CASE WHEN kind = 'redeem' THEN amount ELSE 0 END) AS redeemed, \
         SUM(CASE WHEN kind = 'refund' THEN amount ELSE 0 END) AS refunded, \
         SUM(CASE WHEN kind = 'expire' THEN amount ELSE 0 END) AS expired \
         FROM transfers WHERE (action = 'none' AND NOT pending) OR action = 'post' \
         GROUP BY book) AS s WHERE book_heads.book = s.book",
        "UPDATE book_heads SET outstanding = s.held FROM (SELECT book, \
         SUM(credits_posted - debits_posted) AS held FROM accounts WHERE kind = 'resident' \
         GROUP BY book) AS s WHERE book_heads.book = s.book",
        "DELETE FROM book_residents",
        "INSERT INTO book_residents (book, accounts) SELECT book, COUNT(*) FROM accounts \
         WHERE kind = 'resident' GROUP BY book",
    ] {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}
