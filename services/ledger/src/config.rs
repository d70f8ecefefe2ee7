//! The ledger's configuration: embedded defaults (`ledger.toml`) → `--config` file →
//! `HP_LEDGER__*` environment → overrides.

use std::path::Path;

use healthpoints_auth::VerifierConfig;
use healthpoints_config::{ConfigError, Loader, Validate, check_socket_addr};
use healthpoints_db::DatabaseConfig;
use healthpoints_grpc::{GrpcServerConfig, client::GrpcClientConfig};
use healthpoints_telemetry::TelemetryConfig;
use serde::{Deserialize, Serialize};

const DEFAULTS: &str = include_str!("ledger.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    pub grpc: GrpcServerConfig,
    pub database: DatabaseConfig,
    /// Where the signing keys (JWKS) come from.
    pub identity: GrpcClientConfig,
    pub verifier: VerifierConfig,
    pub sweeper: SweeperConfig,
    #[serde(default)]
    pub writer: WriterConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriterConfig {
    /// Group commits under way at once while the writer plans the next group.
    pub commits_in_flight: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            commits_in_flight: crate::service::COMMITS_IN_FLIGHT,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweeperConfig {
    /// How often pending transfers past their timeout are voided, expired points leave their
    /// lots and residents are told of points about to expire.
    pub interval_ms: u64,
    /// How many days before their points expire residents are told (`points.expiring` in their
    /// inbox); 0 tells no one.
    #[serde(default = "notice_days")]
    pub expiry_notice_days: u32,
}

fn notice_days() -> u32 {
    30
}

impl Validate for LedgerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_socket_addr("grpc.addr", &self.grpc.addr)?;
        self.database
            .check("database.url")
            .map_err(|e| ConfigError::invalid("database.url", e))?;
        if !(10..=60_000).contains(&self.sweeper.interval_ms) {
            return Err(ConfigError::invalid(
                "sweeper.interval_ms",
                "must be between 10 and 60000",
            ));
        }
        if self.sweeper.expiry_notice_days > 366 {
            return Err(ConfigError::invalid(
                "sweeper.expiry_notice_days",
                "must be between 0 and 366",
            ));
        }
        if !(1..=8).contains(&self.writer.commits_in_flight) {
            return Err(ConfigError::invalid(
                "writer.commits_in_flight",
                "must be between 1 and 8",
            ));
        }
        Ok(())
    }
}

impl LedgerConfig {
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Self, ConfigError> {
        let mut loader = Loader::new("ledger", DEFAULTS).file(file);
        for (key, value) in overrides {
            loader = loader.set(key, value.clone());
        }
        loader.load()
    }

    /// A configuration for tests: loopback on a free port, the given database and identity.
    pub fn for_test(database: DatabaseConfig, identity_endpoint: &str) -> Self {
        let mut config = Self::load(None, &[]).expect("embedded defaults are valid");
        config.grpc = GrpcServerConfig::for_test();
        config.database = database;
        config.identity = GrpcClientConfig::new(identity_endpoint);
        config.sweeper.interval_ms = 100;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid_and_bad_values_are_named() {
        LedgerConfig::load(None, &[]).unwrap();
        let err = LedgerConfig::load(None, &[("sweeper.interval_ms", "0".into())]).unwrap_err();
        assert!(err.to_string().contains("sweeper.interval_ms"), "{err}");
        let err =
            LedgerConfig::load(None, &[("writer.commits_in_flight", "0".into())]).unwrap_err();
        assert!(
            err.to_string().contains("writer.commits_in_flight"),
            "{err}"
        );
    }
}
