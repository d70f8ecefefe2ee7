//! The counter and the resident's cancel: the steps that resolve an order's reservation. Exactly
//! one write-off of a voucher is told it wrote it off (the call whose key claimed it); a retry
//! with that key is answered the same, as a replay; every other write-off or cancel that lost
//! a race is refused with the order's state, after driving the winner's step to its end (the
//! ledger call is idempotent, so helping is safe).

use chrono::{DateTime, Utc};
use healthpoints_auth::Principal;
use healthpoints_types::{IdempotencyKey, OrderId};
use uuid::Uuid;

use super::{LedgerAnswer, Mall, PointsLedger, Residents};
use crate::{
    domain::{
        error::{MallError, Result},
        model::{Order, OrderStatus, normalize_code, shanghai},
    },
    store::Step,
};

/// A write-off as the counter is told it.
#[derive(Debug, Clone)]
pub struct WriteOff {
    pub order: Order,
    /// This answers an earlier call with the same idempotency key.
    pub replay: bool,
}

/// What the counter sees of a voucher before handing anything over.
#[derive(Debug, Clone)]
pub struct VoucherView {
    pub order: Order,
    pub resident_name_masked: String,
    pub can_write_off: bool,
}

/// A refusal that tells the caller where the order stands, in words and as data.
fn state_refusal(order: Order) -> MallError {
    let when = |t: Option<DateTime<Utc>>| {
        t.map(|t| {
            t.with_timezone(&shanghai())
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_default()
    };
    let reason = match order.status {
        OrderStatus::WrittenOff | OrderStatus::Refunding | OrderStatus::Refunded => format!(
            "this voucher was already written off at {}",
            when(order.written_off_at.or(order.resolved_at))
        ),
        OrderStatus::Expired | OrderStatus::Expiring => {
            "this voucher has expired; its points are back".to_owned()
        }
        OrderStatus::Cancelled | OrderStatus::Cancelling => "this order was cancelled".to_owned(),
        OrderStatus::Reserving => {
            "this voucher is not valid yet; ask the resident to reopen the order".to_owned()
        }
        OrderStatus::Reserved | OrderStatus::WritingOff => {
            "the order is changing state; ask again in a moment".to_owned()
        }
    };
    MallError::OrderState {
        reason,
        order: Box::new(order),
    }
}

impl<R: Residents, L: PointsLedger> Mall<R, L> {
    /// The resident cancels before write-off: points and stock return. Cancelling again
    /// answers the cancelled order. A cancel that loses to a write-off (or to the expiry) is
    /// refused with the state that won.
    pub async fn cancel(&self, caller: &Principal, order_id: OrderId) -> Result<Order> {
        let order = self.order(caller, order_id).await?;
        if !matches!(caller, Principal::Resident { .. }) {
            return Err(MallError::Forbidden(
                "only the resident cancels an order".into(),
            ));
        }
        match order.status {
            OrderStatus::Reserved if order.expires_at <= self.now() => {
                let now = self.void(order, OrderStatus::Expiring).await?;
                Err(state_refusal(now))
            }
            OrderStatus::Reserved => {
                let now = self.void(order, OrderStatus::Cancelling).await?;
                match now.status {
                    OrderStatus::Cancelled => Ok(now),
                    _ => Err(state_refusal(now)),
                }
            }
            OrderStatus::Cancelling => self.drive_resolve(order).await,
            OrderStatus::Cancelled => Ok(order),
            OrderStatus::Reserving => Err(MallError::Conflict(
                "this order is still being placed; try again in a moment".into(),
            )),
            _ => Err(state_refusal(self.settle(order).await?)),
        }
    }

    /// Starts a void (cancel or expiry) and drives it; if another request moved the order
    /// first, drives that request's step instead. Answers the order as it ends up.
    pub(super) async fn void(&self, order: Order, intent: OrderStatus) -> Result<Order> {
        let step = Step {
            resolve_transfer_id: Some(Uuid::new_v4()),
            ..Step::default()
        };
        // Whether our step moved the order or another request's did, the order is settled as it
        // now stands: a racing write-off, cancel or the sweeper may already have driven any
        // void to its end between the step and this read.
        self.step(&order, OrderStatus::Reserved, intent, step, self.now())
            .await?;
        self.settle(self.reload(order.order_id).await?).await
    }

    /// An order in the middle of someone else's write-off, cancel or expiry, driven to where
    /// that step lands (the ledger call is idempotent, so helping is safe).
    async fn settle(&self, order: Order) -> Result<Order> {
        match order.status {
            OrderStatus::WritingOff | OrderStatus::Cancelling | OrderStatus::Expiring => {
                self.drive_resolve(order).await
            }
            _ => Ok(order),
        }
    }

    /// The counter's view of a voucher before handing anything over: the order, its
    /// resident's masked name and whether a write-off would succeed now. The voucher's
    /// merchant only.
    pub async fn voucher(&self, caller: &Principal, code: &str) -> Result<VoucherView> {
        let order = self.own_voucher(caller, code).await?;
        let name_masked = self
            .residents
            .resident(order.resident_id)
            .await?
            .map(|r| r.name_masked)
            .unwrap_or_default();
        Ok(VoucherView {
            can_write_off: order.status == OrderStatus::Reserved && order.expires_at > self.now(),
            order,
            resident_name_masked: name_masked,
        })
    }

    /// The order of a voucher (typed code or scanned payload) of the calling merchant.
    async fn own_voucher(&self, caller: &Principal, code: &str) -> Result<Order> {
        let merchant = self.merchant_of(caller)?;
        let code = normalize_code(code)
            .ok_or_else(|| MallError::invalid("code", "is not a voucher code"))?;
        let order = self
            .store
            .order_by_code(&code)
            .await?
            .ok_or_else(|| MallError::NotFound("voucher".into()))?;
        if order.merchant_id != merchant {
            tracing::warn!(
                mall = %self.options.mall,
                merchant = %merchant,
                "voucher refused: it belongs to another merchant"
            );
            return Err(MallError::Forbidden(
                "this voucher belongs to another merchant".into(),
            ));
        }
        Ok(order)
    }

    /// The merchant writes off a voucher at the counter (typed code or scanned payload).
    /// Exactly one call is told it wrote the voucher off: the one whose key claimed it. A
    /// retry with that call's `key` answers the same result as a replay; every other call is
    /// refused with the state the voucher is in.
    pub async fn write_off(
        &self,
        caller: &Principal,
        code: &str,
        key: Option<&IdempotencyKey>,
    ) -> Result<WriteOff> {
        let merchant = self.merchant_of(caller)?;
        let wanted = normalize_code(code)
            .ok_or_else(|| MallError::invalid("code", "is not a voucher code"))?;
        let key = key.map(IdempotencyKey::as_str);
        if let Some(key) = key
            && let Some(earlier) = self.store.order_by_write_off_key(merchant, key).await?
        {
            if wanted != earlier.voucher_code {
                return Err(MallError::Conflict(
                    "this idempotency key was used for another voucher".into(),
                ));
            }
            return self.written_off_by(earlier, true).await;
        }
        let order = self.own_voucher(caller, code).await?;
        match order.status {
            OrderStatus::Reserved if order.expires_at <= self.now() => Err(state_refusal(
                self.void(order, OrderStatus::Expiring).await?,
            )),
            OrderStatus::Reserved => {
                // A call without a key gets one of its own, so "mine" is still decidable.
                let claim = key.map_or_else(|| format!("auto:{}", Uuid::new_v4()), str::to_owned);
                let step = Step {
                    resolve_transfer_id: Some(Uuid::new_v4()),
                    write_off_key: Some(claim.clone()),
                    ..Step::default()
                };
                let moved = self
                    .step(
                        &order,
                        OrderStatus::Reserved,
                        OrderStatus::WritingOff,
                        step,
                        self.now(),
                    )
                    .await?;
                let now = self.reload(order.order_id).await?;
                if moved || now.write_off_key.as_deref() == Some(claim.as_str()) {
                    // `moved` false here: the same key raced itself; the first call claimed.
                    self.written_off_by(now, !moved).await
                } else {
                    Err(state_refusal(self.settle(now).await?))
                }
            }
            _ => Err(state_refusal(self.settle(order).await?)),
        }
    }

    /// The answer to the call whose key claimed the voucher (`replay`: a retry of it): the
    /// write-off driven to its end — or, if the ledger had already timed the reservation out,
    /// the refusal saying it expired.
    async fn written_off_by(&self, order: Order, replay: bool) -> Result<WriteOff> {
        let order = self.settle(order).await?;
        match order.status {
            OrderStatus::WrittenOff | OrderStatus::Refunding | OrderStatus::Refunded => {
                Ok(WriteOff { order, replay })
            }
            _ => Err(state_refusal(order)),
        }
    }

    /// Drives a post or void to its end.
    pub(super) async fn drive_resolve(&self, order: Order) -> Result<Order> {
        let post = order.status == OrderStatus::WritingOff;
        let answer = self.ledger.resolve(&order, post).await?;
        let now = self.now();
        let back = Step {
            resolved_at: Some(now),
            return_stock: true,
            ..Step::default()
        };
        match (order.status, answer) {
            (OrderStatus::WritingOff, LedgerAnswer::Done | LedgerAnswer::AlreadyPosted) => {
                self.store
                    .finish_write_off(&order, self.options.period, self.mall(), now)
                    .await?;
            }
            (OrderStatus::WritingOff, LedgerAnswer::AlreadyVoided) => {
                // The ledger timed the reservation out first: the voucher expired.
                self.step(
                    &order,
                    OrderStatus::WritingOff,
                    OrderStatus::Expired,
                    back,
                    now,
                )
                .await?;
            }
            (
                from @ (OrderStatus::Cancelling | OrderStatus::Expiring),
                LedgerAnswer::Done | LedgerAnswer::AlreadyVoided,
            ) => {
                let to = if from == OrderStatus::Cancelling {
                    OrderStatus::Cancelled
                } else {
                    OrderStatus::Expired
                };
                self.step(&order, from, to, back, now).await?;
            }
            (status, answer) => {
                return Err(MallError::fault(format!(
                    "the ledger answered {answer:?} to an order that is {}",
                    status.as_str()
                )));
            }
        }
        self.reload(order.order_id).await
    }
}
