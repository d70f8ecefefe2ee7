//! FHIR R4 for health departments that speak it: a `Bundle` (or Bulk-Data-style NDJSON, one
//! resource per line) of a small profiled subset, mapped to behaviour records by a documented
//! table (docs/exchange.md), and answered with one `OperationOutcome` per entry.
//!
//! The models are hand-written for just these resources and just the elements used; anything
//! else in a resource is ignored, as FHIR allows. Parsing never panics: every defect becomes an
//! issue with the FHIRPath of the offending element.
//!
//! | resource | when | behaviour | quantity |
//! |---|---|---|---|
//! | `Observation` | `code` LOINC `41950-7` (steps in 24 h) | `steps.daily` | `valueQuantity` in UCUM `/d` (or `{steps}`) |
//! | `Observation` | `code` LOINC `55411-3` (exercise duration) | `exercise.session` | `valueQuantity` in UCUM `min`, `h` or `s`, as whole minutes |
//! | `Immunization` | `status` `completed` | `vaccination` | 1 |
//! | `Procedure` | `status` `completed` | `screening` | 1 |
//! | `Encounter` | `type` `urn:healthpoints:check` `elderly` / `prenatal` / `student`, `status` `finished` | `elderly.health_check` / `prenatal.check` / `student.check` | 1 |
//!
//! The person is `subject` (`patient` for Immunization): an `identifier` with system
//! `urn:healthpoints:prc-id` (the ID number) or a `reference` `Patient/<resident id>`. The
//! record id is the resource's `id`. A `batch` Bundle (and NDJSON) is judged entry by entry, a
//! `transaction` all or none ([`answer`]); the endpoint describes itself in a
//! `CapabilityStatement` ([`capability_statement`]).

use super::records::{Person, Record};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
pub use healthpoints_errors::fhir::{Issue, refusal};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Identifier system of the PRC resident ID number.
pub const PRC_ID_SYSTEM: &str = "urn:healthpoints:prc-id";
/// Code system of the checks an `Encounter` reports.
pub const CHECK_SYSTEM: &str = "urn:healthpoints:check";
/// Identifier system of a health institution (the code the catalogue's check rules ask for).
pub const INSTITUTION_SYSTEM: &str = "urn:healthpoints:institution";
const LOINC: &str = "http://loinc.org";
/// Most resources in one submission.
pub const MAX_ENTRIES: usize = 1_000;

#[derive(Debug, Deserialize, Default)]
struct Coding {
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct CodeableConcept {
    #[serde(default)]
    coding: Vec<Coding>,
}

impl CodeableConcept {
    fn has(&self, system: &str, code: &str) -> bool {
        self.coding
            .iter()
            .any(|c| c.system.as_deref() == Some(system) && c.code.as_deref() == Some(code))
    }

    fn first_code(&self) -> Option<String> {
        self.coding.iter().find_map(|c| c.code.clone())
    }
}

#[derive(Debug, Deserialize)]
struct Identifier {
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Reference {
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    identifier: Option<Identifier>,
}

#[derive(Debug, Deserialize, Default)]
struct Quantity {
    #[serde(default)]
    value: Option<f64>,
    /// The UCUM code of the unit ([`units`]).
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    system: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Period {
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Observation {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    code: Option<CodeableConcept>,
    #[serde(default)]
    subject: Option<Reference>,
    #[serde(default)]
    effective_date_time: Option<String>,
    #[serde(default)]
    effective_period: Option<Period>,
    #[serde(default)]
    value_quantity: Option<Quantity>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Immunization {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    vaccine_code: Option<CodeableConcept>,
    #[serde(default)]
    patient: Option<Reference>,
    #[serde(default)]
    occurrence_date_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Procedure {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    code: Option<CodeableConcept>,
    #[serde(default)]
    subject: Option<Reference>,
    #[serde(default)]
    performed_date_time: Option<String>,
    #[serde(default)]
    performed_period: Option<Period>,
    /// Where it was done: a `Location` with an institution identifier.
    #[serde(default)]
    location: Option<Reference>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Encounter {
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "type")]
    kind: Vec<CodeableConcept>,
    #[serde(default)]
    subject: Option<Reference>,
    #[serde(default)]
    period: Option<Period>,
    /// The institution responsible: an `Organization` with an institution identifier.
    #[serde(default)]
    service_provider: Option<Reference>,
}

/// The institution code a reference names by its `urn:healthpoints:institution` identifier.
fn institution(r: Option<&Reference>) -> Option<String> {
    r.and_then(|r| r.identifier.as_ref())
        .filter(|i| i.system.as_deref() == Some(INSTITUTION_SYSTEM))
        .and_then(|i| i.value.as_deref())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// What a submission came to before anything is judged: one record or one issue per entry.
pub type Parsed = Vec<Result<Record, Issue>>;

/// How a submission is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A `batch` Bundle, or NDJSON: each entry on its own.
    Batch,
    /// A `transaction` Bundle: every entry or none.
    Transaction,
}

/// A parsed submission: how it is processed, and its entries.
#[derive(Debug)]
pub struct Submission {
    pub mode: Mode,
    pub entries: Parsed,
}

/// Parses a body of `content_type` (`application/fhir+json`: a Bundle of type `batch` or
/// `transaction`; `application/fhir+ndjson`: one resource per line, processed as a batch) into
/// one record or issue per entry. `Err` when the body as a whole is not one (not JSON, not a
/// Bundle, another Bundle type, too many entries).
pub fn parse(content_type: &str, body: &[u8]) -> Result<Submission, Issue> {
    let ndjson = match content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "application/fhir+json" | "application/json" => false,
        "application/fhir+ndjson" | "application/x-ndjson" | "application/ndjson" => true,
        other => {
            return Err(Issue::new(
                "not-supported",
                String::new(),
                format!(
                    "content type {other:?} is not accepted: send application/fhir+json (a Bundle) or application/fhir+ndjson"
                ),
            ));
        }
    };
    let text = std::str::from_utf8(body)
        .map_err(|_| Issue::new("structure", String::new(), "the body is not UTF-8"))?;
    let mut mode = Mode::Batch;
    let resources: Vec<(String, Value)> = if ndjson {
        let mut out = Vec::new();
        for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let value: Value = serde_json::from_str(line).map_err(|e| {
                Issue::new(
                    "structure",
                    format!("line {}", i + 1),
                    format!("line {} is not JSON: {e}", i + 1),
                )
            })?;
            out.push((format!("line {}", i + 1), value));
        }
        out
    } else {
        let bundle: Value = serde_json::from_str(text).map_err(|e| {
            Issue::new(
                "structure",
                "Bundle".into(),
                format!("the body is not JSON: {e}"),
            )
        })?;
        if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            return Err(Issue::new(
                "structure",
                "Bundle.resourceType".into(),
                "the body must be a FHIR Bundle (resourceType \"Bundle\")",
            ));
        }
        let entries = match bundle.get("entry") {
            None => Vec::new(),
            Some(Value::Array(entries)) => entries.clone(),
            Some(_) => {
                return Err(Issue::new(
                    "structure",
                    "Bundle.entry".into(),
                    "must be an array",
                ));
            }
        };
        mode = match bundle.get("type").map(Value::as_str) {
            Some(Some("batch")) => Mode::Batch,
            Some(Some("transaction")) => Mode::Transaction,
            None => {
                return Err(Issue::new(
                    "required",
                    "Bundle.type".into(),
                    "is required: batch (each entry on its own) or transaction (all or none)",
                ));
            }
            Some(_) => {
                return Err(Issue::new(
                    "value",
                    "Bundle.type".into(),
                    "must be batch (each entry on its own) or transaction (all or none)",
                ));
            }
        };
        entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let path = format!("Bundle.entry[{i}].resource");
                (path, e.get("resource").cloned().unwrap_or(Value::Null))
            })
            .collect()
    };
    if resources.is_empty() {
        return Err(Issue::new(
            "required",
            "Bundle.entry".into(),
            "there is nothing to process",
        ));
    }
    if resources.len() > MAX_ENTRIES {
        return Err(Issue::new(
            "too-costly",
            "Bundle.entry".into(),
            format!("at most {MAX_ENTRIES} resources per submission"),
        ));
    }
    Ok(Submission {
        mode,
        entries: resources
            .into_iter()
            .map(|(path, resource)| record(&path, resource))
            .collect(),
    })
}

fn typed<T: for<'de> Deserialize<'de>>(path: &str, resource: Value) -> Result<T, Issue> {
    serde_json::from_value(resource).map_err(|e| {
        // serde names the element in its message ("invalid type: string, expected f64", …).
        Issue::new(
            "structure",
            path.to_owned(),
            format!("does not match the profile: {e}"),
        )
    })
}

fn person(path: &str, subject: Option<Reference>) -> Result<Person, Issue> {
    let subject =
        subject.ok_or_else(|| Issue::new("required", path.to_owned(), "the person is required"))?;
    if let Some(id) = subject.identifier {
        return match (id.system.as_deref(), id.value) {
            (Some(PRC_ID_SYSTEM), Some(v)) if !v.trim().is_empty() => Ok(Person::IdNumber(v)),
            _ => Err(Issue::new(
                "value",
                format!("{path}.identifier"),
                format!("must have system {PRC_ID_SYSTEM} and the ID number as value"),
            )),
        };
    }
    match subject
        .reference
        .as_deref()
        .and_then(|r| r.strip_prefix("Patient/"))
    {
        Some(id) if !id.trim().is_empty() => Ok(Person::ResidentId(id.trim().to_owned())),
        _ => Err(Issue::new(
            "value",
            format!("{path}.reference"),
            "must be Patient/<resident id>, or give an identifier",
        )),
    }
}

/// A FHIR `dateTime`, or a full date: that Shanghai calendar day, taken from its first moment
/// (00:00 +08:00). A wearable's running daily total dated "today" is then never in the future
/// once the day has begun, counts toward that day's caps, and is judged by the rules in force
/// when the day began.
pub(crate) fn when(path: &str, raw: Option<&str>) -> Result<DateTime<Utc>, Issue> {
    let raw = raw.ok_or_else(|| Issue::new("required", path.to_owned(), "a time is required"))?;
    if let Ok(t) = DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| {
            chrono::FixedOffset::east_opt(8 * 3600)?
                .from_local_datetime(&t)
                .single()
        })
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            Issue::new(
                "value",
                path.to_owned(),
                "must be a FHIR dateTime with a time zone (2026-11-21T20:00:00+08:00) or a date",
            )
        })
}

/// A `<name>[x]` choice of `<name>DateTime` or `<name>Period` (the named bound of the period).
fn one_of(
    path: &str,
    name: &str,
    date_time: Option<&str>,
    period: Option<(&str, Option<&str>)>,
) -> Result<DateTime<Utc>, Issue> {
    match (date_time, period) {
        (Some(t), _) => when(&format!("{path}.{name}DateTime"), Some(t)),
        (None, Some((bound, t))) => when(&format!("{path}.{name}Period.{bound}"), t),
        (None, None) => Err(Issue::new(
            "required",
            format!("{path}.{name}[x]"),
            format!("{name}DateTime or {name}Period is required"),
        )),
    }
}

fn status_is(path: &str, status: Option<&str>, wanted: &str) -> Result<(), Issue> {
    match status {
        Some(s) if s == wanted => Ok(()),
        Some(s) => Err(Issue::new(
            "value",
            format!("{path}.status"),
            format!("only {wanted} resources earn points (this one is {s})"),
        )),
        None => Err(Issue::new(
            "required",
            format!("{path}.status"),
            "is required",
        )),
    }
}

fn record(path: &str, resource: Value) -> Result<Record, Issue> {
    let Some(kind) = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Err(Issue::new(
            "required",
            format!("{path}.resourceType"),
            "every entry needs a resource with a resourceType",
        ));
    };
    let id = match resource.get("id") {
        Some(Value::String(id)) if !id.trim().is_empty() && id.len() <= 64 => id.trim().to_owned(),
        _ => {
            return Err(Issue::new(
                "required",
                format!("{path}.id"),
                "the resource id (1 to 64 characters) is the record id and is required",
            ));
        }
    };
    let mut attributes = BTreeMap::from([("fhir_resource".to_owned(), kind.clone())]);
    let (person_, behaviour, occurred_at, quantity) = match kind.as_str() {
        "Observation" => {
            let o: Observation = typed(path, resource)?;
            status_is(path, o.status.as_deref(), "final")?;
            let code = o.code.unwrap_or_default();
            let behaviour = if code.has(LOINC, "41950-7") {
                "steps.daily"
            } else if code.has(LOINC, "55411-3") {
                "exercise.session"
            } else {
                return Err(Issue::new(
                    "not-supported",
                    format!("{path}.code"),
                    "only LOINC 41950-7 (steps in 24 hours) and 55411-3 (exercise duration) are accepted",
                ));
            };
            let quantity_path = format!("{path}.valueQuantity");
            let quantity = o.value_quantity.as_ref();
            let value = if behaviour == "steps.daily" {
                units::steps(&quantity_path, quantity)?
            } else {
                units::minutes(&quantity_path, quantity)?
            };
            let at = one_of(
                path,
                "effective",
                o.effective_date_time.as_deref(),
                o.effective_period
                    .as_ref()
                    .map(|p| ("end", p.end.as_deref().or(p.start.as_deref()))),
            )?;
            (
                person(&format!("{path}.subject"), o.subject)?,
                behaviour,
                at,
                value,
            )
        }
        "Immunization" => {
            let i: Immunization = typed(path, resource)?;
            status_is(path, i.status.as_deref(), "completed")?;
            if let Some(code) = i.vaccine_code.and_then(|c| c.first_code()) {
                attributes.insert("vaccine_code".into(), code);
            }
            let at = when(
                &format!("{path}.occurrenceDateTime"),
                i.occurrence_date_time.as_deref(),
            )?;
            (
                person(&format!("{path}.patient"), i.patient)?,
                "vaccination",
                at,
                1,
            )
        }
        "Procedure" => {
            let p: Procedure = typed(path, resource)?;
            status_is(path, p.status.as_deref(), "completed")?;
            // The screening rule's evidence is what was screened for: the procedure's code.
            if let Some(code) = p.code.and_then(|c| c.first_code()) {
                attributes.insert("screening_type".into(), code);
            }
            if let Some(code) = institution(p.location.as_ref()) {
                attributes.insert("institution_code".into(), code);
            }
            let at = one_of(
                path,
                "performed",
                p.performed_date_time.as_deref(),
                p.performed_period
                    .as_ref()
                    .map(|p| ("start", p.start.as_deref())),
            )?;
            (
                person(&format!("{path}.subject"), p.subject)?,
                "screening",
                at,
                1,
            )
        }
        "Encounter" => {
            let e: Encounter = typed(path, resource)?;
            status_is(path, e.status.as_deref(), "finished")?;
            let behaviour = if e.kind.iter().any(|t| t.has(CHECK_SYSTEM, "elderly")) {
                "elderly.health_check"
            } else if e.kind.iter().any(|t| t.has(CHECK_SYSTEM, "prenatal")) {
                "prenatal.check"
            } else if e.kind.iter().any(|t| t.has(CHECK_SYSTEM, "student")) {
                "student.check"
            } else {
                return Err(Issue::new(
                    "not-supported",
                    format!("{path}.type"),
                    format!(
                        "an Encounter must be typed {CHECK_SYSTEM} elderly, prenatal or student"
                    ),
                ));
            };
            // The check rules' evidence is where the check was done.
            if let Some(code) = institution(e.service_provider.as_ref()) {
                attributes.insert("institution_code".into(), code);
            }
            let at = when(
                &format!("{path}.period.start"),
                e.period.as_ref().and_then(|p| p.start.as_deref()),
            )?;
            (
                person(&format!("{path}.subject"), e.subject)?,
                behaviour,
                at,
                1,
            )
        }
        other => {
            return Err(Issue::new(
                "not-supported",
                format!("{path}.resourceType"),
                format!(
                    "{other} is not accepted: send Observation, Immunization, Procedure or Encounter"
                ),
            ));
        }
    };
    let record = Record {
        record_id: format!("{kind}/{id}"),
        person: person_,
        behaviour: behaviour.to_owned(),
        occurred_at,
        quantity,
        district: String::new(),
        attributes,
    };
    // The checks every record meets (lengths, characters): this entry's own refusal.
    super::records::check(0, &record).map_err(|e| match e {
        super::error::ExchangeError::Invalid { field, reason } => Issue::new(
            "value",
            path.to_owned(),
            format!(
                "{}: {reason}",
                field.strip_prefix("records[0].").unwrap_or(&field)
            ),
        ),
        other => Issue::new("value", path.to_owned(), other.to_string()),
    })?;
    Ok(record)
}

pub mod answer;
mod capability;
mod units;

pub use answer::{FhirAnswer, batch_answer, transaction_answer, transaction_refused};
pub use capability::capability_statement;

#[cfg(test)]
mod tests;
