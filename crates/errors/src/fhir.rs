//! FHIR's error body: the `OperationOutcome` and the response Bundles of them that a FHIR
//! client reads where an HTTP client reads problem+json. The exchange answers every FHIR
//! submission with these; the gateway answers with them too when a body never reaches the
//! exchange (too large, unreadable).

use serde_json::{Value, json};

/// One problem with one entry: an `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// `invalid`, `required`, `value`, `not-supported`, `structure`, `too-costly`.
    pub code: &'static str,
    pub diagnostics: String,
    /// FHIRPath of the element, e.g. `Bundle.entry[2].resource.valueQuantity.value`.
    pub expression: String,
}

impl Issue {
    pub fn new(code: &'static str, expression: String, diagnostics: impl Into<String>) -> Self {
        Self {
            code,
            diagnostics: diagnostics.into(),
            expression,
        }
    }
}

/// One `OperationOutcome.issue`; the expression only when there is one.
pub fn issue_json(severity: &str, code: &str, diagnostics: &str, expression: &str) -> Value {
    let mut issue = json!({"severity": severity, "code": code, "diagnostics": diagnostics});
    if !expression.is_empty() {
        issue["expression"] = json!([expression]);
    }
    issue
}

/// An `OperationOutcome` of one issue.
pub fn outcome_resource(issue: Value) -> Value {
    outcome_of(vec![issue])
}

/// An `OperationOutcome` of several issues.
pub fn outcome_of(issues: Vec<Value>) -> Value {
    json!({"resourceType": "OperationOutcome", "issue": issues})
}

/// A response Bundle (`batch-response` or `transaction-response`): one entry per request entry,
/// in order, each its HTTP status and its outcome.
pub fn response_bundle(kind: &str, entries: Vec<(u16, Value)>) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": kind,
        "entry": entries.into_iter().map(|(status, outcome)| {
            json!({"response": {"status": status.to_string(), "outcome": outcome}})
        }).collect::<Vec<_>>(),
    })
}

/// The answer to a submission refused as a whole: an `OperationOutcome` naming the problem.
pub fn refusal(issue: &Issue) -> Value {
    outcome_resource(issue_json(
        "error",
        issue.code,
        &issue.diagnostics,
        &issue.expression,
    ))
}
