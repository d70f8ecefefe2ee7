//! The intake service's configuration: embedded defaults (`intake.toml`) → `--config` file →
//! `HP_INTAKE__*` environment → overrides.

use std::path::Path;

use healthpoints_auth::VerifierConfig;
use healthpoints_config::{ConfigError, Loader, Secret, Validate, check_socket_addr};
use healthpoints_db::DatabaseConfig;
use healthpoints_grpc::{
    GrpcServerConfig, client::GrpcClientConfig, credentials::ServiceCredentials,
};
use healthpoints_telemetry::TelemetryConfig;
use serde::{Deserialize, Serialize};

use crate::domain::expiry::ExpiryPolicy;

const DEFAULTS: &str = include_str!("intake.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    pub grpc: GrpcServerConfig,
    pub database: DatabaseConfig,
    /// Signing keys (JWKS), resident lookups and intake's own token.
    pub identity: GrpcClientConfig,
    /// Where awards go.
    pub ledger: GrpcClientConfig,
    pub credentials: ServiceCredentials,
    pub verifier: VerifierConfig,
    pub rules: RulesConfig,
    pub expiry: ExpiryConfig,
    pub handoff: HandoffConfig,
    pub residents: ResidentsConfig,
    pub fraud: FraudConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    pub window_days: u32,
    pub future_skew_seconds: u32,
    pub reload_seconds: u32,
}

/// The configured points expiry policies (see `intake.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryConfig {
    pub city: String,
    pub district: String,
}

impl ExpiryConfig {
    /// The city's and the districts' policies, or the key that does not parse.
    pub fn policies(&self) -> Result<(ExpiryPolicy, ExpiryPolicy), ConfigError> {
        let parse = |key: &str, value: &str| {
            ExpiryPolicy::parse(value).map_err(|e| ConfigError::invalid(key, e))
        };
        Ok((
            parse("expiry.city", &self.city)?,
            parse("expiry.district", &self.district)?,
        ))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffConfig {
    pub pending_grace_seconds: u32,
    pub interval_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentsConfig {
    pub cache_seconds: u32,
}

/// Velocity limits: reports beyond them hold the award and flag the resident for review.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FraudConfig {
    pub resident_reports_per_hour: u32,
    pub source_reports_per_day: u32,
}

impl Validate for IntakeConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_socket_addr("grpc.addr", &self.grpc.addr)?;
        self.expiry.policies()?;
        self.database
            .check("database.url")
            .map_err(|e| ConfigError::invalid("database.url", e))?;
        if self.credentials.client_id.trim().is_empty() {
            return Err(ConfigError::invalid(
                "credentials.client_id",
                "must name intake's service client",
            ));
        }
        if !(1..=366).contains(&self.rules.window_days) {
            return Err(ConfigError::invalid(
                "rules.window_days",
                "must be between 1 and 366",
            ));
        }
        if self.rules.future_skew_seconds > 3_600 {
            return Err(ConfigError::invalid(
                "rules.future_skew_seconds",
                "must be at most 3600",
            ));
        }
        if !(1..=3_600).contains(&self.rules.reload_seconds) {
            return Err(ConfigError::invalid(
                "rules.reload_seconds",
                "must be between 1 and 3600",
            ));
        }
        if !(1..=3_600).contains(&self.handoff.pending_grace_seconds) {
            return Err(ConfigError::invalid(
                "handoff.pending_grace_seconds",
                "must be between 1 and 3600",
            ));
        }
        if !(10..=600_000).contains(&self.handoff.interval_ms) {
            return Err(ConfigError::invalid(
                "handoff.interval_ms",
                "must be between 10 and 600000",
            ));
        }
        if self.fraud.resident_reports_per_hour == 0 {
            return Err(ConfigError::invalid(
                "fraud.resident_reports_per_hour",
                "must be at least 1",
            ));
        }
        if self.fraud.source_reports_per_day == 0 {
            return Err(ConfigError::invalid(
                "fraud.source_reports_per_day",
                "must be at least 1",
            ));
        }
        if self.residents.cache_seconds > 300 {
            return Err(ConfigError::invalid(
                "residents.cache_seconds",
                "must be at most 300",
            ));
        }
        Ok(())
    }
}

impl IntakeConfig {
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Self, ConfigError> {
        let mut loader = Loader::new("intake", DEFAULTS).file(file);
        for (key, value) in overrides {
            loader = loader.set(key, value.clone());
        }
        loader.load()
    }

    /// A configuration for tests: loopback on a free port, the given database and peers.
    pub fn for_test(
        database: DatabaseConfig,
        identity_endpoint: &str,
        ledger_endpoint: &str,
        client_secret: &str,
    ) -> Self {
        let mut config = Self::load(None, &[]).expect("embedded defaults are valid");
        config.grpc = GrpcServerConfig::for_test();
        config.database = database;
        config.identity = GrpcClientConfig::new(identity_endpoint);
        config.ledger = GrpcClientConfig::new(ledger_endpoint);
        config.credentials.client_secret = Secret::new(client_secret.to_owned());
        config.handoff.interval_ms = 200;
        config.residents.cache_seconds = 0;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid_and_bad_values_are_named() {
        IntakeConfig::load(None, &[]).unwrap();
        let err = IntakeConfig::load(None, &[("rules.window_days", "0".into())]).unwrap_err();
        assert!(err.to_string().contains("rules.window_days"), "{err}");
    }
}
