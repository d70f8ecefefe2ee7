use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use healthpoints_auth::Principal;
use healthpoints_ledger::{
    domain::model::{Account, CreateResult, Metadata, NewTransfer, PendingAction, TransferKind},
    service::{Ledger, LedgerOptions},
    store::{Migrator, Store},
};
use healthpoints_testkit::TestDatabase;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

pub(crate) fn intake() -> Principal {
    Principal::Service {
        client_id: "svc-intake".into(),
        service: "intake".into(),
        district: None,
    }
}

/// A city admin (a fresh staff id each call).
pub(crate) fn city_admin() -> Principal {
    Principal::CityAdmin {
        staff_id: Uuid::now_v7(),
    }
}

pub(crate) struct Fixture {
    pub ledger: Arc<Ledger>,
    pub clock: Arc<AtomicI64>,
    pub db: TestDatabase,
}

impl Fixture {
    pub(crate) fn advance_secs(&self, secs: i64) {
        self.clock.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    }
}

/// A ledger domain on a fresh database, with a clock the test moves.
pub(crate) async fn ledger(label: &str) -> Fixture {
    healthpoints_telemetry::init_for_tests();
    let db = TestDatabase::create(label).await;
    ledger_on(db).await
}

pub(crate) async fn ledger_on(db: TestDatabase) -> Fixture {
    ledger_on_with(db, LedgerOptions::default().commits_in_flight).await
}

/// [`ledger_on`] with a given number of group commits under way at once.
pub(crate) async fn ledger_on_with(db: TestDatabase, commits_in_flight: usize) -> Fixture {
    let conn = healthpoints_db::connect::<Migrator>(&db.config)
        .await
        .expect("ledger database");
    let clock = Arc::new(AtomicI64::new(chrono::Utc::now().timestamp_micros()));
    let reading = clock.clone();
    let options = LedgerOptions {
        sweep_interval: std::time::Duration::from_secs(3600),
        commits_in_flight,
        expiry_notice_days: 30,
        clock: Arc::new(move || reading.load(Ordering::SeqCst)),
    };
    Fixture {
        ledger: Ledger::start(Store::new(conn), options),
        clock,
        db,
    }
}

/// Opens issuance (with `budget`), `residents` resident accounts and a merchant payable.
pub(crate) async fn open_city(
    ledger: &Ledger,
    residents: usize,
) -> (Account, Vec<Account>, Account) {
    let mut specs = vec![("city".to_owned(), "issuance".to_owned(), String::new())];
    for _ in 0..residents {
        specs.push(("city".into(), "resident".into(), Uuid::now_v7().to_string()));
    }
    specs.push((
        "city".into(),
        "merchant_payable".into(),
        Uuid::now_v7().to_string(),
    ));
    let mut accounts = ledger
        .open_accounts(&intake(), specs)
        .await
        .expect("accounts open");
    let merchant = accounts.pop().unwrap();
    let issuance = accounts.remove(0);
    (issuance, accounts, merchant)
}

pub(crate) fn transfer(debit: Uuid, credit: Uuid, amount: u64, kind: TransferKind) -> NewTransfer {
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
        metadata: Metadata {
            reason: format!("{} test", kind.as_str()),
            ..Metadata::default()
        },
        expiry: false,
        expires_on: None,
        refund_of: None,
    }
}

pub(crate) fn pending(debit: Uuid, credit: Uuid, amount: u64, timeout_seconds: u32) -> NewTransfer {
    NewTransfer {
        pending: true,
        timeout_seconds,
        ..transfer(debit, credit, amount, TransferKind::Redeem)
    }
}

pub(crate) fn resolve(pending_id: Uuid, action: PendingAction, amount: u64) -> NewTransfer {
    NewTransfer {
        id: Uuid::now_v7(),
        debit_account_id: Uuid::nil(),
        credit_account_id: Uuid::nil(),
        amount,
        kind: None,
        pending: false,
        timeout_seconds: 0,
        action,
        pending_id: Some(pending_id),
        metadata: Metadata::default(),
        expiry: false,
        expires_on: None,
        refund_of: None,
    }
}

pub(crate) async fn create(ledger: &Ledger, transfers: Vec<NewTransfer>) -> Vec<CreateResult> {
    ledger
        .create_transfers(&intake(), transfers, false)
        .await
        .expect("the ledger answers")
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

pub(crate) async fn account(ledger: &Ledger, id: Uuid) -> Account {
    ledger.store().accounts(&[id]).await.unwrap().remove(0)
}

/// Runs one SQL statement behind the ledger's back.
pub(crate) async fn raw(ledger: &Ledger, sql: &str) -> Result<(), sea_orm::DbErr> {
    let db = ledger.store().connection();
    db.execute_unprepared(sql).await.map(|_| ())
}

/// Numbers from a query of one row of integers.
pub(crate) async fn numbers(ledger: &Ledger, sql: &str) -> Vec<i64> {
    let db = ledger.store().connection();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .expect("one row");
    (0..)
        .map_while(|i| row.try_get_by_index::<Option<i64>>(i).ok())
        .map(Option::unwrap_or_default)
        .collect()
}

/// The invariants of docs/ledger.md ("Invariants, enforced by the database"), checked from the database.
pub(crate) async fn assert_invariants(ledger: &Ledger) {
    let db = ledger.store().connection();
    let cast = |e: &str| format!("CAST({e} AS BIGINT)");
    // Per book, debits equal credits, posted and pending.
    let sums = numbers(
        ledger,
        &format!(
            "SELECT {}, {}, {}, {} FROM accounts",
            cast("COALESCE(SUM(debits_posted), 0)"),
            cast("COALESCE(SUM(credits_posted), 0)"),
            cast("COALESCE(SUM(debits_pending), 0)"),
            cast("COALESCE(SUM(credits_pending), 0)")
        ),
    )
    .await;
    assert_eq!(sums[0], sums[1], "posted debits equal posted credits");
    assert_eq!(sums[2], sums[3], "pending debits equal pending credits");
    // No resident below zero, counting reservations.
    let below = numbers(ledger, "SELECT COUNT(*) FROM accounts WHERE kind = 'resident' AND debits_posted + debits_pending > credits_posted").await;
    assert_eq!(below[0], 0, "no resident account below zero");
    // Each pending transfer resolved at most once.
    let twice = numbers(ledger, "SELECT COUNT(*) FROM (SELECT pending_id FROM transfers WHERE pending_id IS NOT NULL GROUP BY pending_id HAVING COUNT(*) > 1) AS dup").await;
    assert_eq!(twice[0], 0, "no pending transfer resolved twice");
    // Balances equal the sum of their history.
    let mismatched = numbers(
        ledger,
        "SELECT COUNT(*) FROM accounts a WHERE \
         a.credits_posted <> (SELECT COALESCE(SUM(t.amount), 0) FROM transfers t WHERE t.credit_account_id = a.id AND NOT t.pending AND t.action <> 'void') \
         OR a.debits_posted <> (SELECT COALESCE(SUM(t.amount), 0) FROM transfers t WHERE t.debit_account_id = a.id AND NOT t.pending AND t.action <> 'void') \
         OR a.debits_pending <> (SELECT COALESCE(SUM(t.amount), 0) FROM transfers t WHERE t.debit_account_id = a.id AND t.pending \
              AND NOT EXISTS (SELECT 1 FROM pending_resolutions r WHERE r.pending_id = t.id))",
    )
    .await;
    assert_eq!(
        mismatched[0], 0,
        "every balance equals the sum of its history"
    );
    // Each book's running figures equal a recount, and every book with residents is counted.
    for (figure, recount) in healthpoints_ledger::store::FIGURES_RECOUNTED {
        let wrong = numbers(
            ledger,
            &format!("SELECT COUNT(*) FROM book_heads WHERE {figure} <> {recount}"),
        )
        .await;
        assert_eq!(
            wrong[0], 0,
            "every book's running {figure} equals a recount"
        );
    }
    let miscounted = numbers(
        ledger,
        &format!(
            "SELECT COUNT(*) FROM book_residents WHERE accounts <> {}",
            healthpoints_ledger::store::RESIDENT_ACCOUNTS_RECOUNTED
        ),
    )
    .await;
    assert_eq!(miscounted[0], 0, "every book's resident accounts counted");
    let uncounted = numbers(
        ledger,
        "SELECT COUNT(*) FROM accounts WHERE kind = 'resident' \
         AND book NOT IN (SELECT book FROM book_residents)",
    )
    .await;
    assert_eq!(uncounted[0], 0, "every book with residents has its count");
    let _ = db;
}

/// A resident account's whole history, page by page as a client reads it: the sum of its
/// posted points, and of the pending points of reservations not yet resolved.
pub(crate) async fn history_sums(ledger: &Ledger, account: &Account) -> (i128, i128) {
    let me = Principal::Resident {
        resident_id: Uuid::parse_str(&account.owner_id).expect("a resident id"),
    };
    let (mut posted, mut pending, mut cursor) = (0i128, 0i128, String::new());
    loop {
        let (page, next) = ledger
            .history(
                &me,
                healthpoints_ledger::service::AccountSelector::OwnerBook {
                    owner_id: account.owner_id.clone(),
                    book: account.book.to_string(),
                },
                vec![],
                None,
                None,
                &cursor,
                7,
            )
            .await
            .expect("the history reads");
        for e in &page {
            posted += i128::from(e.posted_points());
            if e.resolution.is_none() {
                pending += i128::from(e.pending_points().unwrap_or_default());
            }
        }
        match next {
            Some(c) => cursor = c,
            None => return (posted, pending),
        }
    }
}

pub(crate) fn is_postgres(ledger: &Ledger) -> bool {
    ledger.store().connection().get_database_backend() == DbBackend::Postgres
}
