//! Prometheus metrics of the process, in the OpenMetrics text format ([`render`]), with the
//! official Rust client (`prometheus-client`). One registry per process: a service alone serves
//! its own figures on its gRPC port at `GET /metrics`; `healthpoints up` (every service in one
//! process) serves them all at the gateway's `/metrics`, each labelled with its service.
//!
//! Every name starts with `healthpoints_`. Labels are closed sets or route templates — never an
//! id, a phone number or a token.

use std::sync::LazyLock;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// An RPC as served: `code` is the gRPC status name (`OK`, `UNAVAILABLE`…).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    pub service: String,
    pub method: String,
    pub code: String,
}

/// An RPC's method, for its latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub service: String,
    pub method: String,
}

/// An HTTP request as the gateway answered it: the route template (`/v1/me/orders/{id}`), never
/// the path with its ids.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: String,
}

/// An HTTP route, for its latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

/// Points moved in a book, by what moved them (`award`, `redeem`, `refund`, `expiry`…).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BookLabels {
    pub book: String,
    pub kind: String,
}

/// One label: a closed set's value (an outcome kind, an order status, a sweeper's action).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

/// Orders of a mall by the status they reached.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OrderLabels {
    pub mall: String,
    pub status: String,
}

/// Partner records by partner and outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartnerLabels {
    pub partner: String,
    pub outcome: String,
}

/// A chore's action (`expire_pending`, `finish_awards`, `expire_vouchers`…) in a service.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SweepLabels {
    pub service: String,
    pub action: String,
}

/// Every metric family as exposed — its name (a counter's samples add `_total`, a histogram's
/// `_bucket`, `_sum` and `_count`) and its type. The dashboard shipped in `helm/healthpoints/dashboards` is
/// checked against this list.
pub const FAMILIES: &[(&str, &str)] = &[
    ("healthpoints_rpc_requests", "counter"),
    ("healthpoints_rpc_duration_seconds", "histogram"),
    ("healthpoints_http_requests", "counter"),
    ("healthpoints_http_request_duration_seconds", "histogram"),
    ("healthpoints_points", "counter"),
    ("healthpoints_ledger_group_size", "histogram"),
    ("healthpoints_ledger_commit_seconds", "histogram"),
    ("healthpoints_intake_outcomes", "counter"),
    ("healthpoints_orders", "counter"),
    ("healthpoints_partner_records", "counter"),
    ("healthpoints_sweeper_actions", "counter"),
];

/// Every figure the mesh reports. Reach it with [`metrics`].
pub struct Metrics {
    registry: Registry,
    pub rpc_requests: Family<RpcLabels, Counter>,
    pub rpc_duration: Family<MethodLabels, Histogram>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram>,
    pub points: Family<BookLabels, Counter>,
    pub ledger_group_size: Histogram,
    pub ledger_commit: Histogram,
    pub intake_outcomes: Family<KindLabels, Counter>,
    pub orders: Family<OrderLabels, Counter>,
    pub partner_records: Family<PartnerLabels, Counter>,
    pub sweeps: Family<SweepLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Latency buckets from 0.5 ms to about 16 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("healthpoints");
        let rpc_requests = Family::<RpcLabels, Counter>::default();
        registry.register(
            "rpc_requests",
            "gRPC requests served, by service, method and status code",
            rpc_requests.clone(),
        );
        let rpc_duration = Family::<MethodLabels, Histogram>::new_with_constructor(latency);
        registry.register(
            "rpc_duration_seconds",
            "Time to answer a gRPC request",
            rpc_duration.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered by the gateway, by route template and status",
            http_requests.clone(),
        );
        let http_duration = Family::<RouteLabels, Histogram>::new_with_constructor(latency);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            http_duration.clone(),
        );
        let points = Family::<BookLabels, Counter>::default();
        registry.register(
            "points",
            "Points moved by committed ledger transfers, by book and kind (award: issued; redeem: redeemed)",
            points.clone(),
        );
        let ledger_group_size = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        registry.register(
            "ledger_group_size",
            "Transfers committed together in one ledger transaction",
            ledger_group_size.clone(),
        );
        let ledger_commit = latency();
        registry.register(
            "ledger_commit_seconds",
            "Time to commit one ledger group (on the locked path, its reads too)",
            ledger_commit.clone(),
        );
        let intake_outcomes = Family::<KindLabels, Counter>::default();
        registry.register(
            "intake_outcomes",
            "Behaviour events decided by intake, by outcome",
            intake_outcomes.clone(),
        );
        let orders = Family::<OrderLabels, Counter>::default();
        registry.register(
            "orders",
            "Orders reaching a status, by mall",
            orders.clone(),
        );
        let partner_records = Family::<PartnerLabels, Counter>::default();
        registry.register(
            "partner_records",
            "Records partners sent, by partner and outcome",
            partner_records.clone(),
        );
        let sweeps = Family::<SweepLabels, Counter>::default();
        registry.register(
            "sweeper_actions",
            "Things a background chore did (expired, finished, retried), by service and action",
            sweeps.clone(),
        );
        Self {
            registry,
            rpc_requests,
            rpc_duration,
            http_requests,
            http_duration,
            points,
            ledger_group_size,
            ledger_commit,
            intake_outcomes,
            orders,
            partner_records,
            sweeps,
        }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// Counts `n` things a chore did.
pub fn swept(service: &str, action: &str, n: u64) {
    if n > 0 {
        metrics()
            .sweeps
            .get_or_create(&SweepLabels {
                service: service.to_owned(),
                action: action.to_owned(),
            })
            .inc_by(n);
    }
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric of the process in the OpenMetrics text format (ending `# EOF`).
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &metrics().registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_of_families_is_what_is_registered() {
        let m = metrics();
        let kind = KindLabels { kind: "x".into() };
        let method = MethodLabels {
            service: "s".into(),
            method: "m".into(),
        };
        m.rpc_requests
            .get_or_create(&RpcLabels {
                service: "s".into(),
                method: "m".into(),
                code: "OK".into(),
            })
            .inc();
        m.rpc_duration.get_or_create(&method).observe(0.1);
        let route = RouteLabels {
            method: "GET".into(),
            route: "/".into(),
        };
        m.http_requests
            .get_or_create(&HttpLabels {
                method: "GET".into(),
                route: "/".into(),
                status: "200".into(),
            })
            .inc();
        m.http_duration.get_or_create(&route).observe(0.1);
        m.points
            .get_or_create(&BookLabels {
                book: "city".into(),
                kind: "award".into(),
            })
            .inc();
        m.ledger_group_size.observe(1.0);
        m.ledger_commit.observe(0.1);
        m.intake_outcomes.get_or_create(&kind).inc();
        m.orders
            .get_or_create(&OrderLabels {
                mall: "city".into(),
                status: "reserved".into(),
            })
            .inc();
        m.partner_records
            .get_or_create(&PartnerLabels {
                partner: "p".into(),
                outcome: "awarded".into(),
            })
            .inc();
        swept("s", "a", 1);
        let text = render();
        for (name, kind) in FAMILIES {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name}: {text}"
            );
        }
        assert_eq!(text.matches("# TYPE ").count(), FAMILIES.len(), "{text}");
    }

    #[test]
    fn the_text_is_openmetrics_with_our_names() {
        metrics()
            .intake_outcomes
            .get_or_create(&KindLabels {
                kind: "awarded".into(),
            })
            .inc();
        swept("ledger", "expire_pending", 2);
        swept("ledger", "expire_pending", 0);
        metrics()
            .rpc_duration
            .get_or_create(&MethodLabels {
                service: "ledger".into(),
                method: "CreateTransfers".into(),
            })
            .observe(0.003);
        let text = render();
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            text.contains("healthpoints_intake_outcomes_total{kind=\"awarded\"}"),
            "{text}"
        );
        assert!(
            text.contains(
                "healthpoints_sweeper_actions_total{service=\"ledger\",action=\"expire_pending\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE healthpoints_rpc_duration_seconds histogram"),
            "{text}"
        );
    }
}
