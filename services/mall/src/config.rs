//! A mall's configuration: embedded defaults (`mall.toml`) → `--config` file → `HP_MALL__*`
//! environment → overrides. The same keys serve the city mall and every district mall; `mall`
//! says which one this deployment is.

use std::path::Path;

use healthpoints_auth::VerifierConfig;
use healthpoints_config::{ConfigError, Loader, Secret, Validate, check_socket_addr};
use healthpoints_db::DatabaseConfig;
use healthpoints_grpc::{
    GrpcServerConfig, client::GrpcClientConfig, credentials::ServiceCredentials,
};
use healthpoints_telemetry::TelemetryConfig;
use healthpoints_types::MallId;
use serde::{Deserialize, Serialize};

use crate::domain::model::PeriodKind;

const DEFAULTS: &str = include_str!("mall.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MallConfig {
    /// `city`, or the district code of a district mall.
    pub mall: String,
    pub name: String,
    pub grpc: GrpcServerConfig,
    pub database: DatabaseConfig,
    /// Signing keys and residents (age, status).
    pub identity: GrpcClientConfig,
    /// Where points are reserved, posted, voided, refunded and settled.
    pub ledger: GrpcClientConfig,
    /// Where the mall's outbox publishes its orders' events (residents' inboxes, merchants'
    /// webhooks).
    pub exchange: GrpcClientConfig,
    pub credentials: ServiceCredentials,
    pub orders: OrdersConfig,
    pub settlement: SettlementConfig,
    pub verifier: VerifierConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersConfig {
    pub voucher_valid_hours: u32,
    /// Residents are told this many hours before a voucher of theirs expires (0: not told).
    #[serde(default = "voucher_notice_hours")]
    pub expiry_notice_hours: u32,
    pub max_quantity: u32,
    pub sweep_interval_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementConfig {
    pub period: String,
}

fn voucher_notice_hours() -> u32 {
    24
}

impl Validate for MallConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        MallId::parse(&self.mall).map_err(|e| ConfigError::invalid("mall", e.0))?;
        check_socket_addr("grpc.addr", &self.grpc.addr)?;
        self.database
            .check("database.url")
            .map_err(|e| ConfigError::invalid("database.url", e))?;
        if self.credentials.client_id.trim().is_empty() {
            return Err(ConfigError::invalid(
                "credentials.client_id",
                "must name the mall's service client",
            ));
        }
        if !(1..=24 * 365).contains(&self.orders.voucher_valid_hours) {
            return Err(ConfigError::invalid(
                "orders.voucher_valid_hours",
                "must be between 1 and 8760",
            ));
        }
        if self.orders.expiry_notice_hours > 24 * 365 {
            return Err(ConfigError::invalid(
                "orders.expiry_notice_hours",
                "must be between 0 and 8760",
            ));
        }
        if !(1..=1000).contains(&self.orders.max_quantity) {
            return Err(ConfigError::invalid(
                "orders.max_quantity",
                "must be between 1 and 1000",
            ));
        }
        if self.orders.sweep_interval_ms < 100 {
            return Err(ConfigError::invalid(
                "orders.sweep_interval_ms",
                "must be at least 100",
            ));
        }
        PeriodKind::parse(&self.settlement.period).ok_or_else(|| {
            ConfigError::invalid("settlement.period", "must be \"month\" or \"week\"")
        })?;
        Ok(())
    }
}

impl MallConfig {
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Self, ConfigError> {
        let mut loader = Loader::new("mall", DEFAULTS).file(file);
        for (key, value) in overrides {
            loader = loader.set(key, value.clone());
        }
        loader.load()
    }

    /// Which mall this deployment is (validated at load).
    pub fn mall_id(&self) -> MallId {
        MallId::parse(&self.mall).unwrap_or(MallId::City)
    }

    /// A configuration for tests: loopback on a free port, the given mall, database and peers.
    pub fn for_test(
        mall: MallId,
        database: DatabaseConfig,
        identity_endpoint: &str,
        ledger_endpoint: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Self {
        let mut config = Self::load(None, &[]).expect("embedded defaults are valid");
        config.mall = mall.to_string();
        config.grpc = GrpcServerConfig::for_test();
        config.database = database;
        config.identity = GrpcClientConfig::new(identity_endpoint);
        config.ledger = GrpcClientConfig::new(ledger_endpoint);
        config.credentials.client_id = client_id.to_owned();
        config.credentials.client_secret = Secret::new(client_secret.to_owned());
        config.orders.sweep_interval_ms = 200;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid_and_bad_values_are_named() {
        MallConfig::load(None, &[]).unwrap();
        for (key, value) in [
            ("mall", "110101"),
            ("settlement.period", "fortnight"),
            ("orders.voucher_valid_hours", "0"),
        ] {
            let err = MallConfig::load(None, &[(key, value.into())]).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
