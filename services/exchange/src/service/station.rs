//! The health-station counter: a visit (the resident proves who they are, the visit goes into
//! their access log, the counter gets a short-lived token to act for them in one action) and a
//! behaviour recorded for them, under the rules that take the `station` source, with the staff
//! member and institution on the record (the counter's domain: [`crate::domain::station`]).

use chrono::{DateTime, Utc};
use healthpoints_auth::Principal;
use std::collections::BTreeMap;

use super::Exchange;
use crate::domain::{
    error::{ExchangeError, Result},
    partners::Identity,
    records::{Behaviours, Forward, Person, Record, RecordResult, check_fields},
    station::{AtCounter, Proof, Purpose, STATION_SOURCE, station_of},
};

/// A behaviour the counter records, as asked.
#[derive(Debug, Clone)]
pub struct CounterRecord {
    /// The counter's own id for it (a retry sends the same).
    pub record_id: String,
    pub behaviour: String,
    pub occurred_at: Option<DateTime<Utc>>,
    pub quantity: Option<u64>,
    pub attributes: BTreeMap<String, String>,
}

/// The attributes the exchange writes on a counter's record (a client's own are replaced).
pub const STATION_ATTRIBUTES: [&str; 3] = ["institution_code", "station_code", "station_staff"];

impl<I: Identity, N: Behaviours, L> Exchange<I, N, L> {
    /// The resident proves who they are; the visit is written to their access log, then a
    /// two-minute resident token for `purpose` is asked of identity.
    pub async fn start_station_visit(
        &self,
        caller: &Principal,
        proof: &Proof,
        purpose: Purpose,
    ) -> Result<(AtCounter, String, u32)> {
        let (staff, _, institution) = station_of(caller)?;
        let resident = self.resolve_logged(caller, proof, institution).await?;
        self.log_counter(caller, purpose, institution, &resident, "")
            .await?;
        let (token, expires_in) = self
            .identity
            .delegated_token(&resident.resident_id, &staff.to_string(), institution)
            .await?;
        Ok((resident, token, expires_in))
    }

    /// Records a behaviour for the resident at the counter: judged by intake like any record
    /// (rules, caps, the fraud guards), under the source `station`, in the staff member's
    /// district, the institution and staff member among its attributes.
    pub async fn submit_station_record(
        &self,
        caller: &Principal,
        proof: &Proof,
        asked: CounterRecord,
    ) -> Result<(AtCounter, RecordResult)> {
        let (staff, district, institution) = station_of(caller)?;
        let mut attributes = asked.attributes;
        for reserved in STATION_ATTRIBUTES {
            attributes.remove(reserved);
        }
        let record = Record {
            record_id: asked.record_id.trim().to_owned(),
            person: Person::ResidentId(String::new()),
            behaviour: asked.behaviour.trim().to_owned(),
            occurred_at: asked.occurred_at.unwrap_or_else(|| self.now()),
            quantity: asked.quantity.unwrap_or(1),
            district: district.to_string(),
            attributes,
        };
        check_fields("", &record)?;
        if record.occurred_at > self.now() + chrono::Duration::minutes(5) {
            return Err(ExchangeError::invalid(
                "occurred_at",
                "is in the future: record what has happened",
            ));
        }
        let resident = self.resolve_logged(caller, proof, institution).await?;
        self.log_counter(
            caller,
            Purpose::Record,
            institution,
            &resident,
            &record.behaviour,
        )
        .await?;
        let mut attributes = record.attributes;
        attributes.insert("institution_code".into(), institution.to_owned());
        attributes.insert("station_code".into(), institution.to_owned());
        attributes.insert("station_staff".into(), staff.to_string());
        let forward = Forward {
            source_id: STATION_SOURCE.to_owned(),
            // Unique per institution: two stations' counters may number alike.
            record_id: format!("{institution}:{}", record.record_id),
            resident_id: resident.resident_id.clone(),
            behaviour: record.behaviour,
            occurred_at: record.occurred_at,
            quantity: record.quantity,
            district: record.district,
            attributes,
        };
        let judged = self.intake.submit(vec![forward], false).await?;
        let mut result = judged
            .results
            .into_iter()
            .next()
            .ok_or_else(|| ExchangeError::fault("intake answered no outcome"))?;
        result.record_id = record.record_id;
        Ok((resident, result))
    }

    /// Resets a forgotten password at the counter: the staff checked the resident's ID card,
    /// whose number is the proof (a station code proves the phone, not the person); the visit
    /// is in their access log before identity sets the password and signs every session out.
    pub async fn reset_password_at_counter(
        &self,
        caller: &Principal,
        proof: &Proof,
        new_password: &str,
    ) -> Result<AtCounter> {
        let (_, _, institution) = station_of(caller)?;
        if !matches!(proof, Proof::IdNumber(_)) {
            return Err(ExchangeError::invalid(
                "id_number",
                "a password is reset after checking the ID card: type its number",
            ));
        }
        let resident = self.resolve_logged(caller, proof, institution).await?;
        self.log_counter(
            caller,
            Purpose::Password,
            institution,
            &resident,
            "a password reset asked",
        )
        .await?;
        self.identity
            .set_password(&resident.resident_id, new_password)
            .await?;
        Ok(resident)
    }

    /// The resident a proof names; a proof refused (nobody under it, malformed, expired, an
    /// account suspended) is written to the station's activity (without a resident), so a
    /// district admin sees a counter running through numbers.
    async fn resolve_logged(
        &self,
        caller: &Principal,
        proof: &Proof,
        institution: &str,
    ) -> Result<AtCounter> {
        match self.identity.resolve_at_counter(proof).await {
            Err(
                e @ (ExchangeError::NotFound(_)
                | ExchangeError::Invalid { .. }
                | ExchangeError::Refused(_)),
            ) => {
                let entries = self.access_entries(
                    caller,
                    "station_refused",
                    &format!("a proof refused at the counter of {institution}"),
                    &[],
                );
                self.store.append(&entries).await?;
                Err(e)
            }
            other => other,
        }
    }

    /// One access-log line for the resident: the station, the staff member and what they did.
    async fn log_counter(
        &self,
        caller: &Principal,
        purpose: Purpose,
        institution: &str,
        resident: &AtCounter,
        behaviour: &str,
    ) -> Result<()> {
        let detail = match behaviour {
            "" => format!("at the counter of {institution}"),
            b => format!("{b} at the counter of {institution}"),
        };
        let records = u32::from(purpose == Purpose::Record);
        let entries = self.access_entries(
            caller,
            purpose.action(),
            &detail,
            &[(resident.resident_id.clone(), records)],
        );
        self.store.append(&entries).await
    }
}
