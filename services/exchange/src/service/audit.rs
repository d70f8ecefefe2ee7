//! Writing and reading the access log: the entries of one call, and a resident's or an admin's
//! view of them (what is logged: [`crate::domain::audit`]).

use healthpoints_auth::Principal;
use uuid::Uuid;

use super::Exchange;
use crate::domain::audit::{AccessEntry, AccessFilter, AccessQuery, actor, station_label};
use crate::domain::error::{ExchangeError, Result};

impl<I, N, L> Exchange<I, N, L> {
    /// Entries for one call: `touched` holds each resident and how many of their records it
    /// carried.
    pub(super) fn access_entries(
        &self,
        caller: &Principal,
        action: &str,
        detail: &str,
        touched: &[(String, u32)],
    ) -> Vec<AccessEntry> {
        let (actor, partner_id) = actor(caller);
        let station = match caller {
            Principal::StationStaff {
                district,
                institution,
                ..
            } => Some(station_label(*district, institution)),
            _ => None,
        };
        let at = self.now();
        let one = |resident_id: Option<String>, records: u32| AccessEntry {
            entry_id: Uuid::now_v7(),
            at,
            actor: actor.clone(),
            partner_id: partner_id.clone(),
            action: action.to_owned(),
            records,
            detail: detail.to_owned(),
            resident_id,
            station: station.clone(),
        };
        if touched.is_empty() {
            return vec![one(None, 0)];
        }
        touched
            .iter()
            .map(|(r, n)| one(Some(r.clone()), *n))
            .collect()
    }

    /// A resident's own entries; city admins by resident, partner (or all); an admin of a
    /// district its health stations' (all, or one); within `[from, to)`.
    pub async fn access_log(
        &self,
        caller: &Principal,
        query: AccessQuery<'_>,
    ) -> Result<(Vec<AccessEntry>, Option<String>)> {
        let AccessQuery {
            resident_id,
            partner_id,
            station,
            from,
            to,
            page_size: size,
            cursor,
        } = query;
        let filter = match (caller, station) {
            (_, Some(station)) => station_filter(caller, station)?,
            (caller, None) => self.person_filter(caller, resident_id, partner_id)?,
        };
        let before = healthpoints_types::uuid_cursor(cursor)
            .map_err(|e| ExchangeError::invalid("page.cursor", e.0))?;
        let size = match size {
            0 => 50,
            n => n.min(500),
        };
        let entries = self
            .store
            .access_log(&filter, from, to, before, u64::from(size))
            .await?;
        let next = (entries.len() == size as usize)
            .then(|| entries.last().map(|e| e.entry_id.to_string()))
            .flatten();
        Ok((entries, next))
    }

    /// Whose entries a resident or the city admin reads.
    fn person_filter(
        &self,
        caller: &Principal,
        resident_id: Option<&str>,
        partner_id: Option<&str>,
    ) -> Result<AccessFilter> {
        Ok(match caller {
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
                (Some(r), _) => AccessFilter::Resident(
                    healthpoints_types::ResidentId::parse(r)
                        .map_err(|e| ExchangeError::invalid("resident_id", e.0))?
                        .to_string(),
                ),
                (None, Some(p)) if !crate::domain::partners::slug(p.trim()) => {
                    return Err(ExchangeError::invalid(
                        "partner_id",
                        "must be a partner id: 1 to 64 characters of a-z, 0-9, '-' and '_'",
                    ));
                }
                (None, Some(p)) => AccessFilter::Partner(p.trim().to_owned()),
                (None, None) => AccessFilter::All,
            },
            _ => {
                return Err(ExchangeError::Forbidden(
                    "the access log is for the resident it is about and for city admins".into(),
                ));
            }
        })
    }
}

/// A district's stations (`<district>`) or one (`<district>/<institution>`), for an admin of
/// that district.
fn station_filter(caller: &Principal, station: &str) -> Result<AccessFilter> {
    let (district, institution) = match station.trim().split_once('/') {
        Some((d, i)) => (d, Some(i.trim())),
        None => (station.trim(), None),
    };
    let district = healthpoints_types::DistrictCode::parse(district).map_err(|_| {
        ExchangeError::invalid(
            "station",
            "must be a district code, or a district code, '/' and an institution code",
        )
    })?;
    if institution.is_some_and(|i| i.is_empty() || i.len() > 64) {
        return Err(ExchangeError::invalid(
            "station",
            "the institution code after '/' must be 1 to 64 characters",
        ));
    }
    if !caller.administers(district) {
        return Err(ExchangeError::Forbidden(
            "a district's health stations' activity is for the city admin and that district's admins"
                .into(),
        ));
    }
    Ok(AccessFilter::Station {
        district,
        institution: institution.map(str::to_owned),
    })
}
