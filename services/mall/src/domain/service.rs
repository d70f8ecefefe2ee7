//! What a mall does, and who may do it. Every ledger step of an order is recorded first (an
//! `-ing` status) and then driven to its end, by the request that started it, by a retry, or by
//! the sweeper after a crash — the same code path each time, so a step lands exactly once.

use std::{future::Future, sync::Arc};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use healthpoints_auth::Principal;
use healthpoints_types::{
    Book, MallId,
    text::{Lines, free_text},
};
use uuid::Uuid;

use crate::{
    domain::{
        error::{MallError, Result},
        model::{
            LimitPeriod, MallStatistics, Merchant, MerchantStatus, Order, OrderStatus, PeriodKind,
            Product, ProductStatus, RefundSource, Statement, age_on, idempotency_key,
            limit_window_start, local_day, new_voucher_code,
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
            max_quantity: 20,
            period: PeriodKind::Month,
            reserving_grace: Duration::seconds(30),
            step_grace: Duration::seconds(3),
            clock: Arc::new(Utc::now),
        }
    }
}

mod counter;

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

fn uuid(field: &str, value: &str) -> Result<Uuid> {
    Uuid::parse_str(value.trim()).map_err(|_| MallError::invalid(field, "must be a UUID"))
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

    fn resident_of(caller: &Principal, asked: &str) -> Result<Uuid> {
        let Principal::Resident { resident_id } = caller else {
            return Err(MallError::Forbidden("only residents place orders".into()));
        };
        if !asked.trim().is_empty() && uuid("resident_id", asked)? != *resident_id {
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

    // === merchants ===

    pub async fn admit_merchant(
        &self,
        caller: &Principal,
        name: &str,
        licence_no: &str,
        contact: &str,
        status: Option<MerchantStatus>,
    ) -> Result<Merchant> {
        self.admin(caller)?;
        let merchant = Merchant {
            merchant_id: Uuid::now_v7(),
            name: text("name", name, 120)?,
            licence_no: text("licence_no", licence_no, 64)?,
            contact: text("contact", contact, 200)?,
            status: status.unwrap_or(MerchantStatus::Active),
            admitted_at: self.now(),
        };
        self.store.admit_merchant(&merchant).await?;
        tracing::info!(mall = %self.options.mall, merchant = %merchant.merchant_id, "merchant admitted");
        Ok(merchant)
    }

    pub async fn set_merchant_status(
        &self,
        caller: &Principal,
        merchant_id: &str,
        status: Option<MerchantStatus>,
        reason: &str,
    ) -> Result<Merchant> {
        self.admin(caller)?;
        let id = uuid("merchant_id", merchant_id)?;
        let status = status
            .ok_or_else(|| MallError::invalid("status", "must be pending, active or suspended"))?;
        if status == MerchantStatus::Suspended && reason.trim().is_empty() {
            return Err(MallError::invalid("reason", "a suspension needs a reason"));
        }
        let reason = free_text(reason, 500, false, Lines::One)
            .map_err(|e| MallError::invalid("reason", e.0))?;
        self.store
            .set_merchant_status(id, status, &reason)
            .await?
            .ok_or_else(|| MallError::NotFound("merchant".into()))
    }

    /// Every admitted merchant (public).
    pub async fn merchants(&self, size: u32, after: &str) -> Result<Page<Merchant>> {
        let size = page_size(size);
        let items = self
            .store
            .merchants(cursor("page.cursor", after)?, size)
            .await?;
        Ok(page(items, size, |m| m.merchant_id))
    }

    // === catalogue ===

    fn check_product(&self, spec: &ProductSpec, p: &mut Product) -> Result<()> {
        p.title = text("product.title", &spec.title, 80)?;
        p.description = free_text(&spec.description, 2000, false, Lines::Many)
            .map_err(|e| MallError::invalid("product.description", e.0))?;
        p.category = spec.category.ok_or_else(|| {
            MallError::invalid(
                "product.category",
                "must be health_service or health_product",
            )
        })?;
        if !(1..=10_000_000).contains(&spec.price_points) {
            return Err(MallError::invalid(
                "product.price_points",
                "must be between 1 and 10,000,000 points",
            ));
        }
        p.price_points = spec.price_points;
        if spec.stock.is_some_and(|s| s > 1_000_000) {
            return Err(MallError::invalid(
                "product.stock",
                "must be at most 1,000,000 (leave it out for unlimited)",
            ));
        }
        p.stock = spec.stock;
        if spec.per_resident_limit == Some(0) {
            return Err(MallError::invalid(
                "product.per_resident_limit",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        p.per_resident_limit = spec.per_resident_limit;
        p.limit_period = match spec.limit_period.trim() {
            "" => LimitPeriod::Month,
            other => LimitPeriod::parse(other).ok_or_else(|| {
                MallError::invalid("product.limit_period", "must be day, week, month or year")
            })?,
        };
        if let (Some(from), Some(until)) = (spec.available_from, spec.available_until)
            && from >= until
        {
            return Err(MallError::invalid(
                "product.available_until",
                "must be after available_from",
            ));
        }
        p.available_from = spec.available_from;
        p.available_until = spec.available_until;
        if spec.min_age.is_some_and(|a| a > 120) {
            return Err(MallError::invalid("product.min_age", "must be at most 120"));
        }
        p.min_age = spec.min_age.filter(|a| *a > 0);
        p.status = spec.status.unwrap_or(ProductStatus::Active);
        Ok(())
    }

    pub async fn create_product(&self, caller: &Principal, spec: &ProductSpec) -> Result<Product> {
        let merchant_id = self.merchant_of(caller)?;
        self.store
            .merchant(merchant_id)
            .await?
            .ok_or_else(|| MallError::Forbidden("this merchant is not admitted here".into()))?;
        let mut product = Product {
            product_id: Uuid::now_v7(),
            merchant_id,
            title: String::new(),
            description: String::new(),
            category: crate::domain::model::ProductCategory::HealthService,
            price_points: 0,
            stock: None,
            per_resident_limit: None,
            limit_period: LimitPeriod::Month,
            available_from: None,
            available_until: None,
            min_age: None,
            status: ProductStatus::Active,
        };
        self.check_product(spec, &mut product)?;
        self.store.save_product(&product, self.now(), true).await?;
        Ok(product)
    }

    /// Replaces a product's fields. Orders already placed keep the price they were placed at.
    pub async fn update_product(
        &self,
        caller: &Principal,
        product_id: &str,
        spec: &ProductSpec,
    ) -> Result<Product> {
        let merchant_id = self.merchant_of(caller)?;
        let id = uuid("product.product_id", product_id)?;
        let mut product = self
            .store
            .product(id)
            .await?
            .filter(|p| p.merchant_id == merchant_id)
            .ok_or_else(|| MallError::NotFound("product".into()))?;
        self.check_product(spec, &mut product)?;
        if !self.store.save_product(&product, self.now(), false).await? {
            return Err(MallError::NotFound("product".into()));
        }
        Ok(product)
    }

    /// The public catalogue; a merchant's operator asking for their own merchant also sees
    /// inactive and past products.
    pub async fn products(
        &self,
        caller: Option<&Principal>,
        merchant_id: &str,
        size: u32,
        after: &str,
    ) -> Result<Page<Product>> {
        let merchant = match merchant_id.trim() {
            "" => None,
            m => Some(uuid("merchant_id", m)?),
        };
        let own = merchant.is_some() && caller.and_then(|c| self.merchant_of(c).ok()) == merchant;
        let size = page_size(size);
        let items = self
            .store
            .products(
                merchant,
                (!own).then(|| self.now()),
                cursor("page.cursor", after)?,
                size,
            )
            .await?;
        Ok(page(items, size, |p| p.product_id))
    }

    // === orders ===

    /// Places an order: eligibility and limits checked, stock and points reserved, a voucher
    /// issued. The same key answers the same order; a different order under it is a conflict.
    pub async fn create_order(
        &self,
        caller: &Principal,
        key: &str,
        resident_id: &str,
        product_id: &str,
        quantity: u32,
    ) -> Result<Order> {
        let resident = Self::resident_of(caller, resident_id)?;
        let key = idempotency_key(key).map_err(|e| MallError::invalid("idempotency_key", e))?;
        let product_id = uuid("product_id", product_id)?;
        if !(1..=self.options.max_quantity).contains(&quantity) {
            return Err(MallError::invalid(
                "quantity",
                format!("must be between 1 and {}", self.options.max_quantity),
            ));
        }
        if let Some(existing) = self.store.order_by_key(resident, key).await? {
            return self.replay(existing, product_id, quantity).await;
        }
        let facts = self
            .residents
            .resident(resident)
            .await?
            .ok_or_else(|| MallError::NotFound("resident".into()))?;
        if facts.suspended {
            return Err(MallError::Suspended);
        }
        let now = self.now();
        let product = self
            .store
            .product(product_id)
            .await?
            .ok_or_else(|| MallError::NotFound("product".into()))?;
        let merchant = self
            .store
            .merchant(product.merchant_id)
            .await?
            .ok_or_else(|| MallError::NotFound("product".into()))?;
        if merchant.status != MerchantStatus::Active || product.status != ProductStatus::Active {
            return Err(MallError::Refused("this product is not on sale".into()));
        }
        if product.available_from.is_some_and(|from| now < from) {
            return Err(MallError::Refused("this product is not on sale yet".into()));
        }
        if product.available_until.is_some_and(|until| now >= until) {
            return Err(MallError::Refused(
                "this product is no longer on sale".into(),
            ));
        }
        if let Some(min) = product.min_age {
            let age = facts.birth_date.map(|b| age_on(b, local_day(now)));
            if age.is_none_or(|a| a < min) {
                return Err(MallError::Refused(format!(
                    "this product is for residents aged {min} and over"
                )));
            }
        }
        let order = Order {
            order_id: Uuid::now_v7(),
            idempotency_key: key.to_owned(),
            resident_id: resident,
            merchant_id: product.merchant_id,
            product_id,
            product_title: product.title.clone(),
            quantity,
            points: product.price_points * u64::from(quantity),
            status: OrderStatus::Reserving,
            voucher_code: new_voucher_code(),
            expires_at: now + self.options.voucher_valid,
            created_at: now,
            resolved_at: None,
            resolve_transfer_id: None,
            refund_transfer_id: None,
            refund_reason: None,
            refund_source: None,
            settle_period: None,
            write_off_key: None,
            written_off_at: None,
        };
        let limit = product
            .per_resident_limit
            .map(|l| (l, limit_window_start(product.limit_period, now)));
        match self.store.reserve(&order, limit).await? {
            Reserve::Placed => self.drive_reserve(order).await,
            Reserve::Exists(existing) => self.replay(*existing, product_id, quantity).await,
            Reserve::NotOnSale => Err(MallError::Refused("this product is not on sale".into())),
            Reserve::SoldOut => Err(MallError::Refused("this product is sold out".into())),
            Reserve::LimitReached(held) => Err(MallError::Refused(format!(
                "limit reached: at most {} per resident per {}, and you already have {held}",
                product.per_resident_limit.unwrap_or_default(),
                product.limit_period.as_str()
            ))),
        }
    }

    /// A retried order: the same one, driven on if its reservation was cut short.
    async fn replay(&self, existing: Order, product_id: Uuid, quantity: u32) -> Result<Order> {
        if existing.product_id != product_id || existing.quantity != quantity {
            return Err(MallError::Conflict(
                "this idempotency key was used for a different order".into(),
            ));
        }
        if existing.status == OrderStatus::Reserving {
            return self.drive_reserve(existing).await;
        }
        Ok(existing)
    }

    async fn drive_reserve(&self, order: Order) -> Result<Order> {
        let timeout = u32::try_from((order.expires_at - order.created_at).num_seconds())
            .unwrap_or(u32::MAX)
            .max(1);
        match self.ledger.reserve(&order, timeout).await? {
            LedgerAnswer::Done => {
                self.store
                    .step(
                        &order,
                        OrderStatus::Reserving,
                        OrderStatus::Reserved,
                        Step::default(),
                        self.now(),
                    )
                    .await?;
                self.reload(order.order_id).await
            }
            LedgerAnswer::InsufficientPoints => {
                self.store.abandon(&order).await?;
                Err(MallError::Refused(format!(
                    "not enough points: this order needs {} points in the {} book",
                    order.points,
                    self.book()
                )))
            }
            other => {
                self.store.abandon(&order).await?;
                Err(MallError::Store(format!(
                    "the ledger refused a reservation: {other:?}"
                )))
            }
        }
    }

    async fn reload(&self, id: Uuid) -> Result<Order> {
        self.store
            .order(id)
            .await?
            .ok_or_else(|| MallError::NotFound("order".into()))
    }

    pub async fn order(&self, caller: &Principal, order_id: &str) -> Result<Order> {
        let id = uuid("order_id", order_id)?;
        self.store
            .order(id)
            .await?
            .filter(|o| self.may_see(caller, o))
            .ok_or_else(|| MallError::NotFound("order".into()))
    }

    /// A resident's own orders, a merchant's own orders, or — for the admin — anyone's.
    pub async fn orders(
        &self,
        caller: &Principal,
        resident_id: Option<&str>,
        merchant_id: Option<&str>,
        size: u32,
        before: &str,
    ) -> Result<Page<Order>> {
        let owner = match (caller, resident_id, merchant_id) {
            (Principal::Resident { resident_id: me }, r, None)
                if r.is_none_or(|r| {
                    r.trim().is_empty() || uuid("resident_id", r).ok() == Some(*me)
                }) =>
            {
                Owner::Resident(*me)
            }
            (Principal::Merchant { .. }, None, m) => {
                let own = self.merchant_of(caller)?;
                if m.is_some_and(|m| {
                    !m.trim().is_empty() && uuid("merchant_id", m).ok() != Some(own)
                }) {
                    return Err(MallError::Forbidden(
                        "a merchant sees only its own orders".into(),
                    ));
                }
                Owner::Merchant(own)
            }
            (_, r, m) if self.admin(caller).is_ok() => match (r, m) {
                (Some(r), _) => Owner::Resident(uuid("resident_id", r)?),
                (None, Some(m)) => Owner::Merchant(uuid("merchant_id", m)?),
                (None, None) => Owner::All,
            },
            _ => {
                return Err(MallError::Forbidden(
                    "orders are visible to their resident, their merchant and the mall's admin"
                        .into(),
                ));
            }
        };
        let size = page_size(size);
        let items = self
            .store
            .orders(owner, cursor("page.cursor", before)?, size)
            .await?;
        Ok(page(items, size, |o| o.order_id))
    }

    /// A refund of a written-off order (service not delivered), approved by the mall's admin.
    pub async fn refund(&self, caller: &Principal, order_id: &str, reason: &str) -> Result<Order> {
        self.admin(caller)?;
        let reason = text("reason", reason, 500)?;
        let order = self.order(caller, order_id).await?;
        match order.status {
            OrderStatus::WrittenOff => {
                let source = self
                    .store
                    .begin_refund(
                        &order,
                        Uuid::new_v4(),
                        &reason,
                        self.options.period,
                        self.now(),
                    )
                    .await?;
                let order = self.reload(order.order_id).await?;
                if source.is_none() && order.status != OrderStatus::Refunding {
                    return Ok(order);
                }
                self.drive_refund(order).await
            }
            OrderStatus::Refunding => self.drive_refund(order).await,
            OrderStatus::Refunded => Ok(order),
            other => Err(MallError::Refused(format!(
                "only a written-off order can be refunded; this one is {}",
                other.as_str().replace('_', " ")
            ))),
        }
    }

    async fn drive_refund(&self, order: Order) -> Result<Order> {
        let source = order.refund_source.unwrap_or(RefundSource::Payable);
        match self.ledger.refund(&order, source).await? {
            LedgerAnswer::Done => {
                self.store.finish_refund(&order, self.now()).await?;
                self.reload(order.order_id).await
            }
            other => Err(MallError::Store(format!(
                "the ledger refused a refund: {other:?}"
            ))),
        }
    }

    // === settlement ===

    fn statement_merchant(&self, caller: &Principal, merchant_id: &str) -> Result<Uuid> {
        if let Principal::Merchant { .. } = caller {
            let own = self.merchant_of(caller)?;
            if !merchant_id.trim().is_empty() && uuid("merchant_id", merchant_id)? != own {
                return Err(MallError::Forbidden(
                    "a merchant sees only its own statements".into(),
                ));
            }
            return Ok(own);
        }
        self.admin(caller)?;
        uuid("merchant_id", merchant_id)
    }

    fn check_period(&self, period: &str) -> Result<DateTime<Utc>> {
        self.options.period.start_of(period.trim()).ok_or_else(|| {
            MallError::invalid(
                "period",
                match self.options.period {
                    PeriodKind::Month => "must be a month like 2026-11",
                    PeriodKind::Week => "must be an ISO week like 2026-W47",
                },
            )
        })
    }

    /// A merchant's statements: one period with its lines, or every period with activity
    /// (the current one always), newest first.
    pub async fn statements(
        &self,
        caller: &Principal,
        merchant_id: &str,
        period: &str,
    ) -> Result<Vec<Statement>> {
        let merchant = self.statement_merchant(caller, merchant_id)?;
        if !period.trim().is_empty() {
            self.check_period(period)?;
            return Ok(vec![
                self.store.statement(merchant, period.trim(), true).await?,
            ]);
        }
        let mut periods = self.store.periods(merchant).await?;
        let current = self.options.period.period_of(self.now());
        if !periods.contains(&current) {
            periods.insert(0, current);
        }
        let mut out = Vec::with_capacity(periods.len());
        for p in periods {
            out.push(self.store.statement(merchant, &p, false).await?);
        }
        Ok(out)
    }

    /// Closes a period: the statement is fixed and its net moves from the merchant's payable to
    /// its settled account. Closing again answers the closed statement.
    pub async fn close(
        &self,
        caller: &Principal,
        merchant_id: &str,
        period: &str,
    ) -> Result<Statement> {
        self.admin(caller)?;
        let merchant = uuid("merchant_id", merchant_id)?;
        let start = self.check_period(period)?;
        if start > self.now() {
            return Err(MallError::Refused("this period has not started yet".into()));
        }
        self.store
            .merchant(merchant)
            .await?
            .ok_or_else(|| MallError::NotFound("merchant".into()))?;
        let s = self
            .store
            .begin_close(merchant, period.trim(), Uuid::new_v4(), self.now())
            .await?;
        self.drive_close(s).await
    }

    async fn drive_close(&self, s: Statement) -> Result<Statement> {
        if s.net_points() > 0 {
            match self.ledger.settle(&s).await? {
                LedgerAnswer::Done => {}
                other => {
                    return Err(MallError::Store(format!(
                        "the ledger refused a settlement: {other:?}"
                    )));
                }
            }
        }
        self.store.finish_close(s.merchant_id, &s.period).await?;
        self.store.statement(s.merchant_id, &s.period, true).await
    }

    pub async fn statistics(&self, caller: &Principal) -> Result<MallStatistics> {
        self.admin(caller)?;
        self.store.statistics().await
    }

    // === the sweeper ===

    /// Drives every interrupted step and expires overdue vouchers; answers how many orders and
    /// statements it finished.
    pub async fn sweep(&self) -> Result<usize> {
        let now = self.now();
        let due = self
            .store
            .due(
                now,
                now - self.options.step_grace,
                now - self.options.reserving_grace,
                200,
            )
            .await?;
        let mut done = 0;
        for order in due {
            let id = order.order_id;
            let result = match order.status {
                OrderStatus::Reserved => self.void(order, OrderStatus::Expiring).await.map(|_| ()),
                OrderStatus::Reserving => match self.drive_reserve(order).await {
                    Err(MallError::Refused(_)) => Ok(()),
                    other => other.map(|_| ()),
                },
                OrderStatus::Refunding => self.drive_refund(order).await.map(|_| ()),
                _ => self.drive_resolve(order).await.map(|_| ()),
            };
            match result {
                Ok(()) => done += 1,
                Err(e @ MallError::Unavailable(_)) => {
                    tracing::warn!(error = %e, "ledger unavailable; the sweeper retries later");
                    return Ok(done);
                }
                Err(e) => {
                    tracing::error!(order = %id, error = %e, "an order step could not be finished")
                }
            }
        }
        for s in self.store.closing().await? {
            self.drive_close(s).await?;
            done += 1;
        }
        Ok(done)
    }
}
