//! The web client's configuration: embedded defaults (`web.toml`) → `--config` file →
//! `HP_WEB__*` environment → overrides.

use std::path::Path;

use base64::Engine as _;
use healthpoints_config::{ConfigError, Loader, Secret, Validate, check_socket_addr};
use healthpoints_telemetry::TelemetryConfig;
use serde::{Deserialize, Serialize};

const DEFAULTS: &str = include_str!("web.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    pub http: HttpConfig,
    pub gateway: GatewayConfig,
    pub session: SessionConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub addr: String,
    pub request_timeout_ms: u64,
    /// What browsers type; empty: `http://` and the bound address.
    #[serde(default)]
    pub public_url: String,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is passed on to the gateway;
    /// a list or comma-separated.
    #[serde(default, deserialize_with = "healthpoints_config::comma_list")]
    pub trusted_proxies: Vec<String>,
}

impl HttpConfig {
    /// The trusted proxies as networks.
    pub fn proxies(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|raw| {
                healthpoints_config::ip_network(raw).ok_or_else(|| {
                    ConfigError::invalid(
                        "http.trusted_proxies",
                        "must be IP addresses or CIDR ranges",
                    )
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub url: String,
    pub request_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// 32 bytes, base64; empty: a fresh key at each start.
    #[serde(default = "empty_key")]
    pub key: Secret<String>,
    pub max_age_seconds: u64,
}

fn empty_key() -> Secret<String> {
    Secret::new(String::new())
}

impl SessionConfig {
    /// The configured key, or `None` when a fresh one should be drawn.
    pub fn key_bytes(&self) -> Result<Option<[u8; 32]>, ConfigError> {
        let text = self.key.expose().trim();
        if text.is_empty() {
            return Ok(None);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| ConfigError::invalid("session.key", "must be base64"))?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(Some)
            .map_err(|_| {
                ConfigError::invalid("session.key", "must be 32 bytes (44 base64 characters)")
            })
    }
}

impl Validate for WebConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_socket_addr("http.addr", &self.http.addr)?;
        let public = self.http.public_url.trim();
        if !public.is_empty() && !public.starts_with("http://") && !public.starts_with("https://") {
            return Err(ConfigError::invalid(
                "http.public_url",
                "must be an http:// or https:// URL",
            ));
        }
        if !self.gateway.url.starts_with("http://") && !self.gateway.url.starts_with("https://") {
            return Err(ConfigError::invalid(
                "gateway.url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.session.max_age_seconds == 0 {
            return Err(ConfigError::invalid(
                "session.max_age_seconds",
                "must be at least 1",
            ));
        }
        self.session.key_bytes()?;
        self.http.proxies()?;
        Ok(())
    }
}

impl WebConfig {
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Self, ConfigError> {
        let mut loader = Loader::new("web", DEFAULTS).file(file);
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
    fn embedded_defaults_are_valid_and_bad_values_are_named() {
        WebConfig::load(None, &[]).unwrap();
        for (key, value) in [
            ("gateway.url", "localhost:8080"),
            ("http.public_url", "points.example"),
            ("session.key", "c2hvcnQ="),
            ("session.max_age_seconds", "0"),
            ("http.trusted_proxies", "10.0.0.0/33"),
        ] {
            let err = WebConfig::load(None, &[(key, value.into())]).unwrap_err();
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
    }
}
