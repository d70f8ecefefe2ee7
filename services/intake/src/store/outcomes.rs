//! Outcomes written: each decided event becomes one row (a concurrent first submission of the
//! same record keeps its own), with the events its decision causes in the same transaction.

use std::collections::HashSet;

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};
use uuid::Uuid;

use super::{CHUNK, entities::event, outbox, to_i64};
use crate::domain::{
    error::{IntakeError, Result},
    model::{Event, Outcome},
};
use healthpoints_types::DistrictCode;

pub(super) async fn insert_all(
    conn: &impl ConnectionTrait,
    rows: &[(&Event, Outcome)],
) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let models = chunk
            .iter()
            .map(|(event, outcome)| row(event, outcome))
            .collect::<Result<Vec<_>>>()?;
        // The dedupe key: a concurrent first submission of the same record wins (the caller
        // reads back what is stored) — and only what this write stored is announced.
        let stored: HashSet<Uuid> = match event::Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([event::Column::SourceId, event::Column::SourceEventId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_with_returning_keys(conn)
            .await
        {
            Ok(ids) => ids.into_iter().collect(),
            Err(DbErr::RecordNotInserted) => HashSet::new(),
            Err(e) => return Err(e.into()),
        };
        // What the decisions cause (held, rejected), in the same transaction.
        let events: Vec<_> = chunk
            .iter()
            .filter(|(_, o)| stored.contains(&o.event_id))
            .filter_map(|(_, o)| outbox::event_of(o, o.received_at))
            .collect();
        healthpoints_db::outbox::append(conn, &events).await?;
    }
    Ok(())
}

fn row(event: &Event, o: &Outcome) -> Result<event::ActiveModel> {
    let attributes = serde_json::to_string(&event.attributes).map_err(|e| {
        IntakeError::Internal(healthpoints_errors::Fault::caused_by("attributes", e))
    })?;
    Ok(event::ActiveModel {
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
        category: Set(o.cohort.map(|c| c.category.as_str().to_owned())),
        cohort_district: Set(o.cohort.and_then(|c| c.district).map(|d| d.to_string())),
        age_band: Set(o.cohort.map(|c| c.age_band.to_owned())),
        residence_type: Set(o.cohort.map(|c| c.residence_type.to_owned())),
        link_group: Set(o.link_group),
    })
}
