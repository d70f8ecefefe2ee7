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
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

impl Validate for ExchangeConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_socket_addr("grpc.addr", &self.grpc.addr)?;
        self.database
            .check("database.url")
            .map_err(|e| ConfigError::invalid("database.url", e))?;
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
