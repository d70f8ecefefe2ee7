//! The `CapabilityStatement` served at `…/fhir/metadata`: what the FHIR endpoint accepts —
//! resources and the elements each must have, the interactions (`batch`, `transaction`),
//! formats, units and security — built from the same constants the parser reads, so it cannot
//! say one thing while the parser does another.

use serde_json::{Value, json};

use super::units::{DURATION_UNITS, STEP_UNITS, UCUM};
use super::{CHECK_SYSTEM, INSTITUTION_SYSTEM, LOINC, MAX_ENTRIES, PRC_ID_SYSTEM};

/// The date this statement last changed (FHIR requires one).
const DATE: &str = "2026-12-06";

/// The profile of one accepted resource: its canonical name (documented in docs/exchange.md,
/// not published as a StructureDefinition), the behaviour it maps to and what it must have.
struct Profile {
    resource: &'static str,
    name: &'static str,
    documentation: String,
}

fn profiles() -> Vec<Profile> {
    let person = format!(
        "the person is subject (patient for Immunization): an identifier with system {PRC_ID_SYSTEM} (the ID number) or a reference Patient/<resident id>"
    );
    let steps = STEP_UNITS.join(", ");
    let durations: Vec<&str> = DURATION_UNITS.iter().map(|(u, _)| *u).collect();
    vec![
        Profile {
            resource: "Observation",
            name: "steps-daily",
            documentation: format!(
                "steps.daily: status final; code {LOINC} 41950-7; valueQuantity a whole count in UCUM {steps}; effectiveDateTime (a bare date is that day in Asia/Shanghai) or effectivePeriod; {person}"
            ),
        },
        Profile {
            resource: "Observation",
            name: "exercise-session",
            documentation: format!(
                "exercise.session: status final; code {LOINC} 55411-3; valueQuantity a duration in UCUM {}, converted to whole minutes; effectiveDateTime or effectivePeriod; {person}",
                durations.join(", ")
            ),
        },
        Profile {
            resource: "Immunization",
            name: "vaccination",
            documentation: format!(
                "vaccination: status completed; occurrenceDateTime; vaccineCode (its first code is the attribute vaccine_code); {person}"
            ),
        },
        Profile {
            resource: "Procedure",
            name: "screening",
            documentation: format!(
                "screening: status completed; code (what was screened for); performedDateTime or performedPeriod.start; location an identifier with system {INSTITUTION_SYSTEM}; {person}"
            ),
        },
        Profile {
            resource: "Encounter",
            name: "health-check",
            documentation: format!(
                "elderly.health_check, prenatal.check, student.check: status finished; a type coding {CHECK_SYSTEM} elderly, prenatal or student; period.start; serviceProvider an identifier with system {INSTITUTION_SYSTEM}; {person}"
            ),
        },
    ]
}

/// The canonical name of a profile.
fn canonical(name: &str) -> String {
    format!("urn:healthpoints:fhir:StructureDefinition:{name}")
}

/// The endpoint's `CapabilityStatement` (FHIR R4).
pub fn capability_statement() -> Value {
    let profiles = profiles();
    let mut resources: Vec<Value> = Vec::new();
    for kind in ["Observation", "Immunization", "Procedure", "Encounter"] {
        let of_kind: Vec<&Profile> = profiles.iter().filter(|p| p.resource == kind).collect();
        resources.push(json!({
            "type": kind,
            "supportedProfile": of_kind.iter().map(|p| canonical(p.name)).collect::<Vec<_>>(),
            "interaction": [{"code": "create", "documentation": "as an entry of a batch or transaction Bundle, or a line of NDJSON; idempotent per <resourceType>/<id>"}],
            "documentation": of_kind.iter().map(|p| p.documentation.as_str()).collect::<Vec<_>>().join(" | "),
        }));
    }
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": DATE,
        "publisher": "healthpoints",
        "kind": "instance",
        "software": {"name": "healthpoints", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {
            "description": "healthpoints: behaviour records from health departments, judged for health points (POST /v1/partner/fhir)"
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [{
            "mode": "server",
            "documentation": format!(
                "POST a Bundle (application/fhir+json) of type batch (each entry on its own: answered batch-response, 200, each entry 200, 422 rejected or 400 malformed) or transaction (all or none: answered transaction-response, or an OperationOutcome with 400 or 422 and nothing recorded); or Bulk-Data-style NDJSON (application/fhir+ndjson, one resource per line, processed as a batch). At most {MAX_ENTRIES} resources and 1 MiB. Units are UCUM ({UCUM})."
            ),
            "security": {
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "OAuth",
                }]}],
                "description": "OAuth2 client credentials (RFC 6749 §4.4) at POST /v1/auth/token; the token needs the scope fhir:submit",
            },
            "resource": resources,
            "interaction": [
                {"code": "batch", "documentation": "each entry judged on its own"},
                {"code": "transaction", "documentation": "every entry recorded, or none when any is malformed or rejected"},
            ],
        }],
    })
}
