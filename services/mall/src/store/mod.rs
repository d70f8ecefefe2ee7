//! The mall repository on sea-orm (SQLite or PostgreSQL). Rows become domain records here and
//! nowhere else; every step of an order is one guarded transaction (`… WHERE status = <from>`),
//! so a step taken twice — by a retry, a second replica or the sweeper after a restart — takes
//! effect once.

mod entities;
mod migration;
mod notices;
mod settlement;

use chrono::{DateTime, Utc};
use entities::{merchant, order, product, statement};
use healthpoints_db::outbox;
use healthpoints_types::MallId;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use crate::domain::{
    error::{MallError, Result},
    model::{
        LimitPeriod, MallStatistics, Merchant, MerchantStatus, Order, OrderStatus, PeriodKind,
        Product, ProductCategory, ProductStatus, RefundSource, Statement, StatementLine,
    },
};
pub use migration::Migrator;

impl From<sea_orm::DbErr> for MallError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Internal(healthpoints_db::storage_fault(err))
    }
}

fn corrupt(what: &str) -> MallError {
    MallError::fault(format!("stored {what} is not valid"))
}

fn time(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| corrupt("time"))
}

fn opt_time(us: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    us.map(time).transpose()
}

fn points(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt("points"))
}

fn db_points(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| MallError::invalid("points", "is too large"))
}

fn to_merchant(m: merchant::Model) -> Result<Merchant> {
    Ok(Merchant {
        merchant_id: m.merchant_id,
        name: m.name,
        licence_no: m.licence_no,
        contact: m.contact,
        status: MerchantStatus::parse(&m.status).ok_or_else(|| corrupt("merchant status"))?,
        admitted_at: time(m.admitted_at_us)?,
    })
}

fn to_product(m: product::Model) -> Result<Product> {
    Ok(Product {
        product_id: m.product_id,
        merchant_id: m.merchant_id,
        title: m.title,
        description: m.description,
        category: ProductCategory::parse(&m.category).ok_or_else(|| corrupt("category"))?,
        price_points: points(m.price_points)?,
        stock: m.stock.map(points).transpose()?,
        per_resident_limit: m.per_resident_limit.map(|l| l.unsigned_abs()),
        limit_period: LimitPeriod::parse(&m.limit_period).ok_or_else(|| corrupt("limit period"))?,
        available_from: opt_time(m.available_from_us)?,
        available_until: opt_time(m.available_until_us)?,
        min_age: m.min_age.map(|a| a.unsigned_abs()),
        status: ProductStatus::parse(&m.status).ok_or_else(|| corrupt("product status"))?,
    })
}

fn to_order(m: order::Model) -> Result<Order> {
    Ok(Order {
        order_id: m.order_id,
        idempotency_key: m.idempotency_key,
        resident_id: m.resident_id,
        merchant_id: m.merchant_id,
        product_id: m.product_id,
        product_title: m.product_title,
        quantity: m.quantity.unsigned_abs(),
        points: points(m.points)?,
        status: OrderStatus::parse(&m.status).ok_or_else(|| corrupt("order status"))?,
        voucher_code: m.voucher_code,
        expires_at: time(m.expires_at_us)?,
        created_at: time(m.created_at_us)?,
        resolved_at: opt_time(m.resolved_at_us)?,
        resolve_transfer_id: m.resolve_transfer_id,
        refund_transfer_id: m.refund_transfer_id,
        refund_reason: m.refund_reason,
        refund_source: m
            .refund_source
            .as_deref()
            .map(|s| RefundSource::parse(s).ok_or_else(|| corrupt("refund source")))
            .transpose()?,
        settle_period: m.settle_period,
        write_off_key: m.write_off_key,
        written_off_at: opt_time(m.written_off_at_us)?,
    })
}

fn to_line(m: &order::Model, refunded: bool) -> Result<StatementLine> {
    Ok(StatementLine {
        order_id: m.order_id,
        product_title: m.product_title.clone(),
        quantity: m.quantity.unsigned_abs(),
        points: points(m.points)?,
        written_off_at: opt_time(m.written_off_at_us)?,
        refunded_at: if refunded {
            opt_time(m.refunded_at_us)?
        } else {
            None
        },
        transfer_id: m.resolve_transfer_id,
    })
}

/// What a reservation came to.
#[derive(Debug)]
pub enum Reserve {
    Placed,
    /// The order was placed meanwhile under the same key (a concurrent retry).
    Exists(Box<Order>),
    NotOnSale,
    SoldOut,
    /// The resident already has this many units in the limit's period.
    LimitReached(u64),
}

/// Whose orders to list.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    Resident(Uuid),
    Merchant(Uuid),
    /// Every order (the mall's admin).
    All,
}

/// What a step changes besides the status.
#[derive(Debug, Default, Clone)]
pub struct Step {
    pub resolve_transfer_id: Option<Uuid>,
    /// The write-off's key, recorded as it claims the voucher (unique per merchant).
    pub write_off_key: Option<String>,
    /// The final step of a cancel or an expiry: stock goes back.
    pub return_stock: bool,
    pub resolved_at: Option<DateTime<Utc>>,
}

const WRITTEN_OFF: [&str; 3] = ["written_off", "refunding", "refunded"];
const REFUNDED: [&str; 2] = ["refunding", "refunded"];

/// The mall repository.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    // === merchants ===

    /// Adds a merchant; a licence number already admitted is a conflict.
    pub async fn admit_merchant(&self, m: &Merchant) -> Result<()> {
        let row = merchant::ActiveModel {
            merchant_id: Set(m.merchant_id),
            name: Set(m.name.clone()),
            licence_no: Set(m.licence_no.clone()),
            contact: Set(m.contact.clone()),
            status: Set(m.status.as_str().to_owned()),
            status_reason: Set(String::new()),
            admitted_at_us: Set(m.admitted_at.timestamp_micros()),
        };
        match merchant::Entity::insert(row).exec(&self.db).await {
            Ok(_) => Ok(()),
            Err(e) if healthpoints_db::is_unique_violation(&e) => Err(MallError::Conflict(
                "a merchant with this licence number is already admitted".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn merchant(&self, id: Uuid) -> Result<Option<Merchant>> {
        merchant::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(to_merchant)
            .transpose()
    }

    pub async fn set_merchant_status(
        &self,
        id: Uuid,
        status: MerchantStatus,
        reason: &str,
    ) -> Result<Option<Merchant>> {
        merchant::Entity::update_many()
            .col_expr(merchant::Column::Status, Expr::value(status.as_str()))
            .col_expr(merchant::Column::StatusReason, Expr::value(reason))
            .filter(merchant::Column::MerchantId.eq(id))
            .exec(&self.db)
            .await?;
        self.merchant(id).await
    }

    /// Merchants in admission order, after the cursor.
    pub async fn merchants(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<Merchant>> {
        let mut q = merchant::Entity::find().order_by_asc(merchant::Column::MerchantId);
        if let Some(after) = after {
            q = q.filter(merchant::Column::MerchantId.gt(after));
        }
        q.limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_merchant)
            .collect()
    }

    // === products ===

    /// Inserts a product, or replaces an existing one's fields (`insert == false`); answers
    /// whether a row was written.
    pub async fn save_product(
        &self,
        p: &Product,
        now: DateTime<Utc>,
        insert: bool,
    ) -> Result<bool> {
        let row = product::ActiveModel {
            product_id: Set(p.product_id),
            merchant_id: Set(p.merchant_id),
            title: Set(p.title.clone()),
            description: Set(p.description.clone()),
            category: Set(p.category.as_str().to_owned()),
            price_points: Set(db_points(p.price_points)?),
            stock: Set(p.stock.map(db_points).transpose()?),
            per_resident_limit: Set(p
                .per_resident_limit
                .map(|l| i32::try_from(l).unwrap_or(i32::MAX))),
            limit_period: Set(p.limit_period.as_str().to_owned()),
            available_from_us: Set(p.available_from.map(|t| t.timestamp_micros())),
            available_until_us: Set(p.available_until.map(|t| t.timestamp_micros())),
            min_age: Set(p.min_age.map(|a| i32::try_from(a).unwrap_or(i32::MAX))),
            status: Set(p.status.as_str().to_owned()),
            updated_at_us: Set(now.timestamp_micros()),
        };
        if insert {
            product::Entity::insert(row).exec(&self.db).await?;
            return Ok(true);
        }
        let result = product::Entity::update_many()
            .set(row)
            .filter(product::Column::ProductId.eq(p.product_id))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    pub async fn product(&self, id: Uuid) -> Result<Option<Product>> {
        product::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(to_product)
            .transpose()
    }

    /// One merchant's products (all of them), or the public catalogue at `now`: active
    /// products of active merchants whose window has not ended.
    pub async fn products(
        &self,
        merchant: Option<Uuid>,
        public_at: Option<DateTime<Utc>>,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<Product>> {
        let mut q = product::Entity::find().order_by_asc(product::Column::ProductId);
        if let Some(m) = merchant {
            q = q.filter(product::Column::MerchantId.eq(m));
        }
        if let Some(now) = public_at {
            let active: Vec<Uuid> = merchant::Entity::find()
                .select_only()
                .column(merchant::Column::MerchantId)
                .filter(merchant::Column::Status.eq(MerchantStatus::Active.as_str()))
                .into_tuple()
                .all(&self.db)
                .await?;
            q = q
                .filter(product::Column::Status.eq(ProductStatus::Active.as_str()))
                .filter(product::Column::MerchantId.is_in(active))
                .filter(
                    Condition::any()
                        .add(product::Column::AvailableUntilUs.is_null())
                        .add(product::Column::AvailableUntilUs.gt(now.timestamp_micros())),
                );
        }
        if let Some(after) = after {
            q = q.filter(product::Column::ProductId.gt(after));
        }
        q.limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_product)
            .collect()
    }

    // === orders ===

    pub async fn order(&self, id: Uuid) -> Result<Option<Order>> {
        order::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(to_order)
            .transpose()
    }

    pub async fn order_by_key(&self, resident: Uuid, key: &str) -> Result<Option<Order>> {
        order::Entity::find()
            .filter(order::Column::ResidentId.eq(resident))
            .filter(order::Column::IdempotencyKey.eq(key))
            .one(&self.db)
            .await?
            .map(to_order)
            .transpose()
    }

    /// The merchant's order whose write-off carried `key`.
    pub async fn order_by_write_off_key(&self, merchant: Uuid, key: &str) -> Result<Option<Order>> {
        order::Entity::find()
            .filter(order::Column::MerchantId.eq(merchant))
            .filter(order::Column::WriteOffKey.eq(key))
            .one(&self.db)
            .await?
            .map(to_order)
            .transpose()
    }

    pub async fn order_by_code(&self, code: &str) -> Result<Option<Order>> {
        order::Entity::find()
            .filter(order::Column::VoucherCode.eq(code))
            .one(&self.db)
            .await?
            .map(to_order)
            .transpose()
    }

    /// Orders newest first (order ids are time-ordered), before the cursor.
    pub async fn orders(
        &self,
        owner: Owner,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<Order>> {
        let mut q = order::Entity::find().order_by_desc(order::Column::OrderId);
        q = match owner {
            Owner::Resident(r) => q.filter(order::Column::ResidentId.eq(r)),
            Owner::Merchant(m) => q.filter(order::Column::MerchantId.eq(m)),
            Owner::All => q,
        };
        if let Some(before) = before {
            q = q.filter(order::Column::OrderId.lt(before));
        }
        q.limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_order)
            .collect()
    }

    /// Takes stock and records the order as `reserving`, in one transaction: the stock row is
    /// decremented only if enough is left (so concurrent orders cannot oversell), and — with
    /// that row locked — the resident's units in the limit window are counted.
    pub async fn reserve(&self, o: &Order, limit: Option<(u32, DateTime<Utc>)>) -> Result<Reserve> {
        let txn = self.db.begin().await?;
        let q = i64::from(o.quantity);
        let taken = product::Entity::update_many()
            .col_expr(
                product::Column::Stock,
                Expr::col(product::Column::Stock).sub(q),
            )
            .filter(product::Column::ProductId.eq(o.product_id))
            .filter(product::Column::Status.eq(ProductStatus::Active.as_str()))
            .filter(
                Condition::any()
                    .add(product::Column::Stock.is_null())
                    .add(product::Column::Stock.gte(q)),
            )
            .exec(&txn)
            .await?;
        if taken.rows_affected != 1 {
            let active = product::Entity::find_by_id(o.product_id)
                .filter(product::Column::Status.eq(ProductStatus::Active.as_str()))
                .count(&txn)
                .await?;
            return Ok(if active == 0 {
                Reserve::NotOnSale
            } else {
                Reserve::SoldOut
            });
        }
        if let Some((max, since)) = limit {
            let held: Vec<i32> = order::Entity::find()
                .select_only()
                .column(order::Column::Quantity)
                .filter(order::Column::ResidentId.eq(o.resident_id))
                .filter(order::Column::ProductId.eq(o.product_id))
                .filter(order::Column::CreatedAtUs.gte(since.timestamp_micros()))
                .filter(order::Column::Status.is_not_in(["cancelled", "expired"]))
                .into_tuple()
                .all(&txn)
                .await?;
            let held: u64 = held.iter().map(|q| u64::from(q.unsigned_abs())).sum();
            if held + u64::from(o.quantity) > u64::from(max) {
                return Ok(Reserve::LimitReached(held));
            }
        }
        let now = o.created_at.timestamp_micros();
        let row = order::ActiveModel {
            order_id: Set(o.order_id),
            idempotency_key: Set(o.idempotency_key.clone()),
            resident_id: Set(o.resident_id),
            merchant_id: Set(o.merchant_id),
            product_id: Set(o.product_id),
            product_title: Set(o.product_title.clone()),
            quantity: Set(i32::try_from(o.quantity).map_err(|_| corrupt("quantity"))?),
            points: Set(db_points(o.points)?),
            status: Set(OrderStatus::Reserving.as_str().to_owned()),
            voucher_code: Set(o.voucher_code.clone()),
            expires_at_us: Set(o.expires_at.timestamp_micros()),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            resolved_at_us: Set(None),
            resolve_transfer_id: Set(None),
            written_off_at_us: Set(None),
            settle_period: Set(None),
            refund_transfer_id: Set(None),
            refund_reason: Set(None),
            refund_source: Set(None),
            refund_period: Set(None),
            refunded_at_us: Set(None),
            write_off_key: Set(None),
        };
        match order::Entity::insert(row).exec(&txn).await {
            Ok(_) => {}
            Err(e) if healthpoints_db::is_unique_violation(&e) => {
                drop(txn);
                return match self.order_by_key(o.resident_id, &o.idempotency_key).await? {
                    Some(existing) => Ok(Reserve::Exists(Box::new(existing))),
                    None => Err(MallError::Unavailable("the order is being placed".into())),
                };
            }
            Err(e) => return Err(e.into()),
        }
        txn.commit().await?;
        Ok(Reserve::Placed)
    }

    /// Undoes a reservation the ledger refused: the order row goes and its stock returns, once.
    pub async fn abandon(&self, o: &Order) -> Result<bool> {
        let txn = self.db.begin().await?;
        let gone = order::Entity::delete_many()
            .filter(order::Column::OrderId.eq(o.order_id))
            .filter(order::Column::Status.eq(OrderStatus::Reserving.as_str()))
            .exec(&txn)
            .await?;
        if gone.rows_affected == 1 {
            return_stock(&txn, o).await?;
        }
        txn.commit().await?;
        Ok(gone.rows_affected == 1)
    }

    /// Moves an order from `from` to `to` if it is still in `from`; answers whether it moved.
    pub async fn step(
        &self,
        o: &Order,
        (from, to): (OrderStatus, OrderStatus),
        step: Step,
        mall: MallId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let txn = self.db.begin().await?;
        let mut update = order::Entity::update_many()
            .col_expr(order::Column::Status, Expr::value(to.as_str()))
            .col_expr(
                order::Column::UpdatedAtUs,
                Expr::value(now.timestamp_micros()),
            );
        if let Some(id) = step.resolve_transfer_id {
            update = update.col_expr(order::Column::ResolveTransferId, Expr::value(id));
        }
        if let Some(at) = step.resolved_at {
            update = update.col_expr(
                order::Column::ResolvedAtUs,
                Expr::value(at.timestamp_micros()),
            );
        }
        if let Some(key) = step.write_off_key {
            update = update.col_expr(order::Column::WriteOffKey, Expr::value(key));
        }
        let moved = match update
            .filter(order::Column::OrderId.eq(o.order_id))
            .filter(order::Column::Status.eq(from.as_str()))
            .exec(&txn)
            .await
        {
            Ok(r) => r.rows_affected == 1,
            // The merchant's key is already on another of its vouchers.
            Err(e) if healthpoints_db::is_unique_violation(&e) => {
                return Err(MallError::Conflict(
                    "this idempotency key was used for another voucher".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if moved && step.return_stock {
            return_stock(&txn, o).await?;
        }
        if moved && let Some(event) = order_event(o, to, mall, now) {
            outbox::append(&txn, &[event]).await?;
        }
        txn.commit().await?;
        Ok(moved)
    }

    /// Finishes a write-off: the order counts in the merchant's current settlement period, or
    /// the first one after it that is not closed yet.
    pub async fn finish_write_off(
        &self,
        o: &Order,
        kind: PeriodKind,
        mall: MallId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let txn = self.db.begin().await?;
        lock_merchant(&txn, o.merchant_id).await?;
        let period = open_period(&txn, o.merchant_id, kind, now).await?;
        let moved = order::Entity::update_many()
            .col_expr(order::Column::Status, Expr::value("written_off"))
            .col_expr(
                order::Column::UpdatedAtUs,
                Expr::value(now.timestamp_micros()),
            )
            .col_expr(
                order::Column::ResolvedAtUs,
                Expr::value(now.timestamp_micros()),
            )
            .col_expr(
                order::Column::WrittenOffAtUs,
                Expr::value(now.timestamp_micros()),
            )
            .col_expr(order::Column::SettlePeriod, Expr::value(period))
            .filter(order::Column::OrderId.eq(o.order_id))
            .filter(order::Column::Status.eq("writing_off"))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if moved && let Some(event) = order_event(o, OrderStatus::WrittenOff, mall, now) {
            outbox::append(&txn, &[event]).await?;
        }
        txn.commit().await?;
        Ok(moved)
    }

    /// Starts a refund of a written-off order: from the payable while the order's period is
    /// open, else from the settled account (a claw-back counted in the current open period).
    /// `None` if the order is not written off (any more).
    pub async fn begin_refund(
        &self,
        o: &Order,
        transfer_id: Uuid,
        reason: &str,
        kind: PeriodKind,
        now: DateTime<Utc>,
    ) -> Result<Option<RefundSource>> {
        let txn = self.db.begin().await?;
        lock_merchant(&txn, o.merchant_id).await?;
        let closed = match &o.settle_period {
            Some(p) => statement::Entity::find_by_id((o.merchant_id, p.clone()))
                .one(&txn)
                .await?
                .is_some(),
            None => false,
        };
        let (source, period) = if closed {
            (
                RefundSource::Settled,
                open_period(&txn, o.merchant_id, kind, now).await?,
            )
        } else {
            (
                RefundSource::Payable,
                o.settle_period.clone().unwrap_or_default(),
            )
        };
        let moved = order::Entity::update_many()
            .col_expr(order::Column::Status, Expr::value("refunding"))
            .col_expr(
                order::Column::UpdatedAtUs,
                Expr::value(now.timestamp_micros()),
            )
            .col_expr(order::Column::RefundTransferId, Expr::value(transfer_id))
            .col_expr(order::Column::RefundReason, Expr::value(reason))
            .col_expr(order::Column::RefundSource, Expr::value(source.as_str()))
            .col_expr(order::Column::RefundPeriod, Expr::value(period))
            .filter(order::Column::OrderId.eq(o.order_id))
            .filter(order::Column::Status.eq("written_off"))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        txn.commit().await?;
        Ok(moved.then_some(source))
    }

    /// Finishes a refund.
    pub async fn finish_refund(&self, o: &Order, mall: MallId, now: DateTime<Utc>) -> Result<bool> {
        let txn = self.db.begin().await?;
        let moved = order::Entity::update_many()
            .col_expr(order::Column::Status, Expr::value("refunded"))
            .col_expr(
                order::Column::UpdatedAtUs,
                Expr::value(now.timestamp_micros()),
            )
            .col_expr(
                order::Column::RefundedAtUs,
                Expr::value(now.timestamp_micros()),
            )
            .filter(order::Column::OrderId.eq(o.order_id))
            .filter(order::Column::Status.eq("refunding"))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if moved && let Some(event) = order_event(o, OrderStatus::Refunded, mall, now) {
            outbox::append(&txn, &[event]).await?;
        }
        txn.commit().await?;
        Ok(moved)
    }

    /// The events the mall has not handed on yet, to `publisher` (a relay round).
    pub async fn relay(
        &self,
        publisher: &impl outbox::Publisher,
        now: DateTime<Utc>,
    ) -> std::result::Result<usize, outbox::RelayError> {
        outbox::relay_once(&self.db, publisher, 200, now).await
    }

    /// Orders with work left: ledger steps not finished (a `reserving` one only once its own
    /// request has surely ended, `settled_after` ago) and reserved vouchers past expiry.
    pub async fn due(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
        reserving_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Order>> {
        order::Entity::find()
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(order::Column::Status.eq("reserved"))
                            .add(order::Column::ExpiresAtUs.lte(now.timestamp_micros())),
                    )
                    .add(
                        Condition::all()
                            .add(order::Column::Status.is_in([
                                "writing_off",
                                "cancelling",
                                "expiring",
                                "refunding",
                            ]))
                            .add(order::Column::UpdatedAtUs.lt(idle_before.timestamp_micros())),
                    )
                    .add(
                        Condition::all()
                            .add(order::Column::Status.eq("reserving"))
                            .add(
                                order::Column::UpdatedAtUs.lt(reserving_before.timestamp_micros()),
                            ),
                    ),
            )
            .order_by_asc(order::Column::UpdatedAtUs)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_order)
            .collect()
    }
}

async fn return_stock(txn: &impl ConnectionTrait, o: &Order) -> Result<()> {
    product::Entity::update_many()
        .col_expr(
            product::Column::Stock,
            Expr::col(product::Column::Stock).add(i64::from(o.quantity)),
        )
        .filter(product::Column::ProductId.eq(o.product_id))
        .filter(product::Column::Stock.is_not_null())
        .exec(txn)
        .await?;
    Ok(())
}

async fn lock_merchant(txn: &impl ConnectionTrait, merchant: Uuid) -> Result<()> {
    merchant::Entity::find_by_id(merchant)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| MallError::NotFound("merchant".into()))?;
    Ok(())
}

/// The merchant's period at `now`, or the first later one without a statement.
async fn open_period(
    txn: &impl ConnectionTrait,
    merchant: Uuid,
    kind: PeriodKind,
    now: DateTime<Utc>,
) -> Result<String> {
    let mut period = kind.period_of(now);
    while statement::Entity::find_by_id((merchant, period.clone()))
        .one(txn)
        .await?
        .is_some()
    {
        period = kind.next(&period).ok_or_else(|| corrupt("period"))?;
    }
    Ok(period)
}

/// The event an order's new status causes, for its merchant's webhooks and — when it changes
/// what the resident holds (written off, refunded, expired) — their inbox.
fn order_event(
    o: &Order,
    to: OrderStatus,
    mall: MallId,
    now: DateTime<Utc>,
) -> Option<outbox::OutboxEvent> {
    let (kind, tells_resident) = match to {
        OrderStatus::Reserved => ("order.created", false),
        OrderStatus::Cancelled => ("order.cancelled", false),
        OrderStatus::Expired => ("order.expired", true),
        OrderStatus::WrittenOff => ("order.written_off", true),
        OrderStatus::Refunded => ("order.refunded", true),
        _ => return None,
    };
    Some(outbox::OutboxEvent {
        id: Uuid::now_v7(),
        kind: kind.to_owned(),
        at: now,
        resident_id: tells_resident.then(|| o.resident_id.to_string()),
        merchant_id: Some(o.merchant_id.to_string()),
        mall: Some(mall.to_string()),
        partner_id: None,
        data: serde_json::json!({
            "order_id": o.order_id,
            "mall": mall.to_string(),
            "merchant_id": o.merchant_id,
            "product_id": o.product_id,
            "product_title": o.product_title,
            "quantity": o.quantity,
            "points": o.points,
            "status": to.as_str(),
        }),
    })
}
