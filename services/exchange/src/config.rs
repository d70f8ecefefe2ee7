//! The exchange's configuration: embedded defaults (`exchange.toml`) → `--config` file →
//! `HP_EXCHANGE__*` environment → overrides.

use std::path::Path;

use healthpoints_auth::VerifierConfig;
use healthpoints_config::{ConfigError, Loader, Secret, Validate, check_socket_addr};
use healthpoints_db::DatabaseConfig;
use healthpoints_grpc::{
    GrpcServerConfig, client::GrpcClientConfig, credentials::ServiceCredentials,
};
use healthpoints_telemetry::TelemetryConfig;
use serde::{Deserialize, Serialize};

const DEFAULTS: &str = include_str!("exchange.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    pub grpc: GrpcServerConfig,
    pub database: DatabaseConfig,
    /// Signing keys, partner clients and ID-number lookups.
    pub identity: GrpcClientConfig,
    /// Where behaviour records go; award figures of the statistics.
    pub intake: GrpcClientConfig,
    /// Book figures of the statistics.
    pub ledger: GrpcClientConfig,
    pub credentials: ServiceCredentials,
    pub verifier: VerifierConfig,
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

/// Partners' webhooks (docs/notifications.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Receivers on loopback addresses allowed: a developer's own machine (`healthpoints up`
    /// sets it). Off in production: a webhook must not reach the exchange's own host.
    pub allow_loopback: bool,
    /// Hosts (names or IP addresses) allowed whatever they resolve to, and over plain HTTP:
    /// receivers inside the city's own network.
    pub allowed_hosts: Vec<String>,
    /// Seconds to wait after each failed attempt; once spent, the delivery has failed.
    pub retry_after_seconds: Vec<u64>,
    /// How long one attempt may take.
    pub timeout_ms: u64,
    /// How often due deliveries and unsent notifications are looked for.
    pub poll_interval_ms: u64,
}

impl WebhooksConfig {
    /// The domain options this configuration asks for.
    pub fn options(&self) -> crate::service::notify::WebhookOptions {
        crate::service::notify::WebhookOptions {
            policy: crate::domain::notify::UrlPolicy {
                allow_loopback: self.allow_loopback,
                allowed_hosts: self.allowed_hosts.clone(),
            },
            retry_after_seconds: self.retry_after_seconds.clone(),
            timeout: std::time::Duration::from_millis(self.timeout_ms),
        }
    }
}

impl Validate for ExchangeConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_socket_addr("grpc.addr", &self.grpc.addr)?;
        self.database
            .check("database.url")
            .map_err(|e| ConfigError::invalid("database.url", e))?;
        if self.webhooks.retry_after_seconds.is_empty()
            || self.webhooks.retry_after_seconds.contains(&0)
        {
            return Err(ConfigError::invalid(
                "webhooks.retry_after_seconds",
                "must list at least one wait of 1 second or more",
            ));
        }
        if !(100..=60_000).contains(&self.webhooks.timeout_ms) {
            return Err(ConfigError::invalid(
                "webhooks.timeout_ms",
                "must be between 100 and 60000",
            ));
        }
        if self.webhooks.poll_interval_ms < 50 {
            return Err(ConfigError::invalid(
                "webhooks.poll_interval_ms",
                "must be at least 50",
            ));
        }
        if self.credentials.client_id.trim().is_empty() {
            return Err(ConfigError::invalid(
                "credentials.client_id",
                "must name the exchange's service client",
            ));
        }
        Ok(())
    }
}

impl ExchangeConfig {
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Self, ConfigError> {
        let mut loader = Loader::new("exchange", DEFAULTS).file(file);
        for (key, value) in overrides {
            loader = loader.set(key, value.clone());
        }
        loader.load()
    }

    /// A configuration for tests: loopback on a free port, the given database and peers.
    pub fn for_test(
        database: DatabaseConfig,
        identity_endpoint: &str,
        intake_endpoint: &str,
        ledger_endpoint: &str,
        client_secret: &str,
    ) -> Self {
        let mut config = Self::load(None, &[]).expect("embedded defaults are valid");
        config.grpc = GrpcServerConfig::for_test();
        config.database = database;
        config.identity = GrpcClientConfig::new(identity_endpoint);
        config.intake = GrpcClientConfig::new(intake_endpoint);
        config.ledger = GrpcClientConfig::new(ledger_endpoint);
        config.credentials.client_secret = Secret::new(client_secret.to_owned());
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid_and_bad_values_are_named() {
        ExchangeConfig::load(None, &[]).unwrap();
        let err = ExchangeConfig::load(None, &[("grpc.addr", "nowhere".into())]).unwrap_err();
        assert!(err.to_string().contains("grpc.addr"), "{err}");
    }
}
