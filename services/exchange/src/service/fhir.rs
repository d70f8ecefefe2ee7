//! Judging a FHIR submission like behaviour records, or refusing it whole (the mapping:
//! [`crate::domain::fhir`]).

use healthpoints_auth::Principal;
use healthpoints_errors::fhir::{Issue, refusal};
use serde_json::Value;

use super::Exchange;
use crate::domain::fhir::{FhirAnswer, judged, parse, refused_entries};
use crate::domain::{
    error::{ExchangeError, Result as DomainResult},
    partners::Identity,
    records::{Behaviours, Record},
};

impl<I: Identity, N: Behaviours, L> Exchange<I, N, L> {
    /// Checks the partner's `fhir:submit` scope, parses and maps the submission, and — only when
    /// every entry is well-formed — judges it like behaviour records (consent, the partner's
    /// behaviour list, intake), idempotent per (partner, `<resourceType>/<id>`).
    pub async fn submit_fhir(
        &self,
        caller: &Principal,
        content_type: &str,
        body: &[u8],
    ) -> DomainResult<FhirAnswer> {
        let partner = self.acting_partner(caller, "fhir:submit").await?;
        let refused = |body: Value| FhirAnswer {
            body,
            refused: true,
            results: Vec::new(),
        };
        let parsed = match parse(content_type, body) {
            Ok(p) => p,
            Err(issue) => return Ok(refused(refusal(&issue))),
        };
        if parsed.iter().any(Result::is_err) {
            return Ok(refused(refused_entries(&parsed)));
        }
        let records: Vec<Record> = parsed.into_iter().flatten().collect();
        match self
            .submit_records_for(caller, &partner, records, "submit_fhir")
            .await
        {
            Ok(results) => Ok(FhirAnswer {
                body: judged(&results),
                refused: false,
                results,
            }),
            Err(ExchangeError::Invalid { field, reason }) => {
                Ok(refused(refusal(&Issue::new("invalid", field, reason))))
            }
            Err(e) => Err(e),
        }
    }
}
