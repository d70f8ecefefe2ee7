//! The append-only access log: every call that sends a resident's data in or reads it out —
//! who, which partner, what, how many records, which residents — one entry per resident
//! touched (and one without a resident for calls that touch none, e.g. statistics). Residents
//! read their own entries; admins read by partner and period.

use chrono::{DateTime, Utc};
use healthpoints_auth::Principal;
use uuid::Uuid;

use super::error::{ExchangeError, Result};
use crate::store::Store;

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
    }
}

/// Entries for one call: `touched` holds each resident and how many of their records it
/// carried.
pub fn entries(
    caller: &Principal,
    action: &str,
    detail: &str,
    touched: &[(String, u32)],
) -> Vec<AccessEntry> {
    let (actor, partner_id) = actor(caller);
    let at = crate::store::now();
    let one = |resident_id: Option<String>, records: u32| AccessEntry {
        entry_id: Uuid::now_v7(),
        at,
        actor: actor.clone(),
        partner_id: partner_id.clone(),
        action: action.to_owned(),
        records,
        detail: detail.to_owned(),
        resident_id,
    };
    if touched.is_empty() {
        return vec![one(None, 0)];
    }
    touched
        .iter()
        .map(|(r, n)| one(Some(r.clone()), *n))
        .collect()
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
    All,
}

/// What a reader asks of the access log.
#[derive(Debug, Clone, Default)]
pub struct AccessQuery<'a> {
    pub resident_id: Option<&'a str>,
    pub partner_id: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub page_size: u32,
    pub cursor: &'a str,
}

/// A resident's own entries; admins by resident, partner (or all) within `[from, to)`.
pub async fn list(
    store: &Store,
    caller: &Principal,
    query: AccessQuery<'_>,
) -> Result<(Vec<AccessEntry>, Option<String>)> {
    let AccessQuery {
        resident_id,
        partner_id,
        from,
        to,
        page_size: size,
        cursor,
    } = query;
    let filter = match caller {
        Principal::Resident { resident_id: me } => {
            if resident_id.is_some_and(|r| !r.trim().is_empty() && r.trim() != me.to_string())
                || partner_id.is_some()
            {
                return Err(ExchangeError::Forbidden(
                    "residents read only their own access log".into(),
                ));
            }
            AccessFilter::Resident(me.to_string())
        }
        Principal::CityAdmin { .. } => match (resident_id, partner_id) {
            (Some(r), _) => AccessFilter::Resident(r.trim().to_owned()),
            (None, Some(p)) => AccessFilter::Partner(p.trim().to_owned()),
            (None, None) => AccessFilter::All,
        },
        _ => {
            return Err(ExchangeError::Forbidden(
                "the access log is for the resident it is about and for city admins".into(),
            ));
        }
    };
    let before = healthpoints_types::uuid_cursor(cursor)
        .map_err(|e| ExchangeError::invalid("page.cursor", e.0))?;
    let size = match size {
        0 => 50,
        n => n.min(500),
    };
    let entries = store
        .access_log(&filter, from, to, before, u64::from(size))
        .await?;
    let next = (entries.len() == size as usize)
        .then(|| entries.last().map(|e| e.entry_id.to_string()))
        .flatten();
    Ok((entries, next))
}
