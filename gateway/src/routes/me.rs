//! `/v1/me`: the resident's own profile.

use axum::{Json, extract::State};
use healthpoints_errors::ApiError;
use healthpoints_proto::identity::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    AppState,
    auth::Resident,
    error::{HttpResult, Problem},
};

/// A family-doctor contract.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FamilyDoctor {
    #[schema(min_length = 1, max_length = 64)]
    pub institution_code: String,
    #[schema(min_length = 1, max_length = 100)]
    pub institution_name: String,
    /// GB/T 2260 code of the district where it is signed; drives mall routing.
    #[schema(value_type = super::views::District)]
    pub district: String,
    /// YYYY-MM-DD.
    #[schema(format = Date)]
    pub signed_on: String,
    /// YYYY-MM-DD.
    #[schema(format = Date)]
    pub valid_until: String,
}

/// A resident, with ID and phone numbers masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResidentView {
    pub resident_id: String,
    pub name: String,
    pub id_number_masked: String,
    pub phone_masked: String,
    pub residence_district: String,
    /// `registered` or `permanent_migrant`.
    pub residence_type: String,
    /// `active`, `suspended` or `closed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub family_doctor: Option<FamilyDoctor>,
    /// YYYY-MM-DD, from the ID number.
    pub birth_date: String,
    /// RFC 3339.
    pub registered_at: String,
}

impl From<pb::Resident> for ResidentView {
    fn from(r: pb::Resident) -> Self {
        let residence_type = match pb::ResidenceType::try_from(r.residence_type) {
            Ok(pb::ResidenceType::PermanentMigrant) => "permanent_migrant",
            _ => "registered",
        };
        let status = match pb::ResidentStatus::try_from(r.status) {
            Ok(pb::ResidentStatus::Suspended) => "suspended",
            Ok(pb::ResidentStatus::Closed) => "closed",
            _ => "active",
        };
        Self {
            resident_id: r.resident_id,
            name: r.name,
            id_number_masked: r.id_number_masked,
            phone_masked: r.phone_masked,
            residence_district: r.residence_district,
            residence_type: residence_type.into(),
            status: status.into(),
            status_reason: (!r.status_reason.is_empty()).then_some(r.status_reason),
            family_doctor: r.family_doctor.map(|c| FamilyDoctor {
                institution_code: c.institution_code,
                institution_name: c.institution_name,
                district: c.district,
                signed_on: c.signed_on,
                valid_until: c.valid_until,
            }),
            birth_date: r.birth_date,
            registered_at: r
                .registered_at
                .and_then(|t| {
                    chrono::DateTime::from_timestamp(
                        t.seconds,
                        u32::try_from(t.nanos).unwrap_or_default(),
                    )
                })
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
        }
    }
}

/// The calling resident's profile.
#[utoipa::path(get, path = "/v1/me", tag = "resident", security(("bearer" = [])),
    responses((status = 200, body = ResidentView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn me(
    State(state): State<AppState>,
    Resident {
        caller,
        id: resident_id,
    }: Resident,
) -> HttpResult<Json<ResidentView>> {
    let resident = state
        .identity()
        .get_resident(caller.request(pb::GetResidentRequest {
            resident_id: resident_id.to_string(),
        }))
        .await?
        .into_inner()
        .resident
        .ok_or_else(ApiError::internal)?;
    Ok(Json(resident.into()))
}
