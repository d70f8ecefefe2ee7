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
}
