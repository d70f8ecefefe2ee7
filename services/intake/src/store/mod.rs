//! The intake repository on sea-orm (SQLite or PostgreSQL): events with their one outcome, and
//! the awards that caps are counted from. Rows become domain records here and nowhere else.

mod entities;
mod expiry;
mod migration;
mod outbox;
mod outcomes;
mod play;
pub mod review;
mod rules;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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
    catalogue::Category,
    error::{IntakeError, Result},
    model::{BookFigures, Cohort, CohortFigures, Event, Outcome, OutcomeKind},
};
use entities::{event, resident_lock};
pub use migration::Migrator;
use outcomes::insert_all;

impl From<sea_orm::DbErr> for IntakeError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Internal(healthpoints_db::storage_fault(err))
    }
}

fn corrupt(what: &str) -> IntakeError {
    IntakeError::fault(format!("stored {what} is not valid"))
}

fn time(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| corrupt("time"))
}

fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| IntakeError::fault("number beyond the storable range"))
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
        cohort: m
            .category
            .as_deref()
            .and_then(Category::parse)
            .map(|category| {
                Cohort::from_names(
                    category,
                    m.cohort_district.as_deref(),
                    m.age_band.as_deref().unwrap_or_default(),
                    m.residence_type.as_deref().unwrap_or_default(),
                )
            }),
        link_group: m.link_group,
    })
}

/// Kinds whose points count against caps: decided awards, whether handed to the ledger yet or
/// held for review.
const COUNTING: [&str; 3] = ["pending", "awarded", "held"];

/// Book, residence district, category, age band, residence type; residents, points.
type CohortRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

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

    /// The stored outcomes of the events the sources reported under these ids (in no
    /// particular order; unknown keys are absent).
    pub async fn stored(&self, keys: &[(String, String)]) -> Result<Vec<Outcome>> {
        stored(&self.db, keys).await
    }

    /// Starts judging events of these residents: their history is read and the outcomes
    /// written in one transaction, serialised per resident (lock rows, taken in id order so
    /// concurrent batches cannot deadlock), so two batches cannot both spend the same cap.
    pub async fn for_residents(&self, residents: &BTreeSet<String>) -> Result<BatchTxn> {
        let txn = self.db.begin().await?;
        for chunk in residents.iter().collect::<Vec<_>>().chunks(CHUNK) {
            resident_lock::Entity::insert_many(chunk.iter().map(|id| resident_lock::ActiveModel {
                resident_id: Set((*id).clone()),
            }))
            .on_conflict(
                OnConflict::column(resident_lock::Column::ResidentId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
            if txn.get_database_backend() == DbBackend::Postgres {
                resident_lock::Entity::find()
                    .filter(resident_lock::Column::ResidentId.is_in(chunk.iter().copied()))
                    .order_by_asc(resident_lock::Column::ResidentId)
                    .lock_exclusive()
                    .all(&txn)
                    .await?;
            }
        }
        Ok(BatchTxn { txn })
    }

    /// Records outcomes that need no look at earlier events (rejections before judgement);
    /// an event recorded meanwhile keeps its stored outcome.
    pub async fn insert_all(&self, rows: &[(&Event, Outcome)]) -> Result<()> {
        let txn = self.db.begin().await?;
        insert_all(&txn, rows).await?;
        txn.commit().await?;
        Ok(())
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

    /// The pending awards of one all-or-none batch.
    pub async fn pending_in_group(&self, group: Uuid) -> Result<Vec<Outcome>> {
        event::Entity::find()
            .filter(event::Column::Kind.eq(OutcomeKind::Pending.as_str()))
            .filter(event::Column::LinkGroup.eq(group))
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
        let txn = self.db.begin().await?;
        // A reviewer released it: the resident was told it was held, so they hear how it ended.
        let released = event::Entity::find_by_id(event_id)
            .one(&txn)
            .await?
            .is_some_and(|m| m.reason_code.as_deref() == Some("review_released"));
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
        let done = update
            .filter(event::Column::Id.eq(event_id))
            .filter(event::Column::Kind.eq(OutcomeKind::Pending.as_str()))
            .exec(&txn)
            .await?;
        if done.rows_affected > 0
            && let Some(row) = event::Entity::find_by_id(event_id).one(&txn).await?
        {
            let outcome = to_outcome(row)?;
            let mut events = outbox::events_of([&outcome], now);
            if released {
                for e in &mut events {
                    e.resident_id.clone_from(&outcome.resident_id);
                }
            }
            healthpoints_db::outbox::append(&txn, &events).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Awards the ledger confirmed in `[from, to)`, counted by book and cohort, and by book
    /// alone (distinct residents cannot be added up across cohorts); of the residents of
    /// `district` only, if given.
    pub async fn award_statistics(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        district: Option<DistrictCode>,
    ) -> Result<(Vec<CohortFigures>, Vec<BookFigures>)> {
        let awarded = || {
            let mut q = event::Entity::find()
                .select_only()
                .filter(event::Column::Kind.eq(OutcomeKind::Awarded.as_str()))
                .filter(event::Column::DecidedAtUs.gte(from.timestamp_micros()))
                .filter(event::Column::DecidedAtUs.lt(to.timestamp_micros()))
                .filter(event::Column::Book.is_not_null());
            if let Some(d) = district {
                q = q.filter(event::Column::CohortDistrict.eq(d.to_string()));
            }
            q.column(event::Column::Book)
        };
        let figures = || {
            [
                (
                    Expr::cust("CAST(COUNT(DISTINCT resident_id) AS BIGINT)"),
                    "residents",
                ),
                (Expr::cust("CAST(SUM(points) AS BIGINT)"), "points"),
            ]
        };
        let mut cohorts = awarded()
            .column(event::Column::CohortDistrict)
            .column(event::Column::Category)
            .column(event::Column::AgeBand)
            .column(event::Column::ResidenceType)
            .filter(event::Column::Category.is_not_null());
        for (expr, name) in figures() {
            cohorts = cohorts.column_as(expr, name);
        }
        let rows: Vec<CohortRow> = cohorts
            .group_by(event::Column::Book)
            .group_by(event::Column::CohortDistrict)
            .group_by(event::Column::Category)
            .group_by(event::Column::AgeBand)
            .group_by(event::Column::ResidenceType)
            .into_tuple()
            .all(&self.db)
            .await?;
        let book = |b: Option<String>| -> Result<Book> {
            Book::parse(b.as_deref().unwrap_or_default()).map_err(|_| corrupt("book"))
        };
        let mut by_cohort = Vec::with_capacity(rows.len());
        for (b, district, category, age_band, residence_type, residents, points) in rows {
            let category = category
                .as_deref()
                .and_then(Category::parse)
                .ok_or_else(|| corrupt("category"))?;
            by_cohort.push(CohortFigures {
                book: book(b)?,
                cohort: Cohort::from_names(
                    category,
                    district.as_deref(),
                    age_band.as_deref().unwrap_or_default(),
                    residence_type.as_deref().unwrap_or_default(),
                ),
                residents: to_u64(residents, "count")?,
                points: to_u64(points, "points")?,
            });
        }
        let mut books = awarded();
        for (expr, name) in figures() {
            books = books.column_as(expr, name);
        }
        let rows: Vec<(Option<String>, i64, i64)> = books
            .group_by(event::Column::Book)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut by_book = Vec::with_capacity(rows.len());
        for (b, residents, points) in rows {
            by_book.push(BookFigures {
                book: book(b)?,
                residents: to_u64(residents, "count")?,
                points: to_u64(points, "points")?,
            });
        }
        Ok((by_cohort, by_book))
    }

    /// Marks pending awards the ledger confirmed as awarded, in one statement.
    pub async fn finish_awarded(&self, event_ids: &[Uuid], now: DateTime<Utc>) -> Result<()> {
        let txn = self.db.begin().await?;
        for chunk in event_ids.chunks(CHUNK) {
            event::Entity::update_many()
                .col_expr(
                    event::Column::Kind,
                    Expr::value(OutcomeKind::Awarded.as_str()),
                )
                .col_expr(
                    event::Column::DecidedAtUs,
                    Expr::value(now.timestamp_micros()),
                )
                .filter(event::Column::Id.is_in(chunk.iter().copied()))
                .filter(event::Column::Kind.eq(OutcomeKind::Pending.as_str()))
                .exec(&txn)
                .await?;
            // The residents hear of them (an award finished twice is told once: the event id
            // is the record's).
            let awarded = event::Entity::find()
                .filter(event::Column::Id.is_in(chunk.iter().copied()))
                .filter(event::Column::Kind.eq(OutcomeKind::Awarded.as_str()))
                .all(&txn)
                .await?
                .into_iter()
                .map(to_outcome)
                .collect::<Result<Vec<_>>>()?;
            healthpoints_db::outbox::append(&txn, &outbox::events_of(&awarded, now)).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// A resident's outcomes, newest first, `limit` after the cursor (an event id).
    /// (occurred at, points) of a resident's awards (awarded or on their way) since `since`.
    pub async fn awards_since(
        &self,
        resident_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>> {
        let rows: Vec<(i64, i64)> = event::Entity::find()
            .select_only()
            .column(event::Column::OccurredAtUs)
            .column(event::Column::Points)
            .filter(event::Column::ResidentId.eq(resident_id))
            .filter(event::Column::Kind.is_in(["awarded", "pending"]))
            .filter(event::Column::OccurredAtUs.gte(since.timestamp_micros()))
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|(at, points)| {
                Ok((
                    DateTime::from_timestamp_micros(at)
                        .ok_or_else(|| IntakeError::fault("stored time is not valid"))?,
                    u64::try_from(points)
                        .map_err(|_| IntakeError::fault("stored points are not valid"))?,
                ))
            })
            .collect()
    }

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

/// Rows per multi-row statement (well under SQLite's and PostgreSQL's parameter limits).
const CHUNK: usize = 500;

async fn stored(conn: &impl ConnectionTrait, keys: &[(String, String)]) -> Result<Vec<Outcome>> {
    let mut by_source: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (source, id) in keys {
        by_source.entry(source).or_default().push(id);
    }
    let mut found = Vec::new();
    for (source, ids) in by_source {
        for chunk in ids.chunks(CHUNK) {
            for m in event::Entity::find()
                .filter(event::Column::SourceId.eq(source))
                .filter(event::Column::SourceEventId.is_in(chunk.iter().copied()))
                .all(conn)
                .await?
            {
                found.push(to_outcome(m)?);
            }
        }
    }
    Ok(found)
}

/// An earlier event of a resident being judged, as far as it bears on new ones: awards count
/// against caps, an equal report is a duplicate.
#[derive(Debug, Clone)]
pub struct Past {
    pub event_id: Uuid,
    pub resident_id: String,
    pub source_id: String,
    pub behaviour_code: String,
    pub rule_code: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub quantity: u64,
    pub kind: OutcomeKind,
    pub points: u64,
    pub received_at: DateTime<Utc>,
}

/// Which earlier events of the locked residents to read (see [`BatchTxn::history`]).
#[derive(Debug, Default)]
pub struct HistoryQuery {
    pub residents: Vec<String>,
    /// Rule codes whose every award matters (a lifetime cap).
    pub all_awards_of: Vec<String>,
    /// Rule codes whose awards matter from `awards_since` on.
    pub recent_awards_of: Vec<String>,
    pub awards_since: DateTime<Utc>,
    /// Behaviours and moments that new reports repeat, if they are duplicates.
    pub fact_codes: Vec<String>,
    pub fact_times: Vec<DateTime<Utc>>,
}

/// Judged reports received recently, for the velocity limits.
#[derive(Debug, Default)]
pub struct RecentReports {
    /// Per resident, within the last hour.
    pub last_hour: HashMap<String, u64>,
    /// Per (resident, source), within the last 24 hours.
    pub last_day: HashMap<(String, String), u64>,
}

/// Kinds of outcome the judge looked at (they count towards velocity limits).
const JUDGED: [&str; 4] = ["pending", "awarded", "held", "capped"];

/// The judgement of a batch in progress (see [`Store::for_residents`]).
#[derive(Debug)]
pub struct BatchTxn {
    txn: DatabaseTransaction,
}

impl BatchTxn {
    /// Ends the transaction writing nothing, releasing the residents' locks now.
    pub async fn rollback(self) -> Result<()> {
        self.txn.rollback().await?;
        Ok(())
    }

    /// Stored outcomes of these keys, read under the residents' locks.
    pub async fn stored(&self, keys: &[(String, String)]) -> Result<Vec<Outcome>> {
        stored(&self.txn, keys).await
    }

    /// The residents' earlier events the query asks for: three reads per chunk of residents,
    /// each an index range per resident (awards of lifetime-capped rules and recent awards by
    /// `events_by_resident_rule`, reports of the same facts by `events_by_resident_behaviour`),
    /// so the cost follows the residents' own history, never the table's size. (One read with
    /// the three as `OR`s was planned as a scan of every event.) An event found twice is
    /// returned once.
    pub async fn history(&self, q: &HistoryQuery) -> Result<Vec<Past>> {
        let awards_of = |rules: &[String]| {
            event::Column::Kind
                .is_in(COUNTING)
                .and(event::Column::RuleCode.is_in(rules.iter().map(String::as_str)))
        };
        let mut branches = Vec::new();
        if !q.all_awards_of.is_empty() {
            branches.push(awards_of(&q.all_awards_of));
        }
        if !q.recent_awards_of.is_empty() {
            branches.push(
                awards_of(&q.recent_awards_of)
                    .and(event::Column::OccurredAtUs.gte(q.awards_since.timestamp_micros())),
            );
        }
        if !q.fact_codes.is_empty() && !q.fact_times.is_empty() {
            branches.push(
                event::Column::BehaviourCode
                    .is_in(q.fact_codes.iter().map(String::as_str))
                    .and(
                        event::Column::OccurredAtUs
                            .is_in(q.fact_times.iter().map(DateTime::timestamp_micros)),
                    ),
            );
        }
        let mut seen = HashSet::new();
        let mut past = Vec::new();
        for chunk in q.residents.chunks(CHUNK) {
            for wanted in &branches {
                let rows: Vec<PastRow> = event::Entity::find()
                    .select_only()
                    .columns([
                        event::Column::Id,
                        event::Column::ResidentId,
                        event::Column::SourceId,
                        event::Column::BehaviourCode,
                        event::Column::RuleCode,
                        event::Column::OccurredAtUs,
                        event::Column::Quantity,
                        event::Column::Kind,
                        event::Column::Points,
                        event::Column::ReceivedAtUs,
                    ])
                    .filter(event::Column::ResidentId.is_in(chunk.iter().map(String::as_str)))
                    .filter(wanted.clone())
                    .into_tuple()
                    .all(&self.txn)
                    .await?;
                for (id, resident, source, behaviour, rule, at, quantity, kind, points, received) in
                    rows
                {
                    if !seen.insert(id) {
                        continue;
                    }
                    past.push(Past {
                        event_id: id,
                        resident_id: resident.unwrap_or_default(),
                        source_id: source,
                        behaviour_code: behaviour,
                        rule_code: rule,
                        occurred_at: time(at)?,
                        quantity: to_u64(quantity, "quantity")?,
                        kind: OutcomeKind::parse(&kind).ok_or_else(|| corrupt("outcome kind"))?,
                        points: to_u64(points, "points")?,
                        received_at: time(received)?,
                    });
                }
            }
        }
        Ok(past)
    }

    /// How many judged reports about the residents arrived since `hour_ago` (per resident) and
    /// since `day_ago` (per resident and source), counted by the database.
    pub async fn recent_reports(
        &self,
        residents: &[String],
        hour_ago: DateTime<Utc>,
        day_ago: DateTime<Utc>,
    ) -> Result<RecentReports> {
        let mut recent = RecentReports::default();
        for chunk in residents.chunks(CHUNK) {
            let ids = || chunk.iter().map(String::as_str);
            let hourly: Vec<(String, i64)> = event::Entity::find()
                .select_only()
                .column(event::Column::ResidentId)
                .column_as(event::Column::Id.count(), "n")
                .filter(event::Column::ResidentId.is_in(ids()))
                .filter(event::Column::ReceivedAtUs.gte(hour_ago.timestamp_micros()))
                .filter(event::Column::Kind.is_in(JUDGED))
                .group_by(event::Column::ResidentId)
                .into_tuple()
                .all(&self.txn)
                .await?;
            for (resident, n) in hourly {
                recent.last_hour.insert(resident, to_u64(n, "count")?);
            }
            let daily: Vec<(String, String, i64)> = event::Entity::find()
                .select_only()
                .column(event::Column::ResidentId)
                .column(event::Column::SourceId)
                .column_as(event::Column::Id.count(), "n")
                .filter(event::Column::ResidentId.is_in(ids()))
                .filter(event::Column::ReceivedAtUs.gte(day_ago.timestamp_micros()))
                .filter(event::Column::Kind.is_in(JUDGED))
                .group_by(event::Column::ResidentId)
                .group_by(event::Column::SourceId)
                .into_tuple()
                .all(&self.txn)
                .await?;
            for (resident, source, n) in daily {
                recent
                    .last_day
                    .insert((resident, source), to_u64(n, "count")?);
            }
        }
        Ok(recent)
    }

    /// The residents among these under a review flag.
    pub async fn flagged(&self, residents: &[String]) -> Result<BTreeSet<String>> {
        review::flagged(&self.txn, residents).await
    }

    /// Flags residents for review (velocity guards); already flagged ones stay as they are.
    pub async fn flag(&self, flags: &[review::Flag]) -> Result<()> {
        review::flag(&self.txn, flags).await
    }

    /// Records the outcomes and commits.
    pub async fn commit(self, rows: &[(&Event, Outcome)]) -> Result<()> {
        insert_all(&self.txn, rows).await?;
        self.txn.commit().await?;
        Ok(())
    }
}

type PastRow = (
    Uuid,
    Option<String>,
    String,
    String,
    Option<String>,
    i64,
    i64,
    String,
    i64,
    i64,
);
