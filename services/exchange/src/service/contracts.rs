//! The family-doctor contracts feed: each record checked, set in identity, a signing reported to
//! intake (the records and ports: [`crate::domain::contracts`]).

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone};
use healthpoints_auth::Principal;
use healthpoints_types::DistrictCode;

use super::Exchange;
use crate::domain::contracts::{Contract, ContractAction, ContractRecord, Contracts};
use crate::domain::{
    audit,
    error::{ExchangeError, Result},
    partners::Identity,
    records::{Behaviours, Forward, MAX_RECORDS, Person, RecordOutcome, RecordResult},
};

fn date(field: &str, raw: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| ExchangeError::invalid(field, "must be a date like 2026-11-22"))
}

/// Checks one record's fields, naming the first bad one as `records[i].<field>`.
fn check(i: usize, r: &ContractRecord) -> Result<ContractAction> {
    let field = |name: &str| format!("records[{i}].{name}");
    if r.record_id.trim().is_empty() || r.record_id.len() > 128 {
        return Err(ExchangeError::invalid(
            &field("record_id"),
            "must be 1 to 128 characters",
        ));
    }
    match &r.person {
        Person::IdNumber(n) if n.trim().is_empty() => {
            return Err(ExchangeError::invalid(
                &field("id_number"),
                "must not be empty",
            ));
        }
        Person::ResidentId(id) if id.trim().is_empty() || id.len() > 64 => {
            return Err(ExchangeError::invalid(
                &field("resident_id"),
                "must be 1 to 64 characters",
            ));
        }
        _ => {}
    }
    let action = ContractAction::parse(&r.action)
        .ok_or_else(|| ExchangeError::invalid(&field("action"), "must be sign, change or end"))?;
    if action == ContractAction::End {
        return Ok(action);
    }
    for (name, value) in [
        ("institution_code", &r.institution_code),
        ("institution_name", &r.institution_name),
    ] {
        healthpoints_types::text::free_text(value, 100, true, healthpoints_types::text::Lines::One)
            .map_err(|e| ExchangeError::invalid(&field(name), e.0))?;
    }
    DistrictCode::parse(r.district.trim()).map_err(|_| {
        ExchangeError::invalid(
            &field("district"),
            "must be a district code (GB/T 2260, e.g. 310118)",
        )
    })?;
    let signed = date(&field("signed_on"), &r.signed_on)?;
    let until = date(&field("valid_until"), &r.valid_until)?;
    if until <= signed {
        return Err(ExchangeError::invalid(
            &field("valid_until"),
            "must be after signed_on",
        ));
    }
    Ok(action)
}

impl<I: Identity + Contracts, N: Behaviours, L> Exchange<I, N, L> {
    /// Applies a batch of contract records; one result per record, in order. A malformed record
    /// refuses the whole batch (nothing is applied).
    pub async fn submit_contracts(
        &self,
        caller: &Principal,
        records: Vec<ContractRecord>,
    ) -> Result<Vec<RecordResult>> {
        let partner = self.acting_partner(caller, "contracts:submit").await?;
        if records.is_empty() || records.len() > MAX_RECORDS {
            return Err(ExchangeError::invalid(
                "records",
                format!("must hold 1 to {MAX_RECORDS} records"),
            ));
        }
        let mut actions = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            actions.push(check(i, r)?);
        }
        let ids: Vec<String> = records
            .iter()
            .map(|r| r.record_id.trim().to_owned())
            .collect();
        let stored: BTreeMap<String, RecordResult> = self
            .store
            .contract_results(&partner.partner_id, &ids)
            .await?
            .into_iter()
            .map(|r| (r.record_id.clone(), r))
            .collect();
        let mut results = Vec::with_capacity(records.len());
        let mut touched = Vec::new();
        for (r, action) in records.into_iter().zip(actions) {
            let record_id = r.record_id.trim().to_owned();
            if let Some(done) = stored.get(&record_id) {
                results.push(done.clone());
                continue;
            }
            let resident_id = match &r.person {
                Person::ResidentId(id) => Ok(id.trim().to_owned()),
                Person::IdNumber(n) => self.identity.resolve_id_number(n.trim()).await?.resident(),
            };
            let resident_id = match resident_id {
                Ok(id) => id,
                Err((code, reason)) => {
                    let result = RecordResult::rejected(&record_id, code, &reason);
                    self.store
                        .save_contract_result(&partner.partner_id, &result, self.now())
                        .await?;
                    results.push(result);
                    continue;
                }
            };
            touched.push(resident_id.clone());
            let contract = Contract {
                institution_code: r.institution_code.trim().to_owned(),
                institution_name: r.institution_name.trim().to_owned(),
                district: r.district.trim().to_owned(),
                signed_on: r.signed_on.trim().to_owned(),
                valid_until: r.valid_until.trim().to_owned(),
            };
            let result = match self
                .identity
                .set_contract(&resident_id, action, &contract)
                .await?
            {
                Err(reason) => RecordResult::rejected(&record_id, "contract_refused", &reason),
                Ok(()) if action == ContractAction::Sign => {
                    self.signing(&partner.partner_id, &record_id, &resident_id, &contract)
                        .await?
                }
                Ok(()) => RecordResult {
                    record_id: record_id.clone(),
                    outcome: RecordOutcome::Applied,
                    points: 0,
                    reason_code: String::new(),
                    reason: String::new(),
                },
            };
            self.store
                .save_contract_result(&partner.partner_id, &result, self.now())
                .await?;
            results.push(result);
        }
        let entries = self.access_entries(
            caller,
            "submit_contracts",
            &format!("{} family-doctor contract records", results.len()),
            &audit::tally(touched.iter().map(String::as_str)),
        );
        self.store.append(&entries).await?;
        Ok(results)
    }

    /// Reports a signing to intake; the record's answer is "applied", with the points it earned
    /// (or why it earned none).
    async fn signing(
        &self,
        partner_id: &str,
        record_id: &str,
        resident_id: &str,
        contract: &Contract,
    ) -> Result<RecordResult> {
        let day = NaiveDate::parse_from_str(&contract.signed_on, "%Y-%m-%d")
            .map_err(|_| ExchangeError::invalid("signed_on", "must be a date"))?;
        // Noon on the signing day, Asia/Shanghai.
        let occurred_at = chrono::FixedOffset::east_opt(8 * 3600)
            .and_then(|tz| tz.from_local_datetime(&day.and_hms_opt(12, 0, 0)?).single())
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok_or_else(|| ExchangeError::invalid("signed_on", "must be a date"))?;
        let forward = Forward {
            source_id: partner_id.to_owned(),
            record_id: format!("contract:{record_id}"),
            resident_id: resident_id.to_owned(),
            behaviour: "family_doctor.contract".to_owned(),
            occurred_at,
            quantity: 1,
            district: contract.district.clone(),
            attributes: BTreeMap::from([(
                "institution_code".to_owned(),
                contract.institution_code.clone(),
            )]),
        };
        let judged = self
            .intake
            .submit(vec![forward], false)
            .await?
            .results
            .into_iter()
            .next()
            .ok_or_else(|| ExchangeError::fault("intake answered no outcome"))?;
        let (reason_code, reason) = match judged.outcome {
            RecordOutcome::Awarded | RecordOutcome::Pending => (String::new(), String::new()),
            _ => (
                judged.reason_code,
                format!(
                    "contract applied; the signing earned no points: {}",
                    judged.reason
                ),
            ),
        };
        Ok(RecordResult {
            record_id: record_id.to_owned(),
            outcome: RecordOutcome::Applied,
            points: judged.points,
            reason_code,
            reason,
        })
    }
}
