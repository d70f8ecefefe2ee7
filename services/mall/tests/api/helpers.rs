use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use healthpoints_auth::Principal;
use healthpoints_ledger::{
    domain::model::{
        AccountKind, CreateResult, Metadata, NewTransfer, PendingAction, TransferKind,
    },
    service::Ledger,
};
use healthpoints_mall::{
    domain::{
        error::{MallError, Result},
        model::{MerchantStatus, Order, RefundSource, Statement},
    },
    service::{
        LedgerAnswer, Mall, MallOptions, NewOrder, PointsLedger, ProductSpec, ResidentFacts,
        Residents,
    },
    store::{Migrator, Store},
};
use healthpoints_testkit::TestDatabase;
use healthpoints_types::{IdempotencyKey, MallId};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

/// Residents as identity would answer.
#[derive(Default, Clone)]
pub(crate) struct Directory(pub Arc<Mutex<HashMap<Uuid, ResidentFacts>>>);

impl Directory {
    pub(crate) fn add(&self, born: (i32, u32, u32), suspended: bool) -> Uuid {
        let id = Uuid::new_v4();
        self.0.lock().unwrap().insert(
            id,
            ResidentFacts {
                suspended,
                birth_date: NaiveDate::from_ymd_opt(born.0, born.1, born.2),
                name_masked: "张*明".into(),
            },
        );
        id
    }
}

impl Residents for Directory {
    async fn resident(&self, id: Uuid) -> Result<Option<ResidentFacts>> {
        Ok(self.0.lock().unwrap().get(&id).cloned())
    }
}

/// The real ledger domain, called as the mall's service principal. `down` makes every call fail
/// as an unreachable ledger would, without effect; `lose_replies` lets every call reach the
/// ledger and commit, then fails it as if the answer were lost on the way back; `restart` drops
/// the running ledger and starts a new one on the same database (its writer and sweeper go
/// with the old handle).
#[derive(Clone)]
pub(crate) struct TestLedger {
    pub ledger: Arc<RwLock<Arc<Ledger>>>,
    pub down: Arc<AtomicBool>,
    pub lose_replies: Arc<AtomicBool>,
    db: DatabaseConnection,
    mall: MallId,
}

pub(crate) fn mall_principal(mall: MallId) -> Principal {
    Principal::Service {
        client_id: format!("svc-mall-{mall}"),
        service: "mall".into(),
        district: match mall {
            MallId::City => None,
            MallId::District(d) => Some(d),
        },
    }
}

impl TestLedger {
    pub(crate) fn current(&self) -> Arc<Ledger> {
        self.ledger.read().unwrap().clone()
    }

    pub(crate) fn restart(&self) {
        let fresh = Ledger::start(
            healthpoints_ledger::store::Store::new(self.db.clone()),
            Default::default(),
        );
        *self.ledger.write().unwrap() = fresh;
    }

    pub(crate) async fn account(&self, kind: AccountKind, owner: Uuid) -> Uuid {
        self.current()
            .open_accounts(
                &mall_principal(self.mall),
                vec![(
                    self.mall.book().to_string(),
                    kind.as_str().to_owned(),
                    owner.to_string(),
                )],
            )
            .await
            .unwrap()[0]
            .id
    }

    async fn transfer(&self, t: NewTransfer) -> Result<LedgerAnswer> {
        if self.down.load(Ordering::SeqCst) {
            return Err(MallError::Unavailable("the ledger did not answer".into()));
        }
        let (result, _) = self
            .current()
            .create_transfers(&mall_principal(self.mall), vec![t], false)
            .await
            .map_err(|e| MallError::fault(e.to_string()))?
            .remove(0);
        if self.lose_replies.load(Ordering::SeqCst) {
            return Err(MallError::Unavailable(
                "the ledger's answer was lost".into(),
            ));
        }
        Ok(match result {
            CreateResult::Ok | CreateResult::Exists => LedgerAnswer::Done,
            CreateResult::ExceedsBalance => LedgerAnswer::InsufficientPoints,
            CreateResult::PendingTransferAlreadyVoided | CreateResult::PendingTransferExpired => {
                LedgerAnswer::AlreadyVoided
            }
            CreateResult::PendingTransferAlreadyPosted => LedgerAnswer::AlreadyPosted,
            other => LedgerAnswer::Refused(format!("{other:?}")),
        })
    }

    /// Awards points to a resident in the mall's book (as intake would).
    pub(crate) async fn award(&self, resident: Uuid, points: u64) {
        let intake = Principal::Service {
            client_id: "svc-intake".into(),
            service: "intake".into(),
            district: None,
        };
        let book = self.mall.book().to_string();
        let accounts = self
            .current()
            .open_accounts(
                &intake,
                vec![
                    (book.clone(), "issuance".into(), String::new()),
                    (book, "resident".into(), resident.to_string()),
                ],
            )
            .await
            .unwrap();
        let results = self
            .current()
            .create_transfers(
                &intake,
                vec![plain(
                    Uuid::new_v4(),
                    accounts[0].id,
                    accounts[1].id,
                    points,
                    TransferKind::Award,
                )],
                false,
            )
            .await
            .unwrap();
        assert_eq!(results[0].0, CreateResult::Ok);
    }

    /// (posted, pending debits) of an account of this mall's book.
    pub(crate) async fn balance(&self, kind: AccountKind, owner: Uuid) -> (i128, u64) {
        let id = self.account(kind, owner).await;
        let a = self
            .current()
            .lookup_accounts(&city_admin(), &[id.to_string()])
            .await
            .unwrap()
            .remove(0);
        (a.posted(), a.debits_pending)
    }
}

fn plain(id: Uuid, debit: Uuid, credit: Uuid, amount: u64, kind: TransferKind) -> NewTransfer {
    NewTransfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        kind: Some(kind),
        pending: false,
        timeout_seconds: 0,
        action: PendingAction::None,
        pending_id: None,
        metadata: Metadata::default(),
        expiry: false,
        expires_on: None,
        refund_of: None,
    }
}

impl PointsLedger for TestLedger {
    async fn reserve(&self, order: &Order, timeout_seconds: u32) -> Result<LedgerAnswer> {
        let resident = self.account(AccountKind::Resident, order.resident_id).await;
        let payable = self
            .account(AccountKind::MerchantPayable, order.merchant_id)
            .await;
        let mut t = plain(
            order.order_id,
            resident,
            payable,
            order.points,
            TransferKind::Redeem,
        );
        t.pending = true;
        t.timeout_seconds = timeout_seconds;
        t.metadata.order_id = order.order_id.to_string();
        self.transfer(t).await
    }

    async fn resolve(&self, order: &Order, post: bool) -> Result<LedgerAnswer> {
        let resident = self.account(AccountKind::Resident, order.resident_id).await;
        let payable = self
            .account(AccountKind::MerchantPayable, order.merchant_id)
            .await;
        let mut t = plain(
            order.resolve_transfer_id.unwrap(),
            resident,
            payable,
            0,
            TransferKind::Redeem,
        );
        t.action = if post {
            PendingAction::Post
        } else {
            PendingAction::Void
        };
        t.pending_id = Some(order.order_id);
        self.transfer(t).await
    }

    async fn refund(&self, order: &Order, source: RefundSource) -> Result<LedgerAnswer> {
        let from = match source {
            RefundSource::Payable => AccountKind::MerchantPayable,
            RefundSource::Settled => AccountKind::Settled,
        };
        let from = self.account(from, order.merchant_id).await;
        let resident = self.account(AccountKind::Resident, order.resident_id).await;
        let mut t = plain(
            order.refund_transfer_id.unwrap(),
            from,
            resident,
            order.points,
            TransferKind::Refund,
        );
        // As the mall's client does: the points go back to the lots the write-off spent.
        t.refund_of = order.resolve_transfer_id;
        self.transfer(t).await
    }

    async fn settle(&self, s: &Statement) -> Result<LedgerAnswer> {
        let payable = self
            .account(AccountKind::MerchantPayable, s.merchant_id)
            .await;
        let settled = self.account(AccountKind::Settled, s.merchant_id).await;
        self.transfer(plain(
            s.transfer_id.unwrap(),
            payable,
            settled,
            s.net_points(),
            TransferKind::Settle,
        ))
        .await
    }
}

pub(crate) type TestMall = Mall<Directory, TestLedger>;

pub(crate) struct Fixture {
    pub mall: TestMall,
    pub residents: Directory,
    pub ledger: TestLedger,
    /// Unix microseconds the mall's clock reads.
    pub now: Arc<AtomicI64>,
    pub store_db: DatabaseConnection,
    _dbs: (TestDatabase, TestDatabase),
}

/// 2026-11-10 12:00 Asia/Shanghai.
pub(crate) fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 10, 4, 0, 0).unwrap()
}

pub(crate) async fn fixture(label: &str, mall: MallId) -> Fixture {
    healthpoints_telemetry::init_for_tests();
    let mdb = TestDatabase::create(&format!("{label}_mall")).await;
    let ldb = TestDatabase::create(&format!("{label}_ledger")).await;
    let conn = healthpoints_db::connect::<Migrator>(&mdb.config)
        .await
        .expect("mall database");
    let lconn = healthpoints_db::connect::<healthpoints_ledger::store::Migrator>(&ldb.config)
        .await
        .expect("ledger database");
    let ledger = TestLedger {
        ledger: Arc::new(RwLock::new(Ledger::start(
            healthpoints_ledger::store::Store::new(lconn.clone()),
            Default::default(),
        ))),
        down: Arc::default(),
        lose_replies: Arc::default(),
        db: lconn,
        mall,
    };
    let now = Arc::new(AtomicI64::new(noon().timestamp_micros()));
    let residents = Directory::default();
    Fixture {
        mall: build(
            conn.clone(),
            residents.clone(),
            ledger.clone(),
            mall,
            now.clone(),
        ),
        residents,
        ledger,
        now,
        store_db: conn,
        _dbs: (mdb, ldb),
    }
}

fn build(
    db: DatabaseConnection,
    residents: Directory,
    ledger: TestLedger,
    mall: MallId,
    now: Arc<AtomicI64>,
) -> TestMall {
    let mut options = MallOptions::new(mall);
    options.clock =
        Arc::new(move || DateTime::from_timestamp_micros(now.load(Ordering::SeqCst)).unwrap());
    Mall::new(Store::new(db), residents, ledger, options)
}

impl Fixture {
    /// Another mall domain on the same database and ledger, shareable across tasks (a second
    /// replica of the mall, or many requests spawned at once).
    pub(crate) fn shared_mall(&self) -> Arc<TestMall> {
        Arc::new(build(
            self.store_db.clone(),
            self.residents.clone(),
            self.ledger.clone(),
            self.mall.mall(),
            self.now.clone(),
        ))
    }

    /// A new mall domain on the same database (a restarted process).
    pub(crate) fn restart_mall(&mut self) {
        self.mall = build(
            self.store_db.clone(),
            self.residents.clone(),
            self.ledger.clone(),
            self.mall.mall(),
            self.now.clone(),
        );
    }

    pub(crate) fn advance(&self, d: chrono::Duration) {
        self.now
            .fetch_add(d.num_microseconds().unwrap(), Ordering::SeqCst);
    }

    /// An admitted, active merchant and its operator's principal.
    pub(crate) async fn merchant(&self, name: &str) -> (Uuid, Principal) {
        let m = self
            .mall
            .admit_merchant(
                &self.admin(),
                name,
                &format!("LIC-{}", Uuid::new_v4().simple()),
                "021-5555 0000",
                Some(MerchantStatus::Active),
            )
            .await
            .unwrap();
        let operator = Principal::Merchant {
            subject: format!("op-{name}"),
            merchant_id: m.merchant_id,
            mall: self.mall.mall(),
        };
        (m.merchant_id, operator)
    }

    /// The mall's own admin.
    pub(crate) fn admin(&self) -> Principal {
        match self.mall.mall() {
            MallId::City => city_admin(),
            MallId::District(d) => Principal::DistrictAdmin {
                staff_id: Uuid::now_v7(),
                district: d,
            },
        }
    }

    /// A resident (born 1990) holding `points` in this mall's book.
    pub(crate) async fn resident(&self, points: u64) -> (Uuid, Principal) {
        let id = self.residents.add((1990, 5, 1), false);
        if points > 0 {
            self.ledger.award(id, points).await;
        }
        (id, resident(id))
    }
}

pub(crate) fn city_admin() -> Principal {
    Principal::CityAdmin {
        staff_id: Uuid::now_v7(),
    }
}

pub(crate) fn resident(id: Uuid) -> Principal {
    Principal::Resident { resident_id: id }
}

/// A product spec: a service of `price` points with `stock` units.
pub(crate) fn spec(title: &str, price: u64, stock: Option<u64>) -> ProductSpec {
    ProductSpec {
        title: title.into(),
        description: "a test product".into(),
        category: Some(healthpoints_mall::domain::model::ProductCategory::HealthProduct),
        price_points: price,
        stock,
        per_resident_limit: None,
        limit_period: String::new(),
        available_from: None,
        available_until: None,
        min_age: None,
        status: None,
    }
}

/// One unit of `product`, ordered by `who` under `key`.
pub(crate) async fn place(
    f: &Fixture,
    who: &Principal,
    key: &str,
    product: &healthpoints_mall::domain::model::Product,
) -> Result<Order> {
    f.mall
        .create_order(who, ask(key, product.product_id, 1))
        .await
}

/// An idempotency key the edge would have parsed.
pub(crate) fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

/// `quantity` of `product` under `key`, for the caller themself.
pub(crate) fn ask(key_text: &str, product: Uuid, quantity: u32) -> NewOrder {
    NewOrder {
        key: key(key_text),
        resident: None,
        product: product.into(),
        quantity,
    }
}

/// The sentence of a refusal, or a panic naming what came instead.
pub(crate) fn refused<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Err(MallError::Refused(s)) => s,
        Err(MallError::OrderState { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}
