//! Rate limits of the routes anyone may call without a token, in three classes with their own
//! buckets — each client address has a budget, and all clients together share one:
//!
//! - **password**: register, login and the client-credentials grant — the routes that hash a
//!   password or say whether an ID number is registered. Tight, so registration cannot become
//!   an oracle and guesses cannot spend identity's password hashing;
//! - **session**: refresh and logout — no password hashed, and every signed-in app refreshes
//!   every 15 minutes, many of them behind one carrier NAT address;
//! - **public**: every other route that needs no token (rules, partners, malls, catalogues,
//!   JWKS, the OpenAPI document);
//! - **station**: the health-station counters (`/v1/station/…`): a counter serves the people in
//!   front of it, so a staff account (or a stolen one) running through residents' ID numbers
//!   at machine speed is stopped here, per counter address and in total.
//!
//! The health probes are not limited, nor the other route families that need a token
//! (`/v1/me`, `/v1/merchant`, `/v1/partner`, `/v1/admin`: the audience gates), with one
//! exception: **export**, a resident's download of all their data (`GET /v1/me/export`), which
//! reads every list of theirs to the end in every service, has a budget per account.
//!
//! Over a limit: 429 problem+json with `Retry-After`. The buckets are `governor`'s (GCRA);
//! identity keeps its own per-account and per-address login limits behind these.
//!
//! The client address is the connection's peer, unless that peer is a configured trusted proxy:
//! then it is the rightmost `X-Forwarded-For` hop that is not itself a trusted proxy (hops to
//! the left of it were written by the client and prove nothing). An IPv6 client is counted by
//! its /64 prefix, the block one subscriber holds, so it cannot take a fresh budget per address.

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use axum::{
    body::Body,
    extract::{ConnectInfo, State},
    http::{HeaderMap, Request},
    middleware::Next,
    response::{IntoResponse as _, Response},
};
use governor::{
    DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock as _, DefaultClock},
};
use healthpoints_errors::{ApiError, ErrorCode};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{AppState, error::HttpError};

/// The limits of one class of routes, per gateway instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests one client address may make per minute, sustained.
    pub per_address_per_minute: u32,
    /// Requests one client address may make at once before the per-minute rate applies.
    pub per_address_burst: u32,
    /// Requests all clients together may make per second, sustained.
    pub global_per_second: u32,
    /// Requests all clients together may make at once.
    pub global_burst: u32,
}

impl Limits {
    /// Limits high enough never to bind.
    pub fn unthrottled() -> Self {
        Self {
            per_address_per_minute: 1_000_000,
            per_address_burst: 1_000_000,
            global_per_second: 1_000_000,
            global_burst: 1_000_000,
        }
    }

    fn figures(&self) -> [(&'static str, u32); 4] {
        [
            ("per_address_per_minute", self.per_address_per_minute),
            ("per_address_burst", self.per_address_burst),
            ("global_per_second", self.global_per_second),
            ("global_burst", self.global_burst),
        ]
    }
}

/// The limits of one route per signed-in account, per gateway instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountLimits {
    /// Requests one account may make per hour, sustained.
    pub per_account_per_hour: u32,
    /// Requests one account may make at once before the hourly rate applies.
    pub per_account_burst: u32,
}

impl AccountLimits {
    fn figures(&self) -> [(&'static str, u32); 2] {
        [
            ("per_account_per_hour", self.per_account_per_hour),
            ("per_account_burst", self.per_account_burst),
        ]
    }
}

/// The limits of each class (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    pub password: Limits,
    pub session: Limits,
    pub public: Limits,
    pub station: Limits,
    pub export: AccountLimits,
}

impl RateLimits {
    /// Limits high enough never to bind: for tests and benchmarks that register thousands of
    /// residents from one loopback address.
    pub fn unthrottled() -> Self {
        Self {
            password: Limits::unthrottled(),
            session: Limits::unthrottled(),
            public: Limits::unthrottled(),
            station: Limits::unthrottled(),
            export: AccountLimits {
                per_account_per_hour: 1_000_000,
                per_account_burst: 1_000_000,
            },
        }
    }

    fn classes(&self) -> [(&'static str, &Limits); 4] {
        [
            ("password", &self.password),
            ("session", &self.session),
            ("public", &self.public),
            ("station", &self.station),
        ]
    }

    /// Every figure with its configuration key (`http.rate_limits.…`).
    fn figures(&self) -> Vec<(String, u32)> {
        let key = |class: &str, key: &str| format!("http.rate_limits.{class}.{key}");
        self.classes()
            .into_iter()
            .flat_map(|(class, limits)| {
                limits
                    .figures()
                    .into_iter()
                    .map(move |(k, value)| (key(class, k), value))
            })
            .chain(
                self.export
                    .figures()
                    .into_iter()
                    .map(|(k, value)| (key("export", k), value)),
            )
            .collect()
    }

    /// The configuration keys and values that set these limits, for a runner that configures
    /// a gateway by overrides.
    pub fn overrides(&self) -> Vec<(String, String)> {
        self.figures()
            .into_iter()
            .map(|(key, value)| (key, value.to_string()))
            .collect()
    }

    /// Checks every figure is at least 1, naming the key that is not.
    pub fn check(&self) -> Result<(), (String, &'static str)> {
        match self.figures().into_iter().find(|(_, value)| *value == 0) {
            Some((key, _)) => Err((key, "must be at least 1")),
            None => Ok(()),
        }
    }
}

/// Which budget a request spends from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Password,
    Session,
    Public,
    Station,
}

fn class_of(path: &str) -> Option<Class> {
    match path {
        "/healthz" | "/readyz" | "/metrics" => None,
        // The reference's static files, served from the binary.
        p if p == "/docs" || p.starts_with("/docs/") => None,
        "/v1/auth/register"
        | "/v1/auth/login"
        | "/v1/auth/token"
        | "/v1/auth/password-reset"
        | "/v1/auth/password-reset/confirm" => Some(Class::Password),
        p if p.starts_with("/v1/auth/") => Some(Class::Session),
        // The station counters' budget is spent after authentication
        // ([`Throttle::admit_station`]): a caller without a token is refused (401) first.
        p => match crate::auth::Audience::of_path(p) {
            crate::auth::Audience::Public => Some(Class::Public),
            _ => None,
        },
    }
}

/// The buckets of one class.
#[derive(Debug)]
struct Buckets {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    global: DefaultDirectRateLimiter,
}

fn quota(per_period: NonZeroU32, burst: NonZeroU32, period: Duration) -> Quota {
    Quota::with_period(period / per_period.get())
        .unwrap_or_else(|| Quota::per_second(per_period))
        .allow_burst(burst)
}

fn non_zero(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

impl Buckets {
    fn new(limits: &Limits) -> Self {
        Self {
            per_address: RateLimiter::keyed(quota(
                non_zero(limits.per_address_per_minute),
                non_zero(limits.per_address_burst),
                Duration::from_secs(60),
            )),
            global: RateLimiter::direct(quota(
                non_zero(limits.global_per_second),
                non_zero(limits.global_burst),
                Duration::from_secs(1),
            )),
        }
    }

    /// Takes one request from the client's bucket, then from the global one (so one abusive
    /// address spends only its own); when either is empty, how long until it is not.
    fn admit(&self, client: IpAddr) -> Result<(), Duration> {
        let clock = DefaultClock::default();
        self.per_address
            .check_key(&subscriber(client))
            .map_err(|not_until| not_until.wait_time_from(clock.now()))?;
        self.global
            .check()
            .map_err(|not_until| not_until.wait_time_from(clock.now()))
    }

    fn forget_idle(&self) {
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
    }
}

/// The key of a client's budget: an IPv4 address, or an IPv6 address's /64 prefix.
fn subscriber(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(Ipv6Addr::from(segments))
            }
        },
        v4 => v4,
    }
}

/// The buckets of one gateway.
#[derive(Debug, Clone)]
pub struct Throttle {
    password: Arc<Buckets>,
    session: Arc<Buckets>,
    public: Arc<Buckets>,
    station: Arc<Buckets>,
    export: Arc<DefaultKeyedRateLimiter<Uuid>>,
    trusted: Arc<Vec<IpNet>>,
}

impl Throttle {
    /// Buckets for `limits`; `trusted_proxies` are IP addresses or CIDR ranges.
    pub fn new(limits: &RateLimits, trusted_proxies: &[String]) -> Result<Self, String> {
        let trusted = trusted_proxies
            .iter()
            .map(|p| {
                healthpoints_config::ip_network(p)
                    .ok_or_else(|| format!("{p:?} is not an IP address or CIDR range"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            password: Arc::new(Buckets::new(&limits.password)),
            session: Arc::new(Buckets::new(&limits.session)),
            public: Arc::new(Buckets::new(&limits.public)),
            station: Arc::new(Buckets::new(&limits.station)),
            export: Arc::new(RateLimiter::keyed(quota(
                non_zero(limits.export.per_account_per_hour),
                non_zero(limits.export.per_account_burst),
                Duration::from_secs(3600),
            ))),
            trusted: Arc::new(trusted),
        })
    }

    /// The client's address as this gateway may believe it (see the module docs).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(peer, headers, &self.trusted)
    }

    fn buckets(&self, class: Class) -> &Buckets {
        match class {
            Class::Password => &self.password,
            Class::Session => &self.session,
            Class::Public => &self.public,
            Class::Station => &self.station,
        }
    }

    /// Spends one request of a health-station counter (once its staff member is authenticated)
    /// from the counter address's budget and the total; over either, 429 with `Retry-After`.
    pub fn admit_station(&self, client: IpAddr) -> Result<(), HttpError> {
        self.station
            .admit(client)
            .map_err(|wait| rate_limited("too many requests from this counter or in total", wait))
    }

    /// Spends one of a resident's exports (`http.rate_limits.export`); over the budget, 429
    /// with `Retry-After`.
    pub fn admit_export(&self, resident: Uuid) -> Result<(), HttpError> {
        let clock = DefaultClock::default();
        self.export.check_key(&resident).map_err(|not_until| {
            rate_limited(
                "your data was exported a moment ago",
                not_until.wait_time_from(clock.now()),
            )
        })
    }

    /// Forgets addresses whose buckets are full again, so memory follows the active clients.
    pub fn forget_idle(&self) {
        self.export.retain_recent();
        self.export.shrink_to_fit();
        for class in [
            Class::Password,
            Class::Session,
            Class::Public,
            Class::Station,
        ] {
            self.buckets(class).forget_idle();
        }
    }
}

/// One `X-Forwarded-For` hop: `203.0.113.7`, `203.0.113.7:5678`, `2001:db8::1` or
/// `[2001:db8::1]:5678`.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = raw.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    raw.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse::<IpAddr>().ok())
}

fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    // From the right: each trusted hop vouches for the one to its left. The first hop that is
    // not trusted is the client; a hop that cannot be read vouches for nothing, so the client
    // is then the last hop that could be (a trusted proxy, or the peer itself).
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(&ip) => nearest = ip,
            Some(ip) => return ip,
            None => return nearest,
        }
    }
    nearest
}

/// 429 for a budget spent: `why`, and when to try again (whole seconds, rounded up).
fn rate_limited(why: &str, wait: Duration) -> HttpError {
    ApiError::new(
        ErrorCode::RateLimited,
        format!("{why}; try again after Retry-After seconds"),
    )
    .with_retry_after(Duration::from_secs(wait.as_secs() + 1))
    .into()
}

/// The middleware: a request of a limited class spends from its buckets; others pass.
pub async fn limit(State(state): State<AppState>, request: Request<Body>, next: Next) -> Response {
    let Some(class) = class_of(request.uri().path()) else {
        return next.run(request).await;
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let throttle = state.throttle();
    let client = throttle.client_ip(peer, request.headers());
    match throttle.buckets(class).admit(client) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            rate_limited("too many requests from this address or in total", wait).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().unwrap());
        h
    }

    #[test]
    fn the_client_is_the_rightmost_hop_no_trusted_proxy_wrote() {
        let trusted = vec![
            healthpoints_config::ip_network("10.0.0.0/8").unwrap(),
            healthpoints_config::ip_network("192.0.2.1").unwrap(),
        ];
        let client = |peer: &str, header: &str| client_ip(ip(peer), &forwarded(header), &trusted);
        // Straight from the internet: the header is the client's own word and ignored.
        assert_eq!(client("203.0.113.9", "1.2.3.4"), ip("203.0.113.9"));
        // Through our proxies: the spoofed leftmost entry is skipped.
        assert_eq!(
            client("10.1.2.3", "6.6.6.6, 198.51.100.7, 192.0.2.1"),
            ip("198.51.100.7")
        );
        // Hops written with ports, IPv4 and IPv6.
        assert_eq!(
            client("10.1.2.3", "198.51.100.7:5678, 192.0.2.1"),
            ip("198.51.100.7")
        );
        assert_eq!(client("10.1.2.3", "[2001:db8::7]:443"), ip("2001:db8::7"));
        // A proxy with no header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.1.2.3"), &HeaderMap::new(), &trusted),
            ip("10.1.2.3")
        );
        // A client appending garbage cannot choose its address: the walk stops at the garbage
        // and the client is the nearest hop that vouched, never a hop left of the garbage.
        assert_eq!(client("10.1.2.3", "6.6.6.6, junk"), ip("10.1.2.3"));
        assert_eq!(
            client("10.1.2.3", "6.6.6.6, junk, 10.0.0.5"),
            ip("10.0.0.5")
        );
        assert!(healthpoints_config::ip_network("not-an-ip").is_none());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix() {
        assert_eq!(
            subscriber(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(subscriber(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
        let limits = Limits {
            per_address_per_minute: 1,
            per_address_burst: 2,
            global_per_second: 1000,
            global_burst: 1000,
        };
        let b = Buckets::new(&limits);
        b.admit(ip("2001:db8:1:2::1")).unwrap();
        b.admit(ip("2001:db8:1:2::2")).unwrap();
        assert!(b.admit(ip("2001:db8:1:2::3")).is_err(), "same /64");
        b.admit(ip("2001:db8:1:3::1")).unwrap();
    }

    #[test]
    fn an_address_over_its_budget_waits_while_others_pass() {
        let b = Buckets::new(&Limits {
            per_address_per_minute: 6,
            per_address_burst: 3,
            global_per_second: 1000,
            global_burst: 1000,
        });
        for _ in 0..3 {
            b.admit(ip("198.51.100.7")).unwrap();
        }
        let wait = b.admit(ip("198.51.100.7")).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        b.admit(ip("198.51.100.8")).unwrap();
    }

    #[test]
    fn all_addresses_together_share_the_global_budget() {
        let b = Buckets::new(&Limits {
            per_address_per_minute: 1000,
            per_address_burst: 1000,
            global_per_second: 1,
            global_burst: 5,
        });
        for i in 0..5u8 {
            b.admit(IpAddr::from([198, 51, 100, i])).unwrap();
        }
        assert!(b.admit(IpAddr::from([198, 51, 100, 99])).is_err());
    }

    #[test]
    fn routes_are_classed_by_what_they_cost_and_who_may_call_them() {
        assert_eq!(class_of("/v1/auth/register"), Some(Class::Password));
        assert_eq!(class_of("/v1/auth/login"), Some(Class::Password));
        assert_eq!(class_of("/v1/auth/token"), Some(Class::Password));
        assert_eq!(class_of("/v1/auth/refresh"), Some(Class::Session));
        assert_eq!(class_of("/v1/auth/logout"), Some(Class::Session));
        assert_eq!(class_of("/v1/rules"), Some(Class::Public));
        assert_eq!(class_of("/v1/malls/city/products"), Some(Class::Public));
        assert_eq!(class_of("/.well-known/jwks.json"), Some(Class::Public));
        assert_eq!(
            class_of("/v1/station/lookup"),
            None,
            "spent after authentication"
        );
        assert_eq!(class_of("/v1/stations"), Some(Class::Public));
        for free in [
            "/healthz",
            "/readyz",
            "/v1/me/balances",
            "/v1/admin/staff",
            "/v1/partner/fhir",
        ] {
            assert_eq!(class_of(free), None, "{free}");
        }
    }

    #[test]
    fn overrides_name_every_figure_and_a_zero_is_refused_by_key() {
        let mut limits = RateLimits::unthrottled();
        assert_eq!(limits.overrides().len(), 18);
        assert!(limits.overrides().contains(&(
            "http.rate_limits.session.global_burst".into(),
            "1000000".into()
        )));
        limits.public.per_address_burst = 0;
        assert_eq!(
            limits.check().unwrap_err().0,
            "http.rate_limits.public.per_address_burst"
        );
    }
}
