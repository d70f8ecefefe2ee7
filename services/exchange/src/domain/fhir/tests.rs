use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::domain::records::{RecordOutcome, RecordResult};

const ID: &str = "310118198001010011";
const RID: &str = "0190a5e2-0000-7000-8000-000000000001";

fn example(name: &str) -> String {
    let raw = match name {
        "bundle" => include_str!("../../../fhir-examples/bundle-steps-immunization.json"),
        "ndjson" => include_str!("../../../fhir-examples/procedure-encounter.ndjson"),
        _ => include_str!("../../../fhir-examples/malformed-types.json"),
    };
    raw.replace("@ID@", ID).replace("@RID@", RID)
}

#[test]
fn the_adapted_hl7_examples_map_to_records() {
    let parsed = parse("application/fhir+json", example("bundle").as_bytes()).unwrap();
    assert_eq!(parsed.mode, Mode::Batch);
    let parsed = parsed.entries;
    let records: Vec<Record> = parsed.into_iter().map(Result::unwrap).collect();
    assert_eq!(records[0].record_id, "Observation/steps-2026-11-20");
    assert_eq!(records[0].behaviour, "steps.daily");
    assert_eq!(records[0].quantity, 10_432);
    assert_eq!(records[0].person, Person::IdNumber(ID.into()));
    assert_eq!(records[1].behaviour, "vaccination");
    assert_eq!(records[1].attributes["vaccine_code"], "FLUVAX");
    // A bare date is that day in Shanghai, from its first moment.
    assert_eq!(
        records[1].occurred_at.to_rfc3339(),
        "2026-11-17T16:00:00+00:00"
    );

    let parsed = parse("application/fhir+ndjson", example("ndjson").as_bytes()).unwrap();
    assert_eq!(parsed.mode, Mode::Batch, "NDJSON is a batch");
    let parsed = parsed.entries;
    let records: Vec<Record> = parsed.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        records
            .iter()
            .map(|r| r.behaviour.as_str())
            .collect::<Vec<_>>(),
        ["screening", "elderly.health_check"]
    );
    assert_eq!(records[0].person, Person::ResidentId(RID.into()));
    // The evidence the catalogue's rules ask for: what was screened for, and where.
    assert_eq!(records[0].attributes["screening_type"], "268547008");
    assert_eq!(records[1].attributes["institution_code"], "310118-CHC-01");
}

#[test]
fn a_bare_date_is_that_shanghai_day_and_not_in_the_future_on_its_morning() {
    // A wearable syncs today's running total at 07:00 in Shanghai (23:00 UTC the day before).
    let morning = DateTime::parse_from_rfc3339("2026-12-04T07:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc);
    let at = when("Observation.effectiveDateTime", Some("2026-12-04")).unwrap();
    assert!(at <= morning, "{at} is after the morning sync");
    assert_eq!(
        healthpoints_types::calendar::local_date(at).to_string(),
        "2026-12-04"
    );
}

#[test]
fn malformed_entries_are_named_precisely() {
    let parsed = parse("application/fhir+json", example("malformed").as_bytes()).unwrap();
    assert_eq!(parsed.mode, Mode::Transaction);
    let parsed = parsed.entries;
    let bad = parsed[0].as_ref().unwrap_err();
    assert_eq!(bad.code, "structure");
    assert_eq!(bad.expression, "Bundle.entry[0].resource");
    assert!(
        bad.diagnostics.contains("invalid type"),
        "{}",
        bad.diagnostics
    );
    let missing = parsed[1].as_ref().unwrap_err();
    assert_eq!(
        (missing.code, missing.expression.as_str()),
        ("required", "Bundle.entry[1].resource.patient")
    );
    assert!(parsed[2].is_ok());
    // A transaction: one OperationOutcome naming both, nothing recorded.
    let issues: Vec<Issue> = parsed
        .iter()
        .filter_map(|p| p.as_ref().err().cloned())
        .collect();
    let refused = transaction_refused(&issues, answer::Left::Nothing);
    assert_eq!(refused["resourceType"], "OperationOutcome");
    assert_eq!(
        refused["issue"][1]["expression"][0],
        "Bundle.entry[1].resource.patient"
    );
    assert_eq!(refused["issue"][2]["severity"], "information");
    // A batch: each malformed entry answered on its own, the others judged.
    let fine = RecordResult {
        record_id: "Observation/steps-fine".into(),
        outcome: RecordOutcome::Awarded,
        points: 90,
        reason_code: String::new(),
        reason: String::new(),
    };
    let entries: Vec<Result<RecordResult, Issue>> = parsed
        .iter()
        .map(|p| p.as_ref().map(|_| fine.clone()).map_err(Clone::clone))
        .collect();
    let answer = batch_answer(&entries);
    assert_eq!(answer["type"], "batch-response");
    assert_eq!(answer["entry"][0]["response"]["status"], "400");
    assert_eq!(
        answer["entry"][1]["response"]["outcome"]["issue"][0]["expression"][0],
        "Bundle.entry[1].resource.patient"
    );
    assert_eq!(answer["entry"][2]["response"]["status"], "200");
    assert_eq!(
        answer["entry"][2]["response"]["outcome"]["issue"][0]["diagnostics"],
        "awarded 90 points"
    );
}

#[test]
fn units_are_read_as_ucum_durations_converted_and_steps_per_day() {
    let observation = |loinc: &str, quantity: Value| {
        json!({"resourceType": "Bundle", "type": "batch", "entry": [{"resource": {
            "resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": {"reference": format!("Patient/{RID}")},
            "effectiveDateTime": "2026-11-20T20:00:00+08:00",
            "valueQuantity": quantity}}]})
        .to_string()
    };
    let read = |body: String| {
        parse("application/fhir+json", body.as_bytes())
            .unwrap()
            .entries
            .remove(0)
    };
    let ucum = "http://unitsofmeasure.org";
    let hours = read(observation(
        "55411-3",
        json!({"value": 1.5, "system": ucum, "code": "h"}),
    ));
    assert_eq!(hours.unwrap().quantity, 90, "1.5 h is 90 minutes");
    let minutes = read(observation(
        "55411-3",
        json!({"value": 45, "system": ucum, "code": "min"}),
    ));
    assert_eq!(minutes.unwrap().quantity, 45);
    let km = read(observation(
        "55411-3",
        json!({"value": 5, "system": ucum, "code": "km"}),
    ));
    assert_eq!(
        km.unwrap_err().expression,
        "Bundle.entry[0].resource.valueQuantity.code"
    );
    let unitless = read(observation("55411-3", json!({"value": 45})));
    assert_eq!(unitless.unwrap_err().code, "required");
    let steps = read(observation(
        "41950-7",
        json!({"value": 8000, "system": ucum, "code": "/d"}),
    ));
    assert_eq!(steps.unwrap().quantity, 8_000);
    let per_hour = read(observation(
        "41950-7",
        json!({"value": 800, "system": ucum, "code": "/h"}),
    ));
    assert!(per_hour.unwrap_err().diagnostics.contains("count per day"));
}

#[test]
fn whole_submissions_that_are_not_bundles_are_refused() {
    for (ct, body, code) in [
        ("application/fhir+json", "{not json", "structure"),
        (
            "application/fhir+json",
            r#"{"resourceType":"Patient"}"#,
            "structure",
        ),
        (
            "application/fhir+json",
            r#"{"resourceType":"Bundle","type":"batch","entry":{}}"#,
            "structure",
        ),
        (
            "application/fhir+json",
            r#"{"resourceType":"Bundle","type":"batch"}"#,
            "required",
        ),
        (
            "application/fhir+json",
            r#"{"resourceType":"Bundle","entry":[]}"#,
            "required",
        ),
        (
            "application/fhir+json",
            r#"{"resourceType":"Bundle","type":"collection","entry":[]}"#,
            "value",
        ),
        ("text/plain", "{}", "not-supported"),
        ("application/fhir+ndjson", "{}\nnope", "structure"),
    ] {
        let issue = parse(ct, body.as_bytes()).unwrap_err();
        assert_eq!(issue.code, code, "{body}");
    }
    let many = format!(
        r#"{{"resourceType":"Bundle","type":"batch","entry":[{}]}}"#,
        vec![r#"{"resource":{}}"#; MAX_ENTRIES + 1].join(",")
    );
    assert_eq!(
        parse("application/fhir+json", many.as_bytes())
            .unwrap_err()
            .code,
        "too-costly"
    );
    let other = r#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","id":"p"}}]}"#;
    let parsed = parse("application/fhir+json", other.as_bytes()).unwrap();
    assert_eq!(parsed.mode, Mode::Transaction);
    assert_eq!(
        parsed.entries[0].as_ref().unwrap_err().code,
        "not-supported"
    );
}

#[test]
fn the_capability_statement_says_what_the_parser_accepts() {
    let c = capability_statement();
    assert_eq!(c["resourceType"], "CapabilityStatement");
    assert_eq!(c["fhirVersion"], "4.0.1");
    for field in ["status", "date", "kind", "format", "implementation"] {
        assert!(!c[field].is_null(), "{field} is required");
    }
    let rest = &c["rest"][0];
    let interactions: Vec<&str> = rest["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(interactions, ["batch", "transaction"]);
    let types: Vec<&str> = rest["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["Observation", "Immunization", "Procedure", "Encounter"]
    );
    let observation = rest["resource"][0]["documentation"].as_str().unwrap();
    assert!(observation.contains("41950-7") && observation.contains("/d"));
    assert!(observation.contains("55411-3") && observation.contains("min, h"));
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just("Observation".to_owned()),
            Just("final".to_owned()),
            Just("41950-7".to_owned()),
            Just("http://loinc.org".to_owned()),
            Just("Patient/x".to_owned()),
            Just("2026-11-20T20:00:00+08:00".to_owned()),
            ".{0,12}",
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("resourceType".to_owned()),
                    Just("id".to_owned()),
                    Just("status".to_owned()),
                    Just("code".to_owned()),
                    Just("coding".to_owned()),
                    Just("system".to_owned()),
                    Just("subject".to_owned()),
                    Just("reference".to_owned()),
                    Just("valueQuantity".to_owned()),
                    Just("value".to_owned()),
                    Just("effectiveDateTime".to_owned()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse("application/fhir+json", &body);
        let _ = parse("application/fhir+ndjson", &body);
    }

    #[test]
    fn arbitrary_resources_never_panic(resources in prop::collection::vec(json_value(), 0..8)) {
        let bundle = json!({
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": resources.iter().map(|r| json!({"resource": r})).collect::<Vec<_>>(),
        });
        if let Ok(parsed) = parse("application/fhir+json", bundle.to_string().as_bytes()) {
            let issues: Vec<Issue> = parsed.entries.iter().filter_map(|p| p.as_ref().err().cloned()).collect();
            let _ = transaction_refused(&issues, answer::Left::Nothing);
        }
        let lines: Vec<String> = resources.iter().map(Value::to_string).collect();
        let _ = parse("application/fhir+ndjson", lines.join("\n").as_bytes());
    }
}
