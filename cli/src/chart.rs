//! The charts' topology, generated from the [`MeshPlan`]: which Deployments the mesh chart
//! renders, the binary, gRPC health service and database of each, the environment variables
//! that tell each node where its peers are, which Secret keys feed its database URL and client
//! secrets, and who may call it (its NetworkPolicy). `healthpoints chart-topology` prints it;
//! `helm/healthpoints/values.yaml` and `helm/district-mall/values.yaml` carry it between
//! `# BEGIN topology` and `# END topology`, and a test fails when they differ from this, so
//! the charts never become a second hand-written copy of the topology.
//!
//! A district mall's keys hold its code as `{code}`; the charts substitute it.

use std::{collections::BTreeMap, fmt::Write as _};

use healthpoints_types::{DISTRICTS, DistrictCode, MallId};

use crate::plan::{MeshPlan, Node};

/// The port every service's gRPC server (health, reflection, `/metrics`) listens on in a pod.
pub const GRPC_PORT: u16 = 50051;
/// The gateway's HTTP port in a pod.
pub const HTTP_PORT: u16 = 8080;
/// The first line of the generated block.
pub const BEGIN: &str = "# BEGIN topology";
/// The last line of the generated block.
pub const END: &str = "# END topology";

/// The district a district mall's keys are generated for, then written as `{code}`.
const SAMPLE_DISTRICT: &str = "310118";

/// What a chart needs to know of one node.
#[derive(Default)]
struct Entry {
    /// Environment variables with fixed values.
    env: BTreeMap<String, String>,
    /// Environment variables naming a peer node, whose endpoint the chart fills in.
    peers: BTreeMap<String, String>,
    /// Environment variables from a Secret: (secret, key).
    secrets: BTreeMap<String, (String, String)>,
}

/// The environment variable of a configuration key under `prefix` (`HP_MALL`).
fn env_name(prefix: &str, key: &str) -> String {
    format!("{prefix}__{}", key.replace('.', "__").to_uppercase())
}

/// The prefix of `node`'s environment variables (`HP_MALL`).
fn env_prefix(node: Node) -> String {
    format!("HP_{}", node.config_service().to_uppercase())
}

/// Sorts `node`'s configuration ([`MeshPlan::config`]) into fixed values, peers and secrets.
/// The plan's addresses are `peer:<node>` markers, so an endpoint names its node.
fn entry(plan: &MeshPlan, node: Node) -> Entry {
    let prefix = env_prefix(node);
    let mut entry = Entry::default();
    for (key, value) in plan.config(node) {
        let name = env_name(&prefix, &key);
        if key == "grpc.addr" {
            entry.env.insert(name, format!("0.0.0.0:{GRPC_PORT}"));
        } else if key == "http.addr" {
            entry.env.insert(name, format!("0.0.0.0:{HTTP_PORT}"));
        } else if key == "database.url" {
            entry
                .secrets
                .insert(name, ("databases".into(), node.to_string()));
        } else if let Some(peer) = value.strip_prefix("http://peer:") {
            entry.peers.insert(name, peer.to_owned());
        } else if key == "credentials.client_secret" {
            entry
                .secrets
                .insert(name, ("service-clients".into(), node.to_string()));
        } else if let Some(client) = key
            .strip_prefix("service_clients.")
            .and_then(|k| k.strip_suffix(".secret"))
        {
            entry
                .secrets
                .insert(name, ("service-clients".into(), client.to_owned()));
        } else if key != "name" {
            // A mall's display name is the chart's to set (`mall.name`), from the district.
            entry.env.insert(name, value);
        }
    }
    entry
}

/// A plan whose addresses are markers naming each node, with a database for each that keeps
/// one (the values are never printed, only recognised).
fn marked(districts: Vec<DistrictCode>) -> MeshPlan {
    let mut plan = MeshPlan::new(districts);
    for node in plan.nodes() {
        plan.set_address(node, format!("peer:{node}"));
        if node.has_database() {
            plan.set_database(node, "database");
        }
    }
    plan
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// Writes `name:` and its map, or `name: {}` when it is empty.
fn write_map<'a>(
    out: &mut String,
    indent: &str,
    name: &str,
    lines: impl ExactSizeIterator<Item = (&'a String, String)>,
) {
    if lines.len() == 0 {
        let _ = writeln!(out, "{indent}{name}: {{}}");
        return;
    }
    let _ = writeln!(out, "{indent}{name}:");
    for (k, v) in lines {
        let _ = writeln!(out, "{indent}  {k}: {v}");
    }
}

fn write_entry(out: &mut String, indent: &str, entry: &Entry) {
    write_map(
        out,
        indent,
        "env",
        entry.env.iter().map(|(k, v)| (k, quoted(v))),
    );
    write_map(
        out,
        indent,
        "peers",
        entry.peers.iter().map(|(k, v)| (k, quoted(v))),
    );
    write_map(
        out,
        indent,
        "secretEnv",
        entry.secrets.iter().map(|(k, (secret, key))| {
            (
                k,
                format!("{{secret: {}, key: {}}}", quoted(secret), quoted(key)),
            )
        }),
    );
}

/// The entries `with` has beyond `without`, a district's code written `{code}`.
fn added(with: &Entry, without: &Entry) -> Entry {
    let code = |s: &str| s.replace(SAMPLE_DISTRICT, "{code}");
    Entry {
        env: with
            .env
            .iter()
            .filter(|(k, _)| !without.env.contains_key(*k))
            .map(|(k, v)| (code(k), code(v)))
            .collect(),
        peers: with
            .peers
            .iter()
            .filter(|(k, _)| !without.peers.contains_key(*k))
            .map(|(k, v)| (code(k), code(v)))
            .collect(),
        secrets: with
            .secrets
            .iter()
            .filter(|(k, _)| !without.secrets.contains_key(*k))
            .map(|(k, (s, key))| (code(k), (s.clone(), code(key))))
            .collect(),
    }
}

/// The generated block, `# BEGIN topology` to `# END topology`.
pub fn topology() -> String {
    let city = marked(vec![]);
    let sample = DistrictCode::parse(SAMPLE_DISTRICT).expect("a known district");
    let with_district = marked(vec![sample]);
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}");
    out.push_str(
        "# Generated by `healthpoints chart-topology` from the mesh plan (cli/src/plan.rs);\n\
         # a test fails when this differs from it. Do not edit by hand.\n",
    );
    out.push_str("topology:\n");
    let _ = writeln!(out, "  grpcPort: {GRPC_PORT}");
    let _ = writeln!(out, "  httpPort: {HTTP_PORT}");
    out.push_str("  nodes:\n");
    for node in city.nodes() {
        let _ = writeln!(out, "    {node}:");
        let _ = writeln!(out, "      binary: {}", quoted(node.binary()));
        let _ = writeln!(out, "      envPrefix: {}", quoted(&env_prefix(node)));
        let _ = writeln!(
            out,
            "      health: {}",
            quoted(node.grpc_service().unwrap_or(""))
        );
        let database = if node.has_database() {
            crate::databases::database_name("", node)
                .trim_start_matches('_')
                .to_owned()
        } else {
            String::new()
        };
        let _ = writeln!(out, "      database: {}", quoted(&database));
        let callers: Vec<String> = city
            .nodes()
            .into_iter()
            .filter(|caller| city.peers(*caller).contains(&node))
            .map(|caller| quoted(&caller.to_string()))
            .collect();
        let _ = writeln!(out, "      callers: [{}]", callers.join(", "));
        write_entry(&mut out, "      ", &entry(&city, node));
    }
    let mall = Node::Mall(MallId::District(sample));
    out.push_str(
        "  # A district mall: its own node, and what identity and the gateway add for it.\n",
    );
    out.push_str("  districtMall:\n");
    let _ = writeln!(out, "    binary: {}", quoted(mall.binary()));
    let _ = writeln!(out, "    envPrefix: {}", quoted(&env_prefix(mall)));
    let _ = writeln!(
        out,
        "    health: {}",
        quoted(mall.grpc_service().unwrap_or(""))
    );
    let calls: Vec<String> = with_district
        .peers(mall)
        .iter()
        .map(|n| quoted(&n.to_string()))
        .collect();
    let _ = writeln!(out, "    calls: [{}]", calls.join(", "));
    let _ = writeln!(
        out,
        "    clientId: {}",
        quoted(&mall.to_string().replace(SAMPLE_DISTRICT, "{code}"))
    );
    write_entry(
        &mut out,
        "    ",
        &added(&entry(&with_district, mall), &Entry::default()),
    );
    for (label, node) in [("identity", Node::Identity), ("gateway", Node::Gateway)] {
        let _ = writeln!(out, "    {label}:");
        write_entry(
            &mut out,
            "      ",
            &added(&entry(&with_district, node), &entry(&city, node)),
        );
    }
    out.push_str("  # The districts a district mall may serve: code and name.\n");
    out.push_str("  districts:\n");
    for (code, name) in DISTRICTS {
        let _ = writeln!(out, "    {}: {}", quoted(code), quoted(name));
    }
    let _ = writeln!(out, "{END}");
    out
}

/// The generated block as it stands in a chart's `values.yaml`, if it has one.
pub fn block_in(values: &str) -> Option<&str> {
    let start = values.find(BEGIN)?;
    let end = start + values[start..].find(END)? + END.len();
    let end = if values[end..].starts_with('\n') {
        end + 1
    } else {
        end
    };
    Some(&values[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_has_its_peers_secrets_and_callers() {
        let text = topology();
        assert!(
            text.contains("HP_MALL__IDENTITY__ENDPOINT: \"identity\""),
            "{text}"
        );
        assert!(text.contains(
            "HP_IDENTITY__SERVICE_CLIENTS__MALL-{code}__SECRET: {secret: \"service-clients\", key: \"mall-{code}\"}"
        ));
        assert!(text.contains("HP_GATEWAY__MALLS__DISTRICTS__{code}__ENDPOINT: \"mall-{code}\""));
        assert!(
            text.contains("HP_INTAKE__DATABASE__URL: {secret: \"databases\", key: \"intake\"}")
        );
        assert!(text.contains("      database: \"city_mall\""));
        // The web client calls the gateway by its URL, and the gateway counts it as a caller.
        assert!(text.contains("HP_WEB__GATEWAY__URL: \"gateway\""), "{text}");
        assert!(text.contains("HP_WEB__HTTP__ADDR: \"0.0.0.0:8080\""));
        assert!(
            !text.contains("peer:"),
            "every endpoint became a peer: {text}"
        );
        let generated = text.split("  districts:").next().unwrap();
        assert!(!generated.contains(SAMPLE_DISTRICT), "{generated}");
    }

    #[test]
    fn the_block_is_found_between_its_markers() {
        let values = format!("a: 1\n{}b: 2\n", topology());
        assert_eq!(block_in(&values), Some(topology().as_str()));
        assert_eq!(block_in("a: 1\n"), None);
    }

    #[test]
    fn the_charts_carry_the_topology_of_the_plan() {
        let helm = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../helm");
        for chart in ["healthpoints", "district-mall"] {
            let path = helm.join(chart).join("values.yaml");
            let values = std::fs::read_to_string(&path).unwrap();
            assert!(
                block_in(&values) == Some(topology().as_str()),
                "{} differs from the mesh plan: run `cargo run -p healthpoints -- chart-topology` and paste its output between the markers",
                path.display()
            );
        }
    }
}
