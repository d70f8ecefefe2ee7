//! Judging a FHIR submission like behaviour records, or refusing it whole (the mapping:
//! [`crate::domain::fhir`]).

use healthpoints_auth::Principal;
use healthpoints_errors::fhir::{Issue, refusal};
use serde_json::Value;

use super::partners::acting_partner;
use super::records::submit_for;
use crate::domain::fhir::{FhirAnswer, judged, parse, refused_entries};
use crate::domain::{
    error::{ExchangeError, Result as DomainResult},
    partners::Identity,
    records::{Behaviours, Record},
};
use crate::store::Store;

/// Checks the partner's `fhir:submit` scope, parses and maps the submission, and — only when
/// every entry is well-formed — judges it like behaviour records (consent, the partner's
/// behaviour list, intake), idempotent per (partner, `<resourceType>/<id>`).
pub async fn submit(
    store: &Store,
    identity: &impl Identity,
    intake: &impl Behaviours,
    caller: &Principal,
    content_type: &str,
    body: &[u8],
) -> DomainResult<FhirAnswer> {
    let partner = acting_partner(store, caller, "fhir:submit").await?;
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
    match submit_for(
        store,
        identity,
        intake,
        caller,
        &partner,
        records,
        "submit_fhir",
    )
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
