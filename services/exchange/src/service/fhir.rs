//! Judging a FHIR submission like behaviour records: a batch entry by entry, a transaction all
//! or none (the mapping: [`crate::domain::fhir`]).

use healthpoints_auth::Principal;
use healthpoints_errors::fhir::{Issue, refusal};

use super::Exchange;
use crate::domain::fhir::{
    FhirAnswer, Mode,
    answer::{Left, rejection},
    batch_answer, parse, transaction_answer, transaction_refused,
};
use crate::domain::{
    error::{ExchangeError, Result as DomainResult},
    partners::{Identity, Partner},
    records::{Behaviours, Record, RecordOutcome},
};

impl<I: Identity, N: Behaviours, L> Exchange<I, N, L> {
    /// Checks the partner's `fhir:submit` scope and parses the submission; judges a batch entry
    /// by entry (a malformed entry refused on its own) and a transaction all or none, like
    /// behaviour records (consent, the partner's behaviour list, intake), idempotent per
    /// (partner, `<resourceType>/<id>`).
    pub async fn submit_fhir(
        &self,
        caller: &Principal,
        content_type: &str,
        body: &[u8],
    ) -> DomainResult<FhirAnswer> {
        let partner = self.acting_partner(caller, "fhir:submit").await?;
        let submission = match parse(content_type, body) {
            Ok(s) => s,
            Err(issue) => return Ok(FhirAnswer::refused(400, refusal(&issue))),
        };
        match submission.mode {
            Mode::Transaction => {
                let malformed: Vec<Issue> = submission
                    .entries
                    .iter()
                    .filter_map(|e| e.as_ref().err().cloned())
                    .collect();
                if !malformed.is_empty() {
                    return Ok(FhirAnswer::refused(
                        400,
                        transaction_refused(&malformed, Left::Nothing),
                    ));
                }
                let records = submission.entries.into_iter().flatten().collect();
                self.transaction(caller, &partner, records).await
            }
            Mode::Batch => {
                let records: Vec<Record> = submission
                    .entries
                    .iter()
                    .filter_map(|e| e.as_ref().ok().cloned())
                    .collect();
                let mut judged = if records.is_empty() {
                    Vec::new()
                } else {
                    match self
                        .submit_records_for(caller, &partner, records, "submit_fhir", false)
                        .await
                    {
                        Ok(j) => j.results,
                        Err(ExchangeError::Invalid { field, reason }) => {
                            let issue = Issue::new("invalid", field, reason);
                            return Ok(FhirAnswer::refused(400, refusal(&issue)));
                        }
                        Err(e) => return Err(e),
                    }
                }
                .into_iter();
                let mut entries = Vec::with_capacity(submission.entries.len());
                for entry in submission.entries {
                    entries.push(match entry {
                        Ok(_) => Ok(judged
                            .next()
                            .ok_or_else(|| ExchangeError::fault("fewer results than records"))?),
                        Err(issue) => Err(issue),
                    });
                }
                Ok(FhirAnswer {
                    body: batch_answer(&entries),
                    status: 200,
                    results: entries.into_iter().filter_map(Result::ok).collect(),
                })
            }
        }
    }

    /// A transaction of well-formed records: recorded all together, or — when any is rejected —
    /// none, answered with the entries that stopped it.
    async fn transaction(
        &self,
        caller: &Principal,
        partner: &Partner,
        records: Vec<Record>,
    ) -> DomainResult<FhirAnswer> {
        let judged = match self
            .submit_records_for(caller, partner, records, "submit_fhir", true)
            .await
        {
            Ok(j) => j,
            Err(ExchangeError::Invalid { field, reason }) => {
                let issue = Issue::new("invalid", field, reason);
                return Ok(FhirAnswer::refused(
                    400,
                    transaction_refused(&[issue], Left::Nothing),
                ));
            }
            Err(e) => return Err(e),
        };
        // Recorded, yet rejected: a book's budget refused the transaction's awards (linked, so
        // none was paid), or a resent transaction repeats a rejection. Nothing was awarded.
        let rejected: Vec<Issue> = judged
            .results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.outcome == RecordOutcome::Rejected)
            .map(|(i, r)| rejection(i, r))
            .collect();
        if !judged.recorded || !rejected.is_empty() {
            let left = if judged.recorded {
                Left::Rejected
            } else {
                Left::Nothing
            };
            return Ok(FhirAnswer {
                body: transaction_refused(&rejected, left),
                status: 422,
                results: judged.results,
            });
        }
        Ok(FhirAnswer {
            body: transaction_answer(&judged.results),
            status: 200,
            results: judged.results,
        })
    }
}
