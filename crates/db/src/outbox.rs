//! The transactional outbox a service keeps for the events its changes cause: a change and its
//! event are written in one transaction ([`append`] on the transaction), so an event exists
//! exactly when its change committed. A relay ([`relay_once`], a chore of the service) hands the
//! events not yet published to a [`Publisher`] (the exchange, which keeps residents' inboxes and
//! partners' and merchants' webhooks) and marks them published once it has them: at least once,
//! and the publisher keeps each event id once. Published events are pruned after a week.

use std::future::Future;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::*};
use uuid::Uuid;

/// One event, for whom it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// The same everywhere it goes: a resident's notification id, a webhook's `webhook-id`.
    pub id: Uuid,
    /// e.g. `order.written_off`.
    pub kind: String,
    pub at: DateTime<Utc>,
    /// The resident whose inbox it goes to, if any.
    pub resident_id: Option<String>,
    /// The merchant (and its mall) whose webhooks hear of it, if any.
    pub merchant_id: Option<String>,
    pub mall: Option<String>,
    /// What it says: ids and codes, never an ID number, a phone number or a name.
    pub data: serde_json::Value,
}

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: Uuid,
        pub kind: String,
        pub at_us: i64,
        pub resident_id: Option<String>,
        pub merchant_id: Option<String>,
        pub mall: Option<String>,
        pub data: String,
        pub published_at_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The outbox table, for a service's migrator (named for the day it was added).
#[derive(Debug)]
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000002_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let col = |name: &'static str| ColumnDef::new(Alias::new(name));
        m.create_table(
            Table::create()
                .table(Alias::new("outbox"))
                .col(col("event_id").uuid().not_null().primary_key())
                .col(col("kind").string().not_null())
                .col(col("at_us").big_integer().not_null())
                .col(col("resident_id").string().null())
                .col(col("merchant_id").string().null())
                .col(col("mall").string().null())
                .col(col("data").text().not_null())
                .col(col("published_at_us").big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("outbox_unpublished")
                .table(Alias::new("outbox"))
                .col(Alias::new("published_at_us"))
                .col(Alias::new("event_id"))
                .to_owned(),
        )
        .await
    }
}

/// Writes events in the caller's transaction (the one that makes the change they tell of).
pub async fn append(conn: &impl ConnectionTrait, events: &[OutboxEvent]) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    entity::Entity::insert_many(events.iter().map(|e| entity::ActiveModel {
        event_id: Set(e.id),
        kind: Set(e.kind.clone()),
        at_us: Set(e.at.timestamp_micros()),
        resident_id: Set(e.resident_id.clone()),
        merchant_id: Set(e.merchant_id.clone()),
        mall: Set(e.mall.clone()),
        data: Set(e.data.to_string()),
        published_at_us: Set(None),
    }))
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Where a relay hands its events.
pub trait Publisher: Send + Sync {
    /// Takes the events (each id once however often sent); an error leaves them for the next
    /// round.
    fn publish(&self, events: &[OutboxEvent]) -> impl Future<Output = Result<(), String>> + Send;
}

/// Why a relay round stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("the outbox could not be read or marked: {0}")]
    Storage(#[from] DbErr),
    #[error("the publisher did not take the events: {0}")]
    Publish(String),
}

/// One round: up to `limit` unpublished events, oldest first, handed to `publisher` and marked
/// published; published events older than a week are pruned. Answers how many went.
pub async fn relay_once(
    conn: &impl ConnectionTrait,
    publisher: &impl Publisher,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<usize, RelayError> {
    let rows = entity::Entity::find()
        .filter(entity::Column::PublishedAtUs.is_null())
        .order_by_asc(entity::Column::EventId)
        .limit(limit)
        .all(conn)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let events: Vec<OutboxEvent> = rows
        .into_iter()
        .map(|m| OutboxEvent {
            id: m.event_id,
            kind: m.kind,
            at: DateTime::from_timestamp_micros(m.at_us).unwrap_or_default(),
            resident_id: m.resident_id,
            merchant_id: m.merchant_id,
            mall: m.mall,
            data: serde_json::from_str(&m.data).unwrap_or_default(),
        })
        .collect();
    publisher
        .publish(&events)
        .await
        .map_err(RelayError::Publish)?;
    entity::Entity::update_many()
        .col_expr(
            entity::Column::PublishedAtUs,
            Expr::value(now.timestamp_micros()),
        )
        .filter(entity::Column::EventId.is_in(events.iter().map(|e| e.id)))
        .exec(conn)
        .await?;
    let week_ago = now - chrono::Duration::days(7);
    entity::Entity::delete_many()
        .filter(entity::Column::PublishedAtUs.lt(week_ago.timestamp_micros()))
        .exec(conn)
        .await?;
    Ok(events.len())
}
