//! One request is one trace across the mesh, at the default log level: a partner's behaviour
//! records sent with a W3C `traceparent` come back as spans of that trace from the gateway, the
//! exchange, intake and the ledger, each carrying the request's `x-request-id`. Its own test binary: it installs the process's one tracing
//! subscriber, exporting to the OpenTelemetry SDK's in-memory exporter.

use healthpoints_integration_tests::Sandbox;
use healthpoints_telemetry::TelemetryConfig;
use opentelemetry::trace::TraceId;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use reqwest::Method;
use serde_json::json;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn one_request_is_one_trace_from_the_gateway_to_the_ledger() {
    let exporter = InMemorySpanExporter::default();
    // The default configuration: `info`, as a city runs it.
    let _telemetry = healthpoints_telemetry::init_exporting_to(
        "healthpoints",
        &TelemetryConfig::default(),
        exporter.clone(),
    )
    .expect("telemetry installs");
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let sports = sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let (resident, _) = sandbox.resident(41, "310118", "19800101").await;
    let response = sandbox
        .request(Method::POST, "/v1/partner/behaviours", Some(&sports))
        .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-01"))
        .header("x-request-id", "0d5c2b1e-7a4f-4c61-9d3e-5b8a2f6c1e07")
        .json(
            &json!([{"record_id": "t-1", "resident_id": resident, "behaviour": "steps.daily",
            "occurred_at": chrono::Utc::now().to_rfc3339(), "quantity": 9_000}]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-request-id"],
        "0d5c2b1e-7a4f-4c61-9d3e-5b8a2f6c1e07"
    );
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["results"][0]["outcome"], "awarded", "{answer}");

    let trace = TraceId::from_hex(TRACE).unwrap();
    let hops = [
        "HTTP POST /v1/partner/behaviours",
        "exchange.SubmitRecords",
        "intake.SubmitBehaviours",
        "ledger.CreateTransfers",
    ];
    // A server's span ends just after its answer is sent: wait (at most 5 s) for the last.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let spans = loop {
        let spans = exporter.get_finished_spans().unwrap();
        let ended = |hop: &&str| {
            spans
                .iter()
                .any(|s| s.span_context.trace_id() == trace && s.name == *hop)
        };
        if hops.iter().all(ended) || std::time::Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let ours: Vec<_> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .collect();
    let names: Vec<String> = ours.iter().map(|s| s.name.to_string()).collect();
    // The request's id reached every hop: the ledger's span carries it.
    let ledger = ours
        .iter()
        .find(|s| s.name == "ledger.CreateTransfers")
        .expect("the ledger's span");
    assert!(
        ledger
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "request_id"
                && kv.value.as_str() == "0d5c2b1e-7a4f-4c61-9d3e-5b8a2f6c1e07"),
        "{:?}",
        ledger.attributes
    );
    for hop in hops {
        assert!(
            names.iter().any(|n| n == hop),
            "{hop} in the caller's trace: {names:?}"
        );
    }
    sandbox.stop().await;
}
