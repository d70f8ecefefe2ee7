//! What a mall does, and who may do it. Every ledger step of an order is recorded first (an
//! `-ing` status) and then driven to its end, by the request that started it, by a retry, or by
//! the sweeper after a crash — the same code path each time, so a step lands exactly once.

use std::{future::Future, sync::Arc};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use healthpoints_auth::Principal;
use healthpoints_types::{
    Book, IdempotencyKey, MallId, MerchantId, OrderId, Points, ProductId, ResidentId,
    text::{Lines, free_text},
};
use uuid::Uuid;

use crate::{
    domain::{
        error::{MallError, Result},
        model::{
            LimitPeriod, MallStatistics, Merchant, MerchantStatus, Order, OrderStatus, PeriodKind,
            Product, ProductStatus, RefundSource, Statement, age_on, limit_window_start, local_day,
            new_voucher_code,
        },
    },
    store::{Owner, Reserve, Step, Store},
};

/// What identity says about a resident, as far as a mall cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentFacts {
    pub suspended: bool,
    pub birth_date: Option<NaiveDate>,
    /// e.g. `张*明`, shown at the counter.
    pub name_masked: String,
}

/// Who a resident is.
pub trait Residents: Send + Sync {
    /// `None` if identity does not know them.
    fn resident(&self, id: Uuid) -> impl Future<Output = Result<Option<ResidentFacts>>> + Send;
}

/// The ledger's answer to one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerAnswer {
    /// Done now, or earlier with the same id.
    Done,
    /// The resident's available points do not cover the order.
    InsufficientPoints,
    /// The pending transfer was already voided or timed out.
    AlreadyVoided,
    /// The pending transfer was already posted.
    AlreadyPosted,
    /// Any other refusal: a bug or a misconfiguration (e.g. the wrong book for this mall).
    Refused(String),
}

/// Where an order's points move. Every call is idempotent on the ids it is given.
pub trait PointsLedger: Send + Sync {
    /// A pending transfer (id = the order id) resident → merchant payable, timing out with the
    /// voucher.
    fn reserve(
        &self,
        order: &Order,
        timeout_seconds: u32,
    ) -> impl Future<Output = Result<LedgerAnswer>> + Send;
    /// Posts (write-off) or voids (cancel, expiry) the order's pending transfer, with the
    /// order's `resolve_transfer_id`.
    fn resolve(
        &self,
        order: &Order,
        post: bool,
    ) -> impl Future<Output = Result<LedgerAnswer>> + Send;
    /// A refund transfer (the order's `refund_transfer_id`) from the merchant's payable or
    /// settled account back to the resident.
    fn refund(
        &self,
        order: &Order,
        source: RefundSource,
    ) -> impl Future<Output = Result<LedgerAnswer>> + Send;
    /// Moves a closed statement's net from the merchant's payable to its settled account.
    fn settle(&self, statement: &Statement) -> impl Future<Output = Result<LedgerAnswer>> + Send;
}

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How a mall is set up.
#[derive(Clone)]
pub struct MallOptions {
    pub mall: MallId,
    pub name: String,
    pub voucher_valid: Duration,
    /// How long before a voucher expires its resident is told (zero: never).
    pub voucher_notice: Duration,
    pub max_quantity: u32,
    pub period: PeriodKind,
    /// A `reserving` order is left to its own request for this long before the sweeper drives
    /// it (longer than any request may run).
    pub reserving_grace: Duration,
    /// Other steps are driven by the sweeper once idle this long.
    pub step_grace: Duration,
    pub clock: Clock,
}

impl std::fmt::Debug for MallOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MallOptions")
            .field("mall", &self.mall)
            .field("voucher_valid", &self.voucher_valid)
            .finish_non_exhaustive()
    }
}

impl MallOptions {
    pub fn new(mall: MallId) -> Self {
        Self {
            mall,
            name: match mall {
                MallId::City => "City health mall".to_owned(),
                MallId::District(d) => format!("{} health mall", d.name()),
            },
            voucher_valid: Duration::hours(72),
            voucher_notice: Duration::hours(24),
            max_quantity: 20,
            period: PeriodKind::Month,
            reserving_grace: Duration::seconds(30),
            step_grace: Duration::seconds(3),
            clock: Arc::new(Utc::now),
        }
    }
}

mod catalogue;
mod counter;
mod orders;
mod settlement;
mod sweeper;

pub use counter::{VoucherView, WriteOff};

/// What a merchant's operator sends for a product; the mall fills in ids.
#[derive(Debug, Clone)]
pub struct ProductSpec {
    pub title: String,
    pub description: String,
    pub category: Option<crate::domain::model::ProductCategory>,
    pub price_points: u64,
    pub stock: Option<u64>,
    pub per_resident_limit: Option<u32>,
    pub limit_period: String,
    pub available_from: Option<DateTime<Utc>>,
    pub available_until: Option<DateTime<Utc>>,
    pub min_age: Option<u32>,
    pub status: Option<ProductStatus>,
}

/// An order as a resident asks for it, its ids parsed at the edge.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub key: IdempotencyKey,
    /// Optional: the resident is the caller; if given, it must be them.
    pub resident: Option<ResidentId>,
    pub product: ProductId,
    pub quantity: u32,
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Most items in one page.
pub const PAGE_MAX: u64 = 500;
const PAGE_DEFAULT: u64 = 50;

fn page_size(asked: u32) -> u64 {
    match u64::from(asked) {
        0 => PAGE_DEFAULT,
        n => n.min(PAGE_MAX),
    }
}

fn cursor(field: &str, c: &str) -> Result<Option<Uuid>> {
    healthpoints_types::uuid_cursor(c).map_err(|e| MallError::invalid(field, e.0))
}

fn page<T>(items: Vec<T>, size: u64, id: impl Fn(&T) -> Uuid) -> Page<T> {
    let next = (items.len() as u64 == size)
        .then(|| items.last().map(|i| id(i).to_string()))
        .flatten();
    Page { items, next }
}

/// A one-line free-text field: 1 to `max` characters, no control characters.
fn text(field: &str, value: &str, max: usize) -> Result<String> {
    free_text(value, max, true, Lines::One).map_err(|e| MallError::invalid(field, e.0))
}

/// A mall: its store, its peers and its settings.
#[derive(Debug)]
pub struct Mall<R, L> {
    store: Store,
    residents: R,
    ledger: L,
    options: MallOptions,
}

impl<R: Residents, L: PointsLedger> Mall<R, L> {
    pub fn new(store: Store, residents: R, ledger: L, options: MallOptions) -> Self {
        Self {
            store,
            residents,
            ledger,
            options,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Moves an order from `from` to `to` if it is still in `from` (the store's guarded step),
    /// counting the status it reached in the process's metrics.
    pub(crate) async fn step(
        &self,
        o: &Order,
        from: OrderStatus,
        to: OrderStatus,
        step: Step,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let moved = self
            .store
            .step(o, (from, to), step, self.mall(), now)
            .await?;
        if moved {
            healthpoints_telemetry::metrics::metrics()
                .orders
                .get_or_create(&healthpoints_telemetry::metrics::OrderLabels {
                    mall: self.mall().to_string(),
                    status: to.as_str().to_owned(),
                })
                .inc();
        }
        Ok(moved)
    }

    pub fn mall(&self) -> MallId {
        self.options.mall
    }

    pub fn book(&self) -> Book {
        self.options.mall.book()
    }

    pub fn name(&self) -> &str {
        &self.options.name
    }

    fn now(&self) -> DateTime<Utc> {
        (self.options.clock)()
    }

    // === who may ===

    /// The mall's admin: a city admin anywhere (oversight), a district admin in their own
    /// district's mall.
    fn admin(&self, caller: &Principal) -> Result<()> {
        match (caller, self.options.mall) {
            (Principal::CityAdmin { .. }, _) => Ok(()),
            (Principal::DistrictAdmin { district, .. }, MallId::District(d)) if *district == d => {
                Ok(())
            }
            _ => Err(MallError::Forbidden(format!(
                "only the admin of the {} may do this",
                self.options.name
            ))),
        }
    }

    /// The merchant a merchant operator of this mall acts for.
    fn merchant_of(&self, caller: &Principal) -> Result<Uuid> {
        match caller {
            Principal::Merchant {
                merchant_id, mall, ..
            } if *mall == self.options.mall => Ok(*merchant_id),
            Principal::Merchant { .. } => Err(MallError::Forbidden(
                "this merchant belongs to another mall".into(),
            )),
            _ => Err(MallError::Forbidden(
                "only a merchant's operator may do this".into(),
            )),
        }
    }

    fn resident_of(caller: &Principal, asked: Option<ResidentId>) -> Result<Uuid> {
        let Principal::Resident { resident_id } = caller else {
            return Err(MallError::Forbidden("only residents place orders".into()));
        };
        if asked.is_some_and(|asked| asked != *resident_id) {
            return Err(MallError::Forbidden(
                "residents place orders only for themselves".into(),
            ));
        }
        Ok(*resident_id)
    }

    /// Whether the caller may see this order: its resident, its merchant, or the mall's admin.
    fn may_see(&self, caller: &Principal, o: &Order) -> bool {
        match caller {
            Principal::Resident { resident_id } => *resident_id == o.resident_id,
            Principal::Merchant { .. } => self.merchant_of(caller).ok() == Some(o.merchant_id),
            _ => self.admin(caller).is_ok(),
        }
    }
}
