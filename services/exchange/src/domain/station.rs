//! The health-station counter, seen from the exchange: how a resident who is there proves who
//! they are, what the counter may see of them, and what it does for them (each a line of their
//! access log). A station is not a partner: its records carry the source `station`, which no
//! partner may be registered under.

use healthpoints_auth::Principal;
use healthpoints_types::DistrictCode;
use uuid::Uuid;

use super::error::{ExchangeError, Result};

/// The source id of records made at a health-station counter.
pub const STATION_SOURCE: &str = "station";

/// How a resident at the counter proves who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// Read from their ID card.
    IdNumber(String),
    /// The short-lived code their app shows as a QR code.
    StationCode(String),
}

impl Proof {
    /// The request field a refusal names.
    pub fn field(&self) -> &'static str {
        match self {
            Self::IdNumber(_) => "id_number",
            Self::StationCode(_) => "station_code",
        }
    }
}

/// The resident at the counter, as the counter may see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtCounter {
    pub resident_id: String,
    pub name_masked: String,
    pub residence_district: String,
    pub birth_date: String,
    pub family_doctor_district: Option<String>,
}

/// What the counter is about to do for the resident: the access log's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Look them up: who they are and their points.
    Lookup,
    /// Place an order for them, with their consent at the counter.
    Order,
    /// Record a behaviour for them.
    Record,
    /// Reset their forgotten password, after checking their ID card.
    Password,
}

impl Purpose {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "lookup" => Some(Self::Lookup),
            "order" => Some(Self::Order),
            _ => None,
        }
    }

    /// The access log's action.
    pub fn action(self) -> &'static str {
        match self {
            Self::Lookup => "station_lookup",
            Self::Order => "station_order",
            Self::Record => "station_record",
            Self::Password => "station_password",
        }
    }
}

/// The station staff member calling: (staff id, district, institution).
pub fn station_of(caller: &Principal) -> Result<(Uuid, DistrictCode, &str)> {
    match caller {
        Principal::StationStaff {
            staff_id,
            district,
            institution,
        } => Ok((*staff_id, *district, institution.as_str())),
        _ => Err(ExchangeError::Forbidden(
            "only health-station staff act at a station counter".into(),
        )),
    }
}
