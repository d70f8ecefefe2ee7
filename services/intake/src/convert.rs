//! Intake's wire messages ⇄ domain values, and the one place where [`IntakeError`] becomes a
//! `Status`. The gRPC adapter (`grpc.rs`) calls these; nothing here calls back into it.

use std::collections::BTreeMap;

use chrono::DateTime;
use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_grpc::time::{read, timestamp as ts};
use healthpoints_proto::{
    common::v1::{BehaviourCategory, PointsLevel},
    intake::v1::{self as pb},
};
use healthpoints_types::DistrictCode;
use prost_types::Timestamp;
use tonic::Status;
use uuid::Uuid;

use crate::domain::{
    catalogue::{Award, Caps, Category, Level, Rule, Tier},
    error::IntakeError,
    model::{Event, Outcome, OutcomeKind, ResidentRef},
    play::{Challenge, Progress},
    rules::RuleChange,
};

/// Converts a domain error once, with a log level per kind.
pub fn to_api_error(err: IntakeError) -> ApiError {
    match err {
        IntakeError::Invalid { field, reason } => ApiError::invalid(field, reason),
        e @ IntakeError::Forbidden(_) => {
            tracing::info!(reason = %e, "intake request forbidden");
            ApiError::forbidden(e.to_string())
        }
        e @ IntakeError::NotFound(_) => ApiError::not_found(e.to_string()),
        e @ IntakeError::Precondition(_) => {
            ApiError::new(ErrorCode::FailedPrecondition, e.to_string())
        }
        e @ IntakeError::Unavailable(_) => {
            tracing::warn!(reason = %e, "intake dependency unavailable");
            ApiError::new(ErrorCode::Unavailable, e.to_string())
        }
        IntakeError::Internal(fault) => ApiError::from_fault("intake request failed", &fault),
    }
}

pub(crate) fn status(err: IntakeError) -> Status {
    to_api_error(err).into()
}

pub(crate) fn kind_to_pb(k: OutcomeKind) -> pb::OutcomeKind {
    match k {
        OutcomeKind::Pending => pb::OutcomeKind::Pending,
        OutcomeKind::Awarded => pb::OutcomeKind::Awarded,
        OutcomeKind::Capped => pb::OutcomeKind::Capped,
        OutcomeKind::Duplicate => pb::OutcomeKind::Duplicate,
        OutcomeKind::Held => pb::OutcomeKind::Held,
        OutcomeKind::Rejected => pb::OutcomeKind::Rejected,
    }
}

/// The sentence for a cap that bound, when no other reason was stored.
pub(crate) fn cap_sentence(cap: &str, points_cut: u64) -> String {
    match cap {
        "day_best" => "this day's total was already paid for at this level".to_owned(),
        "min_interval" => "too soon after the last award under this rule".to_owned(),
        cap => format!("the {} cap cut {points_cut} points", cap.replace('_', " ")),
    }
}

/// Domain outcome → wire. Every outcome short of a full award carries a sentence saying why.
pub fn outcome_to_pb(o: &Outcome) -> pb::Outcome {
    let (rule_code, rule_version) = o.rule.clone().unwrap_or_default();
    let (reason_code, reason) = match (&o.reason, &o.cap) {
        (Some(r), _) => r.clone(),
        (None, Some(cap)) => (cap.clone(), cap_sentence(cap, o.points_cut)),
        (None, None) => Default::default(),
    };
    pb::Outcome {
        event_id: o.event_id.to_string(),
        source_id: o.source_id.clone(),
        source_event_id: o.source_event_id.clone(),
        resident_id: o.resident_id.clone().unwrap_or_default(),
        behaviour_code: o.behaviour_code.clone(),
        occurred_at: Some(ts(o.occurred_at)),
        kind: kind_to_pb(o.kind) as i32,
        points: o.points,
        book: o.book.map(|b| b.to_string()).unwrap_or_default(),
        rule_code,
        rule_version,
        transfer_id: o.transfer_id.map(|t| t.to_string()).unwrap_or_default(),
        cap: o.cap.clone().unwrap_or_default(),
        points_cut: o.points_cut,
        duplicate_of: o.duplicate_of.map(|d| d.to_string()).unwrap_or_default(),
        reason_code,
        reason,
        decided_at: Some(ts(o.received_at)),
    }
}

pub(crate) fn category_to_pb(c: Category) -> BehaviourCategory {
    match c {
        Category::Learning => BehaviourCategory::Learning,
        Category::Lifestyle => BehaviourCategory::Lifestyle,
        Category::PublicHealthService => BehaviourCategory::PublicHealthService,
        Category::PublicWelfare => BehaviourCategory::PublicWelfare,
    }
}

pub(crate) fn category_from_pb(v: i32) -> Option<Category> {
    Some(match BehaviourCategory::try_from(v).ok()? {
        BehaviourCategory::Learning => Category::Learning,
        BehaviourCategory::Lifestyle => Category::Lifestyle,
        BehaviourCategory::PublicHealthService => Category::PublicHealthService,
        BehaviourCategory::PublicWelfare => Category::PublicWelfare,
        BehaviourCategory::Unspecified => return None,
    })
}

/// Domain rule → wire.
pub fn rule_to_pb(r: &Rule) -> pb::Rule {
    let award = match &r.award {
        Award::Fixed(p) => pb::award::Award::FixedPoints(*p),
        Award::PerUnit(p) => pb::award::Award::PointsPerUnit(*p),
        Award::Tiers(tiers) => pb::award::Award::Tiers(pb::Tiers {
            tiers: tiers
                .iter()
                .map(|t| pb::Tier {
                    min_quantity: t.min_quantity,
                    points: t.points,
                })
                .collect(),
        }),
    };
    pb::Rule {
        code: r.code.clone(),
        version: r.version,
        category: category_to_pb(r.category) as i32,
        title: r.title.clone(),
        description: r.description.clone(),
        level: level_to_pb(r.level) as i32,
        district: r.district.map(|d| d.to_string()).unwrap_or_default(),
        award: Some(pb::Award { award: Some(award) }),
        caps: Some(pb::Caps {
            per_day: r.caps.per_day,
            per_week: r.caps.per_week,
            per_month: r.caps.per_month,
            per_year: r.caps.per_year,
            per_lifetime: r.caps.per_lifetime,
            min_interval_seconds: r.caps.min_interval_seconds,
        }),
        unit: r.unit.clone(),
        max_quantity: r.max_quantity,
        sources: r.sources.clone(),
        evidence: r.evidence.clone(),
        effective_from: Some(ts(r.effective_from)),
        effective_until: r.effective_until.map(ts),
        daily_total: r.daily_total,
    }
}

pub(crate) fn level_to_pb(level: Level) -> PointsLevel {
    match level {
        Level::City => PointsLevel::City,
        Level::District => PointsLevel::District,
    }
}

pub(crate) fn level_from_pb(field: &str, level: i32) -> Result<Level, Status> {
    match PointsLevel::try_from(level).unwrap_or_default() {
        PointsLevel::City => Ok(Level::City),
        PointsLevel::District => Ok(Level::District),
        PointsLevel::Unspecified => {
            Err(ApiError::invalid(field, "must be city or district").into())
        }
    }
}

pub(crate) fn district_from_pb(field: &str, raw: &str) -> Result<Option<DistrictCode>, Status> {
    match raw.trim() {
        "" => Ok(None),
        d => DistrictCode::parse(d)
            .map(Some)
            .map_err(|_| ApiError::invalid(field, "is not a district code").into()),
    }
}

pub(crate) fn challenge_to_pb(c: &Challenge) -> pb::Challenge {
    pb::Challenge {
        challenge_id: c.id.to_string(),
        title: c.title.clone(),
        district: c.district.map(|d| d.to_string()).unwrap_or_default(),
        behaviour_code: c.behaviour_code.clone(),
        daily_min_quantity: c.daily_min_quantity,
        days_required: c.days_required,
        starts_at: Some(ts(c.starts_at)),
        ends_at: Some(ts(c.ends_at)),
        bonus_points: c.bonus_points,
        level: level_to_pb(c.level) as i32,
    }
}

/// Wire challenge → domain; the id and author are assigned on creation.
pub(crate) fn challenge_from_pb(c: pb::Challenge) -> Result<Challenge, Status> {
    let time = |field: &str, t: Option<Timestamp>| {
        t.ok_or_else(|| Status::from(ApiError::invalid(field, "must be set")))
            .and_then(|t| read(field, &t))
    };
    Ok(Challenge {
        id: Uuid::nil(),
        title: c.title,
        district: district_from_pb("challenge.district", &c.district)?,
        behaviour_code: c.behaviour_code.trim().to_owned(),
        daily_min_quantity: c.daily_min_quantity,
        days_required: c.days_required,
        starts_at: time("challenge.starts_at", c.starts_at)?,
        ends_at: time("challenge.ends_at", c.ends_at)?,
        bonus_points: c.bonus_points,
        level: level_from_pb("challenge.level", c.level)?,
        created_by: String::new(),
    })
}

pub(crate) fn progress_to_pb(p: &Progress) -> pb::ChallengeProgress {
    pb::ChallengeProgress {
        challenge: Some(challenge_to_pb(&p.challenge)),
        joined: p.joined,
        days_done: p.days_done,
        completed: p.bonus.is_some(),
        bonus: p.bonus.as_ref().map(outcome_to_pb),
    }
}

/// Wire rule → domain, for drafts; version and effective times are assigned on publication.
pub(crate) fn rule_from_pb(r: pb::Rule) -> Result<Rule, Status> {
    let category = category_from_pb(r.category)
        .ok_or_else(|| Status::from(ApiError::invalid("rule.category", "must be set")))?;
    let level = level_from_pb("rule.level", r.level)?;
    let district = district_from_pb("rule.district", &r.district)?;
    let award = match r.award.and_then(|a| a.award) {
        Some(pb::award::Award::FixedPoints(p)) => Award::Fixed(p),
        Some(pb::award::Award::PointsPerUnit(p)) => Award::PerUnit(p),
        Some(pb::award::Award::Tiers(t)) => Award::Tiers(
            t.tiers
                .into_iter()
                .map(|t| Tier {
                    min_quantity: t.min_quantity,
                    points: t.points,
                })
                .collect(),
        ),
        None => return Err(ApiError::invalid("rule.award", "must be set").into()),
    };
    let caps = r.caps.unwrap_or_default();
    Ok(Rule {
        code: r.code.trim().to_owned(),
        version: 1,
        category,
        title: r.title,
        description: r.description,
        level,
        district,
        award,
        caps: Caps {
            per_day: caps.per_day,
            per_week: caps.per_week,
            per_month: caps.per_month,
            per_year: caps.per_year,
            per_lifetime: caps.per_lifetime,
            min_interval_seconds: caps.min_interval_seconds,
        },
        unit: r.unit,
        max_quantity: r.max_quantity,
        daily_total: r.daily_total,
        sources: r.sources,
        evidence: r.evidence,
        effective_from: DateTime::UNIX_EPOCH,
        effective_until: None,
    })
}

pub(crate) fn change_to_pb(c: &RuleChange) -> pb::RuleChange {
    pb::RuleChange {
        rule_code: c.code.clone(),
        version: c.version,
        district: c.district.map(|d| d.to_string()).unwrap_or_default(),
        change: c.change.as_str().to_owned(),
        summary: c.summary.clone(),
        changed_by: c.changed_by.clone(),
        published_at: Some(ts(c.published_at)),
        effective_from: Some(ts(c.effective_from)),
    }
}

/// Wire event → domain. Malformed times and districts refuse the whole batch, naming the field.
pub(crate) fn event_from_pb(i: usize, e: pb::BehaviourEvent) -> Result<Event, Status> {
    let field = |name: &str| format!("events[{i}].{name}");
    let resident = match e.resident {
        Some(pb::behaviour_event::Resident::ResidentId(id)) => {
            ResidentRef::Id(id.trim().to_owned())
        }
        Some(pb::behaviour_event::Resident::IdNumberHash(h)) => {
            ResidentRef::IdNumberHash(h.trim().to_owned())
        }
        None => {
            return Err(
                ApiError::invalid(field("resident"), "set resident_id or id_number_hash").into(),
            );
        }
    };
    let occurred_at = match &e.occurred_at {
        Some(t) => read(&field("occurred_at"), t)?,
        None => return Err(ApiError::invalid(field("occurred_at"), "must be set").into()),
    };
    let district = match e.district.trim() {
        "" => None,
        d => Some(DistrictCode::parse(d).map_err(|_| {
            Status::from(ApiError::invalid(
                field("district"),
                "is not a district code",
            ))
        })?),
    };
    Ok(Event {
        source_id: e.source_id.trim().to_owned(),
        source_event_id: e.source_event_id.trim().to_owned(),
        resident,
        behaviour_code: e.behaviour_code.trim().to_owned(),
        occurred_at,
        quantity: e.quantity,
        district,
        attributes: e.attributes.into_iter().collect::<BTreeMap<_, _>>(),
    })
}

pub(crate) fn parse_ids(field: &str, ids: &[String]) -> Result<Vec<Uuid>, Status> {
    ids.iter()
        .map(|id| {
            Uuid::parse_str(id.trim())
                .map_err(|_| Status::from(ApiError::invalid(field, "must hold draft ids")))
        })
        .collect()
}
