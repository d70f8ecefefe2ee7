//! `/v1/station/*`: the health-station counter, for residents who come in person (many older
//! residents have no smartphone). Every action starts with the resident proving who they are —
//! their ID card's number, or the code their app shows (`POST /v1/me/station-code`, scanned from
//! its QR code) — and is written to their access log by the exchange before it happens. To look
//! a resident up or order for them, the exchange hands the gateway a two-minute resident token
//! naming the staff member (`act`); the gateway uses it for that one call and never shows it.

use axum::{Json, extract::State, http::HeaderMap, http::StatusCode};
use healthpoints_errors::ApiError;
use healthpoints_proto::{exchange::v1 as xpb, identity::v1 as ipb};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::mall::{OrderBody, OrderView, idempotency_key, place_order};
use super::partners::{RecordResultView, result_view};
use super::points::{BalanceView, balances_of};
use super::views::{rfc3339, some, timestamp};
use crate::{
    AppState,
    auth::{Caller, Resident, StationStaff},
    body::JsonBody,
    error::{HttpResult, Problem},
};

/// How the resident at the counter proves who they are: exactly one of the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofBody {
    /// Read from their ID card (18 characters). Never stored or logged by the counter's path.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{17}[0-9Xx]$")]
    pub id_number: Option<String>,
    /// The code their app shows (`POST /v1/me/station-code`), scanned from its QR code.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub station_code: Option<String>,
}

fn proof(id_number: Option<String>, station_code: Option<String>) -> HttpResult<xpb::CounterProof> {
    use xpb::counter_proof::Proof;
    let proof = match (id_number, station_code) {
        (Some(n), None) => Proof::IdNumber(n),
        (None, Some(c)) => Proof::StationCode(c),
        _ => {
            return Err(ApiError::invalid(
                "id_number",
                "set exactly one of id_number (from the ID card) and station_code (from the resident's app)",
            )
            .into());
        }
    };
    Ok(xpb::CounterProof { proof: Some(proof) })
}

/// The resident at the counter, as the counter may see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CounterResidentView {
    pub resident_id: String,
    /// e.g. "张*明": enough to confirm with the person in front of the counter.
    pub name_masked: String,
    pub residence_district: String,
    /// YYYY-MM-DD.
    pub birth_date: String,
    /// Where their family-doctor contract is signed: their redemptions go to that district's
    /// mall first, then the city mall.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_doctor_district: Option<String>,
}

impl From<xpb::CounterResident> for CounterResidentView {
    fn from(r: xpb::CounterResident) -> Self {
        Self {
            resident_id: r.resident_id,
            name_masked: r.name_masked,
            residence_district: r.residence_district,
            birth_date: r.birth_date,
            family_doctor_district: some(r.family_doctor_district),
        }
    }
}

/// The resident proves who they are; the exchange logs the visit and answers with a delegated
/// token for this one action.
async fn visit(
    state: &AppState,
    staff: &Caller,
    proof: xpb::CounterProof,
    purpose: &str,
) -> HttpResult<(CounterResidentView, Caller)> {
    let r = state
        .exchange()
        .start_station_visit(staff.request(xpb::StartStationVisitRequest {
            proof: Some(proof),
            purpose: purpose.into(),
        }))
        .await?
        .into_inner();
    let resident: CounterResidentView = r.resident.ok_or_else(ApiError::internal)?.into();
    let id = Uuid::parse_str(&resident.resident_id).map_err(|_| ApiError::internal())?;
    Ok((resident, Caller::delegated(id, r.access_token)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LookupView {
    pub resident: CounterResidentView,
    /// Their points in every book, and what expires when.
    pub balances: Vec<BalanceView>,
}

/// Who the resident at the counter is and how many points they hold. In their access log.
#[utoipa::path(post, path = "/v1/station/lookup", tag = "station", security(("bearer" = [])), request_body = ProofBody,
    responses((status = 200, body = LookupView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "nobody is registered under this ID number or code"),
        (status = 422, body = Problem, description = "the resident's account is suspended or closed")))]
pub async fn lookup(
    State(state): State<AppState>,
    StationStaff { caller, .. }: StationStaff,
    JsonBody(b): JsonBody<ProofBody>,
) -> HttpResult<Json<LookupView>> {
    let (resident, acting) = visit(
        &state,
        &caller,
        proof(b.id_number, b.station_code)?,
        "lookup",
    )
    .await?;
    // The delegated token's own resident, as `visit` made it.
    let id = acting
        .principal
        .resident_id()
        .ok_or_else(ApiError::internal)?;
    let balances = balances_of(&state, &acting, id).await?.balances;
    Ok(Json(LookupView { resident, balances }))
}

/// A behaviour to record for the resident at the counter.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationRecordBody {
    #[serde(default)]
    #[schema(pattern = "^[0-9]{17}[0-9Xx]$")]
    pub id_number: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub station_code: Option<String>,
    /// The counter's own id for this record (a retry sends the same; the counter's page makes
    /// one per form).
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    pub record_id: String,
    /// A behaviour whose rule takes the `station` source (`GET /v1/rules`): e.g.
    /// `community.lecture`, `health_station.self_test`, `elderly.health_check`.
    #[schema(min_length = 1, max_length = 64, pattern = "\\S")]
    pub behaviour: String,
    /// RFC 3339; default now.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
    /// Default 1.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub quantity: Option<u64>,
    /// Evidence the rule asks for (e.g. `lecture_id`). The institution and the staff member
    /// are added by the exchange.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StationRecordView {
    pub resident: CounterResidentView,
    pub result: RecordResultView,
}

/// Records a behaviour for the resident at the counter, judged like every record (rules, caps,
/// fraud guards) with the staff member and institution on it. In their access log.
#[utoipa::path(post, path = "/v1/station/behaviours", tag = "station", security(("bearer" = [])), request_body = StationRecordBody,
    responses((status = 200, body = StationRecordView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn record(
    State(state): State<AppState>,
    StationStaff { caller, .. }: StationStaff,
    JsonBody(b): JsonBody<StationRecordBody>,
) -> HttpResult<Json<StationRecordView>> {
    let proof = proof(b.id_number, b.station_code)?;
    let occurred_at = b
        .occurred_at
        .map(|t| timestamp("occurred_at", &t))
        .transpose()?;
    let r = state
        .exchange()
        .submit_station_record(caller.request(xpb::SubmitStationRecordRequest {
            proof: Some(proof),
            record_id: b.record_id,
            behaviour: b.behaviour,
            occurred_at,
            quantity: b.quantity.unwrap_or(1),
            attributes: b.attributes.into_iter().collect(),
        }))
        .await?
        .into_inner();
    Ok(Json(StationRecordView {
        resident: r.resident.ok_or_else(ApiError::internal)?.into(),
        result: result_view(r.result.ok_or_else(ApiError::internal)?),
    }))
}

/// An order the counter places for the resident, with their consent given at the counter.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationOrderBody {
    #[serde(default)]
    #[schema(pattern = "^[0-9]{17}[0-9Xx]$")]
    pub id_number: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub station_code: Option<String>,
    /// `true`: the resident agreed at the counter to this order and its points. Required.
    pub resident_consents: bool,
    /// `city` or a district code.
    pub mall: String,
    #[schema(format = Uuid)]
    pub product_id: String,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 20)]
    pub quantity: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StationOrderView {
    pub resident: CounterResidentView,
    /// The order, with the voucher to print or show (`voucher_code`, `scan_payload`).
    pub order: OrderView,
}

/// Places an order for the resident at the counter, as they would in their app: the same
/// limits and checks, the points reserved from their balance, a voucher to print or show.
/// Send a fresh `Idempotency-Key` per order. In their access log.
#[utoipa::path(post, path = "/v1/station/orders", tag = "station", security(("bearer" = [])), request_body = StationOrderBody,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = StationOrderView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem, description = "sold out, limit reached, not enough points, not on sale, account suspended")))]
pub async fn order(
    State(state): State<AppState>,
    StationStaff { caller, .. }: StationStaff,
    headers: HeaderMap,
    JsonBody(b): JsonBody<StationOrderBody>,
) -> HttpResult<(StatusCode, Json<StationOrderView>)> {
    if !b.resident_consents {
        return Err(ApiError::invalid(
            "resident_consents",
            "ask the resident first: an order is placed for them only with their consent",
        )
        .into());
    }
    let key = idempotency_key(&headers)?;
    let proof = proof(b.id_number, b.station_code)?;
    let (resident, acting) = visit(&state, &caller, proof, "order").await?;
    let order = place_order(
        &state,
        &acting,
        &b.mall,
        key,
        OrderBody {
            product_id: b.product_id,
            quantity: b.quantity.unwrap_or(1),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(StationOrderView { resident, order }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StationCodeView {
    /// Show it as a QR code at a health-station counter.
    pub code: String,
    /// RFC 3339: a few minutes from now.
    pub expires_at: String,
}

/// A short-lived code to show at a health-station counter instead of an ID card.
#[utoipa::path(post, path = "/v1/me/station-code", tag = "resident", security(("bearer" = [])),
    responses((status = 200, body = StationCodeView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn station_code(
    State(state): State<AppState>,
    Resident { caller, .. }: Resident,
) -> HttpResult<Json<StationCodeView>> {
    let r = state
        .identity()
        .issue_station_code(caller.request(ipb::IssueStationCodeRequest {}))
        .await?
        .into_inner();
    Ok(Json(StationCodeView {
        code: r.code,
        expires_at: rfc3339(r.expires_at).ok_or_else(ApiError::internal)?,
    }))
}

/// A forgotten password reset at the counter.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationPasswordBody {
    /// Read from the resident's ID card: the check a reset needs (a station code is not one).
    #[schema(pattern = "^[0-9]{17}[0-9Xx]$")]
    pub id_number: String,
    /// At least 8 characters with a letter and a digit, typed by the resident.
    #[schema(
        min_length = 8,
        max_length = 128,
        pattern = "^([\\s\\S]*[A-Za-z][\\s\\S]*[0-9][\\s\\S]*|[\\s\\S]*[0-9][\\s\\S]*[A-Za-z][\\s\\S]*)$"
    )]
    pub new_password: String,
}

/// Resets the password of the resident at the counter, after checking their ID card: every
/// session of theirs is signed out; the visit is in their access log.
#[utoipa::path(post, path = "/v1/station/password", tag = "station", security(("bearer" = [])), request_body = StationPasswordBody,
    responses((status = 200, body = CounterResidentView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "nobody is registered under this ID number"),
        (status = 422, body = Problem, description = "the resident's account is suspended or closed"),
        (status = 429, body = Problem, description = "the counter's budget is spent")))]
pub async fn password(
    State(state): State<AppState>,
    StationStaff { caller, .. }: StationStaff,
    JsonBody(b): JsonBody<StationPasswordBody>,
) -> HttpResult<Json<CounterResidentView>> {
    let r = state
        .exchange()
        .reset_password_at_counter(caller.request(xpb::ResetPasswordAtCounterRequest {
            proof: Some(proof(Some(b.id_number), None)?),
            new_password: b.new_password,
        }))
        .await?
        .into_inner();
    Ok(Json(r.resident.ok_or_else(ApiError::internal)?.into()))
}
