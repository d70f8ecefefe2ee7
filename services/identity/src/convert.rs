//! The identity contract's messages ⇄ its domain types, and its errors ⇄ the mesh's error codes:
//! every conversion of the adapter, so that `grpc.rs` holds only the handlers.

use healthpoints_errors::{ApiError, ErrorCode, Violation};
use healthpoints_proto::{common::v1 as common, identity::v1 as pb};
use healthpoints_types::ResidentId;
use prost_types::Timestamp;
use tonic::Status;

use crate::{
    domain::{
        IdentityError,
        model::{District, FamilyDoctorContract, ResidenceType, Resident, ResidentStatus},
    },
    service::TokenPair,
};

/// Converts a domain error once, with a log level per kind.
pub fn to_api_error(err: IdentityError) -> ApiError {
    match err {
        IdentityError::Invalid(violations) => ApiError::invalid_fields(violations)
            .unwrap_or_else(|| ApiError::new(ErrorCode::InvalidArgument, "invalid input")),
        IdentityError::DistrictNotEnrolled(district) => ApiError {
            code: ErrorCode::DistrictNotEnrolled,
            message: format!(
                "district {district} ({}) has not joined the programme yet",
                district.name()
            ),
            violations: vec![Violation {
                field: "residence_district".into(),
                reason: "district is not enrolled".into(),
            }],
            retry_after: None,
            context: Default::default(),
        },
        e @ IdentityError::IdNumberTaken => conflict_on("id_number", &e),
        e @ IdentityError::PhoneTaken => conflict_on("phone", &e),
        e @ IdentityError::UsernameTaken => conflict_on("username", &e),
        e @ (IdentityError::InvalidCredentials | IdentityError::InvalidClientCredentials) => {
            ApiError::new(ErrorCode::InvalidCredentials, e.to_string())
        }
        e @ IdentityError::AccountLocked { retry_after } => {
            tracing::info!("login refused: account locked");
            ApiError::new(ErrorCode::AccountLocked, e.to_string()).with_retry_after(retry_after)
        }
        e @ IdentityError::RateLimited { retry_after } => {
            tracing::info!("login refused: rate limited");
            ApiError::new(ErrorCode::RateLimited, e.to_string()).with_retry_after(retry_after)
        }
        e @ (IdentityError::Suspended | IdentityError::Closed) => {
            ApiError::new(ErrorCode::AccountSuspended, e.to_string())
        }
        e @ (IdentityError::RefreshTokenInvalid
        | IdentityError::RefreshTokenReused
        | IdentityError::Unauthenticated) => ApiError::unauthenticated(e.to_string()),
        e @ IdentityError::NotFound(_) => ApiError::not_found(e.to_string()),
        e @ IdentityError::Forbidden(_) => {
            tracing::info!(reason = %e, "request forbidden");
            ApiError::forbidden(e.to_string())
        }
        e @ IdentityError::Precondition(_) => {
            ApiError::new(ErrorCode::FailedPrecondition, e.to_string())
        }
        IdentityError::Refused { field, reason } => ApiError {
            code: ErrorCode::FailedPrecondition,
            message: format!("{field}: {reason}"),
            violations: vec![Violation {
                field: field.into(),
                reason: reason.into(),
            }],
            retry_after: None,
            context: Default::default(),
        },
        IdentityError::Internal(fault) => ApiError::from_fault("identity request failed", &fault),
        e @ IdentityError::Crypto(_) => {
            tracing::error!(error = %e, "identity request failed");
            ApiError::internal()
        }
    }
}

pub(crate) fn conflict_on(field: &str, err: &IdentityError) -> ApiError {
    ApiError {
        code: ErrorCode::AlreadyExists,
        message: err.to_string(),
        violations: vec![Violation {
            field: field.into(),
            reason: err.to_string(),
        }],
        retry_after: None,
        context: Default::default(),
    }
}

pub(crate) fn status(err: IdentityError) -> Status {
    to_api_error(err).into()
}

/// The resident a request names, parsed at the edge.
pub(crate) fn resident_id(raw: &str) -> Result<ResidentId, Status> {
    ResidentId::parse(raw).map_err(|e| status(IdentityError::invalid("resident_id", e.0)))
}

pub(crate) fn timestamp(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or_default(),
    }
}

pub(crate) fn contract_to_pb(c: &FamilyDoctorContract) -> pb::FamilyDoctorContract {
    pb::FamilyDoctorContract {
        institution_code: c.institution_code.clone(),
        institution_name: c.institution_name.clone(),
        district: c.district.to_string(),
        signed_on: c.signed_on.format("%Y-%m-%d").to_string(),
        valid_until: c.valid_until.format("%Y-%m-%d").to_string(),
    }
}

/// Domain resident → wire resident.
pub fn resident_to_pb(r: &Resident) -> pb::Resident {
    pb::Resident {
        resident_id: r.id.to_string(),
        name: r.name.clone(),
        id_number_masked: r.id_number_masked.clone(),
        phone_masked: r.phone_masked.clone(),
        residence_district: r.residence_district.to_string(),
        residence_type: match r.residence_type {
            ResidenceType::Registered => pb::ResidenceType::Registered,
            ResidenceType::PermanentMigrant => pb::ResidenceType::PermanentMigrant,
        } as i32,
        status: match r.status {
            ResidentStatus::Active => pb::ResidentStatus::Active,
            ResidentStatus::Suspended => pb::ResidentStatus::Suspended,
            ResidentStatus::Closed => pb::ResidentStatus::Closed,
        } as i32,
        status_reason: r.status_reason.clone().unwrap_or_default(),
        family_doctor: r.family_doctor.as_ref().map(contract_to_pb),
        birth_date: r.birth_date.format("%Y-%m-%d").to_string(),
        registered_at: Some(timestamp(r.registered_at)),
    }
}

pub(crate) fn district_to_pb(d: &District) -> common::District {
    common::District {
        code: d.code.to_string(),
        name: d.code.name().to_owned(),
        enrolled: d.enrolled,
        enrolled_since: d.enrolled_since.map(timestamp),
    }
}

pub(crate) fn tokens_to_pb(t: TokenPair) -> pb::TokenPair {
    pb::TokenPair {
        access_token: t.access_token,
        refresh_token: t.refresh_token.unwrap_or_default(),
        token_type: "Bearer".into(),
        expires_in: t.expires_in,
    }
}

pub(crate) fn residence_type_name(value: i32) -> String {
    match pb::ResidenceType::try_from(value) {
        Ok(pb::ResidenceType::Registered) => "registered".into(),
        Ok(pb::ResidenceType::PermanentMigrant) => "permanent_migrant".into(),
        _ => String::new(),
    }
}

pub(crate) fn staff_role_name(value: i32) -> String {
    match pb::StaffRole::try_from(value) {
        Ok(pb::StaffRole::CityAdmin) => "city_admin".into(),
        Ok(pb::StaffRole::DistrictAdmin) => "district_admin".into(),
        Ok(pb::StaffRole::MerchantOperator) => "merchant_operator".into(),
        Ok(pb::StaffRole::StationStaff) => "station_staff".into(),
        _ => String::new(),
    }
}

pub(crate) fn client_kind_name(value: i32) -> String {
    match pb::ClientKind::try_from(value) {
        Ok(pb::ClientKind::Partner) => "partner".into(),
        Ok(pb::ClientKind::Merchant) => "merchant".into(),
        Ok(pb::ClientKind::Service) => "service".into(),
        _ => String::new(),
    }
}
