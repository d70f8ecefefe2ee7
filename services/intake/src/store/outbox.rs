//! The events intake's outcomes cause, for its outbox (the exchange pulls them): points awarded
//! or held, for the resident's inbox; a record rejected, for the partner that sent it (and, when
//! a reviewer rejected what was held, for the resident, who was told it was held).
//!
//! An event's id is derived from the record (source and record id) and what happened to it, so
//! a retried hand-over, a second replica or a concurrent first submission appends it once.

use chrono::{DateTime, Utc};
use healthpoints_db::outbox::{OutboxEvent, derived_id};

use crate::domain::{
    catalogue::SELF_SOURCE,
    model::{Outcome, OutcomeKind},
};

/// Sources that are not partners: residents' own reports, the health stations' counters, and
/// the programme's own grants (challenges, honours).
const NOT_PARTNERS: [&str; 4] = [SELF_SOURCE, "station", "challenge", "honour"];

/// The event an outcome causes, if it causes one.
pub(crate) fn event_of(o: &Outcome, now: DateTime<Utc>) -> Option<OutboxEvent> {
    let (kind, to_resident, to_partner) = match o.kind {
        OutcomeKind::Awarded => ("points.awarded", true, false),
        OutcomeKind::Held => ("points.held", true, false),
        OutcomeKind::Rejected => (
            "record.rejected",
            o.reason
                .as_ref()
                .is_some_and(|(code, _)| code == "review_rejected"),
            !NOT_PARTNERS.contains(&o.source_id.as_str()),
        ),
        _ => return None,
    };
    let resident_id = o.resident_id.clone().filter(|_| to_resident);
    let partner_id = to_partner.then(|| o.source_id.clone());
    if resident_id.is_none() && partner_id.is_none() {
        return None;
    }
    Some(OutboxEvent {
        id: derived_id(&format!(
            "intake/{kind}/{}/{}",
            o.source_id, o.source_event_id
        )),
        kind: kind.to_owned(),
        at: now,
        resident_id,
        merchant_id: None,
        mall: None,
        partner_id,
        // The partner's own record id and what became of it: never who the resident is.
        data: serde_json::json!({
            "record_id": o.source_event_id,
            "behaviour": o.behaviour_code,
            "occurred_at": o.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "points": o.points,
            "book": o.book.map(|b| b.to_string()),
            "reason_code": o.reason.as_ref().map(|(code, _)| code),
            "reason": o.reason.as_ref().map(|(_, sentence)| sentence),
        }),
    })
}

/// The events of a batch of outcomes.
pub(crate) fn events_of<'a>(
    outcomes: impl IntoIterator<Item = &'a Outcome>,
    now: DateTime<Utc>,
) -> Vec<OutboxEvent> {
    outcomes
        .into_iter()
        .filter_map(|o| event_of(o, now))
        .collect()
}
