//! Layered, typed configuration for every healthpoints process, built on the `config` crate.
//!
//! Layers, later wins: the service's embedded defaults (TOML compiled into the binary) → an
//! optional file given with `--config` → environment variables `HP_<SERVICE>__<KEY>` (nested
//! keys joined with `__`, e.g. `HP_IDENTITY__GRPC__ADDR`) → programmatic overrides (the
//! all-in-one runner and tests). The result deserialises into the service's own struct, which
//! rejects unknown keys (`#[serde(deny_unknown_fields)]`) and then runs [`Validate`], so a typo or
//! a bad value stops start-up with an error naming the key. Secrets are wrapped in [`Secret`] so
//! they never reach logs or `--dump-config`.

use std::{collections::HashMap, fmt, path::Path};

use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};

/// Why configuration could not be loaded; always names the key or the source at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Source(String),
    #[error("configuration key `{key}` is invalid: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Checks that go beyond types: ranges, formats, combinations. Name the key in the error.
pub trait Validate {
    fn validate(&self) -> Result<(), ConfigError>;
}

/// A value that must not be shown: `Debug` and `Serialize` print `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
    }
}

/// Builds one service's configuration from its layers.
#[derive(Debug)]
pub struct Loader {
    service: String,
    defaults: &'static str,
    file: Option<std::path::PathBuf>,
    env: Option<HashMap<String, String>>,
    overrides: Vec<(String, String)>,
}

impl Loader {
    /// `service` names the environment prefix: `identity` reads `HP_IDENTITY__*`.
    pub fn new(service: &str, defaults: &'static str) -> Self {
        Self {
            service: service.to_owned(),
            defaults,
            file: None,
            env: None,
            overrides: Vec::new(),
        }
    }

    /// Adds a TOML file layer (skipped when `None`).
    pub fn file(mut self, path: Option<&Path>) -> Self {
        self.file = path.map(Path::to_path_buf);
        self
    }

    /// Replaces the process environment (tests).
    pub fn env(mut self, vars: HashMap<String, String>) -> Self {
        self.env = Some(vars);
        self
    }

    /// Sets a key above every other layer, e.g. `("grpc.addr", "127.0.0.1:0")`.
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.overrides.push((key.to_owned(), value.into()));
        self
    }

    /// Merges the layers and checks the result.
    pub fn load<T: DeserializeOwned + Validate>(self) -> Result<T, ConfigError> {
        let prefix = format!("HP_{}", self.service.to_uppercase().replace('-', "_"));
        let mut env = Environment::with_prefix(&prefix)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .ignore_empty(true);
        for key in ["scopes", "districts", "allowed_origins"] {
            env = env.with_list_parse_key(key);
        }
        if let Some(vars) = self.env {
            env = env.source(Some(vars.into_iter().collect()));
        }
        let mut builder =
            Config::builder().add_source(File::from_str(self.defaults, FileFormat::Toml));
        if let Some(path) = &self.file {
            builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Toml));
        }
        builder = builder.add_source(env);
        for (key, value) in self.overrides {
            builder = builder
                .set_override(key, value)
                .map_err(|e| ConfigError::Source(e.to_string()))?;
        }
        let merged = builder
            .build()
            .map_err(|e| ConfigError::Source(e.to_string()))?;
        let typed: T = merged
            .try_deserialize()
            .map_err(|e| ConfigError::Source(e.to_string()))?;
        typed.validate()?;
        Ok(typed)
    }
}

/// Renders a configuration for `--dump-config`, secrets redacted.
pub fn dump<T: Serialize>(config: &T) -> String {
    serde_json::to_string_pretty(config).unwrap_or_else(|e| format!("unprintable: {e}"))
}

/// A list of texts given as a list, or as its items in one comma-separated text (how an
/// environment variable gives a list): `deserialize_with = "healthpoints_config::comma_list"`.
pub fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Given::deserialize(d)? {
        Given::One(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Given::Many(items) => items,
    })
}

/// An IP address (`10.0.0.7`) or a CIDR range (`10.0.0.0/8`), as a trusted-proxy setting gives
/// it.
pub fn ip_network(raw: &str) -> Option<ipnet::IpNet> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| raw.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Checks that `value` is a socket address, naming `key` when it is not.
pub fn check_socket_addr(key: &str, value: &str) -> Result<(), ConfigError> {
    value
        .parse::<std::net::SocketAddr>()
        .map(|_| ())
        .map_err(|_| ConfigError::invalid(key, "must be an address such as 127.0.0.1:50051"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        port: u16,
        password: Secret<String>,
        nested: Nested,
    }

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Nested {
        depth: u32,
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), ConfigError> {
            if self.port == 0 {
                return Err(ConfigError::invalid("port", "must not be 0"));
            }
            Ok(())
        }
    }

    const DEFAULTS: &str = "name = \"a\"\nport = 1\npassword = \"p\"\n[nested]\ndepth = 2\n";

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_defaults_with_nested_keys() {
        let cfg: Sample = Loader::new("sample", DEFAULTS)
            .env(env(&[
                ("HP_SAMPLE__PORT", "7"),
                ("HP_SAMPLE__NESTED__DEPTH", "9"),
            ]))
            .load()
            .unwrap();
        assert_eq!((cfg.port, cfg.nested.depth), (7, 9));
    }

    #[test]
    fn overrides_win_over_environment() {
        let cfg: Sample = Loader::new("sample", DEFAULTS)
            .env(env(&[("HP_SAMPLE__NAME", "env")]))
            .set("name", "override")
            .load()
            .unwrap();
        assert_eq!(cfg.name, "override");
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = Loader::new("sample", DEFAULTS)
            .env(env(&[("HP_SAMPLE__COLOUR", "red")]))
            .load::<Sample>()
            .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn validation_names_the_bad_key() {
        let err = Loader::new("sample", DEFAULTS)
            .set("port", "0")
            .load::<Sample>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration key `port` is invalid: must not be 0"
        );
    }

    #[test]
    fn secrets_never_print() {
        let cfg: Sample = Loader::new("sample", DEFAULTS).load().unwrap();
        assert_eq!(cfg.password.expose(), "p");
        assert!(!format!("{cfg:?}").contains("\"p\""));
        assert!(dump(&cfg).contains("[redacted]"));
    }
}

/// The command line every service binary shares.
#[derive(Debug, Clone, clap::Parser)]
pub struct ServiceArgs {
    /// A TOML file layered over the embedded defaults.
    #[arg(long, env = "HP_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    pub dump_config: bool,
}
