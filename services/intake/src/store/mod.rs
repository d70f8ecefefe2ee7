//! The intake repository on sea-orm (SQLite or PostgreSQL): events with their one outcome, and
//! the awards that caps are counted from. Rows become domain records here and nowhere else.

mod entities;
mod migration;
mod rules;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use healthpoints_types::{Book, DistrictCode};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use uuid::Uuid;

use crate::domain::{
    error::{IntakeError, Result},
    judge::{Prior, prior_from},
    model::{Event, Outcome, OutcomeKind},
};
use entities::{event, resident_lock};
pub use migration::Migrator;

impl From<sea_orm::DbErr> for IntakeError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Store(err.to_string())
    }
}

fn corrupt(what: &str) -> IntakeError {
    IntakeError::Store(format!("stored {what} is not valid"))
}

fn time(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| corrupt("time"))
}

fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| IntakeError::Store("number beyond the storable range".into()))
}

fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt(what))
}

fn to_outcome(m: event::Model) -> Result<Outcome> {
    Ok(Outcome {
        event_id: m.id,
        source_id: m.source_id,
        source_event_id: m.source_event_id,
        resident_id: m.resident_id,
        behaviour_code: m.behaviour_code,
        occurred_at: time(m.occurred_at_us)?,
        kind: OutcomeKind::parse(&m.kind).ok_or_else(|| corrupt("outcome kind"))?,
        points: to_u64(m.points, "points")?,
        rule: match (m.rule_code, m.rule_version) {
            (Some(code), Some(v)) => {
                Some((code, u32::try_from(v).map_err(|_| corrupt("rule version"))?))
            }
            _ => None,
        },
        cap: m.cap,
        points_cut: to_u64(m.points_cut, "points")?,
        reason: m.reason_code.zip(m.reason),
        duplicate_of: m.duplicate_of,
        transfer_id: m.transfer_id,
        book: m
            .book
            .map(|b| Book::parse(&b).map_err(|_| corrupt("book")))
            .transpose()?,
        received_at: time(m.received_at_us)?,
    })
}

/// Kinds whose points count against caps: decided awards, whether handed to the ledger yet or
/// held for review.
const COUNTING: [&str; 3] = ["pending", "awarded", "held"];

/// The intake repository.
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

    /// The stored outcome of the event the source reported under this id, if any.
    pub async fn by_source(
        &self,
        source_id: &str,
        source_event_id: &str,
    ) -> Result<Option<Outcome>> {
        event::Entity::find()
            .filter(event::Column::SourceId.eq(source_id))
            .filter(event::Column::SourceEventId.eq(source_event_id))
            .one(&self.db)
            .await?
            .map(to_outcome)
            .transpose()
    }

    /// Starts judging events of one resident: their earlier awards are read and the outcome
    /// written in one transaction, serialised per resident (a lock row), so two batches for the
    /// same resident cannot both spend the same cap.
    pub async fn for_resident(&self, resident_id: &str) -> Result<ResidentTxn> {
        let txn = self.db.begin().await?;
        resident_lock::Entity::insert(resident_lock::ActiveModel {
            resident_id: Set(resident_id.to_owned()),
        })
        .on_conflict(
            OnConflict::column(resident_lock::Column::ResidentId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        let mut lock =
            resident_lock::Entity::find().filter(resident_lock::Column::ResidentId.eq(resident_id));
        if txn.get_database_backend() == DbBackend::Postgres {
            lock = lock.lock_exclusive();
        }
        lock.one(&txn).await?;
        Ok(ResidentTxn {
            txn,
            resident_id: resident_id.to_owned(),
        })
    }

    /// Records an outcome that needs no look at earlier awards (a rejection before judgement).
    /// Answers the stored outcome instead when the event was recorded meanwhile.
    pub async fn insert(&self, event: &Event, outcome: &Outcome) -> Result<Outcome> {
        insert(&self.db, event, outcome).await?;
        self.by_source(&event.source_id, &event.source_event_id)
            .await?
            .ok_or_else(|| IntakeError::Store("recorded event not found".into()))
    }

    /// Awards decided before `decided_before` whose hand-off to the ledger is unconfirmed,
    /// oldest first.
    pub async fn pending(&self, decided_before: DateTime<Utc>, limit: u64) -> Result<Vec<Outcome>> {
        event::Entity::find()
            .filter(event::Column::Kind.eq(OutcomeKind::Pending.as_str()))
            .filter(event::Column::DecidedAtUs.lt(decided_before.timestamp_micros()))
            .order_by_asc(event::Column::DecidedAtUs)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_outcome)
            .collect()
    }

    /// Finishes a pending award after the ledger answered: awarded, or rejected with the
    /// reason (its points then count no more).
    pub async fn finish(
        &self,
        event_id: Uuid,
        kind: OutcomeKind,
        reason: Option<(&str, &str)>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut update = event::Entity::update_many()
            .col_expr(event::Column::Kind, Expr::value(kind.as_str()))
            .col_expr(
                event::Column::DecidedAtUs,
                Expr::value(now.timestamp_micros()),
            );
        if let Some((code, sentence)) = reason {
            update = update
                .col_expr(event::Column::ReasonCode, Expr::value(code))
                .col_expr(event::Column::Reason, Expr::value(sentence))
                .col_expr(event::Column::Points, Expr::value(0i64))
                .col_expr(event::Column::TransferId, Expr::value(Option::<Uuid>::None));
        }
        update
            .filter(event::Column::Id.eq(event_id))
            .filter(event::Column::Kind.eq(OutcomeKind::Pending.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

impl Store {
    /// A resident's outcomes, newest first, `limit` after the cursor (an event id).
    pub async fn outcomes_of(
        &self,
        resident_id: &str,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<Outcome>> {
        let mut query = event::Entity::find()
            .filter(event::Column::ResidentId.eq(resident_id))
            .order_by_desc(event::Column::Id);
        if let Some(before) = before {
            query = query.filter(event::Column::Id.lt(before));
        }
        query
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_outcome)
            .collect()
    }

    /// When a resident's counted (awarded, pending, held or capped) events of `behaviour_code`
    /// since `since` occurred.
    pub async fn counted_times(
        &self,
        resident_id: &str,
        behaviour_code: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>> {
        let rows: Vec<i64> = event::Entity::find()
            .select_only()
            .column(event::Column::OccurredAtUs)
            .filter(event::Column::ResidentId.eq(resident_id))
            .filter(event::Column::BehaviourCode.eq(behaviour_code))
            .filter(event::Column::OccurredAtUs.gte(since.timestamp_micros()))
            .filter(event::Column::Kind.is_in(["pending", "awarded", "held", "capped"]))
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.into_iter().map(time).collect()
    }
}

/// A stored event the what-if replays.
#[derive(Debug, Clone)]
pub struct Replayable {
    pub event_id: Uuid,
    pub source_id: String,
    pub resident_id: String,
    pub behaviour_code: String,
    pub occurred_at: DateTime<Utc>,
    pub quantity: u64,
    pub district: Option<DistrictCode>,
    pub attributes: HashMap<String, String>,
}

/// Rejections about the resident or the report's timing: rules do not change them.
const NOT_REPLAYED: [&str; 5] = [
    "resident_unknown",
    "resident_suspended",
    "resident_not_enrolled",
    "occurred_in_future",
    "too_old",
];

impl Store {
    /// Events that occurred in `[from, to)` which rules decide (no duplicates, no rejections
    /// about the resident or timing), in occurrence order, after `cursor`.
    pub async fn replayable(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cursor: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> Result<Vec<Replayable>> {
        let mut query = event::Entity::find()
            .filter(event::Column::OccurredAtUs.gte(from.timestamp_micros()))
            .filter(event::Column::OccurredAtUs.lt(to.timestamp_micros()))
            .filter(event::Column::ResidentId.is_not_null())
            .filter(event::Column::Kind.ne(OutcomeKind::Duplicate.as_str()))
            .filter(
                event::Column::ReasonCode
                    .is_null()
                    .or(event::Column::ReasonCode.is_not_in(NOT_REPLAYED)),
            )
            .order_by_asc(event::Column::OccurredAtUs)
            .order_by_asc(event::Column::Id);
        if let Some((at, id)) = cursor {
            let at = at.timestamp_micros();
            query = query.filter(
                event::Column::OccurredAtUs
                    .gt(at)
                    .or(event::Column::OccurredAtUs
                        .eq(at)
                        .and(event::Column::Id.gt(id))),
            );
        }
        query
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                Ok(Replayable {
                    event_id: m.id,
                    source_id: m.source_id,
                    resident_id: m.resident_id.unwrap_or_default(),
                    behaviour_code: m.behaviour_code,
                    occurred_at: time(m.occurred_at_us)?,
                    quantity: to_u64(m.quantity, "quantity")?,
                    district: m
                        .district
                        .map(|d| DistrictCode::parse(&d).map_err(|_| corrupt("district")))
                        .transpose()?,
                    attributes: serde_json::from_str(&m.attributes)
                        .map_err(|_| corrupt("attributes"))?,
                })
            })
            .collect()
    }
}

/// The judgement of one resident's events in progress (see [`Store::for_resident`]).
#[derive(Debug)]
pub struct ResidentTxn {
    txn: DatabaseTransaction,
    resident_id: String,
}

impl ResidentTxn {
    /// What the resident already earned under `rule_code`, as seen from an event at `at`.
    pub async fn prior(&self, rule_code: &str, at: DateTime<Utc>) -> Result<Prior> {
        let rows: Vec<(i64, i64)> = event::Entity::find()
            .select_only()
            .column(event::Column::OccurredAtUs)
            .column(event::Column::Points)
            .filter(event::Column::ResidentId.eq(self.resident_id.as_str()))
            .filter(event::Column::RuleCode.eq(rule_code))
            .filter(event::Column::Kind.is_in(COUNTING))
            .into_tuple()
            .all(&self.txn)
            .await?;
        let awards = rows
            .into_iter()
            .map(|(when, points)| Ok((time(when)?, to_u64(points, "points")?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(prior_from(awards, at))
    }

    /// An earlier event reporting the same fact: same behaviour, moment and quantity.
    pub async fn same_fact(
        &self,
        behaviour_code: &str,
        at: DateTime<Utc>,
        quantity: u64,
    ) -> Result<Option<Uuid>> {
        Ok(event::Entity::find()
            .select_only()
            .column(event::Column::Id)
            .filter(event::Column::ResidentId.eq(self.resident_id.as_str()))
            .filter(event::Column::BehaviourCode.eq(behaviour_code))
            .filter(event::Column::OccurredAtUs.eq(at.timestamp_micros()))
            .filter(event::Column::Quantity.eq(to_i64(quantity)?))
            .into_tuple()
            .one(&self.txn)
            .await?)
    }

    /// Records the outcome and commits.
    pub async fn commit(self, event: &Event, outcome: &Outcome) -> Result<()> {
        insert(&self.txn, event, outcome).await?;
        self.txn.commit().await?;
        Ok(())
    }
}

async fn insert(conn: &impl ConnectionTrait, event: &Event, o: &Outcome) -> Result<()> {
    let attributes = serde_json::to_string(&event.attributes)
        .map_err(|e| IntakeError::Store(format!("attributes: {e}")))?;
    event::Entity::insert(event::ActiveModel {
        id: Set(o.event_id),
        source_id: Set(o.source_id.clone()),
        source_event_id: Set(o.source_event_id.clone()),
        resident_id: Set(o.resident_id.clone()),
        behaviour_code: Set(o.behaviour_code.clone()),
        occurred_at_us: Set(o.occurred_at.timestamp_micros()),
        quantity: Set(to_i64(event.quantity)?),
        district: Set(event.district.map(|d: DistrictCode| d.to_string())),
        attributes: Set(attributes),
        received_at_us: Set(o.received_at.timestamp_micros()),
        kind: Set(o.kind.as_str().to_owned()),
        points: Set(to_i64(o.points)?),
        rule_code: Set(o.rule.as_ref().map(|(c, _)| c.clone())),
        rule_version: Set(o.rule.as_ref().map(|(_, v)| i64::from(*v))),
        cap: Set(o.cap.clone()),
        points_cut: Set(to_i64(o.points_cut)?),
        reason_code: Set(o.reason.as_ref().map(|(c, _)| c.clone())),
        reason: Set(o.reason.as_ref().map(|(_, s)| s.clone())),
        duplicate_of: Set(o.duplicate_of),
        transfer_id: Set(o.transfer_id),
        book: Set(o.book.map(|b| b.to_string())),
        decided_at_us: Set(o.received_at.timestamp_micros()),
    })
    // The dedupe key: a concurrent first submission of the same record wins, this one reads it.
    .on_conflict(
        OnConflict::columns([event::Column::SourceId, event::Column::SourceEventId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
