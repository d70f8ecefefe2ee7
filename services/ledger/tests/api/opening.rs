//! Opening balances: points a city's earlier platform had issued, brought in as transfers from
//! each book's migration account, once per source record, with the book's figures and journal
//! true; and the migration that allows the new account kind, run on a database that already
//! held accounts.

use healthpoints_auth::Principal;
use healthpoints_ledger::{
    service::{OpeningBalance, OpeningOutcome},
    store::Migrator,
};
use healthpoints_testkit::TestDatabase;
use healthpoints_types::DistrictCode;
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use uuid::Uuid;

use crate::helpers::*;

fn balance(
    record: &str,
    resident: Uuid,
    book: &str,
    points: u64,
    expires_on: &str,
) -> OpeningBalance {
    OpeningBalance {
        record_id: record.into(),
        resident_id: resident.to_string(),
        book: book.into(),
        points,
        expires_on: expires_on.into(),
    }
}

fn field(o: &OpeningOutcome) -> &str {
    match o {
        OpeningOutcome::Refused { field, .. } => field,
        other => panic!("refused expected, got {other:?}"),
    }
}

#[tokio::test]
async fn opening_balances_come_from_each_books_migration_account_once_per_record() {
    let f = ledger("opening").await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let later = (chrono::Utc::now() + chrono::Days::new(400))
        .format("%Y-%m-%d")
        .to_string();
    let file = vec![
        balance("hc-1", a, "city", 500, &later),
        balance("hc-2", a, "district:310118", 300, ""),
        balance("hc-3", b, "city", 0, ""),
        balance("hc-4", b, "city", 70, "2020-01-01"),
        balance("hc-5", b, "city", 80, ""),
    ];
    let outcomes = f
        .ledger
        .import_opening_balances(&city_admin(), file.clone())
        .await
        .unwrap();
    assert_eq!(outcomes[0], OpeningOutcome::Created);
    assert_eq!(outcomes[1], OpeningOutcome::Created);
    assert_eq!(field(&outcomes[2]), "points");
    assert_eq!(
        field(&outcomes[3]),
        "expires_on",
        "expired on the old platform"
    );
    assert_eq!(outcomes[4], OpeningOutcome::Created);

    // The same file again changes nothing; a record sent with other values is refused.
    let again = f
        .ledger
        .import_opening_balances(&city_admin(), file)
        .await
        .unwrap();
    assert_eq!(again[0], OpeningOutcome::Exists);
    assert_eq!(again[4], OpeningOutcome::Exists);
    let changed = f
        .ledger
        .import_opening_balances(&city_admin(), vec![balance("hc-1", a, "city", 600, &later)])
        .await
        .unwrap();
    assert_eq!(field(&changed[0]), "record_id");

    // The resident holds them, expiring when the earlier platform said.
    let mine = f
        .ledger
        .balances(&city_admin(), &a.to_string())
        .await
        .unwrap();
    let city = mine.iter().find(|x| x.book.to_string() == "city").unwrap();
    assert_eq!((city.posted, city.available), (500, 500));
    assert_eq!(city.expiring.len(), 1);
    assert_eq!(city.expiring[0].0.format("%Y-%m-%d").to_string(), later);
    let district = mine.iter().find(|x| x.book.to_string() != "city").unwrap();
    assert_eq!((district.posted, district.expiring.len()), (300, 0));

    // The book says what was brought in, apart from what the programme issued.
    let (_, stats) = f
        .ledger
        .book_statistics(&city_admin(), "city", "")
        .await
        .unwrap();
    assert_eq!(
        (stats.migrated, stats.issued, stats.outstanding),
        (580, 0, 580)
    );
    assert_invariants(&f.ledger).await;
    let (_, report) = f
        .ledger
        .verify_journal(&city_admin(), "city", 0, "", 0)
        .await
        .unwrap();
    assert!(report.first_broken_seq.is_none(), "{report:?}");

    // A district's admin imports into its own book only; nobody else imports at all.
    let admin_of = |code: &str| Principal::DistrictAdmin {
        staff_id: Uuid::now_v7(),
        district: DistrictCode::parse(code).unwrap(),
    };
    let theirs = f
        .ledger
        .import_opening_balances(
            &admin_of("310118"),
            vec![
                balance("hc-6", b, "district:310118", 10, ""),
                balance("hc-7", b, "district:310104", 10, ""),
                balance("hc-8", b, "city", 10, ""),
            ],
        )
        .await
        .unwrap();
    assert_eq!(theirs[0], OpeningOutcome::Created);
    assert_eq!((field(&theirs[1]), field(&theirs[2])), ("book", "book"));
    let resident = Principal::Resident { resident_id: b };
    assert!(
        f.ledger
            .import_opening_balances(&resident, vec![balance("hc-9", b, "city", 1, "")])
            .await
            .is_err()
    );
    assert!(
        f.ledger
            .import_opening_balances(&intake(), vec![balance("hc-9", b, "city", 1, "")])
            .await
            .is_err(),
        "a service does not import: an admin answers for it"
    );
}

/// The ledger's migrations up to the one before migration accounts.
struct Before;

impl MigratorTrait for Before {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = Migrator::migrations();
        let at = all
            .iter()
            .position(|m| m.name() == "m20261214_000001_migration_accounts")
            .unwrap();
        all.truncate(at);
        all
    }
}

#[tokio::test]
async fn a_ledger_that_held_accounts_keeps_them_and_its_checks_when_migration_accounts_arrive() {
    healthpoints_telemetry::init_for_tests();
    let db = TestDatabase::create("opening_upgrade").await;
    let before = healthpoints_db::connect::<Before>(&db.config)
        .await
        .unwrap();
    use sea_orm::ConnectionTrait as _;
    // Ids are UUIDs on PostgreSQL and 16-byte blobs on SQLite.
    let pg = db.is_postgres();
    let id = move |n: u8| {
        if pg {
            format!("'00000000-0000-8000-8000-0000000000{n:02x}'")
        } else {
            format!("X'000000000000800080000000000000{n:02x}'")
        }
    };
    let insert = |n: u8, kind: &str| {
        format!(
            "INSERT INTO accounts (id, book, kind, owner_id, opened_at_us) \
             VALUES ({}, 'city', '{kind}', 'city', 1)",
            id(n)
        )
    };
    before
        .execute_unprepared(&insert(1, "adjustment"))
        .await
        .expect("a system account of a known kind");
    assert!(
        before
            .execute_unprepared(&insert(2, "migration"))
            .await
            .is_err(),
        "no migration kind before"
    );
    drop(before);

    let f = ledger_on(db).await;
    let (_, residents, _) = open_city(&f.ledger, 1).await;
    let n = numbers(&f.ledger, "SELECT COUNT(*) FROM accounts").await;
    assert_eq!(n[0], 4, "the account from before is kept");
    let outcomes = f
        .ledger
        .import_opening_balances(
            &city_admin(),
            vec![balance(
                "hc-1",
                Uuid::parse_str(&residents[0].owner_id).unwrap(),
                "city",
                5,
                "",
            )],
        )
        .await
        .unwrap();
    assert_eq!(outcomes[0], OpeningOutcome::Created);
    // Still checked: a resident never below zero, a budget never passed; indexes kept.
    assert!(
        raw(
            &f.ledger,
            &format!(
                "UPDATE accounts SET debits_posted = 99 WHERE kind = 'resident' AND owner_id = '{}'",
                residents[0].owner_id
            )
        )
        .await
        .is_err()
    );
    assert!(
        raw(
            &f.ledger,
            "UPDATE accounts SET budget = 0, debits_posted = 1 WHERE kind = 'issuance'"
        )
        .await
        .is_err()
    );
    assert!(
        raw(
            &f.ledger,
            &format!(
                "INSERT INTO accounts (id, book, kind, owner_id, opened_at_us) \
                 VALUES ({}, 'city', 'resident', '{}', 1)",
                id(9),
                residents[0].owner_id
            )
        )
        .await
        .is_err(),
        "one account per owner, book and kind"
    );
}
