//! Where a peer is and how it is called: its configuration, and the addresses its endpoint
//! names (one, several comma-separated, or a DNS name to resolve), each made an [`Endpoint`]
//! with its timeouts and TLS.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};
use tonic::transport::{ClientTlsConfig, Endpoint};

use crate::tls::ClientTls;

/// Where one peer is and how it is called.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcClientConfig {
    /// The peer, e.g. `http://127.0.0.1:50051`; `https://` for TLS; several replicas
    /// comma-separated (`http://10.0.0.5:50051,http://10.0.0.6:50051`). A DNS name other than
    /// `localhost` is resolved again every `balance_refresh_ms`, and calls spread over every
    /// address that reports SERVING.
    pub endpoint: String,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Upper bound of one call; a shorter deadline inherited from our caller wins.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// How often the replicas of a peer with several addresses are resolved and asked their
    /// health.
    #[serde(default = "default_balance_refresh_ms")]
    pub balance_refresh_ms: u64,
    /// TLS of an `https://` endpoint: the CA to trust (default: the system's roots) and, for
    /// mutual TLS, the certificate to present.
    #[serde(default)]
    pub tls: Option<ClientTls>,
}

fn default_connect_timeout_ms() -> u64 {
    2_000
}
fn default_request_timeout_ms() -> u64 {
    5_000
}
fn default_balance_refresh_ms() -> u64 {
    2_000
}

impl GrpcClientConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            connect_timeout_ms: default_connect_timeout_ms(),
            request_timeout_ms: default_request_timeout_ms(),
            balance_refresh_ms: default_balance_refresh_ms(),
            tls: None,
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("peer endpoint `{endpoint}`: {reason}")]
pub struct InvalidEndpoint {
    pub endpoint: String,
    pub reason: String,
}

/// One address a peer is reached at.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// For an `https://` endpoint, its TLS configuration, files read once when the target is
    /// parsed (every endpoint of it, each re-resolved address too, shares it).
    pub(crate) tls: Option<ClientTlsConfig>,
}

impl Target {
    /// Whether the host is a name to resolve again and again (not an IP address or
    /// `localhost`).
    pub(crate) fn resolves(&self) -> bool {
        self.host != "localhost"
            && self
                .host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_err()
    }

    /// The endpoint of this target at `host` (the target's own, or one of its addresses).
    pub(crate) fn endpoint(
        &self,
        config: &GrpcClientConfig,
        host: &str,
    ) -> Result<Endpoint, InvalidEndpoint> {
        let invalid = |reason: String| InvalidEndpoint {
            endpoint: config.endpoint.clone(),
            reason,
        };
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{host}:{}", self.port))
            .map_err(|e| invalid(e.to_string()))?
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .tcp_nodelay(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| invalid(e.to_string()))?;
        }
        Ok(endpoint)
    }
}

/// The addresses of `config.endpoint`.
pub(crate) fn targets(config: &GrpcClientConfig) -> Result<Vec<Target>, InvalidEndpoint> {
    let invalid = |reason: &str| InvalidEndpoint {
        endpoint: config.endpoint.clone(),
        reason: reason.to_owned(),
    };
    let mut targets = Vec::new();
    for part in config.endpoint.split(',').map(str::trim) {
        let uri: http::Uri = part
            .parse()
            .map_err(|_| invalid("not a URI such as http://host:50051"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(invalid("the scheme must be http or https")),
        };
        let host = uri.host().ok_or_else(|| invalid("names no host"))?;
        if !https && config.tls.is_some() {
            return Err(invalid("tls is configured but the endpoint is http://"));
        }
        let tls = if https {
            let tls = config.tls.clone().unwrap_or_default();
            Some(
                tls.load(host.trim_matches(['[', ']']))
                    .map_err(|reason| invalid(&reason))?,
            )
        } else {
            None
        };
        targets.push(Target {
            host: host.to_owned(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            tls,
        });
    }
    Ok(targets)
}

/// Every address of `targets` now: its own for an IP address, the resolved ones for a name.
pub(crate) async fn addresses(
    config: &GrpcClientConfig,
    targets: &[Target],
) -> BTreeMap<String, Endpoint> {
    let mut found = BTreeMap::new();
    for target in targets {
        let hosts: Vec<String> = if target.resolves() {
            match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
                Ok(addrs) => {
                    let hosts: Vec<String> = addrs
                        .map(|a| match a.ip() {
                            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                            ip => ip.to_string(),
                        })
                        .collect();
                    if hosts.is_empty() {
                        vec![target.host.clone()]
                    } else {
                        hosts
                    }
                }
                Err(e) => {
                    tracing::warn!(peer = %target.host, error = %e, "cannot resolve a peer's replicas");
                    vec![target.host.clone()]
                }
            }
        } else {
            vec![target.host.clone()]
        };
        for host in hosts {
            match target.endpoint(config, &host) {
                Ok(endpoint) => {
                    found.insert(format!("{host}:{}", target.port), endpoint);
                }
                // Every part was checked when the channel was built; logged if not.
                Err(e) => tracing::warn!(error = %e, "a peer's replica is left out"),
            }
        }
    }
    found
}
