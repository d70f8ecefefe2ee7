//! `/v1/admin/*`: staff, clients, districts and residents, for city and district admins.
//! Every call is checked twice: here (the role) and in identity (the role and the bindings).

// utoipa's `params(ResidentsQuery)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use axum::{Json, extract::State, http::StatusCode};
use healthpoints_errors::ApiError;
use healthpoints_proto::{common::v1::PageRequest, exchange::v1 as xpb, identity::v1 as pb};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::me::{FamilyDoctor, ResidentView};
use super::oauth::{ShownOnce, shown_once};
use crate::body::{JsonBody, Params, Segments};
use crate::{
    AppState,
    auth::{Admin, Caller},
    error::{HttpResult, Problem},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateStaffRequest {
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9._-]{2,31}$")]
    pub username: String,
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// `city_admin`, `district_admin`, `merchant_operator` or `station_staff`.
    #[schema(value_type = super::views::names::StaffRole)]
    pub role: String,
    /// District admins and station staff: their district code.
    #[serde(default)]
    #[schema(value_type = Option<super::views::District>)]
    pub district: Option<String>,
    /// Merchant operators: the merchant's id.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub merchant_id: Option<String>,
    /// Merchant operators: `city` or a district code.
    #[serde(default)]
    pub mall: Option<String>,
    /// Station staff: the institution (health station, community health centre) they serve.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub institution_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateStaffResponse {
    pub staff_id: String,
}

/// Create a staff account. City admins: any role; district admins: merchant operators of their
/// own district's mall and station staff of their own district.
#[utoipa::path(post, path = "/v1/admin/staff", tag = "admin", security(("bearer" = [])), request_body = CreateStaffRequest,
    responses((status = 201, body = CreateStaffResponse), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn create_staff(
    State(state): State<AppState>,
    Admin(caller): Admin,
    JsonBody(r): JsonBody<CreateStaffRequest>,
) -> HttpResult<(StatusCode, Json<CreateStaffResponse>)> {
    let role = match r.role.as_str() {
        "city_admin" => pb::StaffRole::CityAdmin,
        "district_admin" => pb::StaffRole::DistrictAdmin,
        "merchant_operator" => pb::StaffRole::MerchantOperator,
        "station_staff" => pb::StaffRole::StationStaff,
        _ => {
            return Err(ApiError::invalid(
                "role",
                "must be city_admin, district_admin, merchant_operator or station_staff",
            )
            .into());
        }
    };
    let response = state
        .identity()
        .create_staff(caller.request(pb::CreateStaffRequest {
            username: r.username,
            password: r.password,
            role: role as i32,
            district: r.district.unwrap_or_default(),
            merchant_id: r.merchant_id.unwrap_or_default(),
            mall: r.mall.unwrap_or_default(),
            institution_code: r.institution_code.unwrap_or_default(),
        }))
        .await?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(CreateStaffResponse {
            staff_id: response.staff_id,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateClientRequest {
    /// `partner`, `merchant` or `service`.
    #[schema(value_type = super::views::names::ClientKind)]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub partner_id: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<super::views::names::Scope>)]
    pub scopes: Vec<String>,
    /// Service clients: e.g. `intake`, `district-mall`.
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub district: Option<String>,
    #[serde(default)]
    pub merchant_id: Option<String>,
    #[serde(default)]
    pub mall: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateClientResponse {
    pub client_id: String,
    /// Shown once; only its hash is kept.
    pub client_secret: String,
}

/// Create a client-credentials client (partner, merchant or service). City admin. A partner's
/// client is another client of a partner registered with `POST /v1/admin/partners` (a second
/// server, or a new secret before the old one is retired): it holds the partner's department
/// and registered scopes, which `PUT /v1/admin/partners/{id}` changes.
#[utoipa::path(post, path = "/v1/admin/clients", tag = "admin", security(("bearer" = [])), request_body = CreateClientRequest,
    responses((status = 201, body = CreateClientResponse), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "no partner is registered under partner_id")))]
pub async fn create_client(
    State(state): State<AppState>,
    Admin(caller): Admin,
    JsonBody(r): JsonBody<CreateClientRequest>,
) -> HttpResult<ShownOnce<CreateClientResponse>> {
    let kind = match r.kind.as_str() {
        "partner" => return partner_client(&state, &caller, r).await,
        "merchant" => pb::ClientKind::Merchant,
        "service" => pb::ClientKind::Service,
        _ => return Err(ApiError::invalid("kind", "must be partner, merchant or service").into()),
    };
    let response = state
        .identity()
        .create_client(caller.request(pb::CreateClientRequest {
            kind: kind as i32,
            name: r.name,
            partner_id: r.partner_id.unwrap_or_default(),
            department: r.department.unwrap_or_default(),
            scopes: r.scopes,
            service: r.service.unwrap_or_default(),
            district: r.district.unwrap_or_default(),
            merchant_id: r.merchant_id.unwrap_or_default(),
            mall: r.mall.unwrap_or_default(),
        }))
        .await?
        .into_inner();
    Ok(created(response.client_id, response.client_secret))
}

fn created(client_id: String, client_secret: String) -> ShownOnce<CreateClientResponse> {
    shown_once(CreateClientResponse {
        client_id,
        client_secret,
    })
}

/// A further client of a registered partner, made by the exchange (which keeps the registry
/// and checks the partner, its department and its scopes).
async fn partner_client(
    state: &AppState,
    caller: &Caller,
    r: CreateClientRequest,
) -> HttpResult<ShownOnce<CreateClientResponse>> {
    let response = state
        .exchange()
        .create_partner_client(caller.request(xpb::CreatePartnerClientRequest {
            partner_id: r.partner_id.unwrap_or_default(),
            department: r.department.unwrap_or_default(),
            scopes: r.scopes,
        }))
        .await?
        .into_inner();
    Ok(created(response.client_id, response.client_secret))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EnrolmentRequest {
    pub enrolled: bool,
}

/// A district and its enrolment.
#[derive(Debug, Serialize, ToSchema)]
pub struct DistrictView {
    pub code: String,
    pub name: String,
    pub enrolled: bool,
    /// RFC 3339; absent while not enrolled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolled_since: Option<String>,
}

impl From<healthpoints_proto::common::v1::District> for DistrictView {
    fn from(d: healthpoints_proto::common::v1::District) -> Self {
        Self {
            code: d.code,
            name: d.name,
            enrolled: d.enrolled,
            enrolled_since: d
                .enrolled_since
                .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }
    }
}

/// Enrol a district in the programme, or withdraw it. City admin.
#[utoipa::path(put, path = "/v1/admin/districts/{code}", tag = "admin", security(("bearer" = [])), request_body = EnrolmentRequest,
    params(("code" = String, Path, description = "GB/T 2260 district code")),
    responses((status = 200, body = DistrictView), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn set_enrolment(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(code): Segments<String>,
    JsonBody(r): JsonBody<EnrolmentRequest>,
) -> HttpResult<Json<DistrictView>> {
    let district = state
        .identity()
        .set_district_enrolment(caller.request(pb::SetDistrictEnrolmentRequest {
            code,
            enrolled: r.enrolled,
        }))
        .await?
        .into_inner()
        .district
        .ok_or_else(ApiError::internal)?;
    Ok(Json(district.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DistrictList {
    pub districts: Vec<DistrictView>,
}

/// The city's districts and which have joined. Public.
#[utoipa::path(get, path = "/v1/districts", tag = "public", responses((status = 200, body = DistrictList)))]
pub async fn districts(State(state): State<AppState>) -> HttpResult<Json<DistrictList>> {
    let districts = state
        .identity()
        .list_districts(pb::ListDistrictsRequest {})
        .await?
        .into_inner()
        .districts;
    Ok(Json(DistrictList {
        districts: districts.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResidentsQuery {
    /// District code; district admins may ask only for their own.
    pub district: String,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default, deserialize_with = "super::views::page_size")]
    pub page_size: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResidentPage {
    pub residents: Vec<ResidentView>,
    /// Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Residents of a district, in registration order.
#[utoipa::path(get, path = "/v1/admin/residents", tag = "admin", security(("bearer" = [])), params(ResidentsQuery),
    responses((status = 200, body = ResidentPage), (status = 403, body = Problem)))]
pub async fn list_residents(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Params(q): Params<ResidentsQuery>,
) -> HttpResult<Json<ResidentPage>> {
    let response = state
        .identity()
        .list_residents(caller.request(pb::ListResidentsRequest {
            district: q.district,
            page: Some(PageRequest {
                page_size: q.page_size.unwrap_or_default(),
                cursor: q.cursor.unwrap_or_default(),
            }),
        }))
        .await?
        .into_inner();
    let next = response
        .page
        .map(|p| p.next_cursor)
        .filter(|c| !c.is_empty());
    Ok(Json(ResidentPage {
        residents: response.residents.into_iter().map(Into::into).collect(),
        next_cursor: next,
    }))
}

/// One resident.
#[utoipa::path(get, path = "/v1/admin/residents/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ResidentView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_resident(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(id): Segments<String>,
) -> HttpResult<Json<ResidentView>> {
    let resident = state
        .identity()
        .get_resident(caller.request(pb::GetResidentRequest { resident_id: id }))
        .await?
        .into_inner()
        .resident
        .ok_or_else(ApiError::internal)?;
    Ok(Json(resident.into()))
}

fn resident_view(resident: Option<pb::Resident>) -> HttpResult<Json<ResidentView>> {
    Ok(Json(resident.ok_or_else(ApiError::internal)?.into()))
}

/// Sign or change a resident's family-doctor contract (routing follows it).
#[utoipa::path(put, path = "/v1/admin/residents/{id}/family-doctor", tag = "admin", security(("bearer" = [])), request_body = FamilyDoctor,
    params(("id" = String, Path)), responses((status = 200, body = ResidentView), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn set_family_doctor(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(id): Segments<String>,
    JsonBody(c): JsonBody<FamilyDoctor>,
) -> HttpResult<Json<ResidentView>> {
    let response = state
        .identity()
        .set_family_doctor_contract(caller.request(pb::SetFamilyDoctorContractRequest {
            resident_id: id,
            action: pb::ContractAction::Sign as i32,
            contract: Some(pb::FamilyDoctorContract {
                institution_code: c.institution_code,
                institution_name: c.institution_name,
                district: c.district,
                signed_on: c.signed_on,
                valid_until: c.valid_until,
            }),
        }))
        .await?
        .into_inner();
    resident_view(response.resident)
}

/// End a resident's family-doctor contract.
#[utoipa::path(delete, path = "/v1/admin/residents/{id}/family-doctor", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ResidentView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn end_family_doctor(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(id): Segments<String>,
) -> HttpResult<Json<ResidentView>> {
    let response = state
        .identity()
        .set_family_doctor_contract(caller.request(pb::SetFamilyDoctorContractRequest {
            resident_id: id,
            action: pb::ContractAction::End as i32,
            contract: None,
        }))
        .await?
        .into_inner();
    resident_view(response.resident)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SuspendRequest {
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// Suspend a resident with a reason.
#[utoipa::path(post, path = "/v1/admin/residents/{id}/suspend", tag = "admin", security(("bearer" = [])), request_body = SuspendRequest,
    params(("id" = String, Path)), responses((status = 200, body = ResidentView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn suspend(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(id): Segments<String>,
    JsonBody(r): JsonBody<SuspendRequest>,
) -> HttpResult<Json<ResidentView>> {
    let response = state
        .identity()
        .suspend_resident(caller.request(pb::SuspendResidentRequest {
            resident_id: id,
            reason: r.reason,
        }))
        .await?
        .into_inner();
    resident_view(response.resident)
}

/// Reinstate a suspended resident.
#[utoipa::path(post, path = "/v1/admin/residents/{id}/reinstate", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ResidentView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn reinstate(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(id): Segments<String>,
) -> HttpResult<Json<ResidentView>> {
    let response = state
        .identity()
        .reinstate_resident(caller.request(pb::ReinstateResidentRequest { resident_id: id }))
        .await?
        .into_inner();
    resident_view(response.resident)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotateResponse {
    /// The key id now used for signing.
    pub kid: String,
}

/// Rotate the token signing key; the old key stays published until its tokens expire. City admin.
#[utoipa::path(post, path = "/v1/admin/signing-keys/rotate", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = RotateResponse), (status = 403, body = Problem)))]
pub async fn rotate_key(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> HttpResult<Json<RotateResponse>> {
    let kid = state
        .identity()
        .rotate_signing_key(caller.request(pb::RotateSigningKeyRequest {}))
        .await?
        .into_inner()
        .kid;
    Ok(Json(RotateResponse { kid }))
}
