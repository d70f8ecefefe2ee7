//! The mall registry and the redemption router.
//!
//! The registry comes from configuration (the city mall and each district mall's endpoint). A
//! watcher per mall asks its gRPC health every `health_interval_ms`; a mall that stops
//! answering SERVING stops receiving traffic at the next tick (about a second) and gets it back
//! when it answers again. One mall being down never affects another.
//!
//! The router ([`route`]) is a pure function of what identity, the ledger and the registry
//! say, so the routing table is tested without a network.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_grpc::{
    Shutdown,
    client::{GrpcClientConfig, PeerChannel},
};
use healthpoints_proto::mall::v1::mall_service_client::MallServiceClient;
use healthpoints_types::{Book, DistrictCode, MallId};
use serde::{Deserialize, Serialize};

/// Where the malls are.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MallsConfig {
    pub city: GrpcClientConfig,
    /// District code → that district's mall.
    #[serde(default)]
    pub districts: BTreeMap<String, GrpcClientConfig>,
    /// How often each mall's health is asked.
    pub health_interval_ms: u64,
}

#[derive(Debug)]
struct Entry {
    id: MallId,
    peer: GrpcClientConfig,
    client: MallServiceClient<PeerChannel>,
    healthy: AtomicBool,
}

/// Every registered mall with its tracked health; cheap to clone.
#[derive(Debug, Clone)]
pub struct MallRegistry {
    malls: Arc<Vec<Entry>>,
    interval: Duration,
}

impl MallRegistry {
    /// Builds clients (lazily connecting) for every configured mall; all start unhealthy until
    /// their first health answer.
    pub fn new(config: &MallsConfig) -> anyhow::Result<Self> {
        let mut malls = vec![Entry {
            id: MallId::City,
            peer: config.city.clone(),
            client: MallServiceClient::new(healthpoints_grpc::client::connect(&config.city)?),
            healthy: AtomicBool::new(false),
        }];
        for (code, client) in &config.districts {
            let district = DistrictCode::parse(code)
                .map_err(|e| anyhow::anyhow!("malls.districts.{code}: {}", e.0))?;
            malls.push(Entry {
                id: MallId::District(district),
                peer: client.clone(),
                client: MallServiceClient::new(healthpoints_grpc::client::connect(client)?),
                healthy: AtomicBool::new(false),
            });
        }
        Ok(Self {
            malls: Arc::new(malls),
            interval: Duration::from_millis(config.health_interval_ms.max(100)),
        })
    }

    fn entry(&self, mall: MallId) -> Option<&Entry> {
        self.malls.iter().find(|e| e.id == mall)
    }

    /// Whether the mall is registered and its last health answer was SERVING.
    pub fn is_healthy(&self, mall: MallId) -> bool {
        self.entry(mall)
            .is_some_and(|e| e.healthy.load(Ordering::Relaxed))
    }

    pub fn is_registered(&self, mall: MallId) -> bool {
        self.entry(mall).is_some()
    }

    /// Every registered mall and whether it is healthy.
    pub fn all(&self) -> Vec<(MallId, bool)> {
        self.malls
            .iter()
            .map(|e| (e.id, e.healthy.load(Ordering::Relaxed)))
            .collect()
    }

    /// A client of a healthy mall; 404 for a mall that is not registered, 503 for one that is
    /// down.
    pub fn client(&self, mall: MallId) -> Result<MallServiceClient<PeerChannel>, ApiError> {
        let entry = self
            .entry(mall)
            .ok_or_else(|| ApiError::not_found(format!("there is no mall {mall} in this city")))?;
        if !entry.healthy.load(Ordering::Relaxed) {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!("the {} is unavailable; retry shortly", mall_name(mall)),
            ));
        }
        Ok(entry.client.clone())
    }

    /// Clients of every healthy mall, and the malls that are down.
    pub fn healthy_clients(&self) -> (Vec<(MallId, MallServiceClient<PeerChannel>)>, Vec<MallId>) {
        let mut up = Vec::new();
        let mut down = Vec::new();
        for e in self.malls.iter() {
            if e.healthy.load(Ordering::Relaxed) {
                up.push((e.id, e.client.clone()));
            } else {
                down.push(e.id);
            }
        }
        (up, down)
    }

    /// Asks every mall's health once, in parallel.
    pub async fn check_now(&self) {
        let timeout = self.interval.min(Duration::from_secs(1));
        let checks = self.malls.iter().map(|e| async move {
            let up = healthpoints_grpc::health::peer_is_serving(
                &e.peer,
                healthpoints_proto::mall::v1::mall_service_server::SERVICE_NAME,
                timeout,
            )
            .await;
            let was = e.healthy.swap(up, Ordering::Relaxed);
            if was != up {
                if up {
                    tracing::info!(mall = %e.id, "mall is serving; routing to it");
                } else {
                    tracing::warn!(mall = %e.id, "mall is not serving; routing around it");
                }
            }
        });
        futures::future::join_all(checks).await;
    }

    /// Keeps health current until shutdown.
    pub async fn watch(self, mut shutdown: Shutdown) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.check_now().await,
                () = shutdown.wait() => return,
            }
        }
    }
}

/// The mall's name as residents read it.
pub fn mall_name(mall: MallId) -> String {
    match mall {
        MallId::City => "city mall".to_owned(),
        MallId::District(d) => format!("{} district mall", d.name()),
    }
}

/// Why the router chose the serving mall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteReason {
    /// The family-doctor contract's district mall serves.
    FamilyDoctorContract,
    NoContract,
    DistrictNotEnrolled,
    DistrictMallUnavailable,
}

impl RouteReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::FamilyDoctorContract => "family_doctor_contract",
            Self::NoContract => "no_family_doctor_contract",
            Self::DistrictNotEnrolled => "district_not_enrolled",
            Self::DistrictMallUnavailable => "district_mall_unavailable",
        }
    }

    /// The sentence shown to the resident.
    pub fn sentence(self, district: Option<DistrictCode>) -> String {
        let name = district.map(|d| d.name()).unwrap_or_default();
        match self {
            Self::FamilyDoctorContract => format!(
                "your family-doctor contract is in {name}, so the {name} district mall serves you"
            ),
            Self::NoContract => {
                "you have no family-doctor contract, so the city mall serves you".to_owned()
            }
            Self::DistrictNotEnrolled => format!(
                "{name}, where your family-doctor contract is, has not joined the programme yet, so the city mall serves you"
            ),
            Self::DistrictMallUnavailable => format!(
                "the {name} district mall is unavailable right now, so the city mall serves you"
            ),
        }
    }
}

/// What the router knows about a resident.
#[derive(Debug, Clone)]
pub struct RouteFacts {
    /// The family-doctor contract's district, if any.
    pub contract_district: Option<DistrictCode>,
    pub enrolled: Vec<DistrictCode>,
    /// Available points per book.
    pub balances: Vec<(Book, u64)>,
}

/// The router's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub serving: MallId,
    pub reason: RouteReason,
    pub district: Option<DistrictCode>,
    /// Other malls the resident can jump to: the city mall, and every healthy district mall
    /// where they hold a positive balance.
    pub jumps: Vec<MallId>,
}

/// Resolves the mall that serves a resident, and their jumps.
pub fn route(facts: &RouteFacts, registry: &dyn Fn(MallId) -> (bool, bool)) -> Route {
    let district = facts.contract_district;
    let (serving, reason) = match district {
        None => (MallId::City, RouteReason::NoContract),
        Some(d) if !facts.enrolled.contains(&d) => (MallId::City, RouteReason::DistrictNotEnrolled),
        Some(d) => match registry(MallId::District(d)) {
            (true, true) => (MallId::District(d), RouteReason::FamilyDoctorContract),
            _ => (MallId::City, RouteReason::DistrictMallUnavailable),
        },
    };
    let mut jumps = Vec::new();
    if serving != MallId::City {
        jumps.push(MallId::City);
    }
    for (book, available) in &facts.balances {
        if let Book::District(d) = book {
            let mall = MallId::District(*d);
            if *available > 0
                && mall != serving
                && registry(mall) == (true, true)
                && !jumps.contains(&mall)
            {
                jumps.push(mall);
            }
        }
    }
    Route {
        serving,
        reason,
        district,
        jumps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(code: &str) -> DistrictCode {
        DistrictCode::parse(code).unwrap()
    }

    #[test]
    fn the_routing_table() {
        let qingpu = d("310118");
        let yangpu = d("310110");
        let huangpu = d("310101");
        let enrolled = vec![qingpu, yangpu];
        // Registered malls: city, Qingpu (healthy), Yangpu (down in one case).
        let registry = |yangpu_up: bool| {
            move |m: MallId| match m {
                MallId::City => (true, true),
                MallId::District(x) if x == qingpu => (true, true),
                MallId::District(x) if x == yangpu => (true, yangpu_up),
                MallId::District(_) => (false, false),
            }
        };
        let facts = |contract: Option<DistrictCode>, balances: Vec<(Book, u64)>| RouteFacts {
            contract_district: contract,
            enrolled: enrolled.clone(),
            balances,
        };
        let cases = [
            // contract in an enrolled district with a healthy mall
            (
                facts(Some(qingpu), vec![]),
                true,
                MallId::District(qingpu),
                RouteReason::FamilyDoctorContract,
            ),
            // contract in a district that has not joined
            (
                facts(Some(huangpu), vec![]),
                true,
                MallId::City,
                RouteReason::DistrictNotEnrolled,
            ),
            // no contract
            (
                facts(None, vec![]),
                true,
                MallId::City,
                RouteReason::NoContract,
            ),
            // the district mall is down
            (
                facts(Some(yangpu), vec![]),
                false,
                MallId::City,
                RouteReason::DistrictMallUnavailable,
            ),
        ];
        for (f, yangpu_up, serving, reason) in cases {
            let r = route(&f, &registry(yangpu_up));
            assert_eq!((r.serving, r.reason), (serving, reason), "{f:?}");
            assert!(!r.reason.sentence(f.contract_district).is_empty());
        }
        // Jumps: the city mall from a district mall, and a district where points remain
        // (earned before moving); not one with no points, not one that is down.
        let moved = facts(
            Some(qingpu),
            vec![
                (Book::City, 500),
                (Book::District(yangpu), 300),
                (Book::District(qingpu), 100),
            ],
        );
        assert_eq!(
            route(&moved, &registry(true)).jumps,
            vec![MallId::City, MallId::District(yangpu)]
        );
        assert_eq!(route(&moved, &registry(false)).jumps, vec![MallId::City]);
        let empty = facts(None, vec![(Book::District(yangpu), 0)]);
        assert!(route(&empty, &registry(true)).jumps.is_empty());
    }

    /// A registry over a real mall health endpoint (the city mall here) and a district mall
    /// nobody answers for: what is down gets no traffic, what comes back gets it again.
    #[tokio::test]
    async fn the_registry_follows_each_malls_health() {
        use healthpoints_auth::{StaticJwks, Verifier, VerifierConfig};
        use healthpoints_grpc::{GrpcServer, GrpcServerConfig};

        let server = GrpcServer::bind(
            "city-mall",
            healthpoints_proto::mall::v1::mall_service_server::SERVICE_NAME,
            &GrpcServerConfig::for_test(),
        )
        .await
        .unwrap();
        let city_endpoint = format!("http://{}", server.local_addr());
        let health = server.health();
        let shutdown = Shutdown::new();
        let verifier = Verifier::new(VerifierConfig::default(), StaticJwks::default());
        let served = tokio::spawn(server.serve(
            tonic::service::Routes::default(),
            verifier,
            shutdown.clone(),
        ));
        let peer = |endpoint: &str| GrpcClientConfig {
            endpoint: endpoint.to_owned(),
            connect_timeout_ms: 300,
            request_timeout_ms: 300,
            ..GrpcClientConfig::new("")
        };
        let qingpu = MallId::District(d("310118"));
        let registry = MallRegistry::new(&MallsConfig {
            city: peer(&city_endpoint),
            // A port nothing listens on.
            districts: [("310118".to_owned(), peer("http://127.0.0.1:9"))].into(),
            health_interval_ms: 100,
        })
        .unwrap();
        let unavailable = |r: Result<_, ApiError>| r.err().map(|e| e.code);

        // Until the first answer every mall is down; an unknown mall is not found.
        assert_eq!(registry.all(), [(MallId::City, false), (qingpu, false)]);
        assert_eq!(
            unavailable(registry.client(MallId::City)),
            Some(ErrorCode::Unavailable)
        );
        let yangpu = MallId::District(d("310110"));
        assert!(!registry.is_registered(yangpu) && registry.is_registered(qingpu));
        assert_eq!(
            unavailable(registry.client(yangpu)),
            Some(ErrorCode::NotFound)
        );

        // The city mall answers SERVING; Qingpu's does not answer at all.
        health.set_serving().await;
        registry.check_now().await;
        assert!(registry.is_healthy(MallId::City) && !registry.is_healthy(qingpu));
        assert!(registry.client(MallId::City).is_ok());
        assert_eq!(
            unavailable(registry.client(qingpu)),
            Some(ErrorCode::Unavailable)
        );
        let (up, down) = registry.healthy_clients();
        let up: Vec<MallId> = up.into_iter().map(|(id, _)| id).collect();
        assert_eq!((up, down), (vec![MallId::City], vec![qingpu]));

        // The watcher takes the city mall out when it says NOT_SERVING and back when it
        // serves again, tick by tick, until shutdown.
        let watching = tokio::spawn(registry.clone().watch(shutdown.clone()));
        health.set_not_serving().await;
        let until = |want: bool| {
            let registry = registry.clone();
            async move {
                for _ in 0..250 {
                    if registry.is_healthy(MallId::City) == want {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                false
            }
        };
        assert!(until(false).await, "taken out within five seconds");
        health.set_serving().await;
        assert!(until(true).await, "back within five seconds");
        shutdown.trigger();
        watching.await.unwrap();
        served.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_district_mall_under_a_code_that_is_no_district_is_refused_by_key() {
        let peer = GrpcClientConfig {
            endpoint: "http://127.0.0.1:9".into(),
            connect_timeout_ms: 300,
            request_timeout_ms: 300,
            ..GrpcClientConfig::new("")
        };
        let err = MallRegistry::new(&MallsConfig {
            city: peer.clone(),
            districts: [("319999".to_owned(), peer)].into(),
            health_interval_ms: 1_000,
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with("malls.districts.319999:"),
            "{err}"
        );
    }

    #[test]
    fn residents_are_told_which_mall_serves_them_and_why() {
        let qingpu = d("310118");
        assert_eq!(mall_name(MallId::City), "city mall");
        assert_eq!(mall_name(MallId::District(qingpu)), "Qingpu district mall");
        let codes: Vec<_> = [
            RouteReason::FamilyDoctorContract,
            RouteReason::NoContract,
            RouteReason::DistrictNotEnrolled,
            RouteReason::DistrictMallUnavailable,
        ]
        .iter()
        .map(|r| (r.code(), r.sentence(Some(qingpu))))
        .collect();
        assert_eq!(codes[0].0, "family_doctor_contract");
        assert!(codes[0].1.contains("the Qingpu district mall serves you"));
        assert_eq!(codes[1].0, "no_family_doctor_contract");
        assert!(codes[1].1.contains("no family-doctor contract"));
        assert_eq!(codes[2].0, "district_not_enrolled");
        assert!(codes[2].1.contains("Qingpu") && codes[2].1.contains("not joined"));
        assert_eq!(codes[3].0, "district_mall_unavailable");
        assert!(codes[3].1.contains("Qingpu district mall is unavailable"));
        for (_, sentence) in &codes[1..] {
            assert!(
                sentence.ends_with("so the city mall serves you"),
                "{sentence}"
            );
        }
    }
}
