//! Orders: placing one (the resident's right, the product on sale, limits, points reserved in
//! the ledger with the stock), reading them per audience, and a refund of a written-off order.

use super::*;

impl<R: Residents, L: PointsLedger> Mall<R, L> {
    /// Places an order: eligibility and limits checked, stock and points reserved, a voucher
    /// issued. The same key answers the same order; a different order under it is a conflict.
    pub async fn create_order(&self, caller: &Principal, asked: NewOrder) -> Result<Order> {
        let NewOrder {
            key,
            resident,
            product,
            quantity,
        } = asked;
        let resident = Self::resident_of(caller, resident)?;
        let product_id = product.uuid();
        if !(1..=self.options.max_quantity).contains(&quantity) {
            return Err(MallError::invalid(
                "quantity",
                format!("must be between 1 and {}", self.options.max_quantity),
            ));
        }
        if let Some(existing) = self.store.order_by_key(resident, key.as_str()).await? {
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
            idempotency_key: key.as_str().to_owned(),
            resident_id: resident,
            merchant_id: product.merchant_id,
            product_id,
            product_title: product.title.clone(),
            quantity,
            points: Points::new(product.price_points)
                .times(quantity)
                .ok_or_else(|| MallError::invalid("quantity", "is too many of this product"))?
                .get(),
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

    pub(super) async fn drive_reserve(&self, order: Order) -> Result<Order> {
        let timeout = u32::try_from((order.expires_at - order.created_at).num_seconds())
            .unwrap_or(u32::MAX)
            .max(1);
        match self.ledger.reserve(&order, timeout).await? {
            LedgerAnswer::Done => {
                self.step(
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
                Err(MallError::fault(format!(
                    "the ledger refused a reservation: {other:?}"
                )))
            }
        }
    }

    pub(super) async fn reload(&self, id: Uuid) -> Result<Order> {
        self.store
            .order(id)
            .await?
            .ok_or_else(|| MallError::NotFound("order".into()))
    }

    pub async fn order(&self, caller: &Principal, id: OrderId) -> Result<Order> {
        self.store
            .order(id.uuid())
            .await?
            .filter(|o| self.may_see(caller, o))
            .ok_or_else(|| MallError::NotFound("order".into()))
    }

    /// A resident's own orders, a merchant's own orders, or — for the admin — anyone's.
    pub async fn orders(
        &self,
        caller: &Principal,
        resident_id: Option<ResidentId>,
        merchant_id: Option<MerchantId>,
        size: u32,
        before: &str,
    ) -> Result<Page<Order>> {
        let owner = match (caller, resident_id, merchant_id) {
            (Principal::Resident { resident_id: me }, r, None) if r.is_none_or(|r| r == *me) => {
                Owner::Resident(*me)
            }
            (Principal::Merchant { .. }, None, m) => {
                let own = self.merchant_of(caller)?;
                if m.is_some_and(|m| m != own) {
                    return Err(MallError::Forbidden(
                        "a merchant sees only its own orders".into(),
                    ));
                }
                Owner::Merchant(own)
            }
            (_, r, m) if self.admin(caller).is_ok() => match (r, m) {
                (Some(r), _) => Owner::Resident(r.uuid()),
                (None, Some(m)) => Owner::Merchant(m.uuid()),
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
    pub async fn refund(
        &self,
        caller: &Principal,
        order_id: OrderId,
        reason: &str,
    ) -> Result<Order> {
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

    pub(super) async fn drive_refund(&self, order: Order) -> Result<Order> {
        let source = order.refund_source.unwrap_or(RefundSource::Payable);
        match self.ledger.refund(&order, source).await? {
            LedgerAnswer::Done => {
                self.store
                    .finish_refund(&order, self.mall(), self.now())
                    .await?;
                self.reload(order.order_id).await
            }
            other => Err(MallError::fault(format!(
                "the ledger refused a refund: {other:?}"
            ))),
        }
    }
}
