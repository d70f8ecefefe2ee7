//! The fun of earning points and its guard rails: challenges (residents list and join; admins
//! create), leaderboards (opt-in, masked names), honours, and the admins' fraud review queue.
//! Rights are checked by intake itself; these handlers only translate.

// utoipa's `params(...)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use axum::{Json, extract::State, http::StatusCode};
use chrono::{FixedOffset, Utc};
use healthpoints_errors::ApiError;
use healthpoints_proto::{common::v1::PageRequest, intake::v1 as pb};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    behaviours::OutcomeView,
    views::{level_from_name, level_name, rfc3339, some, timestamp, yuan},
};
use crate::body::{JsonBody, Params, Segments};
use crate::{
    AppState,
    auth::{Admin, Caller, Resident},
    error::{HttpResult, Problem},
};

/// A challenge: reach `daily_min_quantity` of a behaviour on `days_required` days between
/// `starts_at` and `ends_at`; completing it pays `bonus_points` once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeView {
    pub challenge_id: String,
    pub title: String,
    /// Absent for city-wide challenges.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    pub behaviour: String,
    pub daily_min_quantity: u64,
    pub days_required: u32,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub bonus_points: u64,
    pub bonus_yuan: String,
    /// `city` or `district`: which points the bonus pays.
    pub level: String,
}

impl From<pb::Challenge> for ChallengeView {
    fn from(c: pb::Challenge) -> Self {
        Self {
            challenge_id: c.challenge_id,
            title: c.title,
            district: some(c.district),
            behaviour: c.behaviour_code,
            daily_min_quantity: c.daily_min_quantity,
            days_required: c.days_required,
            starts_at: rfc3339(c.starts_at),
            ends_at: rfc3339(c.ends_at),
            bonus_yuan: yuan(c.bonus_points),
            bonus_points: c.bonus_points,
            level: level_name(c.level),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeProgressView {
    #[serde(flatten)]
    pub challenge: ChallengeView,
    pub joined: bool,
    /// Days in the window that reached the goal (days before joining count).
    pub days_done: u32,
    pub completed: bool,
    /// The bonus award, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bonus: Option<OutcomeView>,
}

impl TryFrom<pb::ChallengeProgress> for ChallengeProgressView {
    type Error = ApiError;

    fn try_from(p: pb::ChallengeProgress) -> Result<Self, ApiError> {
        Ok(Self {
            challenge: p.challenge.ok_or_else(ApiError::internal)?.into(),
            joined: p.joined,
            days_done: p.days_done,
            completed: p.completed,
            bonus: p.bonus.map(Into::into),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Challenges {
    pub challenges: Vec<ChallengeProgressView>,
}

/// The challenges open to me (city-wide and my district's), with my progress.
#[utoipa::path(get, path = "/v1/me/challenges", tag = "resident", security(("bearer" = [])),
    responses((status = 200, body = Challenges), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn my_challenges(
    State(state): State<AppState>,
    Resident { caller, id }: Resident,
) -> HttpResult<Json<Challenges>> {
    let resident_id = id.to_string();
    let r = state
        .intake()
        .list_challenges(caller.request(pb::ListChallengesRequest { resident_id }))
        .await?
        .into_inner();
    Ok(Json(Challenges {
        challenges: r
            .challenges
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?,
    }))
}

/// Join a challenge; answers my progress (joining again changes nothing).
#[utoipa::path(post, path = "/v1/me/challenges/{id}/join", tag = "resident", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ChallengeProgressView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn join(
    State(state): State<AppState>,
    Resident {
        caller,
        id: resident_id,
    }: Resident,
    Segments(id): Segments<String>,
) -> HttpResult<Json<ChallengeProgressView>> {
    let resident_id = resident_id.to_string();
    let r = state
        .intake()
        .join_challenge(caller.request(pb::JoinChallengeRequest {
            resident_id,
            challenge_id: id,
        }))
        .await?
        .into_inner();
    Ok(Json(r.progress.ok_or_else(ApiError::internal)?.try_into()?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeBody {
    pub title: String,
    /// Absent: city-wide (city admins only).
    #[serde(default)]
    #[schema(value_type = Option<super::views::District>)]
    pub district: Option<String>,
    pub behaviour: String,
    #[serde(default)]
    pub daily_min_quantity: u64,
    #[schema(minimum = 1)]
    pub days_required: u32,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub starts_at: String,
    #[schema(format = DateTime)]
    pub ends_at: String,
    /// At most 10,000.
    #[schema(minimum = 1, maximum = 10000)]
    pub bonus_points: u64,
    /// `city` or `district` (a district admin's challenges pay district points).
    #[schema(value_type = super::views::names::Level)]
    pub level: String,
}

/// Create a challenge. City admins: city-wide or any district's; a district admin: their own
/// district's, paying district points.
#[utoipa::path(post, path = "/v1/admin/challenges", tag = "admin", security(("bearer" = [])), request_body = ChallengeBody,
    responses((status = 201, body = ChallengeView), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn create_challenge(
    State(state): State<AppState>,
    Admin(caller): Admin,
    JsonBody(b): JsonBody<ChallengeBody>,
) -> HttpResult<(StatusCode, Json<ChallengeView>)> {
    let challenge = pb::Challenge {
        challenge_id: String::new(),
        title: b.title,
        district: b.district.unwrap_or_default(),
        behaviour_code: b.behaviour,
        daily_min_quantity: b.daily_min_quantity,
        days_required: b.days_required,
        starts_at: Some(timestamp("starts_at", &b.starts_at)?),
        ends_at: Some(timestamp("ends_at", &b.ends_at)?),
        bonus_points: b.bonus_points,
        level: level_from_name("level", &b.level)? as i32,
    };
    let r = state
        .intake()
        .create_challenge(caller.request(pb::CreateChallengeRequest {
            challenge: Some(challenge),
        }))
        .await?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(r.challenge.ok_or_else(ApiError::internal)?.into()),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardQuery {
    /// `city` (default) or a district code.
    #[serde(default)]
    pub scope: Option<String>,
    /// A month `2026-11` (default: this month, Asia/Shanghai) or an ISO week `2026-W47`.
    #[serde(default)]
    pub period: Option<String>,
    /// At most 100; 10 by default.
    #[serde(default, deserialize_with = "super::views::leaderboard_limit")]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeaderboardEntryView {
    pub rank: u32,
    /// e.g. `张*明`.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    pub points: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeaderboardView {
    pub scope: String,
    pub period: String,
    pub entries: Vec<LeaderboardEntryView>,
}

/// A leaderboard: residents who opted in, by points earned for what they did in the period,
/// under masked names. Any signed-in user.
#[utoipa::path(get, path = "/v1/leaderboards", tag = "resident", security(("bearer" = [])), params(LeaderboardQuery),
    responses((status = 200, body = LeaderboardView), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn leaderboard(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<LeaderboardQuery>,
) -> HttpResult<Json<LeaderboardView>> {
    let scope = q.scope.unwrap_or_else(|| "city".into());
    let period = q.period.unwrap_or_else(|| {
        let shanghai = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
        Utc::now()
            .with_timezone(&shanghai)
            .format("%Y-%m")
            .to_string()
    });
    let r = state
        .intake()
        .get_leaderboard(caller.request(pb::GetLeaderboardRequest {
            scope: scope.clone(),
            period: period.clone(),
            limit: q.limit.unwrap_or_default(),
        }))
        .await?
        .into_inner();
    Ok(Json(LeaderboardView {
        scope,
        period,
        entries: r
            .entries
            .into_iter()
            .map(|e| LeaderboardEntryView {
                rank: e.rank,
                name: e.name_masked,
                district: some(e.district),
                points: e.points,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptIn {
    pub opt_in: bool,
}

/// Opt in to (or out of) leaderboards. Nobody is ranked without opting in.
#[utoipa::path(put, path = "/v1/me/leaderboard", tag = "resident", security(("bearer" = [])), request_body = OptIn,
    responses((status = 200, body = OptIn), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn set_opt_in(
    State(state): State<AppState>,
    Resident { caller, id }: Resident,
    JsonBody(b): JsonBody<OptIn>,
) -> HttpResult<Json<OptIn>> {
    let resident_id = id.to_string();
    state
        .intake()
        .set_leaderboard_opt_in(caller.request(pb::SetLeaderboardOptInRequest {
            resident_id,
            opt_in: b.opt_in,
        }))
        .await?;
    Ok(Json(b))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HonourBody {
    #[schema(format = Uuid)]
    pub resident_id: String,
    /// e.g. `health-star`.
    #[schema(pattern = "^[a-z][a-z0-9-]{1,31}$")]
    pub honour: String,
    /// The month honoured, `2026-11`.
    #[schema(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub period: String,
    /// Absent: a city honour (municipal points).
    #[serde(default)]
    #[schema(value_type = Option<super::views::District>)]
    pub district: Option<String>,
    /// At most 10,000.
    #[schema(minimum = 1, maximum = 10000)]
    pub points: u64,
    pub citation: String,
}

/// Award an honour with points and a citation: once per resident, honour, month and scope.
#[utoipa::path(post, path = "/v1/admin/honours", tag = "admin", security(("bearer" = [])), request_body = HonourBody,
    responses((status = 201, body = OutcomeView), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn award_honour(
    State(state): State<AppState>,
    Admin(caller): Admin,
    JsonBody(b): JsonBody<HonourBody>,
) -> HttpResult<(StatusCode, Json<OutcomeView>)> {
    let r = state
        .intake()
        .award_honour(caller.request(pb::AwardHonourRequest {
            resident_id: b.resident_id,
            honour: b.honour,
            period: b.period,
            district: b.district.unwrap_or_default(),
            points: b.points,
            citation: b.citation,
        }))
        .await?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(r.outcome.ok_or_else(ApiError::internal)?.into()),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// A district code; district admins see their own by default, city admins all.
    #[serde(default)]
    pub district: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
    /// At most 500; 50 by default.
    #[serde(default, deserialize_with = "super::views::page_size")]
    pub page_size: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewQueue {
    pub held: Vec<OutcomeView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Held outcomes awaiting review, oldest first.
#[utoipa::path(get, path = "/v1/admin/review-queue", tag = "admin", security(("bearer" = [])), params(ReviewQuery),
    responses((status = 200, body = ReviewQueue), (status = 403, body = Problem)))]
pub async fn review_queue(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Params(q): Params<ReviewQuery>,
) -> HttpResult<Json<ReviewQueue>> {
    let r = state
        .intake()
        .list_review_queue(caller.request(pb::ListReviewQueueRequest {
            district: q.district.unwrap_or_default(),
            page: Some(PageRequest {
                page_size: q.page_size.unwrap_or_default(),
                cursor: q.cursor.unwrap_or_default(),
            }),
        }))
        .await?
        .into_inner();
    Ok(Json(ReviewQueue {
        held: r.held.into_iter().map(Into::into).collect(),
        next_cursor: r.page.and_then(|p| some(p.next_cursor)),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// `release` (the points are paid) or `reject`.
    #[schema(value_type = super::views::names::Decision)]
    pub decision: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// Release or reject a held outcome.
#[utoipa::path(post, path = "/v1/admin/review-queue/{event_id}", tag = "admin", security(("bearer" = [])), request_body = ReviewDecision,
    params(("event_id" = String, Path)),
    responses((status = 200, body = OutcomeView), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn resolve_review(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(event_id): Segments<String>,
    JsonBody(b): JsonBody<ReviewDecision>,
) -> HttpResult<Json<OutcomeView>> {
    let release = match b.decision.as_str() {
        "release" => true,
        "reject" => false,
        _ => return Err(ApiError::invalid("decision", "must be release or reject").into()),
    };
    let r = state
        .intake()
        .resolve_review(caller.request(pb::ResolveReviewRequest {
            event_id,
            release,
            note: b.note.unwrap_or_default(),
        }))
        .await?
        .into_inner();
    Ok(Json(r.outcome.ok_or_else(ApiError::internal)?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagBody {
    /// Why, for the reviewers.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// Flag a resident for review: their awards are held until a reviewer decides.
#[utoipa::path(post, path = "/v1/admin/residents/{id}/review-flag", tag = "admin", security(("bearer" = [])), request_body = FlagBody,
    params(("id" = String, Path)),
    responses((status = 204), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn flag(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(id): Segments<String>,
    JsonBody(b): JsonBody<FlagBody>,
) -> HttpResult<StatusCode> {
    set_flag(&state, &caller, id, b.reason, false).await
}

/// Lift a resident's review flag (held outcomes stay in the queue).
#[utoipa::path(delete, path = "/v1/admin/residents/{id}/review-flag", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn unflag(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(id): Segments<String>,
) -> HttpResult<StatusCode> {
    set_flag(&state, &caller, id, String::new(), true).await
}

async fn set_flag(
    state: &AppState,
    caller: &Caller,
    resident_id: String,
    reason: String,
    clear: bool,
) -> HttpResult<StatusCode> {
    state
        .intake()
        .flag_resident(caller.request(pb::FlagResidentRequest {
            resident_id,
            reason,
            clear,
        }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
