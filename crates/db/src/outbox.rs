//! The transactional outbox a service keeps for the events its changes cause: a change and its
//! event are written in one transaction ([`append`] on the transaction), so an event exists
//! exactly when its change committed. The events reach the exchange (which keeps residents'
//! inboxes and partners' and merchants' webhooks) at least once, and it keeps each event id once:
//! - pushed: a relay ([`relay_once`], a chore of the mall) hands the events not yet published
//!   to a [`Publisher`] and marks them published once it has them (an event it refuses is
//!   logged and dropped, so it cannot hold back the rest);
//! - pulled: the exchange reads intake's and the ledger's ([`unpublished`]) and acknowledges what
//!   it took ([`mark_published`]) — they must not call the exchange, which calls them.
//!
//! Published events are pruned after a week. Events that tell of a moment rather than a change
//! ("points expire in 30 days") are found by a sweep that walks forward with a [`Cursor`], kept
//! in the transaction that appends what it found.

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
    /// The partner whose webhooks hear of it, if any.
    pub partner_id: Option<String>,
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
        pub partner_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A sweep's place: the last (position, key) it has dealt with.
pub mod cursor {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_cursors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub position: i64,
        pub key: String,
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

/// The partner column and the sweeps' cursors (named for the day they were added).
#[derive(Debug)]
pub struct PartnerAndCursors;

impl MigrationName for PartnerAndCursors {
    fn name(&self) -> &str {
        "m20261209_000001_outbox_partner_cursors"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for PartnerAndCursors {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let col = |name: &'static str| ColumnDef::new(Alias::new(name));
        m.alter_table(
            Table::alter()
                .table(Alias::new("outbox"))
                .add_column(col("partner_id").string().null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("outbox_cursors"))
                .col(col("name").string().not_null().primary_key())
                .col(col("position").big_integer().not_null())
                .col(col("key").string().not_null())
                .to_owned(),
        )
        .await
    }
}

/// Both outbox migrations, in order, for a service's migrator.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(Migration), Box::new(PartnerAndCursors)]
}

/// An id derived from `key` alone (UUID version 8): the same event found twice — by a retry, a
/// second replica, a sweep that ran again — is appended once.
pub fn derived_id(key: &str) -> Uuid {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("healthpoints/outbox/v1/{key}").as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    Uuid::new_v8(bytes)
}

/// Writes events in the caller's transaction (the one that makes the change they tell of). An
/// event id already in the outbox is left as it is.
pub async fn append(conn: &impl ConnectionTrait, events: &[OutboxEvent]) -> Result<(), DbErr> {
    for chunk in events.chunks(500) {
        entity::Entity::insert_many(chunk.iter().map(|e| entity::ActiveModel {
            event_id: Set(e.id),
            kind: Set(e.kind.clone()),
            at_us: Set(e.at.timestamp_micros()),
            resident_id: Set(e.resident_id.clone()),
            merchant_id: Set(e.merchant_id.clone()),
            mall: Set(e.mall.clone()),
            data: Set(e.data.to_string()),
            published_at_us: Set(None),
            partner_id: Set(e.partner_id.clone()),
        }))
        .on_conflict(
            OnConflict::column(entity::Column::EventId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// Where a sweep named `name` stopped: the last (position, key) it dealt with.
pub async fn cursor(
    conn: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<(i64, String)>, DbErr> {
    Ok(cursor::Entity::find_by_id(name.to_owned())
        .one(conn)
        .await?
        .map(|c| (c.position, c.key)))
}

/// Moves a sweep's cursor, in the transaction that appends what the sweep found.
pub async fn set_cursor(
    conn: &impl ConnectionTrait,
    name: &str,
    at: (i64, &str),
) -> Result<(), DbErr> {
    cursor::Entity::insert(cursor::ActiveModel {
        name: Set(name.to_owned()),
        position: Set(at.0),
        key: Set(at.1.to_owned()),
    })
    .on_conflict(
        OnConflict::column(cursor::Column::Name)
            .update_columns([cursor::Column::Position, cursor::Column::Key])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Where a relay hands its events.
pub trait Publisher: Send + Sync {
    /// Takes the events (each id once however often sent) and answers those it refused, each
    /// with why; an error leaves them all for the next round.
    fn publish(
        &self,
        events: &[OutboxEvent],
    ) -> impl Future<Output = Result<Vec<Refused>, String>> + Send;
}

/// An event the publisher would not take: a bug, or a kind its version does not know. It is
/// logged and marked published, so it does not hold back the events behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub id: String,
    /// Which of its fields, and why.
    pub why: String,
}

/// Why a relay round stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("the outbox could not be read or marked: {0}")]
    Storage(#[from] DbErr),
    #[error("the publisher did not take the events: {0}")]
    Publish(String),
}

/// Up to `limit` events not published yet, oldest first (ids may be derived, so they do not
/// sort by time).
pub async fn unpublished(
    conn: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<OutboxEvent>, DbErr> {
    Ok(entity::Entity::find()
        .filter(entity::Column::PublishedAtUs.is_null())
        .order_by_asc(entity::Column::AtUs)
        .order_by_asc(entity::Column::EventId)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|m| OutboxEvent {
            id: m.event_id,
            kind: m.kind,
            at: DateTime::from_timestamp_micros(m.at_us).unwrap_or_default(),
            resident_id: m.resident_id,
            merchant_id: m.merchant_id,
            mall: m.mall,
            partner_id: m.partner_id,
            data: serde_json::from_str(&m.data).unwrap_or_default(),
        })
        .collect())
}

/// Marks events published (ids not in the outbox, or published already, are left alone) and
/// prunes what was published more than a week ago. Answers how many it marked.
pub async fn mark_published(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut marked = 0;
    for chunk in ids.chunks(500) {
        marked += entity::Entity::update_many()
            .col_expr(
                entity::Column::PublishedAtUs,
                Expr::value(now.timestamp_micros()),
            )
            .filter(entity::Column::EventId.is_in(chunk.iter().copied()))
            .filter(entity::Column::PublishedAtUs.is_null())
            .exec(conn)
            .await?
            .rows_affected;
    }
    let week_ago = now - chrono::Duration::days(7);
    entity::Entity::delete_many()
        .filter(entity::Column::PublishedAtUs.lt(week_ago.timestamp_micros()))
        .exec(conn)
        .await?;
    Ok(marked)
}

/// One round of a relay: up to `limit` unpublished events handed to `publisher` and marked
/// published. Answers how many went.
pub async fn relay_once(
    conn: &impl ConnectionTrait,
    publisher: &impl Publisher,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<usize, RelayError> {
    let events = unpublished(conn, limit).await?;
    if events.is_empty() {
        return Ok(0);
    }
    let refused = publisher
        .publish(&events)
        .await
        .map_err(RelayError::Publish)?;
    for r in &refused {
        let kind = events
            .iter()
            .find(|e| e.id.to_string() == r.id)
            .map_or("", |e| e.kind.as_str());
        tracing::error!(event = %r.id, kind, why = %r.why, "the publisher refused an event; it is dropped");
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    mark_published(conn, &ids, now).await?;
    Ok(events.len())
}
