//! The one description of the mesh's topology: which nodes run (identity, the ledger, intake,
//! the exchange, the city mall, one mall per district, the gateway, the web client), whom each calls, where each
//! listens, which database each keeps, and the client credentials identity provisions for the
//! services that call others. Every runner reads it: `healthpoints up` (in one process), the
//! process mesh of the tests (one process per node, a config file each), and the benchmarks.
//!
//! A plan is data: it starts nothing. [`MeshPlan::config`] gives a node's configuration as
//! the dotted-key overrides every service's loader takes, computed from the plan, so no runner
//! writes a key such as `service_clients.intake.secret` by hand.

use std::{collections::BTreeMap, fmt};

use healthpoints_types::{DistrictCode, MallId, PILOT_DISTRICTS};

/// One node of the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    Identity,
    Ledger,
    Intake,
    Exchange,
    Mall(MallId),
    Gateway,
    /// The web client: a client of the gateway's HTTP API.
    Web,
}

impl fmt::Display for Node {
    /// The node's name: its database, its client id, its log and config file names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Identity => f.write_str("identity"),
            Self::Ledger => f.write_str("ledger"),
            Self::Intake => f.write_str("intake"),
            Self::Exchange => f.write_str("exchange"),
            Self::Mall(MallId::City) => f.write_str("city-mall"),
            Self::Mall(MallId::District(d)) => write!(f, "mall-{d}"),
            Self::Gateway => f.write_str("gateway"),
            Self::Web => f.write_str("web"),
        }
    }
}

impl Node {
    /// The binary that runs it.
    pub fn binary(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Ledger => "ledger",
            Self::Intake => "intake",
            Self::Exchange => "exchange",
            Self::Mall(MallId::City) => "city-mall",
            Self::Mall(MallId::District(_)) => "district-mall",
            Self::Gateway => "gateway",
            Self::Web => "web",
        }
    }

    /// The service name of its configuration: it reads `HP_<NAME>__*` (both kinds of mall
    /// read `HP_MALL__*`).
    pub fn config_service(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Ledger => "ledger",
            Self::Intake => "intake",
            Self::Exchange => "exchange",
            Self::Mall(_) => "mall",
            Self::Gateway => "gateway",
            Self::Web => "web",
        }
    }

    /// The gRPC service whose health says the node is ready; `None` for the gateway and the
    /// web client, whose readiness is HTTP `/readyz`.
    pub fn grpc_service(self) -> Option<&'static str> {
        use healthpoints_proto::{exchange, identity, intake, ledger, mall};
        match self {
            Self::Identity => Some(identity::v1::identity_service_server::SERVICE_NAME),
            Self::Ledger => Some(ledger::v1::ledger_service_server::SERVICE_NAME),
            Self::Intake => Some(intake::v1::intake_service_server::SERVICE_NAME),
            Self::Exchange => Some(exchange::v1::exchange_service_server::SERVICE_NAME),
            Self::Mall(_) => Some(mall::v1::mall_service_server::SERVICE_NAME),
            Self::Gateway | Self::Web => None,
        }
    }

    /// The kind of service client identity provisions for it (which calls it may make); `None`
    /// for nodes that call others with their callers' tokens or not at all.
    fn client_service(self) -> Option<&'static str> {
        match self {
            Self::Intake => Some("intake"),
            Self::Exchange => Some("exchange"),
            Self::Mall(MallId::City) => Some("city-mall"),
            Self::Mall(MallId::District(_)) => Some("district-mall"),
            Self::Identity | Self::Ledger | Self::Gateway | Self::Web => None,
        }
    }

    /// The configuration key under which a caller finds this node.
    fn endpoint_key(self) -> String {
        match self {
            Self::Mall(MallId::City) => "malls.city.endpoint".to_owned(),
            Self::Mall(MallId::District(d)) => format!("malls.districts.{d}.endpoint"),
            // Only the web client calls the gateway, by its base URL.
            Self::Gateway => "gateway.url".to_owned(),
            other => format!("{other}.endpoint"),
        }
    }

    /// Whether it keeps a database.
    pub fn has_database(self) -> bool {
        !self.serves_http()
    }

    /// Whether it serves HTTP (the gateway, the web client) rather than gRPC.
    pub fn serves_http(self) -> bool {
        matches!(self, Self::Gateway | Self::Web)
    }
}

/// The mesh: its nodes and, as they become known, their addresses, databases and client
/// secrets.
#[derive(Clone)]
pub struct MeshPlan {
    districts: Vec<DistrictCode>,
    addresses: BTreeMap<Node, String>,
    /// More replicas of a node beside the one at its address, where each listens.
    replicas: BTreeMap<Node, Vec<String>>,
    databases: BTreeMap<Node, String>,
    secrets: BTreeMap<Node, String>,
}

impl fmt::Debug for MeshPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeshPlan")
            .field("districts", &self.districts)
            .field("addresses", &self.addresses)
            .finish_non_exhaustive()
    }
}

/// 32 random hex characters (from the OS generator, through UUID v4).
fn fresh_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The malls of a mesh with `districts`: the city mall first, then each district's.
pub fn malls_of(districts: &[DistrictCode]) -> Vec<MallId> {
    std::iter::once(MallId::City)
        .chain(districts.iter().map(|d| MallId::District(*d)))
        .collect()
}

/// The pilot districts, Qingpu and Yangpu, whose malls run by default.
pub fn pilot_districts() -> Vec<DistrictCode> {
    PILOT_DISTRICTS
        .iter()
        .filter_map(|c| DistrictCode::parse(c).ok())
        .collect()
}

/// A node's configuration ([`MeshPlan::config`]) in the shape the configuration loaders take.
pub fn borrowed(owned: &[(String, String)]) -> Vec<(&str, String)> {
    owned.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

impl MeshPlan {
    /// The mesh with a mall for each of `districts` beside the city mall, and a fresh secret
    /// for every service client.
    pub fn new(districts: Vec<DistrictCode>) -> Self {
        let mut plan = Self {
            districts,
            addresses: BTreeMap::new(),
            replicas: BTreeMap::new(),
            databases: BTreeMap::new(),
            secrets: BTreeMap::new(),
        };
        for node in plan.nodes() {
            if node.client_service().is_some() {
                plan.secrets.insert(node, fresh_secret());
            }
        }
        plan
    }

    /// The mesh of the pilot districts' malls.
    pub fn pilot() -> Self {
        Self::new(pilot_districts())
    }

    /// The districts whose malls run.
    pub fn districts(&self) -> &[DistrictCode] {
        &self.districts
    }

    /// Every mall: the city mall first.
    pub fn malls(&self) -> Vec<MallId> {
        malls_of(&self.districts)
    }

    /// Every node in start order: each after the nodes it calls.
    pub fn nodes(&self) -> Vec<Node> {
        [Node::Identity, Node::Ledger, Node::Intake, Node::Exchange]
            .into_iter()
            .chain(self.malls().into_iter().map(Node::Mall))
            .chain([Node::Gateway, Node::Web])
            .collect()
    }

    /// The nodes `node` calls.
    pub fn peers(&self, node: Node) -> Vec<Node> {
        match node {
            Node::Identity => vec![],
            Node::Ledger => vec![Node::Identity],
            Node::Intake => vec![Node::Identity, Node::Ledger],
            // A mall's outbox publishes its orders' events to the exchange.
            Node::Mall(_) => vec![Node::Identity, Node::Ledger, Node::Exchange],
            Node::Exchange => vec![Node::Identity, Node::Intake, Node::Ledger],
            Node::Gateway => self
                .nodes()
                .into_iter()
                .filter(|n| !n.serves_http())
                .collect(),
            Node::Web => vec![Node::Gateway],
        }
    }

    /// The client id and secret `node` calls its peers with (`None` for identity and the
    /// gateway, which have none).
    pub fn credentials(&self, node: Node) -> Option<(String, String)> {
        self.secrets
            .get(&node)
            .map(|secret| (node.to_string(), secret.clone()))
    }

    /// Where `node` listens (`host:port`); `127.0.0.1:0` (any free port) until set.
    pub fn address(&self, node: Node) -> String {
        self.addresses
            .get(&node)
            .cloned()
            .unwrap_or_else(|| "127.0.0.1:0".to_owned())
    }

    /// Sets where `node` listens: before it starts (a chosen port) or once it has bound.
    pub fn set_address(&mut self, node: Node, addr: impl fmt::Display) {
        self.addresses.insert(node, addr.to_string());
    }

    /// Adds a replica of `node` listening at `addr`, beside the one at its address: its
    /// callers spread their calls over all of them.
    pub fn add_replica(&mut self, node: Node, addr: impl fmt::Display) {
        self.replicas
            .entry(node)
            .or_default()
            .push(addr.to_string());
    }

    /// How its callers reach `node`: its address, and each replica's, comma-separated.
    pub fn endpoint(&self, node: Node) -> String {
        std::iter::once(self.address(node))
            .chain(self.replicas.get(&node).into_iter().flatten().cloned())
            .map(|addr| format!("http://{addr}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Sets the database `node` keeps.
    pub fn set_database(&mut self, node: Node, url: impl Into<String>) {
        self.databases.insert(node, url.into());
    }

    /// The configuration of `node`, as the overrides its loader takes: where it listens, its
    /// database, where its peers are, and its credentials (for identity: every service client
    /// to provision). Runner-specific settings (log filter, bootstrap admin, key files, rate
    /// limits) are the runner's to add.
    pub fn config(&self, node: Node) -> Vec<(String, String)> {
        let kv = |k: &str, v: String| (k.to_owned(), v);
        let mut entries = vec![if node.serves_http() {
            kv("http.addr", self.address(node))
        } else {
            kv("grpc.addr", self.address(node))
        }];
        if let Some(url) = self.databases.get(&node) {
            entries.push(kv("database.url", url.clone()));
        }
        if let Node::Mall(mall) = node {
            entries.push(kv("mall", mall.to_string()));
            entries.push(kv("name", healthpoints_gateway::malls::mall_name(mall)));
        }
        for peer in self.peers(node) {
            // An HTTP peer (the web client's gateway) is one base URL: its replicas stand
            // behind one address (a Service, a balancer).
            let endpoint = if peer.serves_http() {
                format!("http://{}", self.address(peer))
            } else {
                self.endpoint(peer)
            };
            entries.push((peer.endpoint_key(), endpoint));
        }
        if let Some((client_id, secret)) = self.credentials(node) {
            entries.push(kv("credentials.client_id", client_id));
            entries.push(kv("credentials.client_secret", secret));
        }
        if node == Node::Identity {
            for (client, secret) in &self.secrets {
                let prefix = format!("service_clients.{client}");
                if let Some(service) = client.client_service() {
                    entries.push((format!("{prefix}.service"), service.to_owned()));
                }
                entries.push((format!("{prefix}.secret"), secret.clone()));
                if let Node::Mall(MallId::District(d)) = client {
                    entries.push((format!("{prefix}.district"), d.to_string()));
                }
            }
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(entries: &'a [(String, String)], key: &str) -> Option<&'a str> {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn each_caller_is_configured_with_its_peers_and_identity_with_every_client() {
        let mut plan = MeshPlan::pilot();
        for (i, node) in plan.nodes().into_iter().enumerate() {
            plan.set_address(node, format!("127.0.0.1:{}", 7000 + i));
        }
        assert_eq!(
            plan.nodes().iter().map(Node::to_string).collect::<Vec<_>>(),
            [
                "identity",
                "ledger",
                "intake",
                "exchange",
                "city-mall",
                "mall-310118",
                "mall-310110",
                "gateway",
                "web"
            ]
        );
        let qingpu = Node::Mall(MallId::District(DistrictCode::parse("310118").unwrap()));
        let mall = plan.config(qingpu);
        assert_eq!(value(&mall, "grpc.addr"), Some("127.0.0.1:7005"));
        assert_eq!(value(&mall, "mall"), Some("310118"));
        assert_eq!(
            value(&mall, "identity.endpoint"),
            Some("http://127.0.0.1:7000")
        );
        assert_eq!(
            value(&mall, "ledger.endpoint"),
            Some("http://127.0.0.1:7001")
        );
        assert_eq!(value(&mall, "credentials.client_id"), Some("mall-310118"));
        let secret = value(&mall, "credentials.client_secret").unwrap();

        let identity = plan.config(Node::Identity);
        assert_eq!(
            value(&identity, "service_clients.mall-310118.secret"),
            Some(secret)
        );
        assert_eq!(
            value(&identity, "service_clients.mall-310118.service"),
            Some("district-mall")
        );
        assert_eq!(
            value(&identity, "service_clients.mall-310118.district"),
            Some("310118")
        );
        assert_eq!(
            value(&identity, "service_clients.city-mall.service"),
            Some("city-mall")
        );
        assert_eq!(value(&identity, "service_clients.city-mall.district"), None);
        // Five service clients: intake, the exchange and the three malls.
        assert_eq!(
            identity
                .iter()
                .filter(|(k, _)| k.ends_with(".secret"))
                .count(),
            5
        );

        let gateway = plan.config(Node::Gateway);
        assert_eq!(value(&gateway, "http.addr"), Some("127.0.0.1:7007"));
        assert_eq!(
            value(&gateway, "malls.city.endpoint"),
            Some("http://127.0.0.1:7004")
        );
        assert_eq!(
            value(&gateway, "malls.districts.310110.endpoint"),
            Some("http://127.0.0.1:7006")
        );
        assert_eq!(
            value(&gateway, "exchange.endpoint"),
            Some("http://127.0.0.1:7003")
        );
        assert_eq!(value(&gateway, "database.url"), None);
        assert_eq!(value(&gateway, "credentials.client_id"), None);
        // The web client calls only the gateway, by its URL.
        let web = plan.config(Node::Web);
        assert_eq!(value(&web, "http.addr"), Some("127.0.0.1:7008"));
        assert_eq!(value(&web, "gateway.url"), Some("http://127.0.0.1:7007"));
        assert_eq!(web.len(), 2, "{web:?}");
    }

    #[test]
    fn callers_of_a_replicated_node_reach_every_replica() {
        let mut plan = MeshPlan::new(vec![]);
        plan.set_address(Node::Ledger, "127.0.0.1:7001");
        plan.add_replica(Node::Ledger, "127.0.0.1:7101");
        assert_eq!(
            value(&plan.config(Node::Intake), "ledger.endpoint"),
            Some("http://127.0.0.1:7001,http://127.0.0.1:7101")
        );
        assert_eq!(
            value(&plan.config(Node::Ledger), "grpc.addr"),
            Some("127.0.0.1:7001")
        );
    }

    #[test]
    fn an_unbound_node_listens_on_any_free_port_and_secrets_are_fresh_per_plan() {
        let plan = MeshPlan::new(vec![]);
        assert_eq!(plan.nodes().len(), 7);
        assert_eq!(
            value(&plan.config(Node::Ledger), "grpc.addr"),
            Some("127.0.0.1:0")
        );
        let again = MeshPlan::new(vec![]);
        assert_ne!(
            value(&plan.config(Node::Intake), "credentials.client_secret"),
            value(&again.config(Node::Intake), "credentials.client_secret")
        );
    }
}
