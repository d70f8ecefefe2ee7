//! Telling residents of vouchers about to expire: the reserved orders whose voucher runs out
//! soon, in (expiry, order) order after the sweep's cursor, and recording the events that tell
//! them with the cursor's new place in one transaction.

use healthpoints_db::outbox::{self, OutboxEvent};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::{Store, entities::order, to_order};
use crate::domain::{
    error::Result,
    model::{Order, OrderStatus},
};

/// The sweep's cursor in the outbox's cursor table.
const CURSOR: &str = "mall.voucher_notices";

impl Store {
    /// Where the voucher notice sweep stopped: (expiry in Unix microseconds, order).
    pub async fn voucher_cursor(&self) -> Result<Option<(i64, Uuid)>> {
        Ok(outbox::cursor(&self.db, CURSOR)
            .await?
            .and_then(|(at, key)| Some((at, Uuid::parse_str(&key).ok()?))))
    }

    /// Reserved orders whose voucher expires by `until_us`, after `after` in (expiry, order)
    /// order.
    pub async fn vouchers_expiring(
        &self,
        after: Option<(i64, Uuid)>,
        until_us: i64,
        limit: u64,
    ) -> Result<Vec<Order>> {
        let mut q = order::Entity::find()
            .filter(order::Column::Status.eq(OrderStatus::Reserved.as_str()))
            .filter(order::Column::ExpiresAtUs.lte(until_us));
        if let Some((at, id)) = after {
            q = q.filter(
                Condition::any().add(order::Column::ExpiresAtUs.gt(at)).add(
                    Condition::all()
                        .add(order::Column::ExpiresAtUs.eq(at))
                        .add(order::Column::OrderId.gt(id)),
                ),
            );
        }
        q.order_by_asc(order::Column::ExpiresAtUs)
            .order_by_asc(order::Column::OrderId)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_order)
            .collect()
    }

    /// Appends the notices and moves the cursor past `last`, in one transaction.
    pub async fn vouchers_told(&self, events: &[OutboxEvent], last: (i64, Uuid)) -> Result<()> {
        let txn = self.db.begin().await?;
        outbox::append(&txn, events).await?;
        outbox::set_cursor(&txn, CURSOR, (last.0, &last.1.to_string())).await?;
        txn.commit().await?;
        Ok(())
    }
}
