//! The identity service's configuration: embedded defaults (`identity.toml`) → `--config` file
//! → `HP_IDENTITY__*` environment → overrides. `HP_BOOTSTRAP_ADMIN=username:password` is also
//! read, as the issue of the first city admin names it.

use std::{collections::BTreeMap, path::Path};

use healthpoints_config::{ConfigError, Loader, Secret, Validate, check_socket_addr};
use healthpoints_db::DatabaseConfig;
use healthpoints_grpc::GrpcServerConfig;
use healthpoints_telemetry::TelemetryConfig;
use serde::{Deserialize, Serialize};

const DEFAULTS: &str = include_str!("identity.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    pub grpc: GrpcServerConfig,
    pub database: DatabaseConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    pub tokens: TokensConfig,
    pub secrets: SecretsConfig,
    pub login: LoginConfig,
    #[serde(default)]
    pub password_reset: PasswordResetConfig,
    #[serde(default)]
    pub closing: ClosingConfig,
    /// `username:password` of the first city admin, created when no city admin exists.
    #[serde(default)]
    pub bootstrap_admin: Option<Secret<String>>,
    /// The mesh services' own clients, keyed by client id, created or updated at start: each
    /// service obtains its tokens with the secret it was deployed with.
    #[serde(default)]
    pub service_clients: BTreeMap<String, ServiceClientConfig>,
}

/// One service's client credentials, as identity provisions them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceClientConfig {
    /// The mesh service it acts for, e.g. `intake`, `exchange`, `district-mall`.
    pub service: String,
    pub secret: Secret<String>,
    /// A district mall's district code.
    #[serde(default)]
    pub district: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_seconds: u64,
    pub refresh_ttl_seconds: u64,
    /// How often keys are re-read from the database (other replicas' rotations).
    pub key_reload_seconds: u64,
    /// How long after a refresh token is rotated a second use of it answers the same new
    /// refresh token (two app instances refreshing at once, a retry after a lost response)
    /// instead of counting as reuse. 0 turns the grace off.
    #[serde(default = "default_refresh_grace")]
    pub refresh_reuse_grace_seconds: u64,
    /// How long a client's replaced secret stays valid after `POST /v1/admin/partners/{id}/secrets`
    /// when the rotation does not say (its servers change over meanwhile). At most 30 days.
    #[serde(default = "default_client_secret_grace")]
    pub client_secret_grace_seconds: u64,
}

fn default_refresh_grace() -> u64 {
    30
}

fn default_client_secret_grace() -> u64 {
    86_400
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// Base64 of 32 random bytes; every encryption and hashing key is derived from it.
    #[serde(default)]
    pub master_key: Option<Secret<String>>,
    /// Used when `master_key` is absent: read, or created with a fresh key on first start.
    #[serde(default)]
    pub master_key_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    pub max_failed_logins: i32,
    pub lock_seconds: u64,
    pub account_burst: u32,
    pub account_per_minute: u32,
    pub address_burst: u32,
    pub address_per_minute: u32,
}

/// Accounts residents close.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClosingConfig {
    /// Days a closed account's personal data is kept (disputes, refunds, audits) before it is
    /// erased; 0 erases at the next sweep.
    pub retention_days: u32,
    /// How often closed accounts due for erasure are looked for.
    pub sweep_interval_ms: u64,
}

impl Default for ClosingConfig {
    fn default() -> Self {
        Self {
            retention_days: 180,
            sweep_interval_ms: 60_000,
        }
    }
}

/// Forgotten passwords reset with a one-time code sent to the resident's phone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordResetConfig {
    /// Where the codes are sent. `""`: nowhere — reset by code is unavailable (a health station
    /// resets a password after an ID check); `file:<directory>`: each message is written to
    /// `<directory>/<phone>.txt` (development: `healthpoints up` and the test meshes). An SMS
    /// gateway's adapter is another [`crate::service::passwords::Messenger`].
    pub sender: String,
    /// How long a code is valid.
    pub code_ttl_seconds: u64,
    /// Wrong codes before a code is void.
    pub max_attempts: i32,
    /// A new code is sent at most this often to one phone.
    pub resend_after_seconds: u64,
}

impl Default for PasswordResetConfig {
    fn default() -> Self {
        Self {
            sender: String::new(),
            code_ttl_seconds: 600,
            max_attempts: 5,
            resend_after_seconds: 60,
        }
    }
}

impl Validate for IdentityConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_socket_addr("grpc.addr", &self.grpc.addr)?;
        self.database
            .check("database.url")
            .map_err(|e| ConfigError::invalid("database.url", e))?;
        if !(60..=3600).contains(&self.tokens.access_ttl_seconds) {
            return Err(ConfigError::invalid(
                "tokens.access_ttl_seconds",
                "must be between 60 and 3600",
            ));
        }
        if self.tokens.refresh_reuse_grace_seconds > 300 {
            return Err(ConfigError::invalid(
                "tokens.refresh_reuse_grace_seconds",
                "must be at most 300",
            ));
        }
        if self.tokens.client_secret_grace_seconds > crate::service::MAX_SECRET_GRACE.as_secs() {
            return Err(ConfigError::invalid(
                "tokens.client_secret_grace_seconds",
                "must be at most 2592000 (30 days)",
            ));
        }
        if self.tokens.refresh_ttl_seconds < self.tokens.access_ttl_seconds {
            return Err(ConfigError::invalid(
                "tokens.refresh_ttl_seconds",
                "must be at least access_ttl_seconds",
            ));
        }
        if self.secrets.master_key.is_none() && self.secrets.master_key_file.is_none() {
            return Err(ConfigError::invalid(
                "secrets.master_key",
                "set master_key or master_key_file",
            ));
        }
        if self.closing.retention_days > 3650 {
            return Err(ConfigError::invalid(
                "closing.retention_days",
                "must be at most 3650",
            ));
        }
        if !(100..=3_600_000).contains(&self.closing.sweep_interval_ms) {
            return Err(ConfigError::invalid(
                "closing.sweep_interval_ms",
                "must be between 100 and 3600000",
            ));
        }
        let r = &self.password_reset;
        if !(r.sender.is_empty() || r.sender.starts_with("file:") && r.sender.len() > 5) {
            return Err(ConfigError::invalid(
                "password_reset.sender",
                "must be empty or file:<directory>",
            ));
        }
        if !(60..=3600).contains(&r.code_ttl_seconds) {
            return Err(ConfigError::invalid(
                "password_reset.code_ttl_seconds",
                "must be between 60 and 3600",
            ));
        }
        if !(1..=10).contains(&r.max_attempts) {
            return Err(ConfigError::invalid(
                "password_reset.max_attempts",
                "must be between 1 and 10",
            ));
        }
        if r.resend_after_seconds > r.code_ttl_seconds {
            return Err(ConfigError::invalid(
                "password_reset.resend_after_seconds",
                "must be at most code_ttl_seconds",
            ));
        }
        if self.login.max_failed_logins < 1 {
            return Err(ConfigError::invalid(
                "login.max_failed_logins",
                "must be at least 1",
            ));
        }
        if let Some(admin) = &self.bootstrap_admin
            && !admin.expose().contains(':')
        {
            return Err(ConfigError::invalid(
                "bootstrap_admin",
                "must be username:password",
            ));
        }
        Ok(())
    }
}

impl IdentityConfig {
    /// Loads every layer; `overrides` are `(key, value)` pairs above the environment.
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Self, ConfigError> {
        let mut loader = Loader::new("identity", DEFAULTS).file(file);
        if let Ok(admin) = std::env::var("HP_BOOTSTRAP_ADMIN") {
            loader = loader.set("bootstrap_admin", admin);
        }
        for (key, value) in overrides {
            loader = loader.set(key, value.clone());
        }
        loader.load()
    }

    /// A configuration for tests: loopback on a free port, the given database, a fixed master
    /// key, fast lockouts.
    pub fn for_test(database: DatabaseConfig) -> Self {
        let mut config = Self::load(None, &[]).expect("embedded defaults are valid");
        config.grpc = GrpcServerConfig::for_test();
        config.database = database;
        config.secrets.master_key = Some(Secret::new(
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned(),
        ));
        config.secrets.master_key_file = None;
        config.bootstrap_admin = None;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid() {
        let config = IdentityConfig::load(None, &[]).unwrap();
        assert_eq!(config.tokens.access_ttl_seconds, 900);
        assert_eq!(config.login.max_failed_logins, 5);
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err =
            IdentityConfig::load(None, &[("tokens.access_ttl_seconds", "5".into())]).unwrap_err();
        assert!(
            err.to_string().contains("tokens.access_ttl_seconds"),
            "{err}"
        );
        let err = IdentityConfig::load(None, &[("grpc.addr", "nowhere".into())]).unwrap_err();
        assert!(err.to_string().contains("grpc.addr"), "{err}");
    }
}
