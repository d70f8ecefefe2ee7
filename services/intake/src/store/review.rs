//! Review flags and held outcomes: a flagged resident's awards are stored as `held` (their
//! points counted against caps, not yet sent to the ledger) until a reviewer releases or
//! rejects them.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::{Expr, OnConflict, Query},
};
use uuid::Uuid;

use super::{
    CHUNK, Store,
    entities::{event, review_flag},
    to_outcome,
};
use crate::domain::{
    error::{IntakeError, Result},
    model::{Outcome, OutcomeKind},
};

/// A review flag on a resident.
#[derive(Debug, Clone)]
pub struct Flag {
    pub resident_id: String,
    /// The resident's district ('' if unknown): its admins review the held outcomes.
    pub district: String,
    pub reason_code: String,
    pub reason: String,
    /// `intake` for the velocity guards, else the admin's principal.
    pub flagged_by: String,
    pub at: DateTime<Utc>,
}

pub(super) async fn flagged(
    conn: &impl ConnectionTrait,
    residents: &[String],
) -> Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    for chunk in residents.chunks(CHUNK) {
        let ids: Vec<String> = review_flag::Entity::find()
            .select_only()
            .column(review_flag::Column::ResidentId)
            .filter(review_flag::Column::ResidentId.is_in(chunk.iter().map(String::as_str)))
            .filter(review_flag::Column::ClearedAtUs.is_null())
            .into_tuple()
            .all(conn)
            .await?;
        found.extend(ids);
    }
    Ok(found)
}

pub(super) async fn flag(conn: &impl ConnectionTrait, flags: &[Flag]) -> Result<()> {
    for chunk in flags.chunks(CHUNK) {
        review_flag::Entity::insert_many(chunk.iter().map(|f| review_flag::ActiveModel {
            resident_id: Set(f.resident_id.clone()),
            district: Set(f.district.clone()),
            reason_code: Set(f.reason_code.clone()),
            reason: Set(f.reason.clone()),
            flagged_by: Set(f.flagged_by.clone()),
            flagged_at_us: Set(f.at.timestamp_micros()),
            cleared_at_us: Set(None),
            cleared_by: Set(None),
        }))
        .on_conflict(
            OnConflict::column(review_flag::Column::ResidentId)
                .update_columns([
                    review_flag::Column::District,
                    review_flag::Column::ReasonCode,
                    review_flag::Column::Reason,
                    review_flag::Column::FlaggedBy,
                    review_flag::Column::FlaggedAtUs,
                    review_flag::Column::ClearedAtUs,
                    review_flag::Column::ClearedBy,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// How a reviewer decided a held outcome.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub event_id: Uuid,
    pub release: bool,
    /// Machine code and sentence kept on the outcome.
    pub reason: (String, String),
    pub reviewer: String,
    pub at: DateTime<Utc>,
}

impl Store {
    /// Flags one resident (an admin's decision); a standing flag is replaced.
    pub async fn flag_resident(&self, flag: Flag) -> Result<()> {
        self::flag(&self.db, &[flag]).await
    }

    /// Lifts a resident's flag (their held outcomes stay in the queue).
    pub async fn clear_flag(&self, resident_id: &str, by: &str, at: DateTime<Utc>) -> Result<()> {
        review_flag::Entity::update_many()
            .col_expr(
                review_flag::Column::ClearedAtUs,
                Expr::value(at.timestamp_micros()),
            )
            .col_expr(review_flag::Column::ClearedBy, Expr::value(by))
            .filter(review_flag::Column::ResidentId.eq(resident_id))
            .filter(review_flag::Column::ClearedAtUs.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Whether the resident is under a review flag now.
    pub async fn is_flagged(&self, resident_id: &str) -> Result<bool> {
        Ok(!flagged(&self.db, &[resident_id.to_owned()])
            .await?
            .is_empty())
    }

    /// Held outcomes of residents flagged in `district` (all districts when `None`), oldest
    /// first, `limit` after the cursor (an event id).
    pub async fn review_queue(
        &self,
        district: Option<&str>,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<Outcome>> {
        let mut query = event::Entity::find()
            .filter(event::Column::Kind.eq(OutcomeKind::Held.as_str()))
            .order_by_asc(event::Column::Id);
        if let Some(district) = district {
            query = query.filter(
                event::Column::ResidentId.in_subquery(
                    Query::select()
                        .column(review_flag::Column::ResidentId)
                        .from(review_flag::Entity)
                        .and_where(review_flag::Column::District.eq(district))
                        .to_owned(),
                ),
            );
        }
        if let Some(after) = after {
            query = query.filter(event::Column::Id.gt(after));
        }
        query
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_outcome)
            .collect()
    }

    /// A held outcome and the district its resident's flag belongs to ('' if none).
    pub async fn held(&self, event_id: Uuid) -> Result<Option<(Outcome, String)>> {
        let Some(m) = event::Entity::find_by_id(event_id).one(&self.db).await? else {
            return Ok(None);
        };
        let outcome = to_outcome(m)?;
        if outcome.kind != OutcomeKind::Held {
            return Ok(None);
        }
        let district = match &outcome.resident_id {
            Some(r) => review_flag::Entity::find_by_id(r.clone())
                .one(&self.db)
                .await?
                .map(|f| f.district)
                .unwrap_or_default(),
            None => String::new(),
        };
        Ok(Some((outcome, district)))
    }

    /// Releases (to `pending`, handed to the ledger next) or rejects a held outcome, and
    /// clears the resident's flag when nothing of theirs is held any more — in one
    /// transaction. Answers the outcome as it now stands; `NotFound` when it is not held.
    pub async fn resolve(&self, r: &Resolution) -> Result<Outcome> {
        let txn = self.db.begin().await?;
        let mut update = event::Entity::update_many()
            .col_expr(
                event::Column::DecidedAtUs,
                Expr::value(r.at.timestamp_micros()),
            )
            .col_expr(event::Column::ReasonCode, Expr::value(r.reason.0.as_str()))
            .col_expr(event::Column::Reason, Expr::value(r.reason.1.as_str()));
        update = if r.release {
            update.col_expr(
                event::Column::Kind,
                Expr::value(OutcomeKind::Pending.as_str()),
            )
        } else {
            update
                .col_expr(
                    event::Column::Kind,
                    Expr::value(OutcomeKind::Rejected.as_str()),
                )
                .col_expr(event::Column::Points, Expr::value(0i64))
                .col_expr(event::Column::TransferId, Expr::value(Option::<Uuid>::None))
        };
        let done = update
            .filter(event::Column::Id.eq(r.event_id))
            .filter(event::Column::Kind.eq(OutcomeKind::Held.as_str()))
            .exec(&txn)
            .await?;
        if done.rows_affected == 0 {
            return Err(IntakeError::NotFound("held outcome".into()));
        }
        let outcome = to_outcome(
            event::Entity::find_by_id(r.event_id)
                .one(&txn)
                .await?
                .ok_or_else(|| IntakeError::NotFound("held outcome".into()))?,
        )?;
        if !r.release {
            // The partner that sent it, and the resident who was told it was held.
            let events = super::outbox::events_of([&outcome], r.at);
            healthpoints_db::outbox::append(&txn, &events).await?;
        }
        if let Some(resident) = &outcome.resident_id {
            let still_held = event::Entity::find()
                .filter(event::Column::ResidentId.eq(resident.as_str()))
                .filter(event::Column::Kind.eq(OutcomeKind::Held.as_str()))
                .count(&txn)
                .await?;
            if still_held == 0 {
                review_flag::Entity::update_many()
                    .col_expr(
                        review_flag::Column::ClearedAtUs,
                        Expr::value(r.at.timestamp_micros()),
                    )
                    .col_expr(
                        review_flag::Column::ClearedBy,
                        Expr::value(r.reviewer.as_str()),
                    )
                    .filter(review_flag::Column::ResidentId.eq(resident.as_str()))
                    .filter(review_flag::Column::ClearedAtUs.is_null())
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok(outcome)
    }
}
