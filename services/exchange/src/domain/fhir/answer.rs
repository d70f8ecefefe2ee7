//! The answers to a FHIR submission.
//!
//! - A `batch` (or NDJSON) is answered `batch-response`: one entry per request entry, in order,
//!   each with its HTTP status and an `OperationOutcome` — 200 judged (awarded, capped, held,
//!   already received), 422 rejected (with the reason), 400 malformed (with the element's
//!   FHIRPath).
//! - A `transaction` that was applied is answered `transaction-response` the same way. One that
//!   was not is answered by a single `OperationOutcome` naming every entry that stopped it;
//!   nothing was recorded.

use healthpoints_errors::fhir::{issue_json, outcome_of, outcome_resource, response_bundle};
use serde_json::Value;

use super::Issue;
use crate::domain::records::{RecordOutcome, RecordResult};

/// What a FHIR submission came to: the body (a response `Bundle` or an `OperationOutcome`), its
/// HTTP status (200, or 400/422 when nothing was recorded) and the per-entry results.
#[derive(Debug)]
pub struct FhirAnswer {
    pub body: Value,
    pub status: u16,
    pub results: Vec<RecordResult>,
}

impl FhirAnswer {
    /// A submission refused whole, nothing recorded, answered `status` with `body`.
    pub fn refused(status: u16, body: Value) -> Self {
        Self {
            body,
            status,
            results: Vec::new(),
        }
    }
}

/// One judged entry: its status and its outcome.
fn judged(r: &RecordResult) -> (u16, Value) {
    let text = match r.outcome {
        RecordOutcome::Awarded => format!("awarded {} points", r.points),
        RecordOutcome::Pending => format!("awarded {} points (on their way)", r.points),
        RecordOutcome::Applied => "applied".to_owned(),
        RecordOutcome::Capped => format!("capped at {} points: {}", r.points, r.reason),
        RecordOutcome::Duplicate => format!("already received: {}", r.reason),
        RecordOutcome::Held => format!("held for review: {}", r.reason),
        RecordOutcome::Rejected => format!("rejected ({}): {}", r.reason_code, r.reason),
        RecordOutcome::NotProcessed => NOT_PROCESSED.to_owned(),
    };
    let (status, severity, code) = match r.outcome {
        RecordOutcome::Rejected => (422, "error", "processing"),
        RecordOutcome::Capped | RecordOutcome::Held | RecordOutcome::Duplicate => {
            (200, "warning", "informational")
        }
        _ => (200, "information", "informational"),
    };
    (
        status,
        outcome_resource(issue_json(severity, code, &text, "")),
    )
}

const NOT_PROCESSED: &str = "not processed: another entry of this transaction was refused";

fn error(issue: &Issue) -> Value {
    issue_json("error", issue.code, &issue.diagnostics, &issue.expression)
}

/// A batch: every entry judged or, when malformed, refused on its own.
pub fn batch_answer(entries: &[Result<RecordResult, Issue>]) -> Value {
    response_bundle(
        "batch-response",
        entries
            .iter()
            .map(|e| match e {
                Ok(r) => judged(r),
                Err(issue) => (400, outcome_resource(error(issue))),
            })
            .collect(),
    )
}

/// A transaction that was applied: every entry judged.
pub fn transaction_answer(results: &[RecordResult]) -> Value {
    response_bundle("transaction-response", results.iter().map(judged).collect())
}

/// The issue of entry `index` that a rejection stopped a transaction with.
pub fn rejection(index: usize, r: &RecordResult) -> Issue {
    Issue::new(
        "processing",
        format!("Bundle.entry[{index}].resource"),
        format!("rejected ({}): {}", r.reason_code, r.reason),
    )
}

/// What a transaction that was not applied left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// Nothing at all.
    Nothing,
    /// Its records, kept as rejected: the book's budget could not pay all of them.
    Rejected,
}

/// A transaction that was not applied: one `OperationOutcome`, an error per entry that stopped
/// it, and what that means.
pub fn transaction_refused(problems: &[Issue], left: Left) -> Value {
    let mut issues: Vec<Value> = problems.iter().map(error).collect();
    issues.push(issue_json(
        "information",
        "informational",
        match left {
            Left::Nothing => {
                "the transaction was not applied: nothing was recorded; correct the entries named and send it again"
            }
            Left::Rejected => {
                "the transaction was not applied: nothing was paid; its records are kept as rejected, so a resend answers the same; send them under new resource ids once the budget allows"
            }
        },
        "",
    ));
    outcome_of(issues)
}
