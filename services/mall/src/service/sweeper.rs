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
