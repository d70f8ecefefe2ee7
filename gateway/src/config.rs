//! The gateway's configuration: embedded defaults (`gateway.toml`) → `--config` file →
//! `HP_GATEWAY__*` environment → overrides.

use std::path::Path;

use healthpoints_auth::VerifierConfig;
use healthpoints_config::{ConfigError, Loader, Validate, check_socket_addr};
use healthpoints_grpc::client::GrpcClientConfig;
use healthpoints_telemetry::TelemetryConfig;
use serde::{Deserialize, Serialize};

const DEFAULTS: &str = include_str!("gateway.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub http: HttpConfig,
    pub identity: GrpcClientConfig,
    pub ledger: GrpcClientConfig,
    pub intake: GrpcClientConfig,
    pub exchange: GrpcClientConfig,
    /// The city mall and the district malls, for the redemption router.
    pub malls: crate::malls::MallsConfig,
    pub verifier: VerifierConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub addr: String,
    pub request_timeout_ms: u64,
    pub body_limit_bytes: usize,
    /// Proxies (IP addresses or CIDR ranges) whose `X-Forwarded-For` is believed; empty: the
    /// client address is the connection's peer. A list, or comma-separated
    /// (`HP_GATEWAY__HTTP__TRUSTED_PROXIES=10.0.0.0/8,192.168.0.0/16`).
    #[serde(default, deserialize_with = "healthpoints_config::comma_list")]
    pub trusted_proxies: Vec<String>,
    /// Rate limits of the routes that need no token, by class (see [`crate::throttle`]).
    pub rate_limits: crate::throttle::RateLimits,
    /// Browsers on other origins ([`crate::cors`]); none by default.
    #[serde(default)]
    pub cors: crate::cors::CorsConfig,
}

impl Validate for GatewayConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_socket_addr("http.addr", &self.http.addr)?;
        if !self.identity.endpoint.starts_with("http://")
            && !self.identity.endpoint.starts_with("https://")
        {
            return Err(ConfigError::invalid(
                "identity.endpoint",
                "must be an http:// or https:// URL",
            ));
        }
        if let Err((key, why)) = self.http.rate_limits.check() {
            return Err(ConfigError::invalid(&key, why));
        }
        if let Err(why) =
            crate::throttle::Throttle::new(&self.http.rate_limits, &self.http.trusted_proxies)
        {
            return Err(ConfigError::invalid("http.trusted_proxies", &why));
        }
        self.http.cors.check()?;
        if self.http.body_limit_bytes < 1024 {
            return Err(ConfigError::invalid(
                "http.body_limit_bytes",
                "must be at least 1024",
            ));
        }
        Ok(())
    }
}

impl GatewayConfig {
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Self, ConfigError> {
        let mut loader = Loader::new("gateway", DEFAULTS).file(file);
        for (key, value) in overrides {
            loader = loader.set(key, value.clone());
        }
        loader.load()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid_and_bad_endpoints_are_named() {
        GatewayConfig::load(None, &[]).unwrap();
        let err =
            GatewayConfig::load(None, &[("identity.endpoint", "localhost".into())]).unwrap_err();
        assert!(err.to_string().contains("identity.endpoint"), "{err}");
    }
}
