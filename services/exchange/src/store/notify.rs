//! Notifications and webhooks in the database: events written in the transaction of the change
//! that causes them, and in that same transaction the resident's inbox line and one delivery
//! per webhook that asked for the event; the worker's due deliveries, claimed one at a time
//! (a conditional update, so two exchange replicas rarely send the same attempt), and their log.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::OnConflict,
};
use uuid::Uuid;

use super::{Store, corrupt, time};
use crate::domain::{
    error::Result,
    notify::{
        Delivery, DeliveryStatus, Event, Notification, Webhook, merchant_owner, partner_owner,
    },
};

pub(super) mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: Uuid,
        pub kind: String,
        pub at_us: i64,
        pub resident_id: Option<String>,
        pub partner_id: Option<String>,
        pub merchant_id: Option<String>,
        pub mall: Option<String>,
        pub data: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod notification {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub notification_id: Uuid,
        pub resident_id: String,
        pub kind: String,
        pub data: String,
        pub created_at_us: i64,
        pub read_at_us: Option<i64>,
        pub sent_at_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod webhook {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhooks")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub webhook_id: Uuid,
        pub owner: String,
        pub url: String,
        /// JSON array of event kinds.
        pub events: String,
        pub secret: String,
        pub created_at_us: i64,
        pub deleted_at_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deliveries")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub delivery_id: Uuid,
        pub webhook_id: Uuid,
        pub event_id: Uuid,
        pub kind: String,
        pub status: String,
        pub attempts: i32,
        pub next_attempt_at_us: i64,
        pub last_attempt_at_us: Option<i64>,
        pub last_status: Option<i32>,
        pub last_error: Option<String>,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

fn json(raw: &str) -> Result<serde_json::Value> {
    serde_json::from_str(raw).map_err(|_| corrupt("event data"))
}

fn to_event(m: event::Model) -> Result<Event> {
    Ok(Event {
        id: m.event_id,
        kind: m.kind,
        at: time(m.at_us)?,
        resident_id: m.resident_id,
        partner_id: m.partner_id,
        merchant: m.merchant_id.zip(m.mall),
        data: json(&m.data)?,
    })
}

fn to_notification(m: notification::Model) -> Result<Notification> {
    Ok(Notification {
        id: m.notification_id,
        kind: m.kind,
        data: json(&m.data)?,
        created_at: time(m.created_at_us)?,
        read_at: m.read_at_us.map(time).transpose()?,
    })
}

fn to_webhook(m: webhook::Model) -> Result<Webhook> {
    Ok(Webhook {
        id: m.webhook_id,
        owner: m.owner,
        url: m.url,
        events: serde_json::from_str(&m.events).map_err(|_| corrupt("webhook events"))?,
        secret: m.secret,
        created_at: time(m.created_at_us)?,
    })
}

fn to_delivery(m: delivery::Model) -> Result<Delivery> {
    Ok(Delivery {
        id: m.delivery_id,
        webhook_id: m.webhook_id,
        event_id: m.event_id,
        kind: m.kind,
        status: DeliveryStatus::parse(&m.status).ok_or_else(|| corrupt("delivery status"))?,
        attempts: m.attempts.unsigned_abs(),
        next_attempt_at: time(m.next_attempt_at_us)?,
        last_attempt_at: m.last_attempt_at_us.map(time).transpose()?,
        last_status: m.last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: m.last_error,
        created_at: time(m.created_at_us)?,
    })
}

/// Writes `events` in the caller's transaction — each once (a retried write finds its event
/// there and adds nothing) — with the resident's inbox line and a delivery to each of the
/// partner's or merchant's webhooks that asked for it. A handful of statements per 500 events,
/// whatever their number.
pub(super) async fn record(conn: &impl ConnectionTrait, events: &[Event]) -> Result<()> {
    for chunk in events.chunks(500) {
        record_chunk(conn, chunk).await?;
    }
    Ok(())
}

async fn record_chunk(conn: &impl ConnectionTrait, events: &[Event]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let events: Vec<&Event> = events.iter().filter(|e| seen.insert(e.id)).collect();
    if events.is_empty() {
        return Ok(());
    }
    // Only the events this write added go on: the others were recorded before, with their
    // lines and deliveries.
    let added: std::collections::HashSet<Uuid> =
        match event::Entity::insert_many(events.iter().map(|e| event::ActiveModel {
            event_id: Set(e.id),
            kind: Set(e.kind.clone()),
            at_us: Set(e.at.timestamp_micros()),
            resident_id: Set(e.resident_id.clone()),
            partner_id: Set(e.partner_id.clone()),
            merchant_id: Set(e.merchant.as_ref().map(|m| m.0.clone())),
            mall: Set(e.merchant.as_ref().map(|m| m.1.clone())),
            data: Set(e.data.to_string()),
        }))
        .on_conflict(
            OnConflict::column(event::Column::EventId)
                .do_nothing()
                .to_owned(),
        )
        .exec_with_returning_keys(conn)
        .await
        {
            Ok(keys) => keys.into_iter().collect(),
            Err(sea_orm::DbErr::RecordNotInserted) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
    let events: Vec<&Event> = events
        .into_iter()
        .filter(|e| added.contains(&e.id))
        .collect();
    notification::Entity::insert_many(events.iter().filter_map(|e| {
        let resident = e.resident_id.clone()?;
        Some(notification::ActiveModel {
            // In the order the exchange learnt of them (event ids may be derived).
            notification_id: Set(Uuid::now_v7()),
            resident_id: Set(resident),
            kind: Set(e.kind.clone()),
            data: Set(e.data.to_string()),
            created_at_us: Set(e.at.timestamp_micros()),
            read_at_us: Set(None),
            sent_at_us: Set(None),
        })
    }))
    .exec_without_returning(conn)
    .await?;

    let owners_of = |e: &Event| -> Vec<String> {
        e.partner_id
            .iter()
            .map(|p| partner_owner(p))
            .chain(e.merchant.iter().map(|(m, mall)| merchant_owner(mall, m)))
            .collect()
    };
    let owners: std::collections::BTreeSet<String> =
        events.iter().flat_map(|e| owners_of(e)).collect();
    if owners.is_empty() {
        return Ok(());
    }
    let hooks = webhook::Entity::find()
        .filter(webhook::Column::Owner.is_in(owners))
        .filter(webhook::Column::DeletedAtUs.is_null())
        .all(conn)
        .await?
        .into_iter()
        .map(to_webhook)
        .collect::<Result<Vec<_>>>()?;
    let mut deliveries = Vec::new();
    for e in &events {
        let owners = owners_of(e);
        for h in hooks
            .iter()
            .filter(|h| owners.contains(&h.owner) && h.events.contains(&e.kind))
        {
            deliveries.push(delivery::ActiveModel {
                delivery_id: Set(Uuid::now_v7()),
                webhook_id: Set(h.id),
                event_id: Set(e.id),
                kind: Set(e.kind.clone()),
                status: Set(DeliveryStatus::Pending.as_str().to_owned()),
                attempts: Set(0),
                next_attempt_at_us: Set(e.at.timestamp_micros()),
                last_attempt_at_us: Set(None),
                last_status: Set(None),
                last_error: Set(None),
                created_at_us: Set(e.at.timestamp_micros()),
            });
        }
    }
    // Up to 20 webhooks may hear of one event: a few statements at most.
    while !deliveries.is_empty() {
        let rest = deliveries.split_off(deliveries.len().min(500));
        delivery::Entity::insert_many(std::mem::replace(&mut deliveries, rest))
            .on_conflict(
                OnConflict::columns([delivery::Column::WebhookId, delivery::Column::EventId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Records events another service's outbox published (each id once), in one transaction.
    pub async fn record_events(&self, events: &[Event]) -> Result<()> {
        use sea_orm::TransactionTrait;
        let txn = self.db.begin().await?;
        record(&txn, events).await?;
        txn.commit().await?;
        Ok(())
    }

    /// A resident's notifications, newest first, before the cursor; only unread ones when
    /// asked.
    pub async fn notifications(
        &self,
        resident_id: &str,
        unread_only: bool,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<Notification>> {
        let mut q = notification::Entity::find()
            .filter(notification::Column::ResidentId.eq(resident_id))
            .order_by_desc(notification::Column::NotificationId);
        if unread_only {
            q = q.filter(notification::Column::ReadAtUs.is_null());
        }
        if let Some(before) = before {
            q = q.filter(notification::Column::NotificationId.lt(before));
        }
        q.limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_notification)
            .collect()
    }

    /// How many of a resident's notifications are unread.
    pub async fn unread(&self, resident_id: &str) -> Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(notification::Entity::find()
            .filter(notification::Column::ResidentId.eq(resident_id))
            .filter(notification::Column::ReadAtUs.is_null())
            .count(&self.db)
            .await?)
    }

    /// Marks a resident's notifications read (these, or all); answers how many changed.
    pub async fn mark_read(
        &self,
        resident_id: &str,
        ids: Option<&[Uuid]>,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        let mut q = notification::Entity::update_many()
            .col_expr(
                notification::Column::ReadAtUs,
                sea_orm::sea_query::Expr::value(at.timestamp_micros()),
            )
            .filter(notification::Column::ResidentId.eq(resident_id))
            .filter(notification::Column::ReadAtUs.is_null());
        if let Some(ids) = ids {
            q = q.filter(notification::Column::NotificationId.is_in(ids.iter().copied()));
        }
        Ok(q.exec(&self.db).await?.rows_affected)
    }

    /// Notifications the sender has not sent yet, oldest first, with their residents.
    pub async fn unsent(&self, limit: u64) -> Result<Vec<(String, Notification)>> {
        notification::Entity::find()
            .filter(notification::Column::SentAtUs.is_null())
            .order_by_asc(notification::Column::NotificationId)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| Ok((m.resident_id.clone(), to_notification(m)?)))
            .collect()
    }

    /// Marks notifications sent, in one statement.
    pub async fn mark_sent(&self, ids: &[Uuid], at: DateTime<Utc>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        notification::Entity::update_many()
            .col_expr(
                notification::Column::SentAtUs,
                sea_orm::sea_query::Expr::value(at.timestamp_micros()),
            )
            .filter(notification::Column::NotificationId.is_in(ids.iter().copied()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn insert_webhook(&self, w: &Webhook) -> Result<()> {
        webhook::Entity::insert(webhook::ActiveModel {
            webhook_id: Set(w.id),
            owner: Set(w.owner.clone()),
            url: Set(w.url.clone()),
            events: Set(serde_json::to_string(&w.events).map_err(|_| corrupt("events"))?),
            secret: Set(w.secret.clone()),
            created_at_us: Set(w.created_at.timestamp_micros()),
            deleted_at_us: Set(None),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// An owner's webhooks (not deleted), oldest first.
    pub async fn webhooks(&self, owner: &str) -> Result<Vec<Webhook>> {
        webhook::Entity::find()
            .filter(webhook::Column::Owner.eq(owner))
            .filter(webhook::Column::DeletedAtUs.is_null())
            .order_by_asc(webhook::Column::WebhookId)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_webhook)
            .collect()
    }

    /// One of an owner's webhooks (not deleted).
    pub async fn webhook(&self, owner: &str, id: Uuid) -> Result<Option<Webhook>> {
        webhook::Entity::find_by_id(id)
            .filter(webhook::Column::Owner.eq(owner))
            .filter(webhook::Column::DeletedAtUs.is_null())
            .one(&self.db)
            .await?
            .map(to_webhook)
            .transpose()
    }

    /// Deletes a webhook: nothing more is delivered to it; its log stays.
    pub async fn delete_webhook(&self, owner: &str, id: Uuid, at: DateTime<Utc>) -> Result<bool> {
        let done = webhook::Entity::update_many()
            .col_expr(
                webhook::Column::DeletedAtUs,
                sea_orm::sea_query::Expr::value(at.timestamp_micros()),
            )
            .filter(webhook::Column::WebhookId.eq(id))
            .filter(webhook::Column::Owner.eq(owner))
            .filter(webhook::Column::DeletedAtUs.is_null())
            .exec(&self.db)
            .await?;
        if done.rows_affected == 1 {
            self.abandon_deliveries(id).await?;
        }
        Ok(done.rows_affected == 1)
    }

    /// A deleted webhook's waiting deliveries fail: they are never sent (and never hold up
    /// the others).
    async fn abandon_deliveries(&self, webhook_id: Uuid) -> Result<()> {
        use sea_orm::sea_query::Expr;
        delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Status,
                Expr::value(DeliveryStatus::Failed.as_str()),
            )
            .col_expr(
                delivery::Column::LastError,
                Expr::value("the webhook was deleted"),
            )
            .filter(delivery::Column::WebhookId.eq(webhook_id))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// A webhook's deliveries, newest first, before the cursor.
    pub async fn deliveries(
        &self,
        webhook_id: Uuid,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<Delivery>> {
        let mut q = delivery::Entity::find()
            .filter(delivery::Column::WebhookId.eq(webhook_id))
            .order_by_desc(delivery::Column::DeliveryId);
        if let Some(before) = before {
            q = q.filter(delivery::Column::DeliveryId.lt(before));
        }
        q.limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_delivery)
            .collect()
    }

    /// Deliveries due now, with their webhook (still registered) and event.
    pub async fn due(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(Delivery, Webhook, Event)>> {
        let rows = delivery::Entity::find()
            .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(delivery::Column::NextAttemptAtUs.lte(now.timestamp_micros()))
            .order_by_asc(delivery::Column::NextAttemptAtUs)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for d in rows {
            let d = to_delivery(d)?;
            let hook = webhook::Entity::find_by_id(d.webhook_id)
                .filter(webhook::Column::DeletedAtUs.is_null())
                .one(&self.db)
                .await?;
            let event = event::Entity::find_by_id(d.event_id).one(&self.db).await?;
            match (hook, event) {
                (Some(hook), Some(event)) => out.push((d, to_webhook(hook)?, to_event(event)?)),
                // Its webhook is gone (deleted by another replica meanwhile): never sent.
                _ => self.abandon_deliveries(d.webhook_id).await?,
            }
        }
        Ok(out)
    }

    /// Takes a due delivery for one attempt: moves its next attempt to `lease_until` if it is
    /// still where the caller saw it. False when another worker took it first.
    pub async fn claim(&self, d: &Delivery, lease_until: DateTime<Utc>) -> Result<bool> {
        let done = delivery::Entity::update_many()
            .col_expr(
                delivery::Column::NextAttemptAtUs,
                sea_orm::sea_query::Expr::value(lease_until.timestamp_micros()),
            )
            .filter(delivery::Column::DeliveryId.eq(d.id))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(delivery::Column::NextAttemptAtUs.eq(d.next_attempt_at.timestamp_micros()))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected == 1)
    }

    /// Records an attempt's outcome, if the delivery is still leased to this attempt (still
    /// `pending` with its next attempt at `lease`); answers whether it was recorded.
    pub async fn attempted(&self, d: &Delivery, lease: DateTime<Utc>) -> Result<bool> {
        use sea_orm::sea_query::Expr;
        let done = delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value(d.status.as_str()))
            .col_expr(
                delivery::Column::Attempts,
                Expr::value(i32::try_from(d.attempts).unwrap_or(i32::MAX)),
            )
            .col_expr(
                delivery::Column::NextAttemptAtUs,
                Expr::value(d.next_attempt_at.timestamp_micros()),
            )
            .col_expr(
                delivery::Column::LastAttemptAtUs,
                Expr::value(d.last_attempt_at.map(|t| t.timestamp_micros())),
            )
            .col_expr(
                delivery::Column::LastStatus,
                Expr::value(d.last_status.map(i32::from)),
            )
            .col_expr(
                delivery::Column::LastError,
                Expr::value(d.last_error.clone()),
            )
            .filter(delivery::Column::DeliveryId.eq(d.id))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(delivery::Column::NextAttemptAtUs.eq(lease.timestamp_micros()))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected == 1)
    }

    /// Sends a delivery again now (delivered, failed or waiting); false when the webhook has
    /// no such delivery.
    pub async fn replay(
        &self,
        webhook_id: Uuid,
        delivery_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Status,
                sea_orm::sea_query::Expr::value(DeliveryStatus::Pending.as_str()),
            )
            .col_expr(
                delivery::Column::NextAttemptAtUs,
                sea_orm::sea_query::Expr::value(now.timestamp_micros()),
            )
            .filter(delivery::Column::DeliveryId.eq(delivery_id))
            .filter(delivery::Column::WebhookId.eq(webhook_id))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected == 1)
    }
}
