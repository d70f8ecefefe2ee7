//! Every identity operation, with its authorisation rules and validation.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use healthpoints_auth::Principal;
use healthpoints_errors::Violation;
use healthpoints_types::{
    DistrictCode, MallId, ResidentId,
    text::{Lines, free_text},
};
use uuid::Uuid;

use crate::{
    crypto::{self, Crypto},
    domain::{
        error::{IdentityError, Result},
        model::{
            Client, ClientKind, District, FamilyDoctorContract, NewResident, PARTNER_SCOPES,
            ResidenceType, Resident, ResidentStatus, SERVICES, Staff, StaffRole,
        },
        rate_limit::RateLimiter,
        values::{
            IdNumber, Phone, check_name, check_password, check_username, parse_date, shanghai_today,
        },
    },
    store::Store,
};
use tokens::Tokens;

/// Login and lockout limits.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Wrong passwords in a row that lock an account.
    pub max_failed_logins: i32,
    /// How long a lock lasts.
    pub lock_duration: Duration,
    /// Attempts per account: burst and refill per minute.
    pub account_burst: u32,
    pub account_per_minute: u32,
    /// Attempts per client address: burst and refill per minute.
    pub address_burst: u32,
    pub address_per_minute: u32,
    /// How long a client's replaced secret stays valid after a rotation, unless the rotation
    /// asks otherwise.
    pub client_secret_grace: Duration,
    /// How long a password reset code is valid.
    pub reset_code_ttl: Duration,
    /// Wrong codes before a reset code is void.
    pub reset_max_attempts: i32,
    /// A new reset code is sent at most this often to one resident.
    pub reset_resend_after: Duration,
    /// How long a closed account's personal data is kept before it is erased.
    pub closed_retention: Duration,
}

/// The longest grace period a replaced client secret may have.
pub const MAX_SECRET_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_failed_logins: 5,
            lock_duration: Duration::from_secs(15 * 60),
            account_burst: 10,
            account_per_minute: 10,
            address_burst: 30,
            address_per_minute: 30,
            client_secret_grace: Duration::from_secs(24 * 3600),
            reset_code_ttl: Duration::from_secs(600),
            reset_max_attempts: 5,
            reset_resend_after: Duration::from_secs(60),
            closed_retention: Duration::from_secs(180 * 24 * 3600),
        }
    }
}

/// The clock, replaceable in tests.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// A registration as submitted.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub password: String,
    pub residence_district: String,
    pub residence_type: String,
}

/// A new staff account as requested.
#[derive(Debug, Clone, Default)]
pub struct StaffSpec {
    pub username: String,
    pub password: String,
    pub role: String,
    pub district: String,
    pub merchant_id: String,
    pub mall: String,
    /// Station staff: the institution (health station, community health centre) they serve.
    pub institution_code: String,
}

/// A new client as requested.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    pub kind: String,
    pub name: String,
    pub partner_id: String,
    pub department: String,
    pub scopes: Vec<String>,
    pub service: String,
    pub district: String,
    pub merchant_id: String,
    pub mall: String,
}

/// How a caller names a resident to resolve.
#[derive(Debug, Clone)]
pub enum ResidentRef {
    Id(ResidentId),
    IdNumber(String),
    IdNumberHash(String),
    /// A resident's code for the health-station counter ([`Identity::issue_station_code`]).
    StationCode(String),
}

/// What to do with a family-doctor contract.
#[derive(Debug, Clone)]
pub enum ContractAction {
    /// Sign or change: the contract in force becomes this one.
    Set {
        institution_code: String,
        institution_name: String,
        district: String,
        signed_on: String,
        valid_until: String,
    },
    End,
}

/// A client's new secret, shown once, and until when the one it replaced is still accepted
/// (none: not at all).
#[derive(Debug, Clone)]
pub struct RotatedSecret {
    pub client_id: String,
    pub client_secret: String,
    pub previous_valid_until: Option<DateTime<Utc>>,
}

/// Tokens handed to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: u32,
}

/// The identity service's domain.
pub struct Identity {
    store: Store,
    crypto: Arc<Crypto>,
    tokens: Tokens,
    policy: Policy,
    clock: Clock,
    by_account: RateLimiter,
    by_address: RateLimiter,
    /// Where password reset codes go; none: reset by code is unavailable.
    messenger: Option<Arc<dyn passwords::Messenger>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Collects field violations so a form with several mistakes is answered once.
#[derive(Default)]
struct Violations(Vec<Violation>);

impl Violations {
    fn check<T, E: ToString>(
        &mut self,
        field: &str,
        result: std::result::Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(reason) => {
                self.0.push(Violation {
                    field: field.to_owned(),
                    reason: reason.to_string(),
                });
                None
            }
        }
    }

    fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(IdentityError::Invalid(self.0))
        }
    }
}

fn parse_district(field: &str, raw: &str) -> Result<DistrictCode> {
    DistrictCode::parse(raw).map_err(|e| IdentityError::invalid(field, e.0))
}

impl Identity {
    /// Builds the domain and loads (or creates) the signing keys.
    pub async fn new(
        store: Store,
        crypto: Arc<Crypto>,
        tokens: Tokens,
        policy: Policy,
        clock: Clock,
    ) -> Result<Self> {
        let now = clock();
        store.ensure_districts(now).await?;
        tokens.load(&store, &crypto, now).await?;
        Ok(Self {
            by_account: RateLimiter::new(policy.account_burst, policy.account_per_minute),
            by_address: RateLimiter::new(policy.address_burst, policy.address_per_minute),
            store,
            crypto,
            tokens,
            policy,
            clock,
            messenger: None,
        })
    }

    /// Sends password reset codes through `messenger`.
    pub fn with_messenger(mut self, messenger: Arc<dyn passwords::Messenger>) -> Self {
        self.messenger = Some(messenger);
        self
    }

    /// The system clock.
    pub fn system_clock() -> Clock {
        Arc::new(Utc::now)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}

fn require_city_admin(caller: &Principal) -> Result<()> {
    if caller.is_city_admin() {
        Ok(())
    } else {
        Err(IdentityError::Forbidden("only a city admin may do this"))
    }
}

/// A one-line free-text field: 1 to `max` characters, no control characters.
fn non_blank(value: &str, max: usize) -> std::result::Result<String, String> {
    free_text(value, max, true, Lines::One).map_err(|e| e.0)
}

/// Argon2 is deliberately slow: keep it off the async workers.
async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || crypto::hash_password(&password))
        .await
        .map_err(|_| IdentityError::fault("password hashing task failed"))?
        .map_err(Into::into)
}

async fn verify_password(password: String, hash: impl FnOnce() -> String + Send + 'static) -> bool {
    tokio::task::spawn_blocking(move || crypto::verify_password(&password, &hash()))
        .await
        .unwrap_or(false)
}

mod closing;
pub mod imports;
pub mod passwords;
mod residents;
mod sessions;
mod staff;
pub mod station;
#[cfg(test)]
mod tests;
pub mod tokens;
