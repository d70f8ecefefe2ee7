//! Importing the residents of the platform a city had before (its "Health Cloud"): each row
//! checked like a registration, without a password, idempotent per ID number, each with its own
//! result, a whole batch in a few statements. An imported resident signs in once they set a
//! password — by a reset code to their phone, or at a health-station counter.

use std::collections::BTreeMap;

use super::residents::{Person, check_person};
use super::*;

/// How many residents one call imports at most.
pub const IMPORT_BATCH: usize = 1_000;

/// What became of one imported resident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Created(Uuid),
    /// The ID number was registered before; nothing changed.
    Exists(Uuid),
    Refused {
        field: String,
        reason: String,
    },
}

impl Identity {
    /// Imports `rows` (their `password` is ignored): see the module docs. City admin, or the
    /// admin of the residents' district (a row of another district is refused on its own).
    pub async fn import_residents(
        &self,
        caller: &Principal,
        rows: Vec<Registration>,
    ) -> Result<Vec<ImportOutcome>> {
        if !caller.is_admin() {
            return Err(IdentityError::Forbidden(
                "only a city admin or a district's admin imports residents",
            ));
        }
        if rows.len() > IMPORT_BATCH {
            return Err(IdentityError::invalid(
                "residents",
                format!("at most {IMPORT_BATCH} at a time"),
            ));
        }
        let now = self.now();
        let mut enrolled = BTreeMap::new();
        let mut outcomes = Vec::with_capacity(rows.len());
        let mut sealed = Vec::new();
        for row in &rows {
            let person = match self.checked(caller, row, now, &mut enrolled).await? {
                Ok(person) => person,
                Err((field, reason)) => {
                    outcomes.push(Some(ImportOutcome::Refused { field, reason }));
                    continue;
                }
            };
            sealed.push((outcomes.len(), self.sealed(person, String::new(), now)?));
            outcomes.push(None);
        }
        let asked: Vec<(usize, Uuid, String)> = sealed
            .iter()
            .map(|(i, r)| (*i, r.id, r.id_number_hash.clone()))
            .collect();
        let stored = self
            .store
            .import_residents(sealed.into_iter().map(|(_, r)| r).collect())
            .await?;
        let mut created = 0;
        for (i, id, id_hash) in asked {
            outcomes[i] = Some(match stored.get(&id_hash) {
                Some(&found) if found == id => {
                    created += 1;
                    ImportOutcome::Created(id)
                }
                Some(&found) => ImportOutcome::Exists(found),
                // Not stored and nobody under the number: the phone is another person's.
                None => ImportOutcome::Refused {
                    field: "phone".into(),
                    reason: "is registered to another person".into(),
                },
            });
        }
        tracing::info!(asked = rows.len(), created, "residents imported");
        outcomes
            .into_iter()
            .map(|o| o.ok_or_else(|| IdentityError::fault("an imported row without an outcome")))
            .collect()
    }

    /// The resident with each ID number, in order; `None` where the number is not a valid ID
    /// number or no resident the caller may see has it. Admins see their districts' residents
    /// (a city admin every one); services every one.
    pub async fn find_residents(
        &self,
        caller: &Principal,
        id_numbers: &[String],
    ) -> Result<Vec<Option<Uuid>>> {
        if !caller.is_admin() && !caller.is_service() {
            return Err(IdentityError::Forbidden(
                "only an admin or a mesh service finds residents by ID number",
            ));
        }
        if id_numbers.len() > IMPORT_BATCH {
            return Err(IdentityError::invalid(
                "id_numbers",
                format!("at most {IMPORT_BATCH} at a time"),
            ));
        }
        let today = shanghai_today(self.now());
        let hashes: Vec<Option<String>> = id_numbers
            .iter()
            .map(|raw| {
                IdNumber::parse(raw.trim(), today)
                    .ok()
                    .map(|id| self.crypto.lookup_hash("id_number", id.as_str()))
            })
            .collect();
        let (_, found) = self
            .store
            .residents_by_refs(Vec::new(), hashes.iter().flatten().cloned().collect())
            .await?;
        Ok(hashes
            .into_iter()
            .map(|hash| {
                let r = found.get(&hash?)?;
                (caller.is_service() || caller.administers(r.residence_district)).then_some(r.id)
            })
            .collect())
    }

    /// One row checked: the person, or the first field at fault and why.
    async fn checked(
        &self,
        caller: &Principal,
        row: &Registration,
        now: DateTime<Utc>,
        enrolled: &mut BTreeMap<DistrictCode, bool>,
    ) -> Result<std::result::Result<Person, (String, String)>> {
        let mut v = Violations::default();
        let Some(person) = check_person(&mut v, row, now) else {
            let first = v.0.into_iter().next();
            return Ok(Err(first.map_or_else(
                || ("residents".into(), "is not a person".into()),
                |f| (f.field, f.reason),
            )));
        };
        let district = person.district;
        if !caller.administers(district) {
            return Ok(Err((
                "residence_district".into(),
                "is another district's: its admin imports its residents".into(),
            )));
        }
        let is_enrolled = match enrolled.get(&district) {
            Some(&e) => e,
            None => {
                let e = self.store.district(district).await?.enrolled;
                enrolled.insert(district, e);
                e
            }
        };
        if !is_enrolled {
            return Ok(Err((
                "residence_district".into(),
                "is not enrolled in the programme".into(),
            )));
        }
        Ok(Ok(person))
    }
}
