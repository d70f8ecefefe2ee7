use healthpoints_integration_tests::{invariants, journey, processes::ProcessMesh};

/// The whole resident journey (see `healthpoints_integration_tests::journey`) on the mesh of
/// separate processes: earning from three sources, spending in two malls with a write-off and a
/// cancel, and a district's statistics matching the ledger — through the gateway's HTTP API.
#[tokio::test]
async fn a_resident_earns_spends_and_is_counted_across_the_process_mesh() {
    let mesh = ProcessMesh::start().await;
    let report = journey::run(&mesh)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(report.written_off, 50);
    assert_eq!(report.qingpu_book["issued"], 240);
    let checked = invariants::check(&mesh, &mesh.endpoint("ledger"), &[report.resident_token])
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!((checked.awards, checked.orders), (12, 2), "{checked}");
    println!("invariants: {checked}");

    // Each service, a process of its own, answers Prometheus on its gRPC port with what it did.
    let scrape = async |name: &str| {
        let response = reqwest::get(format!("{}/metrics", mesh.endpoint(name)))
            .await
            .unwrap_or_else(|e| panic!("{name}'s /metrics: {e}"));
        assert_eq!(response.status(), 200, "{name}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text"),
            "{name}"
        );
        response.text().await.unwrap()
    };
    for (name, service) in [
        ("identity", "identity"),
        ("ledger", "ledger"),
        ("intake", "intake"),
        ("exchange", "exchange"),
        ("city-mall", "mall"),
    ] {
        let text = scrape(name).await;
        assert!(text.ends_with("# EOF\n"), "{name}: {text}");
        assert!(
            text.contains(&format!(
                "healthpoints_rpc_requests_total{{service=\"{service}\""
            )),
            "{name}: {text}"
        );
    }
    let ledger = scrape("ledger").await;
    assert!(
        ledger.contains("healthpoints_points_total{book=\"city\",kind=\"award\"}"),
        "{ledger}"
    );
    assert!(
        ledger.contains("healthpoints_ledger_commit_seconds_count"),
        "{ledger}"
    );
    let intake = scrape("intake").await;
    assert!(
        intake.contains("healthpoints_intake_outcomes_total{kind=\"awarded\"}"),
        "{intake}"
    );
    let mall = scrape("city-mall").await;
    assert!(
        mall.contains("healthpoints_orders_total{mall=\"city\""),
        "{mall}"
    );
    // A process's figures are its own: the ledger served no mall orders.
    assert!(!ledger.contains("healthpoints_orders_total"), "{ledger}");
}
