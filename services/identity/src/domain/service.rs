//! Every identity operation, with its authorisation rules and validation.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use healthpoints_auth::Principal;
use healthpoints_errors::Violation;
use healthpoints_types::{
    DistrictCode, MallId,
    text::{Lines, free_text},
};
use uuid::Uuid;

use super::{
    error::{IdentityError, Result},
    model::{
        Client, ClientKind, District, FamilyDoctorContract, NewResident, PARTNER_SCOPES,
        ResidenceType, Resident, ResidentStatus, SERVICES, Staff, StaffRole,
    },
    rate_limit::RateLimiter,
    tokens::Tokens,
    values::{
        IdNumber, Phone, check_name, check_password, check_username, parse_date, shanghai_today,
    },
};
use crate::{
    crypto::{self, Crypto},
    store::Store,
};

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
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_failed_logins: 5,
            lock_duration: Duration::from_secs(15 * 60),
            account_burst: 10,
            account_per_minute: 10,
            address_burst: 30,
            address_per_minute: 30,
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
    Id(String),
    IdNumber(String),
    IdNumberHash(String),
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

fn parse_id(field: &str, raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| IdentityError::invalid(field, "must be a UUID"))
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
        })
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

    // === residents ===

    /// Registers a resident of an enrolled district. Public.
    pub async fn register(&self, r: Registration) -> Result<Uuid> {
        let now = self.now();
        let mut v = Violations::default();
        let name = v.check("name", check_name(&r.name));
        let id_number = v.check(
            "id_number",
            IdNumber::parse(&r.id_number, shanghai_today(now)),
        );
        let phone = v.check("phone", Phone::parse(&r.phone));
        v.check("password", check_password(&r.password));
        let district = v.check(
            "residence_district",
            DistrictCode::parse(&r.residence_district)
                .map_err(|_| "must be one of the city's district codes"),
        );
        let residence_type = v.check(
            "residence_type",
            ResidenceType::parse(&r.residence_type)
                .ok_or("must be \"registered\" or \"permanent_migrant\""),
        );
        v.finish()?;
        let (Some(name), Some(id_number), Some(phone), Some(district), Some(residence_type)) =
            (name, id_number, phone, district, residence_type)
        else {
            return Err(IdentityError::Store("validated fields missing".into()));
        };

        if !self.store.district(district).await?.enrolled {
            return Err(IdentityError::DistrictNotEnrolled(district));
        }
        let id_hash = self.crypto.lookup_hash("id_number", id_number.as_str());
        let phone_hash = self.crypto.lookup_hash("phone", phone.as_str());
        if self.store.id_number_taken(&id_hash).await? {
            return Err(IdentityError::IdNumberTaken);
        }
        if self.store.phone_taken(&phone_hash).await? {
            return Err(IdentityError::PhoneTaken);
        }
        let password_hash = hash_password(r.password).await?;
        let id = Uuid::now_v7();
        self.store
            .insert_resident(NewResident {
                id,
                name,
                id_number_enc: self.crypto.encrypt_pii("id_number", id_number.as_str())?,
                id_number_hash: id_hash,
                id_number_masked: id_number.masked(),
                phone_enc: self.crypto.encrypt_pii("phone", phone.as_str())?,
                phone_hash,
                phone_masked: phone.masked(),
                birth_date: id_number.birth_date(),
                password_hash,
                residence_district: district,
                residence_type,
                registered_at: now,
            })
            .await?;
        tracing::info!(resident_id = %id, district = %district, "resident registered");
        Ok(id)
    }

    /// One resident, if the caller may see them: the resident themself, an admin of their
    /// district, or a service. Other residents are told it does not exist.
    pub async fn resident(&self, caller: &Principal, id: &str) -> Result<Resident> {
        let id = parse_id("resident_id", id)?;
        if let Principal::Resident { resident_id } = caller
            && *resident_id != id
        {
            return Err(IdentityError::NotFound("resident"));
        }
        let resident = self.store.resident(id).await?;
        self.authorize_resident_read(caller, &resident)?;
        Ok(resident)
    }

    fn authorize_resident_read(&self, caller: &Principal, r: &Resident) -> Result<()> {
        match caller {
            Principal::Resident { resident_id } if *resident_id == r.id => Ok(()),
            Principal::Service { .. } => Ok(()),
            p if p.administers(r.residence_district) => Ok(()),
            p if p.is_admin() => Err(IdentityError::Forbidden(
                "this resident belongs to another district",
            )),
            _ => Err(IdentityError::NotFound("resident")),
        }
    }

    fn authorize_resident_admin(&self, caller: &Principal, r: &Resident) -> Result<()> {
        if caller.administers(r.residence_district) {
            Ok(())
        } else if caller.is_admin() {
            Err(IdentityError::Forbidden(
                "this resident belongs to another district",
            ))
        } else {
            Err(IdentityError::Forbidden(
                "only an admin of the resident's district may do this",
            ))
        }
    }

    /// Resolves a resident for a service that received a partner record. Services only.
    pub async fn resolve(&self, caller: &Principal, by: ResidentRef) -> Result<(Resident, bool)> {
        if !caller.is_service() {
            return Err(IdentityError::Forbidden(
                "only a mesh service may resolve residents",
            ));
        }
        let resident = match by {
            ResidentRef::Id(id) => self.store.resident(parse_id("resident_id", &id)?).await?,
            ResidentRef::IdNumber(raw) => {
                let id = IdNumber::parse(&raw, shanghai_today(self.now()))
                    .map_err(|e| IdentityError::invalid("id_number", e))?;
                self.store
                    .resident_by_id_hash(&self.crypto.lookup_hash("id_number", id.as_str()))
                    .await?
            }
            ResidentRef::IdNumberHash(hash) => {
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(IdentityError::invalid(
                        "id_number_hash",
                        "must be 64 hex digits",
                    ));
                }
                self.store
                    .resident_by_id_hash(&hash.to_ascii_lowercase())
                    .await?
            }
        };
        let enrolled = self
            .store
            .district(resident.residence_district)
            .await?
            .enrolled;
        Ok((resident, enrolled))
    }

    /// Residents of a district, in registration order. City admins, or that district's admin.
    pub async fn list_residents(
        &self,
        caller: &Principal,
        district: &str,
        cursor: &str,
        page_size: u32,
    ) -> Result<(Vec<Resident>, Option<String>)> {
        let district = parse_district("district", district)?;
        if !caller.administers(district) {
            return Err(IdentityError::Forbidden(
                "you may list only your own district's residents",
            ));
        }
        let after = healthpoints_types::uuid_cursor(cursor)
            .map_err(|e| IdentityError::invalid("cursor", e.0))?;
        let limit = match page_size {
            0 => 50,
            n => n.min(500),
        };
        let residents = self
            .store
            .residents_in(district, after, u64::from(limit))
            .await?;
        let next = (residents.len() == limit as usize)
            .then(|| residents.last().map(|r| r.id.to_string()))
            .flatten();
        Ok((residents, next))
    }

    /// Signs, changes or ends a family-doctor contract.
    pub async fn set_contract(
        &self,
        caller: &Principal,
        id: &str,
        action: ContractAction,
    ) -> Result<Resident> {
        let id = parse_id("resident_id", id)?;
        let contract = match action {
            ContractAction::End => None,
            ContractAction::Set {
                institution_code,
                institution_name,
                district,
                signed_on,
                valid_until,
            } => {
                let mut v = Violations::default();
                let code = v.check("institution_code", non_blank(&institution_code, 64));
                let name = v.check("institution_name", non_blank(&institution_name, 100));
                let district = v.check(
                    "district",
                    DistrictCode::parse(&district)
                        .map_err(|_| "must be one of the city's district codes"),
                );
                let signed = v.check("signed_on", parse_date(&signed_on));
                let until = v.check("valid_until", parse_date(&valid_until));
                if let (Some(s), Some(u)) = (signed, until) {
                    if u < s {
                        v.check::<(), &str>("valid_until", Err("must not be before signed_on"));
                    }
                    if s > shanghai_today(self.now()) {
                        v.check::<(), &str>("signed_on", Err("must not be in the future"));
                    }
                }
                v.finish()?;
                match (code, name, district, signed, until) {
                    (Some(c), Some(n), Some(d), Some(s), Some(u)) => Some(FamilyDoctorContract {
                        institution_code: c,
                        institution_name: n,
                        district: d,
                        signed_on: s,
                        valid_until: u,
                    }),
                    _ => return Err(IdentityError::Store("validated fields missing".into())),
                }
            }
        };
        let resident = self.store.resident(id).await?;
        if !caller.is_service() {
            self.authorize_resident_admin(caller, &resident)?;
        }
        if contract.is_none() && resident.family_doctor.is_none() {
            return Err(IdentityError::Precondition(
                "the resident has no family-doctor contract to end",
            ));
        }
        let updated = self
            .store
            .set_contract(id, contract.as_ref(), self.now())
            .await?;
        tracing::info!(resident_id = %id, role = ?caller.role(), ended = contract.is_none(), "family-doctor contract changed");
        Ok(updated)
    }

    /// Suspends an active resident with a reason.
    pub async fn suspend(&self, caller: &Principal, id: &str, reason: &str) -> Result<Resident> {
        let id = parse_id("resident_id", id)?;
        let reason = non_blank(reason, 500).map_err(|e| IdentityError::invalid("reason", e))?;
        let resident = self.store.resident(id).await?;
        self.authorize_resident_admin(caller, &resident)?;
        if !self
            .store
            .change_status(
                id,
                ResidentStatus::Active,
                ResidentStatus::Suspended,
                Some(reason),
                self.now(),
            )
            .await?
        {
            return Err(IdentityError::Precondition(
                "only an active resident can be suspended",
            ));
        }
        tracing::info!(resident_id = %id, "resident suspended");
        self.store.resident(id).await
    }

    /// Lifts a suspension.
    pub async fn reinstate(&self, caller: &Principal, id: &str) -> Result<Resident> {
        let id = parse_id("resident_id", id)?;
        let resident = self.store.resident(id).await?;
        self.authorize_resident_admin(caller, &resident)?;
        if !self
            .store
            .change_status(
                id,
                ResidentStatus::Suspended,
                ResidentStatus::Active,
                None,
                self.now(),
            )
            .await?
        {
            return Err(IdentityError::Precondition(
                "only a suspended resident can be reinstated",
            ));
        }
        tracing::info!(resident_id = %id, "resident reinstated");
        self.store.resident(id).await
    }

    // === staff and clients ===

    /// Creates the first city admin when none exists (from configuration). Returns whether one
    /// was created.
    pub async fn bootstrap_admin(&self, username: &str, password: &str) -> Result<bool> {
        if self.store.has_city_admin().await? {
            return Ok(false);
        }
        let username = check_username(username)
            .map_err(|e| IdentityError::invalid("bootstrap_admin.username", e))?;
        check_password(password)
            .map_err(|e| IdentityError::invalid("bootstrap_admin.password", e))?;
        let staff = Staff {
            id: Uuid::now_v7(),
            username,
            role: StaffRole::CityAdmin,
            district: None,
            merchant_id: None,
            mall: None,
        };
        self.store
            .insert_staff(
                &staff,
                hash_password(password.to_owned()).await?,
                None,
                self.now(),
            )
            .await?;
        tracing::info!("bootstrap city admin created");
        Ok(true)
    }

    /// Creates or updates a service client named in configuration, so each mesh service can
    /// obtain its own token with the secret it was deployed with.
    pub async fn provision_service_client(
        &self,
        client_id: &str,
        secret: &str,
        service: &str,
        district: Option<&str>,
    ) -> Result<()> {
        let mut v = Violations::default();
        let id_ok = !client_id.is_empty()
            && client_id.len() <= 64
            && client_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            v.check::<(), &str>(
                "service_clients",
                Err("client ids are 1-64 characters of a-z, 0-9, '-' and '_'"),
            );
        }
        if secret.len() < 24 {
            v.check::<(), &str>(
                &format!("service_clients.{client_id}.secret"),
                Err("must be at least 24 characters"),
            );
        }
        let service = v.check(
            &format!("service_clients.{client_id}.service"),
            SERVICES
                .iter()
                .find(|s| **s == service)
                .map(|s| (*s).to_owned())
                .ok_or("must name a mesh service"),
        );
        let district = match district {
            Some(d) => v.check(
                &format!("service_clients.{client_id}.district"),
                DistrictCode::parse(d)
                    .map(Some)
                    .map_err(|_| "must be a district code"),
            ),
            None => Some(None),
        };
        v.finish()?;
        let client = Client {
            client_id: client_id.to_owned(),
            kind: ClientKind::Service,
            name: format!("{} service", service.as_deref().unwrap_or_default()),
            partner_id: None,
            department: None,
            scopes: Vec::new(),
            service,
            district: district.flatten(),
            merchant_id: None,
            mall: None,
        };
        self.store
            .upsert_service_client(&client, self.crypto.token_hash(secret), self.now())
            .await
    }

    /// Creates a staff account. City admins create any role; district admins create merchant
    /// operators of their own district's mall only.
    pub async fn create_staff(&self, caller: &Principal, spec: StaffSpec) -> Result<Uuid> {
        let mut v = Violations::default();
        let username = v.check("username", check_username(&spec.username));
        v.check("password", check_password(&spec.password));
        let role = v.check(
            "role",
            StaffRole::parse(&spec.role)
                .ok_or("must be city_admin, district_admin or merchant_operator"),
        );
        let district = match role {
            Some(StaffRole::DistrictAdmin) => v.check(
                "district",
                DistrictCode::parse(&spec.district)
                    .map_err(|_| "a district admin needs one of the city's district codes"),
            ),
            _ => None,
        };
        let (merchant_id, mall) = match role {
            Some(StaffRole::MerchantOperator) => (
                v.check(
                    "merchant_id",
                    Uuid::parse_str(spec.merchant_id.trim())
                        .map_err(|_| "a merchant operator needs the merchant's UUID"),
                ),
                v.check(
                    "mall",
                    MallId::parse(&spec.mall).map_err(
                        |_| "a merchant operator needs a mall: \"city\" or a district code",
                    ),
                ),
            ),
            _ => (None, None),
        };
        v.finish()?;
        let (Some(username), Some(role)) = (username, role) else {
            return Err(IdentityError::Store("validated fields missing".into()));
        };
        match caller {
            Principal::CityAdmin { .. } => {}
            Principal::DistrictAdmin { district: own, .. } => {
                if role != StaffRole::MerchantOperator || mall != Some(MallId::District(*own)) {
                    return Err(IdentityError::Forbidden(
                        "a district admin may create only merchant operators of their own district's mall",
                    ));
                }
            }
            _ => {
                return Err(IdentityError::Forbidden(
                    "only admins may create staff accounts",
                ));
            }
        }
        let staff = Staff {
            id: Uuid::now_v7(),
            username,
            role,
            district,
            merchant_id,
            mall,
        };
        let created_by = match caller {
            Principal::CityAdmin { staff_id } | Principal::DistrictAdmin { staff_id, .. } => {
                Some(*staff_id)
            }
            _ => None,
        };
        self.store
            .insert_staff(
                &staff,
                hash_password(spec.password).await?,
                created_by,
                self.now(),
            )
            .await?;
        tracing::info!(staff_id = %staff.id, role = role.as_str(), "staff account created");
        Ok(staff.id)
    }

    /// Creates a client-credentials client; the secret is returned once.
    pub async fn create_client(
        &self,
        caller: &Principal,
        spec: ClientSpec,
    ) -> Result<(String, String)> {
        let mut v = Violations::default();
        let kind = v.check(
            "kind",
            ClientKind::parse(&spec.kind).ok_or("must be partner, merchant or service"),
        );
        let name = v.check("name", non_blank(&spec.name, 100));
        let mut client = Client {
            client_id: String::new(),
            kind: kind.unwrap_or(ClientKind::Partner),
            name: name.unwrap_or_default(),
            partner_id: None,
            department: None,
            scopes: Vec::new(),
            service: None,
            district: None,
            merchant_id: None,
            mall: None,
        };
        match kind {
            Some(ClientKind::Partner) => {
                client.partner_id = v.check("partner_id", non_blank(&spec.partner_id, 64));
                client.department = v.check("department", non_blank(&spec.department, 64));
                for scope in &spec.scopes {
                    if !PARTNER_SCOPES.contains(&scope.as_str()) {
                        v.check::<(), &str>("scopes", Err("contains an unknown scope"));
                    }
                }
                client.scopes = spec.scopes.clone();
            }
            Some(ClientKind::Merchant) => {
                client.merchant_id = v.check(
                    "merchant_id",
                    Uuid::parse_str(spec.merchant_id.trim()).map_err(|_| "must be a UUID"),
                );
                client.mall = v.check(
                    "mall",
                    MallId::parse(&spec.mall).map_err(|_| "must be \"city\" or a district code"),
                );
            }
            Some(ClientKind::Service) => {
                client.service = v.check(
                    "service",
                    SERVICES
                        .iter()
                        .find(|s| **s == spec.service)
                        .map(|s| (*s).to_owned())
                        .ok_or("must name a mesh service"),
                );
                if spec.service == "district-mall" || !spec.district.is_empty() {
                    client.district = v.check(
                        "district",
                        DistrictCode::parse(&spec.district)
                            .map_err(|_| "a district mall's client needs its district code"),
                    );
                }
            }
            None => {}
        }
        v.finish()?;
        match caller {
            Principal::CityAdmin { .. } => {}
            Principal::Service { service, .. }
                if service == "exchange" && client.kind == ClientKind::Partner => {}
            _ => {
                return Err(IdentityError::Forbidden(
                    "only a city admin may create clients",
                ));
            }
        }
        let prefix = client.kind.as_str();
        client.client_id = format!("{prefix}-{}", self.crypto.random_token(12)?);
        let secret = self.crypto.random_token(32)?;
        self.store
            .insert_client(&client, self.crypto.token_hash(&secret), self.now())
            .await?;
        tracing::info!(kind = prefix, "client created");
        Ok((client.client_id, secret))
    }

    // === districts ===

    pub async fn districts(&self) -> Result<Vec<District>> {
        self.store.districts().await
    }

    /// Enrols or withdraws a district. City admin.
    pub async fn set_enrolment(
        &self,
        caller: &Principal,
        code: &str,
        enrolled: bool,
    ) -> Result<District> {
        let code = parse_district("code", code)?;
        require_city_admin(caller)?;
        let district = self.store.set_enrolment(code, enrolled, self.now()).await?;
        tracing::info!(district = %code, enrolled, "district enrolment changed");
        Ok(district)
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
        .map_err(|_| IdentityError::Store("password hashing task failed".into()))?
        .map_err(Into::into)
}

pub(super) async fn verify_password(
    password: String,
    hash: impl FnOnce() -> String + Send + 'static,
) -> bool {
    tokio::task::spawn_blocking(move || crypto::verify_password(&password, &hash()))
        .await
        .unwrap_or(false)
}

mod sessions;

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use healthpoints_db::TestDatabase;

    use super::*;
    use crate::store::Migrator;

    const PASSWORD: &str = "Resident-pass-1";

    struct Fixture {
        identity: Arc<Identity>,
        now: Arc<Mutex<DateTime<Utc>>>,
        _db: TestDatabase,
    }

    impl Fixture {
        fn advance(&self, by: chrono::Duration) {
            *self.now.lock().unwrap() += by;
        }
    }

    async fn fixture() -> Fixture {
        let db = TestDatabase::create("identity_domain").await;
        let conn = healthpoints_db::connect::<Migrator>(&db.config)
            .await
            .unwrap();
        let now = Arc::new(Mutex::new(Utc::now()));
        let clock_now = now.clone();
        let clock: Clock = Arc::new(move || *clock_now.lock().unwrap());
        let tokens = Tokens::new(super::super::tokens::TokenPolicy {
            issuer: "i".into(),
            audience: "a".into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
            refresh_reuse_grace: Duration::from_secs(30),
            key_reload: Duration::ZERO,
        });
        let crypto =
            Arc::new(Crypto::from_master_key(&Crypto::generate_master_key().unwrap()).unwrap());
        let identity = Identity::new(Store::new(conn), crypto, tokens, Policy::default(), clock)
            .await
            .unwrap();
        identity
            .register(Registration {
                name: "测试".into(),
                id_number: "11010519491231002X".into(),
                phone: "13900000000".into(),
                password: PASSWORD.into(),
                residence_district: "310118".into(),
                residence_type: "registered".into(),
            })
            .await
            .unwrap();
        Fixture {
            identity: Arc::new(identity),
            now,
            _db: db,
        }
    }

    #[tokio::test]
    async fn a_lock_lifts_after_the_lock_duration() {
        let f = fixture().await;
        for _ in 0..4 {
            assert!(matches!(
                f.identity.login("13900000000", "Wrong-pass-1", "").await,
                Err(IdentityError::InvalidCredentials)
            ));
        }
        assert!(matches!(
            f.identity.login("13900000000", "Wrong-pass-1", "").await,
            Err(IdentityError::AccountLocked { .. })
        ));
        f.advance(chrono::Duration::minutes(14));
        assert!(matches!(
            f.identity.login("13900000000", PASSWORD, "").await,
            Err(IdentityError::AccountLocked { .. })
        ));
        f.advance(chrono::Duration::minutes(2));
        f.identity.login("13900000000", PASSWORD, "").await.unwrap();
    }

    #[tokio::test]
    async fn a_success_resets_the_count_of_wrong_passwords() {
        let f = fixture().await;
        for _ in 0..4 {
            let _ = f.identity.login("13900000000", "Wrong-pass-1", "").await;
        }
        f.identity.login("13900000000", PASSWORD, "").await.unwrap();
        for _ in 0..4 {
            assert!(matches!(
                f.identity.login("13900000000", "Wrong-pass-1", "").await,
                Err(IdentityError::InvalidCredentials)
            ));
        }
    }

    #[tokio::test]
    async fn refresh_tokens_expire() {
        let f = fixture().await;
        let pair = f.identity.login("13900000000", PASSWORD, "").await.unwrap();
        f.advance(chrono::Duration::hours(2));
        assert!(matches!(
            f.identity.refresh(&pair.refresh_token.unwrap()).await,
            Err(IdentityError::RefreshTokenInvalid)
        ));
    }

    #[tokio::test]
    async fn racing_refreshes_of_one_token_rotate_it_once_and_both_get_the_new_pair() {
        let f = fixture().await;
        let token = f
            .identity
            .login("13900000000", PASSWORD, "")
            .await
            .unwrap()
            .refresh_token
            .unwrap();
        // Two app instances (or a retry after a lost response) at the same moment.
        let (a, b) = tokio::join!(f.identity.refresh(&token), f.identity.refresh(&token));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(
            a.refresh_token, b.refresh_token,
            "rotated once, answered twice"
        );
        // The new token works; the person is still signed in.
        let next = f
            .identity
            .refresh(a.refresh_token.as_ref().unwrap())
            .await
            .unwrap();
        // The old token's successor is spent now: presenting the old one again is reuse, even
        // within the grace, and revokes the session — including the newest token.
        assert!(matches!(
            f.identity.refresh(&token).await,
            Err(IdentityError::RefreshTokenReused)
        ));
        assert!(matches!(
            f.identity
                .refresh(next.refresh_token.as_ref().unwrap())
                .await,
            Err(IdentityError::RefreshTokenInvalid)
        ));
    }

    #[tokio::test]
    async fn reuse_after_the_grace_signs_out_that_session_and_no_other() {
        let f = fixture().await;
        let phone = f.identity.login("13900000000", PASSWORD, "").await.unwrap();
        let tablet = f.identity.login("13900000000", PASSWORD, "").await.unwrap();
        let old = phone.refresh_token.unwrap();
        let rotated = f.identity.refresh(&old).await.unwrap();
        // Within the grace the old token answers the same refresh token (a lost response retried).
        f.advance(chrono::Duration::seconds(29));
        let again = f.identity.refresh(&old).await.unwrap();
        assert_eq!(again.refresh_token, rotated.refresh_token);
        assert_ne!(
            again.access_token, rotated.access_token,
            "a fresh access token"
        );
        // After it, the old token is a stolen copy: its family is revoked.
        f.advance(chrono::Duration::seconds(2));
        assert!(matches!(
            f.identity.refresh(&old).await,
            Err(IdentityError::RefreshTokenReused)
        ));
        assert!(matches!(
            f.identity
                .refresh(rotated.refresh_token.as_ref().unwrap())
                .await,
            Err(IdentityError::RefreshTokenInvalid)
        ));
        // The tablet's session is another family and goes on.
        f.identity
            .refresh(tablet.refresh_token.as_ref().unwrap())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_retired_key_leaves_the_jwks_once_its_tokens_have_expired() {
        let f = fixture().await;
        let admin = Principal::CityAdmin {
            staff_id: Uuid::now_v7(),
        };
        f.identity.rotate_key(&admin).await.unwrap();
        assert_eq!(f.identity.jwks().await.unwrap().len(), 2);
        f.advance(chrono::Duration::minutes(17));
        assert_eq!(f.identity.jwks().await.unwrap().len(), 1);
    }
}
