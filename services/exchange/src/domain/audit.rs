//! The append-only access log: every call that sends a resident's data in or reads it out —
//! who, which partner, what, how many records, which residents — one entry per resident
//! touched (and one without a resident for calls that touch none, e.g. statistics). Residents
//! read their own entries; admins read by partner and period; district admins read their
//! district's health stations' entries.

use chrono::{DateTime, Utc};
use healthpoints_auth::Principal;
use uuid::Uuid;

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    pub entry_id: Uuid,
    pub at: DateTime<Utc>,
    /// The partner id, `admin:<staff id>` or `resident`.
    pub actor: String,
    pub partner_id: Option<String>,
    /// e.g. `submit_records`, `submit_contracts`, `grant_consent`, `read_points_summary`.
    pub action: String,
    pub records: u32,
    pub detail: String,
    pub resident_id: Option<String>,
    /// `<district>/<institution>` when a health-station counter acted ([`station_label`]).
    pub station: Option<String>,
}

/// How the log names a health station: its district and institution code.
pub fn station_label(district: healthpoints_types::DistrictCode, institution: &str) -> String {
    format!("{district}/{institution}")
}

/// Who is acting, as the log names them.
pub fn actor(caller: &Principal) -> (String, Option<String>) {
    match caller {
        Principal::Partner { partner_id, .. } => (partner_id.clone(), Some(partner_id.clone())),
        Principal::CityAdmin { staff_id } | Principal::DistrictAdmin { staff_id, .. } => {
            (format!("admin:{staff_id}"), None)
        }
        Principal::Resident { .. } => ("resident".to_owned(), None),
        Principal::Merchant { merchant_id, .. } => (format!("merchant:{merchant_id}"), None),
        Principal::Service { service, .. } => (format!("service:{service}"), None),
        Principal::StationStaff { staff_id, .. } => (format!("station:{staff_id}"), None),
    }
}

/// Counts records per resident, in first-seen order.
pub fn tally<'a>(residents: impl IntoIterator<Item = &'a str>) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for r in residents {
        match out.iter_mut().find(|(id, _)| id == r) {
            Some((_, n)) => *n += 1,
            None => out.push((r.to_owned(), 1)),
        }
    }
    out
}

/// Which entries to read.
#[derive(Debug, Clone)]
pub enum AccessFilter {
    Resident(String),
    Partner(String),
    /// A district's health stations, or one of them.
    Station {
        district: healthpoints_types::DistrictCode,
        institution: Option<String>,
    },
    All,
}

/// What a reader asks of the access log.
#[derive(Debug, Clone, Default)]
pub struct AccessQuery<'a> {
    pub resident_id: Option<&'a str>,
    pub partner_id: Option<&'a str>,
    /// A district's stations (`<district>`) or one station (`<district>/<institution>`).
    pub station: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub page_size: u32,
    pub cursor: &'a str,
}
