//! Submitting behaviour records: scope, behaviour list and consent checked, the person resolved,
//! the batch forwarded to intake (the records and outcomes: [`crate::domain::records`]).

use healthpoints_auth::Principal;

use super::Exchange;
use crate::domain::partners::Partner;
use crate::domain::records::{
    Behaviours, Forward, Judged, MAX_RECORDS, Person, Record, RecordOutcome, RecordResult, check,
};
use crate::domain::{
    audit,
    consent::{PartnerKind, category_of},
    error::{ExchangeError, Result},
    partners::Identity,
};

impl<I: Identity, N: Behaviours, L> Exchange<I, N, L> {
    /// Checks, resolves and forwards a partner's batch; one result per record, in order.
    pub async fn submit_records(
        &self,
        caller: &Principal,
        records: Vec<Record>,
    ) -> Result<Vec<RecordResult>> {
        let partner = self.acting_partner(caller, "behaviours:submit").await?;
        Ok(self
            .submit_records_for(caller, &partner, records, "submit_records", false)
            .await?
            .results)
    }

    /// The same for a partner already checked (its scope for this channel), logged as `action`.
    /// `all_or_none`: when any record would be rejected — here (not listed, nobody, no consent)
    /// or by intake — none is recorded.
    pub(crate) async fn submit_records_for(
        &self,
        caller: &Principal,
        partner: &Partner,
        records: Vec<Record>,
        action: &str,
        all_or_none: bool,
    ) -> Result<Judged> {
        if records.is_empty() || records.len() > MAX_RECORDS {
            return Err(ExchangeError::invalid(
                "records",
                format!("must hold 1 to {MAX_RECORDS} records"),
            ));
        }
        for (i, r) in records.iter().enumerate() {
            check(i, r)?;
        }
        let mut results: Vec<Option<RecordResult>> = vec![None; records.len()];
        let mut forward = Vec::with_capacity(records.len());
        let mut slots = Vec::with_capacity(records.len());
        let mut touched: Vec<String> = Vec::new();
        for (i, r) in records.into_iter().enumerate() {
            if !partner.behaviours.contains(&r.behaviour) {
                // The registry decides, whichever channel the record came by (JSON, NDJSON,
                // FHIR): registration takes only behaviours the catalogue takes from this
                // partner, so a record of another behaviour is refused here, by name.
                results[i] = Some(RecordResult::rejected(
                    &r.record_id,
                    "behaviour_not_listed",
                    &format!(
                        "this partner is not registered to report {}; the city admin adds behaviours with PUT /v1/admin/partners/{{id}}",
                        r.behaviour.trim()
                    ),
                ));
                continue;
            }
            let resident_id = match &r.person {
                Person::ResidentId(id) => id.trim().to_owned(),
                Person::IdNumber(n) => {
                    match self.identity.resolve_id_number(n.trim()).await?.resident() {
                        Ok(id) => id,
                        Err((code, reason)) => {
                            results[i] = Some(RecordResult::rejected(&r.record_id, code, &reason));
                            continue;
                        }
                    }
                }
            };
            slots.push(i);
            forward.push(Forward {
                source_id: partner.partner_id.clone(),
                record_id: r.record_id.trim().to_owned(),
                resident_id,
                behaviour: r.behaviour.trim().to_owned(),
                occurred_at: r.occurred_at,
                quantity: r.quantity,
                district: r.district.trim().to_owned(),
                attributes: r.attributes,
            });
        }
        // A commercial partner's records in a category that needs consent pass only with the
        // resident's active consent to this partner for that category.
        if partner.kind == PartnerKind::Commercial && !forward.is_empty() {
            let residents: Vec<String> = forward.iter().map(|f| f.resident_id.clone()).collect();
            let consented = self
                .store
                .active_consents(&partner.partner_id, &residents)
                .await?;
            let mut kept_slots = Vec::with_capacity(slots.len());
            let mut kept = Vec::with_capacity(forward.len());
            for (slot, f) in slots.into_iter().zip(forward) {
                match category_of(&f.behaviour) {
                    Some(c) if !consented.contains(&(f.resident_id.clone(), c)) => {
                        results[slot] = Some(RecordResult::rejected(
                            &f.record_id,
                            "consent_required",
                            &format!(
                                "the resident has not consented (or has revoked consent) to this partner sending {} data",
                                c.as_str()
                            ),
                        ));
                        touched.push(f.resident_id);
                    }
                    _ => {
                        kept_slots.push(slot);
                        kept.push(f);
                    }
                }
            }
            slots = kept_slots;
            forward = kept;
        }
        touched.extend(forward.iter().map(|f| f.resident_id.clone()));
        let entries = self.access_entries(
            caller,
            action,
            &format!("{} behaviour records", results.len()),
            &audit::tally(touched.iter().map(String::as_str)),
        );
        self.store.append(&entries).await?;
        // All or none, and one is refused here already: intake is not asked; the others are
        // answered as not processed.
        let refused_here = all_or_none && results.iter().any(Option::is_some);
        let mut recorded = !refused_here;
        if refused_here {
            for (slot, f) in slots.iter().zip(&forward) {
                results[*slot] = Some(RecordResult::not_processed(&f.record_id));
            }
        } else if !forward.is_empty() {
            let judged = self.intake.submit(forward, all_or_none).await?;
            if judged.results.len() != slots.len() {
                return Err(ExchangeError::fault(
                    "intake answered a different number of outcomes",
                ));
            }
            recorded = judged.recorded;
            for (slot, result) in slots.into_iter().zip(judged.results) {
                results[slot] = Some(match result.outcome {
                    RecordOutcome::Rejected => result,
                    _ if !recorded => RecordResult::not_processed(&result.record_id),
                    _ => result,
                });
            }
        }
        let results: Vec<RecordResult> = results.into_iter().flatten().collect();
        let m = healthpoints_telemetry::metrics::metrics();
        for r in &results {
            m.partner_records
                .get_or_create(&healthpoints_telemetry::metrics::PartnerLabels {
                    partner: partner.partner_id.clone(),
                    outcome: r.outcome.as_str().to_owned(),
                })
                .inc();
        }
        Ok(Judged { results, recorded })
    }
}
