//! A resident's consents (per partner and data category) and "who accessed my data"; admins
//! query the access log by partner, resident and period. Rights are checked by the exchange.

// utoipa's `params(...)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use axum::{Json, extract::State};
use healthpoints_errors::ApiError;
use healthpoints_proto::{common::v1::PageRequest, exchange::v1 as pb};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::views::{rfc3339, some, timestamp};
use crate::body::{JsonBody, Params, Segments};
use crate::{
    AppState,
    auth::{Admin, Caller, PartnerClient, Resident},
    error::{HttpResult, Problem},
};

const CATEGORIES: &str =
    "must be steps_exercise, sleep, chronic_disease, vaccination, screening or points_summary";

fn category(field: &str, raw: &str) -> Result<pb::ConsentCategory, ApiError> {
    Ok(match raw.trim() {
        "steps_exercise" => pb::ConsentCategory::StepsExercise,
        "sleep" => pb::ConsentCategory::Sleep,
        "chronic_disease" => pb::ConsentCategory::ChronicDisease,
        "vaccination" => pb::ConsentCategory::Vaccination,
        "screening" => pb::ConsentCategory::Screening,
        "points_summary" => pb::ConsentCategory::PointsSummary,
        _ => return Err(ApiError::invalid(field, CATEGORIES)),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub partner_id: String,
    /// `steps_exercise`, `sleep`, `chronic_disease`, `vaccination`, `screening`,
    /// `points_summary`.
    #[schema(value_type = super::views::names::ConsentCategory)]
    pub category: String,
    pub purpose: String,
    pub granted_at: Option<String>,
    /// Set once revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    pub active: bool,
}

impl From<pb::Consent> for ConsentView {
    fn from(c: pb::Consent) -> Self {
        Self {
            partner_id: c.partner_id,
            category: pb::ConsentCategory::try_from(c.category)
                .map(|c| {
                    c.as_str_name()
                        .trim_start_matches("CONSENT_CATEGORY_")
                        .to_ascii_lowercase()
                })
                .unwrap_or_default(),
            purpose: c.purpose,
            granted_at: rfc3339(c.granted_at),
            active: c.revoked_at.is_none(),
            revoked_at: rfc3339(c.revoked_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Consents {
    pub consents: Vec<ConsentView>,
}

/// My consents, current and revoked.
#[utoipa::path(get, path = "/v1/me/consents", tag = "resident", security(("bearer" = [])),
    responses((status = 200, body = Consents), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Resident { caller, .. }: Resident,
) -> HttpResult<Json<Consents>> {
    let r = state
        .exchange()
        .list_consents(caller.request(pb::ListConsentsRequest::default()))
        .await?
        .into_inner();
    Ok(Json(Consents {
        consents: r.consents.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub partner_id: String,
    #[schema(value_type = super::views::names::ConsentCategory)]
    pub category: String,
    /// What the resident agrees the data is for, in their words or the partner's.
    #[serde(default)]
    pub purpose: String,
}

/// Grants a partner consent for one data category (again after a revocation: a new grant).
#[utoipa::path(put, path = "/v1/me/consents", tag = "resident", security(("bearer" = [])), request_body = GrantBody,
    responses((status = 200, body = ConsentView), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn grant(
    State(state): State<AppState>,
    Resident { caller, .. }: Resident,
    JsonBody(b): JsonBody<GrantBody>,
) -> HttpResult<Json<ConsentView>> {
    let r = state
        .exchange()
        .grant_consent(caller.request(pb::GrantConsentRequest {
            resident_id: String::new(),
            partner_id: b.partner_id,
            category: category("category", &b.category)? as i32,
            purpose: b.purpose,
        }))
        .await?
        .into_inner();
    Ok(Json(r.consent.ok_or_else(ApiError::internal)?.into()))
}

/// Revokes a consent: the partner's records in that category are refused from now on; points
/// already earned stay.
#[utoipa::path(delete, path = "/v1/me/consents/{partner_id}/{category}", tag = "resident", security(("bearer" = [])),
    params(("partner_id" = String, Path), ("category" = String, Path)),
    responses((status = 200, body = ConsentView), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    Resident { caller, .. }: Resident,
    Segments((partner_id, raw)): Segments<(String, String)>,
) -> HttpResult<Json<ConsentView>> {
    let r = state
        .exchange()
        .revoke_consent(caller.request(pb::RevokeConsentRequest {
            resident_id: String::new(),
            partner_id,
            category: category("category", &raw)? as i32,
        }))
        .await?
        .into_inner();
    Ok(Json(r.consent.ok_or_else(ApiError::internal)?.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessEntryView {
    pub at: Option<String>,
    /// The partner id, `admin:<staff id>`, `station:<staff id>`, `resident` or `service:<name>`.
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_name: Option<String>,
    /// e.g. `submit_records`, `submit_contracts`.
    pub action: String,
    /// How many of the resident's records (or in all, for entries without a resident).
    pub records: u32,
    pub detail: String,
    /// Admins: the resident the entry is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resident_id: Option<String>,
    /// `<district>/<institution>` when a health-station counter acted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessLog {
    pub entries: Vec<AccessEntryView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessQuery {
    /// Admins: one partner's entries.
    #[serde(default)]
    pub partner_id: Option<String>,
    /// Admins: one resident's entries.
    #[serde(default)]
    pub resident_id: Option<String>,
    /// An admin of the district: its health stations' entries (`310118`), or one station's
    /// (`310118/QP-ZJJ-01`).
    #[serde(default)]
    pub station: Option<String>,
    /// RFC 3339; entries at or after.
    #[serde(default)]
    pub from: Option<String>,
    /// RFC 3339; entries before.
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default, deserialize_with = "super::views::page_size")]
    pub page_size: Option<u32>,
}

async fn access_log(state: &AppState, caller: &Caller, q: AccessQuery) -> HttpResult<AccessLog> {
    use pb::list_access_log_request::Filter;
    let filter = match (q.resident_id, q.partner_id, q.station) {
        (Some(r), None, None) => Some(Filter::ResidentId(r)),
        (None, Some(p), None) => Some(Filter::PartnerId(p)),
        (None, None, Some(s)) => Some(Filter::Station(s)),
        (None, None, None) => None,
        _ => {
            return Err(ApiError::invalid(
                "partner_id",
                "give one of resident_id, partner_id and station",
            )
            .into());
        }
    };
    let r = state
        .exchange()
        .list_access_log(caller.request(pb::ListAccessLogRequest {
            filter,
            from: q.from.map(|t| timestamp("from", &t)).transpose()?,
            to: q.to.map(|t| timestamp("to", &t)).transpose()?,
            page: Some(PageRequest {
                page_size: q.page_size.unwrap_or_default(),
                cursor: q.cursor.unwrap_or_default(),
            }),
        }))
        .await?
        .into_inner();
    Ok(AccessLog {
        entries: r
            .entries
            .into_iter()
            .map(|e| AccessEntryView {
                at: rfc3339(e.at),
                actor: e.actor,
                partner_name: some(e.partner_name),
                action: e.action,
                records: e.records,
                detail: e.detail,
                resident_id: some(e.resident_id),
                station: some(e.station),
            })
            .collect(),
        next_cursor: r.page.and_then(|p| some(p.next_cursor)),
    })
}

/// Who sent or read my data, when and what, newest first.
#[utoipa::path(get, path = "/v1/me/access-log", tag = "resident", security(("bearer" = [])),
    params(("cursor" = Option<String>, Query), ("page_size" = Option<u32>, Query)),
    responses((status = 200, body = AccessLog), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn mine(
    State(state): State<AppState>,
    Resident { caller, .. }: Resident,
    Params(q): Params<AccessQuery>,
) -> HttpResult<Json<AccessLog>> {
    Ok(Json(access_log(&state, &caller, q).await?))
}

/// The access log by partner, resident and period (city admins); a district's health
/// stations' activity, or one station's, with `station` (the city admin or that district's
/// admins).
#[utoipa::path(get, path = "/v1/admin/access-log", tag = "admin", security(("bearer" = [])), params(AccessQuery),
    responses((status = 200, body = AccessLog), (status = 403, body = Problem)))]
pub async fn audit(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Params(q): Params<AccessQuery>,
) -> HttpResult<Json<AccessLog>> {
    Ok(Json(access_log(&state, &caller, q).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonthView {
    /// `2026-11`.
    pub month: String,
    pub points_earned: u64,
    /// `low` (under 300 points), `medium` (from 300) or `high` (from 900).
    pub activity_level: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PointsSummary {
    pub resident_id: String,
    /// The last twelve months, newest first.
    pub months: Vec<MonthView>,
}

/// A resident's health-behaviour level per month (scope `points-summary:read`), only under the
/// resident's active `points_summary` consent to this partner; the read is in their access log.
#[utoipa::path(get, path = "/v1/partner/residents/{id}/points-summary", tag = "partner", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = PointsSummary), (status = 403, body = Problem)))]
pub async fn points_summary(
    State(state): State<AppState>,
    PartnerClient(caller): PartnerClient,
    Segments(id): Segments<String>,
) -> HttpResult<Json<PointsSummary>> {
    let r = state
        .exchange()
        .get_points_summary(caller.request(pb::GetPointsSummaryRequest { resident_id: id }))
        .await?
        .into_inner();
    Ok(Json(PointsSummary {
        resident_id: r.resident_id,
        months: r
            .months
            .into_iter()
            .map(|m| MonthView {
                month: m.month,
                points_earned: m.points_earned,
                activity_level: m.activity_level,
            })
            .collect(),
    }))
}
