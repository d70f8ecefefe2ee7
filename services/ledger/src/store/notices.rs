//! Telling residents of points about to expire: which accounts are due a notice, and recording
//! that they got it (with the events, in the ledger's outbox, and the sweep's cursor) in one
//! transaction.

use healthpoints_db::outbox::{self, OutboxEvent};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict, Query},
};
use uuid::Uuid;

use super::{Store, entities::account, entities::expiry_notice, to_account};
use crate::domain::{
    error::Result,
    model::{Account, AccountKind},
};

/// The sweep's cursor in the outbox's cursor table.
const CURSOR: &str = "ledger.expiry_notices";

impl Store {
    /// Where today's notice sweep stopped: (day, key).
    pub async fn notice_cursor(&self) -> Result<Option<(i64, String)>> {
        Ok(outbox::cursor(&self.db, CURSOR).await?)
    }

    /// Resident accounts whose next points expire on a day in `[from, to]` (`YYYYMMDD`) and that
    /// were not told of that day yet, after `after` in (day, account) order.
    pub async fn untold_expiring(
        &self,
        from: i64,
        to: i64,
        after: Option<(i64, Uuid)>,
        limit: u64,
    ) -> Result<Vec<Account>> {
        let told = Query::select()
            .expr(Expr::val(1))
            .from(expiry_notice::Entity)
            .and_where(
                Expr::col((expiry_notice::Entity, expiry_notice::Column::AccountId))
                    .equals((account::Entity, account::Column::Id)),
            )
            .and_where(
                Expr::col((expiry_notice::Entity, expiry_notice::Column::Day))
                    .equals((account::Entity, account::Column::NextExpiry)),
            )
            .to_owned();
        let mut q = account::Entity::find()
            .filter(account::Column::Kind.eq(AccountKind::Resident.as_str()))
            .filter(account::Column::NextExpiry.between(from, to))
            .filter(Expr::exists(told).not());
        if let Some((day, id)) = after {
            q = q.filter(
                Condition::any()
                    .add(account::Column::NextExpiry.gt(day))
                    .add(
                        Condition::all()
                            .add(account::Column::NextExpiry.eq(day))
                            .add(account::Column::Id.gt(id)),
                    ),
            );
        }
        q.order_by_asc(account::Column::NextExpiry)
            .order_by_asc(account::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_account)
            .collect()
    }

    /// Records that these accounts were told of these days, with the events that tell them and
    /// the sweep's new place, in one transaction; forgets notices of days before `today`.
    pub async fn told(
        &self,
        notices: &[(Uuid, i64)],
        events: &[OutboxEvent],
        cursor: (i64, &str),
        today: i64,
    ) -> Result<()> {
        let txn = self.db.begin().await?;
        for chunk in notices.chunks(500) {
            expiry_notice::Entity::insert_many(chunk.iter().map(|(account_id, day)| {
                expiry_notice::ActiveModel {
                    account_id: sea_orm::ActiveValue::Set(*account_id),
                    day: sea_orm::ActiveValue::Set(*day),
                }
            }))
            .on_conflict(
                OnConflict::columns([expiry_notice::Column::AccountId, expiry_notice::Column::Day])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        }
        outbox::append(&txn, events).await?;
        outbox::set_cursor(&txn, CURSOR, cursor).await?;
        expiry_notice::Entity::delete_many()
            .filter(expiry_notice::Column::Day.lt(today))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}
