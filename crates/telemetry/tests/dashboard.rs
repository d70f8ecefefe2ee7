//! The Grafana dashboard shipped in `helm/healthpoints/dashboards/healthpoints.json` asks only for metrics
//! the mesh exposes (`healthpoints_telemetry::metrics::FAMILIES`), and every panel reads the
//! Prometheus data source it is given.

use healthpoints_telemetry::metrics::FAMILIES;

fn dashboard() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../helm/healthpoints/dashboards/healthpoints.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard is shipped"))
        .expect("the dashboard is JSON")
}

/// The metric names an expression reads.
fn metrics_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("healthpoints_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}

#[test]
fn every_panel_reads_metrics_the_mesh_exposes() {
    let d = dashboard();
    assert_eq!(d["uid"], "healthpoints-mesh");
    let panels = d["panels"].as_array().expect("panels");
    assert!(
        panels.len() >= 10,
        "one panel per figure of docs/operations.md"
    );
    let mut read = 0;
    for p in panels {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().expect("an expression");
            let names = metrics_in(expr);
            assert!(!names.is_empty(), "{expr}");
            for name in names {
                let family = ["_bucket", "_sum", "_count", "_total"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(&name);
                assert!(
                    FAMILIES.iter().any(|(f, _)| *f == family),
                    "{name} (in {}) is not a metric of the mesh",
                    p["title"]
                );
                read += 1;
            }
        }
    }
    // Every family is on the dashboard.
    for (family, _) in FAMILIES {
        let shown = panels.iter().any(|p| {
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["expr"].as_str().unwrap_or_default().contains(family))
        });
        assert!(shown, "{family} has no panel");
    }
    assert!(read > 0);
}
