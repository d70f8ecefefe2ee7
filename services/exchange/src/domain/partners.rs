//! The partner registry: the departments that send records in, the behaviours each may report
//! and the scopes its clients hold. City admins keep it; the list of names is public so
//! residents know whom they consent to.

use super::{consent::PartnerKind, error::Result};
use chrono::{DateTime, Utc};
use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
};

/// Scopes a partner client may hold (docs/exchange.md, "Partners").
pub const SCOPES: &[&str] = &[
    "behaviours:submit",
    "fhir:submit",
    "contracts:submit",
    "statistics:read",
    "points-summary:read",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerStatus {
    /// Its identity client is being created; it can do nothing yet.
    Registering,
    Active,
    Suspended,
}

impl PartnerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registering => "registering",
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "registering" => Self::Registering,
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            _ => return None,
        })
    }
}

/// A registered partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    /// The id rules name in their sources, e.g. `sports`.
    pub partner_id: String,
    pub name: String,
    pub department: String,
    pub contact: String,
    /// Behaviour codes it may report.
    pub behaviours: Vec<String>,
    pub scopes: Vec<String>,
    pub status: PartnerStatus,
    /// Its client-credentials client in identity.
    pub client_id: Option<String>,
    pub registered_at: DateTime<Utc>,
    /// A department reports under its statutory duty; a commercial partner needs consent.
    pub kind: PartnerKind,
}

/// What an admin asks for.
#[derive(Debug, Clone, Default)]
pub struct PartnerSpec {
    pub partner_id: String,
    pub name: String,
    pub department: String,
    pub contact: String,
    pub behaviours: Vec<String>,
    pub scopes: Vec<String>,
    /// `None`: commercial (consent required); `department` is the city admin's explicit choice.
    pub kind: Option<PartnerKind>,
}

/// identity, seen from the exchange.
pub trait Identity: Send + Sync {
    /// Creates the partner's client-credentials client; returns (client id, secret).
    fn create_partner_client(
        &self,
        partner: &Partner,
    ) -> impl Future<Output = Result<(String, String)>> + Send;

    /// The resident registered under an ID number (the number is not kept).
    fn resolve_id_number(&self, id_number: &str) -> impl Future<Output = Result<Resolved>> + Send;

    /// The resident a person at a health-station counter proved to be. Refusals name the
    /// proof's field (malformed, expired), NOT_FOUND when nobody is registered under it.
    fn resolve_at_counter(
        &self,
        proof: &super::station::Proof,
    ) -> impl Future<Output = Result<super::station::AtCounter>> + Send;

    /// A two-minute resident token for the counter acting for them (`act`: staff, institution).
    fn delegated_token(
        &self,
        resident_id: &str,
        staff_id: &str,
        institution: &str,
    ) -> impl Future<Output = Result<(String, u32)>> + Send;

    /// Sets a resident's new password (the counter checked their ID card); every session of
    /// theirs is signed out.
    fn set_password(
        &self,
        resident_id: &str,
        new_password: &str,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Who an ID number in a partner's record belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The resident's id.
    Resident(String),
    /// A valid number under which nobody is registered.
    Unknown,
    /// Not a valid ID number; the reason never repeats it.
    Invalid(String),
}

impl Resolved {
    /// The resident's id, or the per-record rejection (code and sentence) that says why not.
    pub fn resident(self) -> std::result::Result<String, (&'static str, String)> {
        match self {
            Self::Resident(id) => Ok(id),
            Self::Unknown => Err((
                "resident_unknown",
                "no resident is registered under this ID number".to_owned(),
            )),
            Self::Invalid(reason) => Err((
                "invalid_id_number",
                format!("the ID number is not valid ({reason})"),
            )),
        }
    }
}

/// intake, seen from the exchange.
pub trait Intake: Send + Sync {
    /// Every behaviour code of the city-wide catalogue in force, with the sources (partner
    /// ids, or `self`) its rule accepts records from.
    fn behaviour_sources(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<String, BTreeSet<String>>>> + Send;
}

/// Whether `s` can be a partner id or a department: 1 to 64 characters of a-z, 0-9, `-` and `_`.
pub fn slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
