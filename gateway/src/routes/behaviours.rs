//! Earning points: a resident's check-ins and outcomes ("why did I (not) get points?"), the
//! public rule catalogue and its changelog, and the admins' rule drafts, what-if and
//! publication.

// utoipa's `params(...)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use axum::{Json, extract::State, http::StatusCode};
use healthpoints_errors::ApiError;
use healthpoints_proto::{
    common::v1::{BehaviourCategory, PageRequest},
    intake::v1 as pb,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::views::{enum_name, level_from_name, level_name, rfc3339, some, timestamp, yuan};
use crate::body::{JsonBody, Params};
use crate::{
    AppState,
    auth::{Admin, Resident},
    error::{HttpResult, Problem},
};

/// The rule version that judged an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleRef {
    pub code: String,
    pub version: u32,
}

/// What became of one reported behaviour, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeView {
    pub event_id: String,
    /// The reporting source (`self` for your own check-ins) and its record id.
    pub source: String,
    pub record_id: String,
    pub behaviour: String,
    pub occurred_at: Option<String>,
    /// `awarded`, `capped`, `duplicate`, `held`, `rejected`, or `pending` (points on their way).
    pub outcome: String,
    pub points: u64,
    /// `city` or `district:<code>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub book: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
    /// The cap that bound (`per_day` … `per_lifetime`, `min_interval`, `day_best`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub points_cut: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// Why, in a sentence (every outcome but a full award has one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
    pub decided_at: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The outcome kind as the API names it.
pub fn outcome_name(kind: i32) -> String {
    pb::OutcomeKind::try_from(kind)
        .map(|k| enum_name(k.as_str_name(), "OUTCOME_KIND_"))
        .unwrap_or_default()
}

impl From<pb::Outcome> for OutcomeView {
    fn from(o: pb::Outcome) -> Self {
        Self {
            outcome: outcome_name(o.kind),
            rule: (!o.rule_code.is_empty()).then(|| RuleRef {
                code: o.rule_code.clone(),
                version: o.rule_version,
            }),
            reason: some(o.reason),
            event_id: o.event_id,
            source: o.source_id,
            record_id: o.source_event_id,
            behaviour: o.behaviour_code,
            occurred_at: rfc3339(o.occurred_at),
            points: o.points,
            book: some(o.book),
            cap: some(o.cap),
            points_cut: o.points_cut,
            duplicate_of: some(o.duplicate_of),
            reason_code: some(o.reason_code),
            transfer_id: some(o.transfer_id),
            decided_at: rfc3339(o.decided_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckInView {
    #[serde(flatten)]
    pub outcome: OutcomeView,
    /// Days in a row, today included.
    pub streak_days: u32,
    /// Present when today completed a 7-day streak.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streak_bonus: Option<OutcomeView>,
}

/// Today's check-in (Asia/Shanghai day). Checking in again the same day answers the same
/// outcome; a 7-day streak earns a bonus once.
#[utoipa::path(post, path = "/v1/me/checkins", tag = "resident", security(("bearer" = [])),
    responses((status = 200, body = CheckInView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn check_in(
    State(state): State<AppState>,
    Resident {
        caller,
        id: resident_id,
    }: Resident,
) -> HttpResult<Json<CheckInView>> {
    let r = state
        .intake()
        .check_in(caller.request(pb::CheckInRequest {
            resident_id: resident_id.to_string(),
        }))
        .await?
        .into_inner();
    let outcome = r.outcome.ok_or_else(ApiError::internal)?.into();
    Ok(Json(CheckInView {
        outcome,
        streak_days: r.streak_days,
        streak_bonus: r.streak_bonus.map(Into::into),
    }))
}

/// Today's check-in and the streak, without checking in.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckInStatusView {
    /// Whether today's check-in (Asia/Shanghai day) is done.
    pub checked_in_today: bool,
    /// Days in a row up to today, or up to yesterday while today's is not done yet (the streak
    /// is alive until today ends).
    pub streak_days: u32,
}

/// Whether today's check-in is done and the streak so far; changes nothing.
#[utoipa::path(get, path = "/v1/me/checkins", tag = "resident", security(("bearer" = [])),
    responses((status = 200, body = CheckInStatusView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn check_in_status(
    State(state): State<AppState>,
    Resident {
        caller,
        id: resident_id,
    }: Resident,
) -> HttpResult<Json<CheckInStatusView>> {
    let r = state
        .intake()
        .get_check_in(caller.request(pb::GetCheckInRequest {
            resident_id: resident_id.to_string(),
        }))
        .await?
        .into_inner();
    Ok(Json(CheckInStatusView {
        checked_in_today: r.checked_in_today,
        streak_days: r.streak_days,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[serde(default)]
    pub cursor: Option<String>,
    /// At most 500; 50 by default.
    #[serde(default, deserialize_with = "super::views::page_size")]
    pub page_size: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Outcomes {
    pub outcomes: Vec<OutcomeView>,
    /// Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// "Why did I (not) get points?": the caller's outcomes, newest first.
#[utoipa::path(get, path = "/v1/me/behaviours", tag = "resident", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Outcomes), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn behaviours(
    State(state): State<AppState>,
    Resident {
        caller,
        id: resident_id,
    }: Resident,
    Params(q): Params<PageQuery>,
) -> HttpResult<Json<Outcomes>> {
    let r = state
        .intake()
        .list_outcomes(caller.request(pb::ListOutcomesRequest {
            resident_id: resident_id.to_string(),
            page: Some(PageRequest {
                page_size: q.page_size.unwrap_or_default(),
                cursor: q.cursor.unwrap_or_default(),
            }),
        }))
        .await?
        .into_inner();
    Ok(Json(Outcomes {
        outcomes: r.outcomes.into_iter().map(Into::into).collect(),
        next_cursor: r.page.and_then(|p| some(p.next_cursor)),
    }))
}

/// One step of a tiered award.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierView {
    pub min_quantity: u64,
    pub points: u64,
}

/// How a rule's points are computed: exactly one of the three.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwardView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<TierView>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_unit: Option<u64>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapsView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_week: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_month: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_year: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_lifetime: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interval_seconds: Option<u64>,
}

/// A rule of the catalogue. As a draft (request body) version and effective times are
/// ignored: they are assigned on publication.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleView {
    pub code: String,
    #[serde(default)]
    pub version: u32,
    /// `learning`, `lifestyle`, `public_health_service` or `public_welfare`.
    #[schema(value_type = super::views::names::RuleCategory)]
    pub category: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `city` or `district` points.
    #[schema(value_type = super::views::names::Level)]
    pub level: String,
    /// Set on a district's own rules and tightenings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::views::District>)]
    pub district: Option<String>,
    pub award: AwardView,
    #[serde(default)]
    pub caps: CapsView,
    /// `steps`, `minutes`, `hours` or `count`.
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_quantity: Option<u64>,
    /// Reports of one day count once, at the highest (steps).
    #[serde(default)]
    pub daily_total: bool,
    /// Partner ids that may report it; `self` for a resident's own check-in.
    pub sources: Vec<String>,
    #[serde(default)]
    pub evidence: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub effective_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub effective_until: Option<String>,
}

impl From<pb::Rule> for RuleView {
    fn from(r: pb::Rule) -> Self {
        let caps = r.caps.unwrap_or_default();
        let award = match r.award.and_then(|a| a.award) {
            Some(pb::award::Award::FixedPoints(p)) => AwardView {
                fixed: Some(p),
                ..AwardView::default()
            },
            Some(pb::award::Award::PointsPerUnit(p)) => AwardView {
                per_unit: Some(p),
                ..AwardView::default()
            },
            Some(pb::award::Award::Tiers(t)) => AwardView {
                tiers: Some(
                    t.tiers
                        .into_iter()
                        .map(|t| TierView {
                            min_quantity: t.min_quantity,
                            points: t.points,
                        })
                        .collect(),
                ),
                ..AwardView::default()
            },
            None => AwardView::default(),
        };
        Self {
            code: r.code,
            version: r.version,
            category: BehaviourCategory::try_from(r.category)
                .map(|c| enum_name(c.as_str_name(), "BEHAVIOUR_CATEGORY_"))
                .unwrap_or_default(),
            title: r.title,
            description: r.description,
            level: level_name(r.level),
            district: some(r.district),
            award,
            caps: CapsView {
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
            effective_from: rfc3339(r.effective_from),
            effective_until: rfc3339(r.effective_until),
        }
    }
}

impl TryFrom<RuleView> for pb::Rule {
    type Error = ApiError;

    fn try_from(r: RuleView) -> Result<Self, ApiError> {
        let category = BehaviourCategory::from_str_name(&format!(
            "BEHAVIOUR_CATEGORY_{}",
            r.category.to_ascii_uppercase()
        ))
        .filter(|c| *c != BehaviourCategory::Unspecified)
        .ok_or_else(|| {
            ApiError::invalid(
                "category",
                "must be learning, lifestyle, public_health_service or public_welfare",
            )
        })?;
        let level = level_from_name("level", &r.level)?;
        let award = match (r.award.fixed, r.award.tiers, r.award.per_unit) {
            (Some(p), None, None) => pb::award::Award::FixedPoints(p),
            (None, Some(t), None) => pb::award::Award::Tiers(pb::Tiers {
                tiers: t
                    .into_iter()
                    .map(|t| pb::Tier {
                        min_quantity: t.min_quantity,
                        points: t.points,
                    })
                    .collect(),
            }),
            (None, None, Some(p)) => pb::award::Award::PointsPerUnit(p),
            _ => {
                return Err(ApiError::invalid(
                    "award",
                    "set exactly one of fixed, tiers and per_unit",
                ));
            }
        };
        Ok(pb::Rule {
            code: r.code,
            version: 0,
            category: category as i32,
            title: r.title,
            description: r.description,
            level: level as i32,
            district: r.district.unwrap_or_default(),
            award: Some(pb::Award { award: Some(award) }),
            caps: Some(pb::Caps {
                per_day: r.caps.per_day,
                per_week: r.caps.per_week,
                per_month: r.caps.per_month,
                per_year: r.caps.per_year,
                per_lifetime: r.caps.per_lifetime,
                min_interval_seconds: r.caps.min_interval_seconds,
            }),
            unit: r.unit,
            max_quantity: r.max_quantity,
            sources: r.sources,
            evidence: r.evidence,
            effective_from: None,
            effective_until: None,
            daily_total: r.daily_total,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rules {
    pub rules: Vec<RuleView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RulesQuery {
    /// Include this district's own rules and tightenings.
    #[serde(default)]
    pub district: Option<String>,
    /// RFC 3339; defaults to now.
    #[serde(default)]
    pub as_of: Option<String>,
}

/// The rule catalogue in force. Public.
#[utoipa::path(get, path = "/v1/rules", tag = "public", params(RulesQuery),
    responses((status = 200, body = Rules), (status = 400, body = Problem)))]
pub async fn rules(
    State(state): State<AppState>,
    Params(q): Params<RulesQuery>,
) -> HttpResult<Json<Rules>> {
    let as_of = q
        .as_of
        .as_deref()
        .map(|t| timestamp("as_of", t))
        .transpose()?;
    let r = state
        .intake()
        .list_rules(pb::ListRulesRequest {
            as_of,
            district: q.district.unwrap_or_default(),
        })
        .await?
        .into_inner();
    Ok(Json(Rules {
        rules: r.rules.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleChangeView {
    pub rule_code: String,
    pub version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// `created`, `changed` or `retired`.
    pub change: String,
    pub summary: String,
    /// Staff id of who published it; `system` for the default catalogue.
    pub changed_by: String,
    pub published_at: Option<String>,
    pub effective_from: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleChanges {
    pub changes: Vec<RuleChangeView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Every published change to the catalogue, newest first: who, when, what. Public.
#[utoipa::path(get, path = "/v1/rules/changelog", tag = "public", params(PageQuery),
    responses((status = 200, body = RuleChanges), (status = 400, body = Problem)))]
pub async fn changelog(
    State(state): State<AppState>,
    Params(q): Params<PageQuery>,
) -> HttpResult<Json<RuleChanges>> {
    let r = state
        .intake()
        .list_rule_changes(pb::ListRuleChangesRequest {
            page: Some(PageRequest {
                page_size: q.page_size.unwrap_or_default(),
                cursor: q.cursor.unwrap_or_default(),
            }),
        })
        .await?
        .into_inner();
    Ok(Json(RuleChanges {
        changes: r
            .changes
            .into_iter()
            .map(|c| RuleChangeView {
                rule_code: c.rule_code,
                version: c.version,
                district: some(c.district),
                change: c.change,
                summary: c.summary,
                changed_by: c.changed_by,
                published_at: rfc3339(c.published_at),
                effective_from: rfc3339(c.effective_from),
            })
            .collect(),
        next_cursor: r.page.and_then(|p| some(p.next_cursor)),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DraftSaved {
    pub draft_id: String,
}

/// Saves a rule draft. City admins: city-wide rules; district admins: their district's own
/// rules and tightenings of city rules (never looser).
#[utoipa::path(post, path = "/v1/admin/rules/drafts", tag = "admin", security(("bearer" = [])), request_body = RuleView,
    responses((status = 201, body = DraftSaved), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn save_draft(
    State(state): State<AppState>,
    Admin(caller): Admin,
    JsonBody(body): JsonBody<RuleView>,
) -> HttpResult<(StatusCode, Json<DraftSaved>)> {
    let rule = pb::Rule::try_from(body)?;
    let r = state
        .intake()
        .save_rule_draft(caller.request(pb::SaveRuleDraftRequest { rule: Some(rule) }))
        .await?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(DraftSaved {
            draft_id: r.draft_id,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateBody {
    #[schema(value_type = Vec<uuid::Uuid>, min_items = 1, max_items = 100)]
    pub draft_ids: Vec<String>,
    /// RFC 3339: the period of stored events to replay, `[from, to)`.
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimulationCellView {
    /// A district code, or absent for city-wide events that named no district.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    pub category: String,
    pub points_before: u64,
    pub points_after: u64,
    pub yuan_before: String,
    pub yuan_after: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimulationView {
    pub events_replayed: u64,
    pub cells: Vec<SimulationCellView>,
}

/// What-if: replays the stored events of a period under the rules in force and under the
/// drafts, and reports points and yuan per district and category.
#[utoipa::path(post, path = "/v1/admin/rules/drafts/simulate", tag = "admin", security(("bearer" = [])), request_body = SimulateBody,
    responses((status = 200, body = SimulationView), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn simulate(
    State(state): State<AppState>,
    Admin(caller): Admin,
    JsonBody(body): JsonBody<SimulateBody>,
) -> HttpResult<Json<SimulationView>> {
    let r = state
        .intake()
        .simulate_drafts(caller.request(pb::SimulateDraftsRequest {
            draft_ids: body.draft_ids,
            from: Some(timestamp("from", &body.from)?),
            to: Some(timestamp("to", &body.to)?),
        }))
        .await?
        .into_inner();
    Ok(Json(SimulationView {
        events_replayed: r.events_replayed,
        cells: r
            .cells
            .into_iter()
            .map(|c| SimulationCellView {
                district: some(c.district),
                category: BehaviourCategory::try_from(c.category)
                    .map(|c| enum_name(c.as_str_name(), "BEHAVIOUR_CATEGORY_"))
                    .unwrap_or_default(),
                yuan_before: yuan(c.points_before),
                yuan_after: yuan(c.points_after),
                points_before: c.points_before,
                points_after: c.points_after,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    #[schema(value_type = Vec<uuid::Uuid>, min_items = 1, max_items = 100)]
    pub draft_ids: Vec<String>,
    /// RFC 3339; now when absent, never in the past.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub effective_from: Option<String>,
}

/// Publishes drafts as new rule versions; awards already made never change.
#[utoipa::path(post, path = "/v1/admin/rules/drafts/publish", tag = "admin", security(("bearer" = [])), request_body = PublishBody,
    responses((status = 200, body = Rules), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn publish(
    State(state): State<AppState>,
    Admin(caller): Admin,
    JsonBody(body): JsonBody<PublishBody>,
) -> HttpResult<Json<Rules>> {
    let effective_from = body
        .effective_from
        .as_deref()
        .map(|t| timestamp("effective_from", t))
        .transpose()?;
    let r = state
        .intake()
        .publish_drafts(caller.request(pb::PublishDraftsRequest {
            draft_ids: body.draft_ids,
            effective_from,
        }))
        .await?
        .into_inner();
    Ok(Json(Rules {
        rules: r.rules.into_iter().map(Into::into).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn times_of_any_text_parse_or_are_refused_naming_the_field(s in any::<String>()) {
            if let Err(e) = timestamp("occurred_at", &s) {
                prop_assert_eq!(e.field(), Some("occurred_at"));
            }
        }
    }

    #[test]
    fn times_are_rfc_3339_in_any_offset() {
        let t = timestamp("at", "2026-12-04T07:00:00+08:00").unwrap();
        assert_eq!(t.seconds, 1_796_338_800);
        assert!(timestamp("at", "2026-12-04").is_err());
    }
}
