//! De-identified statistics for partners with scope `statistics:read` and for admins (district
//! admins: their own district). The exchange decides who may and hides small cells.

// utoipa's `params(...)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use axum::{Json, extract::State};
use healthpoints_proto::{common::v1::BehaviourCategory, exchange::v1 as pb};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::views::{enum_name, yuan};
use crate::body::Params;
use crate::{
    AppState,
    auth::{Admin, Caller, PartnerClient},
    error::{HttpResult, Problem},
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatisticsQuery {
    /// A district code: its residents' cells and its book. Omitted: every district (partners
    /// and city admins); a district admin always gets their own.
    pub district: Option<String>,
    /// `2026-11` (Asia/Shanghai); omitted: the current month.
    pub month: Option<String>,
}

/// One cell. Cohort cells have a `category`, `age_band` and `residence_type`; a book total has
/// `category: null` and carries redeemed points and liability. Hidden figures are `null` and
/// `suppressed` is true.
#[derive(Debug, Serialize, ToSchema)]
pub struct CellView {
    /// `city` or `district:<code>`.
    pub book: String,
    /// Cohort cells: the residents' residence district; book totals: the book's district.
    pub district: Option<String>,
    /// `learning`, `lifestyle`, `public_health_service`, `public_welfare`; null for a book total.
    pub category: Option<String>,
    pub month: String,
    /// `0-17`, `18-39`, `40-59`, `60+`, `unknown`; null for a book total.
    pub age_band: Option<String>,
    /// `registered`, `permanent_migrant`, `unknown`; null for a book total.
    pub residence_type: Option<String>,
    pub participants: Option<u64>,
    pub points_issued: Option<u64>,
    pub points_redeemed: Option<u64>,
    /// Points residents hold in the book now, in points and yuan.
    pub liability_points: Option<u64>,
    pub liability_yuan: Option<String>,
    pub suppressed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Statistics {
    /// Fewer people than this in a cell hide its figures.
    pub min_cell: u32,
    pub cells: Vec<CellView>,
}

fn some(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

async fn read(state: AppState, caller: Caller, q: StatisticsQuery) -> HttpResult<Json<Statistics>> {
    let r = state
        .exchange()
        .get_statistics(caller.request(pb::GetStatisticsRequest {
            district: q.district.unwrap_or_default(),
            month: q.month.unwrap_or_default(),
        }))
        .await?
        .into_inner();
    Ok(Json(Statistics {
        min_cell: r.min_cell,
        cells: r
            .cells
            .into_iter()
            .map(|c| {
                let liability = c.liability.map(|y| y.fen);
                CellView {
                    book: c.book,
                    district: some(c.district),
                    category: BehaviourCategory::try_from(c.category)
                        .ok()
                        .filter(|c| *c != BehaviourCategory::Unspecified)
                        .map(|c| enum_name(c.as_str_name(), "BEHAVIOUR_CATEGORY_")),
                    month: c.month,
                    age_band: some(c.age_band),
                    residence_type: some(c.residence_type),
                    participants: c.participants,
                    points_issued: c.points_issued,
                    points_redeemed: c.points_redeemed,
                    liability_points: liability,
                    liability_yuan: liability.map(yuan),
                    suppressed: c.suppressed,
                }
            })
            .collect(),
    }))
}

/// De-identified statistics of a month (scope `statistics:read`): participants and points by
/// district, category, age band and residence type; per book also redeemed points and
/// liability. Cells under 10 people are hidden. The read is in the access log.
#[utoipa::path(get, path = "/v1/partner/statistics", tag = "partner", security(("bearer" = [])),
    params(StatisticsQuery),
    responses((status = 200, body = Statistics), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn partner(
    State(state): State<AppState>,
    PartnerClient(caller): PartnerClient,
    Params(q): Params<StatisticsQuery>,
) -> HttpResult<Json<Statistics>> {
    read(state, caller, q).await
}

/// The same statistics for admins: city admins any district, district admins their own.
#[utoipa::path(get, path = "/v1/admin/statistics", tag = "admin", security(("bearer" = [])),
    params(StatisticsQuery),
    responses((status = 200, body = Statistics), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn admin(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Params(q): Params<StatisticsQuery>,
) -> HttpResult<Json<Statistics>> {
    read(state, caller, q).await
}
