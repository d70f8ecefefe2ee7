//! The exchange contract's messages ⇄ its domain types, and its errors ⇄ the mesh's error codes:
//! every conversion of the adapter, so that `grpc.rs` holds only the handlers.

use std::collections::BTreeMap;

use chrono::DateTime;
use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_grpc::time::timestamp as ts;
use healthpoints_proto::exchange::v1::{self as pb};
use prost_types::Timestamp;
use tonic::Status;

use crate::domain::{
    consent::{Category, Consent, PartnerKind},
    error::ExchangeError,
    notify::{Delivery, DeliveryStatus, Event, Notification, Webhook},
    partners::{Partner, PartnerStatus},
    records::{self, Person, Record, RecordOutcome},
    station::{AtCounter, Proof},
    statistics::{BehaviourCategory, Cell},
};

/// A published statistics cell on the wire.
pub(crate) fn cell_to_pb(c: Cell) -> pb::StatisticsCell {
    use healthpoints_proto::common::v1::{BehaviourCategory as Pb, Yuan};
    pb::StatisticsCell {
        district: c.district.map(|d| d.to_string()).unwrap_or_default(),
        category: match c.category {
            None => Pb::Unspecified,
            Some(BehaviourCategory::Learning) => Pb::Learning,
            Some(BehaviourCategory::Lifestyle) => Pb::Lifestyle,
            Some(BehaviourCategory::PublicHealthService) => Pb::PublicHealthService,
            Some(BehaviourCategory::PublicWelfare) => Pb::PublicWelfare,
        } as i32,
        month: c.month,
        age_band: c.age_band,
        residence_type: c.residence_type,
        participants: c.participants,
        points_issued: c.points_issued,
        points_redeemed: c.points_redeemed,
        liability: c.liability.map(Yuan::from_points),
        suppressed: c.suppressed,
        book: c.book.to_string(),
    }
}

/// Converts a domain error once, with a log level per kind.
pub fn to_api_error(err: ExchangeError) -> ApiError {
    match err {
        ExchangeError::Invalid { field, reason } => ApiError::invalid(field, reason),
        e @ ExchangeError::Forbidden(_) => {
            tracing::info!(reason = %e, "exchange request forbidden");
            ApiError::forbidden(e.to_string())
        }
        e @ ExchangeError::NotFound(_) => ApiError::not_found(e.to_string()),
        e @ ExchangeError::AlreadyExists(_) => {
            ApiError::new(ErrorCode::AlreadyExists, e.to_string())
        }
        e @ ExchangeError::Refused(_) => {
            ApiError::new(ErrorCode::FailedPrecondition, e.to_string())
        }
        e @ ExchangeError::Unavailable(_) => {
            tracing::warn!(reason = %e, "exchange dependency unavailable");
            ApiError::new(ErrorCode::Unavailable, e.to_string())
        }
        ExchangeError::Internal(fault) => ApiError::from_fault("exchange request failed", &fault),
    }
}

pub(crate) fn status(err: ExchangeError) -> Status {
    to_api_error(err).into()
}

pub(crate) fn partner_to_pb(p: &Partner) -> pb::Partner {
    pb::Partner {
        partner_id: p.partner_id.clone(),
        name: p.name.clone(),
        department: p.department.clone(),
        contact: p.contact.clone(),
        behaviours: p.behaviours.clone(),
        scopes: p.scopes.clone(),
        status: match p.status {
            PartnerStatus::Active => pb::PartnerStatus::Active,
            PartnerStatus::Suspended => pb::PartnerStatus::Suspended,
            PartnerStatus::Registering => pb::PartnerStatus::Unspecified,
        } as i32,
        registered_at: Some(Timestamp {
            seconds: p.registered_at.timestamp(),
            nanos: 0,
        }),
        kind: p.kind.as_str().to_owned(),
    }
}

pub(crate) fn kind_from(field: &str, raw: &str) -> Result<Option<PartnerKind>, Status> {
    match raw.trim() {
        "" => Ok(None),
        k => PartnerKind::parse(k)
            .map(Some)
            .ok_or_else(|| ApiError::invalid(field, "must be department or commercial").into()),
    }
}

pub(crate) fn category_from_pb(c: i32) -> Option<Category> {
    Some(match pb::ConsentCategory::try_from(c).unwrap_or_default() {
        pb::ConsentCategory::StepsExercise => Category::StepsExercise,
        pb::ConsentCategory::Sleep => Category::Sleep,
        pb::ConsentCategory::ChronicDisease => Category::ChronicDisease,
        pb::ConsentCategory::Vaccination => Category::Vaccination,
        pb::ConsentCategory::Screening => Category::Screening,
        pb::ConsentCategory::PointsSummary => Category::PointsSummary,
        pb::ConsentCategory::Unspecified => return None,
    })
}

pub(crate) fn category_to_pb(c: Category) -> pb::ConsentCategory {
    match c {
        Category::StepsExercise => pb::ConsentCategory::StepsExercise,
        Category::Sleep => pb::ConsentCategory::Sleep,
        Category::ChronicDisease => pb::ConsentCategory::ChronicDisease,
        Category::Vaccination => pb::ConsentCategory::Vaccination,
        Category::Screening => pb::ConsentCategory::Screening,
        Category::PointsSummary => pb::ConsentCategory::PointsSummary,
    }
}

pub(crate) fn consent_to_pb(c: &Consent) -> pb::Consent {
    pb::Consent {
        partner_id: c.partner_id.clone(),
        category: category_to_pb(c.category) as i32,
        purpose: c.purpose.clone(),
        granted_at: Some(ts(c.granted_at)),
        revoked_at: c.revoked_at.map(ts),
    }
}

pub(crate) fn results_to_pb(results: Vec<records::RecordResult>) -> Vec<pb::RecordResult> {
    results
        .into_iter()
        .map(|r| pb::RecordResult {
            record_id: r.record_id,
            outcome: outcome_to_pb(r.outcome) as i32,
            points: r.points,
            reason_code: r.reason_code,
            reason: r.reason,
        })
        .collect()
}

pub(crate) fn outcome_to_pb(o: RecordOutcome) -> pb::RecordOutcome {
    match o {
        RecordOutcome::Awarded => pb::RecordOutcome::Awarded,
        RecordOutcome::Capped => pb::RecordOutcome::Capped,
        RecordOutcome::Duplicate => pb::RecordOutcome::Duplicate,
        RecordOutcome::Held => pb::RecordOutcome::Held,
        RecordOutcome::Rejected => pb::RecordOutcome::Rejected,
        RecordOutcome::Pending => pb::RecordOutcome::Pending,
        RecordOutcome::Applied => pb::RecordOutcome::Applied,
        RecordOutcome::NotProcessed => pb::RecordOutcome::NotProcessed,
    }
}

pub(crate) fn record_from_pb(i: usize, r: pb::BehaviourRecord) -> Result<Record, Status> {
    let field = |name: &str| format!("records[{i}].{name}");
    let person = match r.person {
        Some(pb::behaviour_record::Person::IdNumber(n)) => Person::IdNumber(n),
        Some(pb::behaviour_record::Person::ResidentId(id)) => Person::ResidentId(id),
        None => {
            return Err(
                ApiError::invalid(field("id_number"), "set id_number or resident_id").into(),
            );
        }
    };
    let occurred_at = r
        .occurred_at
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .ok_or_else(|| {
            Status::from(ApiError::invalid(
                field("occurred_at"),
                "must be set to a valid time",
            ))
        })?;
    Ok(Record {
        record_id: r.record_id,
        person,
        behaviour: r.behaviour,
        occurred_at,
        quantity: r.quantity,
        district: r.district,
        attributes: r.attributes.into_iter().collect::<BTreeMap<_, _>>(),
    })
}

/// The proof a resident at the counter gave.
pub(crate) fn proof_from_pb(p: Option<pb::CounterProof>) -> Result<Proof, Status> {
    match p.and_then(|p| p.proof) {
        Some(pb::counter_proof::Proof::IdNumber(n)) => Ok(Proof::IdNumber(n)),
        Some(pb::counter_proof::Proof::StationCode(c)) => Ok(Proof::StationCode(c)),
        None => Err(ApiError::invalid(
            "id_number",
            "the resident proves who they are: their ID number, or the code their app shows",
        )
        .into()),
    }
}

pub(crate) fn at_counter_to_pb(r: AtCounter) -> pb::CounterResident {
    pb::CounterResident {
        resident_id: r.resident_id,
        name_masked: r.name_masked,
        residence_district: r.residence_district,
        birth_date: r.birth_date,
        family_doctor_district: r.family_doctor_district.unwrap_or_default(),
    }
}

pub(crate) fn notification_to_pb(n: Notification) -> pb::Notification {
    pb::Notification {
        notification_id: n.id.to_string(),
        kind: n.kind,
        data_json: n.data.to_string(),
        created_at: Some(ts(n.created_at)),
        read_at: n.read_at.map(ts),
    }
}

/// A webhook without its secret (shown once, by the registration's answer).
pub(crate) fn webhook_to_pb(w: Webhook) -> pb::Webhook {
    pb::Webhook {
        webhook_id: w.id.to_string(),
        url: w.url,
        events: w.events,
        created_at: Some(ts(w.created_at)),
        secret: String::new(),
    }
}

pub(crate) fn delivery_to_pb(d: Delivery) -> pb::Delivery {
    pb::Delivery {
        delivery_id: d.id.to_string(),
        event_id: d.event_id.to_string(),
        kind: d.kind,
        status: d.status.as_str().to_owned(),
        attempts: d.attempts,
        next_attempt_at: (d.status == DeliveryStatus::Pending).then(|| ts(d.next_attempt_at)),
        last_attempt_at: d.last_attempt_at.map(ts),
        last_status: d.last_status.map(u32::from).unwrap_or_default(),
        last_error: d.last_error.unwrap_or_default(),
        created_at: Some(ts(d.created_at)),
    }
}

/// An event of a service's outbox: one a mall publishes, or one the exchange reads from intake or
/// the ledger.
pub(crate) fn outbox_event_from_pb(
    i: usize,
    e: healthpoints_proto::common::v1::OutboxEvent,
) -> Result<Event, (String, &'static str)> {
    let field = |name: &str| format!("events[{i}].{name}");
    let id =
        uuid::Uuid::parse_str(&e.event_id).map_err(|_| (field("event_id"), "must be a UUID"))?;
    let at =
        e.at.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
            .ok_or_else(|| (field("at"), "must be set"))?;
    let data =
        serde_json::from_str(&e.data_json).map_err(|_| (field("data_json"), "must be JSON"))?;
    let some = |s: String| (!s.is_empty()).then_some(s);
    Ok(Event {
        id,
        kind: e.kind,
        at,
        resident_id: some(e.resident_id),
        partner_id: some(e.partner_id),
        merchant: some(e.merchant_id).zip(some(e.mall)),
        data,
    })
}
