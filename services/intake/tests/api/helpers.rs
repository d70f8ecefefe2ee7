use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
};

use chrono::{DateTime, TimeZone, Utc};
use healthpoints_auth::Principal;
use healthpoints_intake::{
    domain::{
        catalogue::Catalogue,
        error::{IntakeError, Result},
        model::{AwardAnswer, AwardOrder, Event, Resident, ResidentRef},
    },
    service::{Intake, IntakeOptions, PointsLedger, Residents, Velocity},
    store::{Migrator, Store},
};
use healthpoints_ledger::{
    domain::model::{CreateResult, Metadata, NewTransfer, PendingAction, TransferKind},
    service::Ledger,
};
use healthpoints_testkit::TestDatabase;

/// Residents known to the test, as identity would answer.
#[derive(Default, Clone)]
pub(crate) struct Directory(pub Arc<Mutex<HashMap<String, Resident>>>);

impl Directory {
    pub(crate) fn add(&self, id: &str, suspended: bool, enrolled: bool) {
        self.0.lock().unwrap().insert(
            id.to_owned(),
            Resident {
                resident_id: id.to_owned(),
                suspended,
                enrolled,
                district: Some(healthpoints_types::DistrictCode::parse("310118").unwrap()),
                name_masked: format!("测*{}", id.chars().last().unwrap_or('x')),
                birth_date: chrono::NaiveDate::from_ymd_opt(1980, 5, 1),
                residence_type: "registered",
            },
        );
    }
}

impl Residents for Directory {
    async fn resolve(&self, who: &ResidentRef) -> Result<Option<Resident>> {
        Ok(match who {
            ResidentRef::Id(id) => self.0.lock().unwrap().get(id).cloned(),
            ResidentRef::IdNumberHash(_) => None,
        })
    }
}

/// The real ledger domain, called as intake's service principal, with faults on demand: the
/// next `fail_after` calls make their transfers and then report failure (a timeout after the
/// commit — the worst case for exactly-once).
#[derive(Clone)]
pub(crate) struct FaultyLedger {
    pub ledger: Arc<Ledger>,
    pub fail_after: Arc<AtomicUsize>,
}

fn intake_principal() -> Principal {
    Principal::Service {
        client_id: "svc-intake".into(),
        service: "intake".into(),
        district: None,
    }
}

impl PointsLedger for FaultyLedger {
    async fn award(&self, orders: &[AwardOrder], linked: bool) -> Result<Vec<AwardAnswer>> {
        let store_err =
            |e: healthpoints_ledger::domain::error::LedgerError| IntakeError::fault(e.to_string());
        let mut transfers = Vec::with_capacity(orders.len());
        for o in orders {
            let book = o.book.to_string();
            let accounts = self
                .ledger
                .open_accounts(
                    &intake_principal(),
                    vec![
                        (book.clone(), "issuance".into(), String::new()),
                        (book, "resident".into(), o.resident_id.clone()),
                    ],
                )
                .await
                .map_err(store_err)?;
            transfers.push(NewTransfer {
                id: o.transfer_id,
                debit_account_id: accounts[0].id,
                credit_account_id: accounts[1].id,
                amount: o.points,
                kind: Some(TransferKind::Award),
                pending: false,
                timeout_seconds: 0,
                action: PendingAction::None,
                pending_id: None,
                metadata: Metadata {
                    event_id: o.event_id.to_string(),
                    rule_code: o.rule_code.clone(),
                    rule_version: o.rule_version,
                    reason: o.reason.clone(),
                    ..Metadata::default()
                },
                expiry: false,
                expires_on: o.expires_on,
                refund_of: None,
            });
        }
        let results = self
            .ledger
            .create_transfers(&intake_principal(), transfers, linked)
            .await
            .map_err(store_err)?;
        if self
            .fail_after
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(IntakeError::Unavailable("the ledger did not answer".into()));
        }
        results
            .into_iter()
            .map(|(r, _)| match r {
                CreateResult::Ok | CreateResult::Exists => Ok(AwardAnswer::Done),
                CreateResult::ExceedsBudget | CreateResult::LinkedEventFailed => {
                    Ok(AwardAnswer::BudgetExhausted)
                }
                other => Err(IntakeError::fault(format!("ledger refused: {other:?}"))),
            })
            .collect()
    }
}

pub(crate) struct Fixture {
    pub intake: Intake<Directory, FaultyLedger>,
    pub residents: Directory,
    pub ledger: FaultyLedger,
    /// Unix microseconds the intake clock reads.
    pub now: Arc<AtomicI64>,
    _dbs: (TestDatabase, TestDatabase),
}

/// 2026-03-10 12:00 Asia/Shanghai.
pub(crate) fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 4, 0, 0).unwrap()
}

pub(crate) async fn intake(label: &str) -> Fixture {
    intake_with(label, Velocity::default()).await
}

/// A fixture whose velocity guards use these limits.
pub(crate) async fn intake_with(label: &str, velocity: Velocity) -> Fixture {
    intake_tuned(label, |o| o.velocity = velocity).await
}

/// A fixture with its options changed by `tune` (the clock stays the test's).
pub(crate) async fn intake_tuned(label: &str, tune: impl FnOnce(&mut IntakeOptions)) -> Fixture {
    healthpoints_telemetry::init_for_tests();
    let idb = TestDatabase::create(&format!("{label}_intake")).await;
    let ldb = TestDatabase::create(&format!("{label}_ledger")).await;
    let conn = healthpoints_db::connect::<Migrator>(&idb.config)
        .await
        .expect("intake database");
    let lconn = healthpoints_db::connect::<healthpoints_ledger::store::Migrator>(&ldb.config)
        .await
        .expect("ledger database");
    let ledger = FaultyLedger {
        ledger: Ledger::start(
            healthpoints_ledger::store::Store::new(lconn),
            Default::default(),
        ),
        fail_after: Arc::default(),
    };
    let now = Arc::new(AtomicI64::new(noon().timestamp_micros()));
    let reading = now.clone();
    let mut options = IntakeOptions::default();
    tune(&mut options);
    options.clock =
        Arc::new(move || DateTime::from_timestamp_micros(reading.load(Ordering::SeqCst)).unwrap());
    let residents = Directory::default();
    Fixture {
        intake: Intake::new(
            Store::new(conn),
            Catalogue::default_catalogue(),
            residents.clone(),
            ledger.clone(),
            options,
        ),
        residents,
        ledger,
        now,
        _dbs: (idb, ldb),
    }
}

pub(crate) fn event(
    source: &str,
    id: &str,
    resident: &str,
    code: &str,
    at: DateTime<Utc>,
    quantity: u64,
) -> Event {
    Event {
        source_id: source.into(),
        source_event_id: id.into(),
        resident: ResidentRef::Id(resident.into()),
        behaviour_code: code.into(),
        occurred_at: at,
        quantity,
        district: None,
        attributes: BTreeMap::new(),
    }
}

/// The resident's posted city balance in the ledger.
pub(crate) async fn city_balance(f: &Fixture, resident: &str) -> u64 {
    balance(f, resident, healthpoints_types::Book::City).await
}

/// The resident's posted balance in a book.
pub(crate) async fn balance(f: &Fixture, resident: &str, book: healthpoints_types::Book) -> u64 {
    f.ledger
        .ledger
        .balances(&city_admin(), resident)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.book == book)
        .map_or(0, |b| b.posted)
}

pub(crate) fn city_admin() -> Principal {
    Principal::CityAdmin {
        staff_id: uuid::Uuid::now_v7(),
    }
}

pub(crate) fn district_admin(district: &str) -> Principal {
    Principal::DistrictAdmin {
        staff_id: uuid::Uuid::now_v7(),
        district: healthpoints_types::DistrictCode::parse(district).unwrap(),
    }
}

pub(crate) fn resident(id: &str) -> Principal {
    Principal::Resident {
        resident_id: uuid::Uuid::parse_str(id).unwrap(),
    }
}

/// An article read at `at` (5 points, 3 a day).
pub(crate) fn article(id: &str, resident: &str, at: DateTime<Utc>) -> Event {
    let mut e = event("health-education", id, resident, "learning.article", at, 1);
    e.attributes.insert("article_id".into(), id.into());
    e
}

/// The field a refusal names, or a panic naming what came instead.
pub(crate) fn invalid_field<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Err(IntakeError::Invalid { field, .. }) => field,
        other => panic!("expected a refusal by field, got {other:?}"),
    }
}
