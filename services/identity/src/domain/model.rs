//! The identity domain's records, free of transport and storage types.

use chrono::{DateTime, NaiveDate, Utc};
use healthpoints_types::{DistrictCode, MallId};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResidenceType {
    Registered,
    PermanentMigrant,
}

impl ResidenceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::PermanentMigrant => "permanent_migrant",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "registered" => Some(Self::Registered),
            "permanent_migrant" => Some(Self::PermanentMigrant),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResidentStatus {
    Active,
    Suspended,
    Closed,
}

impl ResidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// A family-doctor contract; its district drives redemption routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyDoctorContract {
    pub institution_code: String,
    pub institution_name: String,
    pub district: DistrictCode,
    pub signed_on: NaiveDate,
    pub valid_until: NaiveDate,
}

/// A resident as the rest of the system sees them: personal numbers only masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resident {
    pub id: Uuid,
    pub name: String,
    pub id_number_masked: String,
    pub phone_masked: String,
    pub residence_district: DistrictCode,
    pub residence_type: ResidenceType,
    pub status: ResidentStatus,
    pub status_reason: Option<String>,
    pub family_doctor: Option<FamilyDoctorContract>,
    pub birth_date: NaiveDate,
    pub registered_at: DateTime<Utc>,
}

/// What registration stores, after validation and encryption.
#[derive(Debug, Clone)]
pub struct NewResident {
    pub id: Uuid,
    pub name: String,
    pub id_number_enc: Vec<u8>,
    pub id_number_hash: String,
    pub id_number_masked: String,
    pub phone_enc: Vec<u8>,
    pub phone_hash: String,
    pub phone_masked: String,
    pub birth_date: NaiveDate,
    pub password_hash: String,
    pub residence_district: DistrictCode,
    pub residence_type: ResidenceType,
    pub registered_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffRole {
    CityAdmin,
    DistrictAdmin,
    MerchantOperator,
    /// At a health-station counter: bound to one institution of one district.
    StationStaff,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CityAdmin => "city_admin",
            Self::DistrictAdmin => "district_admin",
            Self::MerchantOperator => "merchant_operator",
            Self::StationStaff => "station_staff",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "city_admin" => Some(Self::CityAdmin),
            "district_admin" => Some(Self::DistrictAdmin),
            "merchant_operator" => Some(Self::MerchantOperator),
            "station_staff" => Some(Self::StationStaff),
            _ => None,
        }
    }
}

/// A staff account with its bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub id: Uuid,
    pub username: String,
    pub role: StaffRole,
    pub district: Option<DistrictCode>,
    pub merchant_id: Option<Uuid>,
    pub mall: Option<MallId>,
    /// A station staff member's institution (with `district`).
    pub institution_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Partner,
    Merchant,
    Service,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Partner => "partner",
            Self::Merchant => "merchant",
            Self::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "partner" => Some(Self::Partner),
            "merchant" => Some(Self::Merchant),
            "service" => Some(Self::Service),
            _ => None,
        }
    }
}

/// A client-credentials principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub kind: ClientKind,
    pub name: String,
    pub partner_id: Option<String>,
    pub department: Option<String>,
    pub scopes: Vec<String>,
    pub service: Option<String>,
    pub district: Option<DistrictCode>,
    pub merchant_id: Option<Uuid>,
    pub mall: Option<MallId>,
}

/// A district's enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct District {
    pub code: DistrictCode,
    pub enrolled: bool,
    pub enrolled_since: Option<DateTime<Utc>>,
}

/// Who a session (refresh-token family) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOwner {
    Resident(Uuid),
    Staff(Uuid),
}

/// Scopes a partner client may hold (docs/exchange.md, "Partners").
pub const PARTNER_SCOPES: &[&str] = &[
    "behaviours:submit",
    "fhir:submit",
    "contracts:submit",
    "statistics:read",
    "points-summary:read",
];

/// Services that may hold service credentials.
pub const SERVICES: &[&str] = &[
    "identity",
    "intake",
    "ledger",
    "city-mall",
    "district-mall",
    "exchange",
    "gateway",
];
