//! The identity service of the healthpoints mesh: residents (real name, encrypted ID and phone
//! numbers, residence, family-doctor contract, status), staff and client principals,
//! credentials, EdDSA signing keys and tokens, and district enrolment.
//!
//! `Application::build` checks the master key and the bootstrap admin, then binds the gRPC
//! listener (port 0 works); `Application::run_until_stopped` serves at once with health
//! `NOT_SERVING`, connects and migrates the database in the background (retrying while it is
//! unreachable), then reports `SERVING` ([`healthpoints_grpc::Host`]). Calls that arrive before
//! that answer UNAVAILABLE. Layout as in every service (docs/architecture.md): `domain` (types
//! and pure rules), `store` (sea-orm), `service` (what identity does, with its tokens),
//! `convert` and `grpc` (the adapter), `config`.

pub mod config;
pub mod convert;
pub mod crypto;
pub mod domain;
pub mod grpc;
pub mod service;
pub mod store;

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use futures::future::BoxFuture;
use healthpoints_auth::{JwksSource, Verifier, VerifierConfig};
use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_grpc::{Chore, GrpcServerConfig, Host, Ready, Service, Shutdown, every};
use healthpoints_proto::identity::v1::{
    Jwk,
    identity_service_server::{IdentityServiceServer, SERVICE_NAME},
};
use tonic::service::Routes;

use crate::{
    config::IdentityConfig,
    crypto::Crypto,
    grpc::IdentityGrpc,
    service::{
        Identity, Policy,
        tokens::{TokenPolicy, Tokens},
    },
    store::{Migrator, Store},
};

/// The fully-qualified gRPC service name, for health checks.
pub const GRPC_SERVICE: &str = SERVICE_NAME;

/// Identity as its own server: `Application::build` checks the secrets and binds,
/// `run_until_stopped` serves.
pub type Application = Host<Identity>;

impl Service for Identity {
    const NAME: &'static str = "identity";
    const TITLE: &'static str = "identity";
    const GRPC_SERVICE: &'static str = SERVICE_NAME;
    type Config = IdentityConfig;

    fn listen(config: &IdentityConfig) -> &GrpcServerConfig {
        &config.grpc
    }

    fn telemetry(config: &IdentityConfig) -> &healthpoints_telemetry::TelemetryConfig {
        &config.telemetry
    }

    /// The master key is read once here (a key file is created if missing) and kept in the
    /// configuration the service runs with; the bootstrap admin is well formed.
    fn resolve(mut config: IdentityConfig) -> anyhow::Result<IdentityConfig> {
        let key = master_key(&config)?;
        Crypto::from_master_key(&key).map_err(|e| anyhow::anyhow!("secrets.master_key: {e}"))?;
        config.secrets.master_key = Some(healthpoints_config::Secret::new(key));
        if let Some(admin) = &config.bootstrap_admin {
            let (user, pass) = admin.expose().split_once(':').unwrap_or_default();
            domain::values::check_username(user)
                .map_err(|e| anyhow::anyhow!("bootstrap_admin: username {e}"))?;
            domain::values::check_password(pass)
                .map_err(|e| anyhow::anyhow!("bootstrap_admin: password {e}"))?;
        }
        Ok(config)
    }

    /// Identity verifies tokens against its own key store.
    fn verifier(config: &IdentityConfig, ready: &Ready<Self>) -> anyhow::Result<Verifier> {
        let tokens = &config.tokens;
        Ok(Verifier::new(
            VerifierConfig {
                issuer: tokens.issuer.clone(),
                audience: tokens.audience.clone(),
                ..VerifierConfig::default()
            },
            LocalJwks(ready.clone()),
        ))
    }

    async fn prepare(config: IdentityConfig) -> Result<Arc<Self>, String> {
        prepare(&config).await.map_err(|e| format!("{e:#}"))
    }

    async fn healthy(self: Arc<Self>) -> bool {
        healthpoints_db::ping(self.store().connection()).await
    }

    fn routes(ready: Ready<Self>, max: usize) -> Routes {
        Routes::new(
            IdentityServiceServer::new(IdentityGrpc::new(ready))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
    }

    /// Erases the personal data of accounts closed longer ago than `closing.retention_days`.
    fn chores(ready: Ready<Self>, config: &IdentityConfig, shutdown: Shutdown) -> Vec<Chore> {
        let period = Duration::from_millis(config.closing.sweep_interval_ms);
        vec![every(
            ready,
            period,
            shutdown,
            |identity: Arc<Self>| async move {
                match identity.erase_closed_once().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(accounts = n, "closed accounts' personal data erased"),
                    Err(e) => tracing::warn!(error = %e, "erasing closed accounts not completed"),
                }
            },
        )]
    }
}

/// Identity's own published keys, read from its key store once it is ready.
struct LocalJwks(Ready<Identity>);

impl JwksSource for LocalJwks {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<Jwk>, ApiError>> {
        Box::pin(async move {
            match self.0.peek() {
                Some(identity) => identity.jwks().await.map_err(convert::to_api_error),
                None => Err(ApiError::new(
                    ErrorCode::Unavailable,
                    "identity is starting up",
                )),
            }
        })
    }
}

/// The master key: given inline, or read from its file (created if missing).
fn master_key(config: &IdentityConfig) -> anyhow::Result<String> {
    Ok(
        match (&config.secrets.master_key, &config.secrets.master_key_file) {
            (Some(key), _) => key.expose().clone(),
            (None, Some(path)) => read_or_create_key_file(Path::new(path))?,
            (None, None) => anyhow::bail!("secrets.master_key: set master_key or master_key_file"),
        },
    )
}

fn read_or_create_key_file(path: &Path) -> anyhow::Result<String> {
    if let Ok(key) = std::fs::read_to_string(path) {
        return Ok(key.trim().to_owned());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        healthpoints_db::private::dir(dir)?;
    }
    let key = Crypto::generate_master_key()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write as _;
    options
        .open(path)
        .and_then(|mut f| f.write_all(key.as_bytes()))
        .with_context(|| format!("creating master key file {}", path.display()))?;
    tracing::warn!(path = %path.display(), "created a new master key file; back it up (losing it makes stored ID and phone numbers unreadable)");
    Ok(key)
}

async fn prepare(config: &IdentityConfig) -> anyhow::Result<Arc<Identity>> {
    // `resolve` has put the key into the configuration: no file is read on a retry.
    let crypto = Arc::new(
        Crypto::from_master_key(&master_key(config)?)
            .map_err(|e| anyhow::anyhow!("secrets.master_key: {e}"))?,
    );
    let db = healthpoints_db::connect::<Migrator>(&config.database).await?;
    let t = &config.tokens;
    let tokens = Tokens::new(TokenPolicy {
        issuer: t.issuer.clone(),
        audience: t.audience.clone(),
        access_ttl: Duration::from_secs(t.access_ttl_seconds),
        refresh_ttl: Duration::from_secs(t.refresh_ttl_seconds),
        refresh_reuse_grace: Duration::from_secs(t.refresh_reuse_grace_seconds),
        key_reload: Duration::from_secs(t.key_reload_seconds),
    });
    let l = &config.login;
    let policy = Policy {
        max_failed_logins: l.max_failed_logins,
        lock_duration: Duration::from_secs(l.lock_seconds),
        account_burst: l.account_burst,
        account_per_minute: l.account_per_minute,
        address_burst: l.address_burst,
        address_per_minute: l.address_per_minute,
        client_secret_grace: Duration::from_secs(t.client_secret_grace_seconds),
        reset_code_ttl: Duration::from_secs(config.password_reset.code_ttl_seconds),
        reset_max_attempts: config.password_reset.max_attempts,
        reset_resend_after: Duration::from_secs(config.password_reset.resend_after_seconds),
        closed_retention: Duration::from_secs(u64::from(config.closing.retention_days) * 86_400),
    };
    let identity = Identity::new(
        Store::new(db),
        crypto,
        tokens,
        policy,
        Identity::system_clock(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let identity = match config.password_reset.sender.strip_prefix("file:") {
        Some(dir) => {
            identity.with_messenger(Arc::new(service::passwords::FileMessenger::new(dir)?))
        }
        None => identity,
    };
    if let Some(admin) = &config.bootstrap_admin {
        let (user, pass) = admin.expose().split_once(':').unwrap_or_default();
        identity
            .bootstrap_admin(user, pass)
            .await
            .map_err(|e| anyhow::anyhow!("bootstrap admin: {e}"))?;
    }
    for (client_id, c) in &config.service_clients {
        identity
            .provision_service_client(
                client_id,
                c.secret.expose(),
                &c.service,
                c.district.as_deref(),
            )
            .await
            .map_err(|e| match e {
                domain::error::IdentityError::Invalid(v) => anyhow::anyhow!(
                    "{}",
                    v.iter()
                        .map(|v| format!("{}: {}", v.field, v.reason))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                e => anyhow::anyhow!("service client: {e}"),
            })?;
    }
    Ok(Arc::new(identity))
}
