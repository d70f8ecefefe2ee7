//! The sweeper: every step a crash or a lost ledger answer left unfinished is driven to its end
//! once its grace has passed, and overdue vouchers expire.

use super::*;

impl<R: Residents, L: PointsLedger> Mall<R, L> {
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

impl<R: Residents, L: PointsLedger> Mall<R, L> {
    /// Tells residents whose vouchers expire within the notice period (`voucher.expiring` in
    /// the mall's outbox, for their inbox), once per order, walking the reserved orders in
    /// expiry order from where the last walk stopped. A voucher valid for less than the notice
    /// period is not announced. Returns how many it told.
    pub async fn announce_expiring_vouchers(&self) -> Result<usize> {
        let notice = self.options.voucher_notice;
        if notice <= Duration::zero() {
            return Ok(0);
        }
        let now = self.now();
        let mut after = self.store.voucher_cursor().await?;
        let mut told = 0;
        for _ in 0..100 {
            let due = self
                .store
                .vouchers_expiring(after, (now + notice).timestamp_micros(), 500)
                .await?;
            let Some(last) = due.last() else {
                break;
            };
            let last = (last.expires_at.timestamp_micros(), last.order_id);
            let events: Vec<_> = due
                .iter()
                .filter(|o| o.expires_at > now && o.expires_at - o.created_at >= notice)
                .map(|o| voucher_expiring(o, self.options.mall, now))
                .collect();
            self.store.vouchers_told(&events, last).await?;
            told += events.len();
            after = Some(last);
            if due.len() < 500 {
                break;
            }
        }
        Ok(told)
    }
}

/// The resident's notice that a voucher is about to expire (its id derived from the order: a
/// walk that runs twice tells once).
fn voucher_expiring(
    o: &Order,
    mall: MallId,
    now: DateTime<Utc>,
) -> healthpoints_db::outbox::OutboxEvent {
    healthpoints_db::outbox::OutboxEvent {
        id: healthpoints_db::outbox::derived_id(&format!("mall/voucher.expiring/{}", o.order_id)),
        kind: "voucher.expiring".into(),
        at: now,
        resident_id: Some(o.resident_id.to_string()),
        merchant_id: None,
        mall: None,
        partner_id: None,
        data: serde_json::json!({
            "order_id": o.order_id,
            "mall": mall.to_string(),
            "product_title": o.product_title,
            "quantity": o.quantity,
            "points": o.points,
            "expires_at": o.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
    }
}
