//! Rate limits of the routes anyone may call without a token — registration, login, refresh,
//! logout and the client-credentials grant (`/v1/auth/*`): each client address has its own
//! budget, and all clients together share one, so that neither a single script nor a crowd of
//! them can turn registration into an oracle of who is registered, or spend identity's password
//! hashing on guesses. Over the limit: 429 problem+json with `Retry-After`. The buckets are
//! `governor`'s (GCRA); identity keeps its own per-account and per-address login limits behind
//! these.
//!
//! The client address is the connection's peer, unless that peer is a configured trusted proxy:
//! then it is the rightmost `X-Forwarded-For` hop that is not itself a trusted proxy (hops to
//! the left of it were written by the client and prove nothing).

use std::{
    net::{IpAddr, SocketAddr},
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

use crate::{AppState, error::HttpError};

/// Limits of the unauthenticated routes, per gateway instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthLimits {
    /// Requests one client address may make per minute, sustained.
    pub per_address_per_minute: u32,
    /// Requests one client address may make at once before the per-minute rate applies.
    pub per_address_burst: u32,
    /// Requests all clients together may make per second, sustained.
    pub global_per_second: u32,
    /// Requests all clients together may make at once.
    pub global_burst: u32,
}

impl AuthLimits {
    /// Limits high enough never to bind: for tests and benchmarks that register thousands of
    /// residents from one loopback address.
    pub fn unthrottled() -> Self {
        Self {
            per_address_per_minute: 1_000_000,
            per_address_burst: 1_000_000,
            global_per_second: 1_000_000,
            global_burst: 1_000_000,
        }
    }

    /// Checks every figure is at least 1, naming the key under `prefix` that is not.
    pub fn check(&self, prefix: &str) -> Result<(), (String, &'static str)> {
        for (key, value) in [
            ("per_address_per_minute", self.per_address_per_minute),
            ("per_address_burst", self.per_address_burst),
            ("global_per_second", self.global_per_second),
            ("global_burst", self.global_burst),
        ] {
            if value == 0 {
                return Err((format!("{prefix}.{key}"), "must be at least 1"));
            }
        }
        Ok(())
    }
}

/// The buckets of one gateway.
#[derive(Debug, Clone)]
pub struct Throttle {
    per_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    global: Arc<DefaultDirectRateLimiter>,
    trusted: Arc<Vec<IpNet>>,
}

fn quota(per_period: NonZeroU32, burst: NonZeroU32, period: Duration) -> Quota {
    Quota::with_period(period / per_period.get())
        .unwrap_or_else(|| Quota::per_second(per_period))
        .allow_burst(burst)
}

fn non_zero(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

impl Throttle {
    /// Buckets for `limits`; `trusted_proxies` are IP addresses or CIDR ranges.
    pub fn new(limits: &AuthLimits, trusted_proxies: &[String]) -> Result<Self, String> {
        let trusted = trusted_proxies
            .iter()
            .map(|p| {
                parse_net(p).ok_or_else(|| format!("{p:?} is not an IP address or CIDR range"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            per_address: Arc::new(RateLimiter::keyed(quota(
                non_zero(limits.per_address_per_minute),
                non_zero(limits.per_address_burst),
                Duration::from_secs(60),
            ))),
            global: Arc::new(RateLimiter::direct(quota(
                non_zero(limits.global_per_second),
                non_zero(limits.global_burst),
                Duration::from_secs(1),
            ))),
            trusted: Arc::new(trusted),
        })
    }

    /// The client's address as this gateway may believe it (see the module docs).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(peer, headers, &self.trusted)
    }

    /// Takes one request from the client's bucket and the global one; when either is empty,
    /// how long until it is not.
    fn admit(&self, client: IpAddr) -> Result<(), Duration> {
        let clock = DefaultClock::default();
        self.per_address
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(clock.now()))?;
        self.global
            .check()
            .map_err(|not_until| not_until.wait_time_from(clock.now()))
    }

    /// Forgets addresses whose buckets are full again, so memory follows the active clients.
    pub fn forget_idle(&self) {
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
    }
}

/// An IP address (`10.0.0.7`) or a CIDR range (`10.0.0.0/8`).
fn parse_net(raw: &str) -> Option<IpNet> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .ok()
        .or_else(|| raw.parse::<IpAddr>().ok().map(IpNet::from))
}

fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|hop| hop.trim().parse::<IpAddr>().ok())
        .collect();
    // Rightmost first: the nearest hop was written by our own proxy.
    hops.iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(hops.first())
        .copied()
        .unwrap_or(peer)
}

/// The middleware: `/v1/auth/*` requests spend from the buckets; others pass untouched.
pub async fn limit(State(state): State<AppState>, request: Request<Body>, next: Next) -> Response {
    if !request.uri().path().starts_with("/v1/auth/") {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let throttle = state.throttle();
    match throttle.admit(throttle.client_ip(peer, request.headers())) {
        Ok(()) => next.run(request).await,
        Err(wait) => HttpError::from(
            ApiError::new(
                ErrorCode::RateLimited,
                "too many requests from this address or in total; try again after Retry-After seconds",
            )
            .with_retry_after(Duration::from_secs(wait.as_secs() + 1)),
        )
        .into_response(),
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
            parse_net("10.0.0.0/8").unwrap(),
            parse_net("192.0.2.1").unwrap(),
        ];
        // Straight from the internet: the header is the client's own word and ignored.
        assert_eq!(
            client_ip(ip("203.0.113.9"), &forwarded("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // Through our proxies: the spoofed leftmost entry is skipped.
        assert_eq!(
            client_ip(
                ip("10.1.2.3"),
                &forwarded("6.6.6.6, 198.51.100.7, 192.0.2.1"),
                &trusted
            ),
            ip("198.51.100.7")
        );
        // A proxy with no header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.1.2.3"), &HeaderMap::new(), &trusted),
            ip("10.1.2.3")
        );
        // A garbled hop stops the walk: nothing to its left is believed.
        assert_eq!(
            client_ip(
                ip("10.1.2.3"),
                &forwarded("198.51.100.7, junk, 10.0.0.5"),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert!(parse_net("not-an-ip").is_none());
    }

    #[test]
    fn an_address_over_its_budget_waits_while_others_pass() {
        let limits = AuthLimits {
            per_address_per_minute: 6,
            per_address_burst: 3,
            global_per_second: 1000,
            global_burst: 1000,
        };
        let t = Throttle::new(&limits, &[]).unwrap();
        for _ in 0..3 {
            t.admit(ip("198.51.100.7")).unwrap();
        }
        let wait = t.admit(ip("198.51.100.7")).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        t.admit(ip("198.51.100.8")).unwrap();
    }

    #[test]
    fn all_addresses_together_share_the_global_budget() {
        let limits = AuthLimits {
            per_address_per_minute: 1000,
            per_address_burst: 1000,
            global_per_second: 1,
            global_burst: 5,
        };
        let t = Throttle::new(&limits, &[]).unwrap();
        for i in 0..5u8 {
            t.admit(IpAddr::from([198, 51, 100, i])).unwrap();
        }
        assert!(t.admit(IpAddr::from([198, 51, 100, 99])).is_err());
    }
}
