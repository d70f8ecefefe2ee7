//! Logins and sessions: passwords checked off the async workers, lockouts and rate limits,
//! EdDSA access tokens, and refresh tokens rotated on every use (RFC 9700 §4.14.2) — a
//! token's family is one login's session; a spent token presented again within the reuse grace
//! answers the pair it was rotated into, later it revokes the family — and the
//! client-credentials grant.

use chrono::{DateTime, Utc};
use healthpoints_auth::{Claims, Principal, Role};
use uuid::Uuid;

use super::{Identity, TokenPair, require_city_admin, verify_password};
use crate::{
    crypto,
    domain::{
        error::{IdentityError, Result},
        model::{ClientKind, ResidentStatus, SessionOwner, Staff, StaffRole},
        values::Phone,
    },
    store::{LoginRecord, NewRefresh, RefreshRecord},
};

impl Identity {
    // === logins and sessions ===

    /// Logs a resident (phone) or staff member (username) in. Rate-limited per account and per
    /// client address; five wrong passwords in a row lock the account.
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        client_address: &str,
    ) -> Result<TokenPair> {
        if login.trim().is_empty() {
            return Err(IdentityError::invalid("login", "must not be empty"));
        }
        if password.is_empty() {
            return Err(IdentityError::invalid("password", "must not be empty"));
        }
        let phone = Phone::parse(login).ok();
        let account_key = match &phone {
            Some(p) => self.crypto.lookup_hash("phone", p.as_str()),
            None => format!("staff:{}", login.trim().to_ascii_lowercase()),
        };
        self.throttle(client_address, &account_key)?;

        let record: Option<LoginRecord> = match &phone {
            Some(_) => self.store.resident_login(&account_key).await?,
            None => self
                .store
                .staff_login(&login.trim().to_ascii_lowercase())
                .await?
                .map(|(_, record)| record),
        };
        let Some(record) = record else {
            // Spend the same time as a real check so unknown logins cannot be told apart.
            let _ = verify_password(password.to_owned(), dummy_hash).await;
            return Err(IdentityError::InvalidCredentials);
        };
        let now = self.now();
        if let Some(until) = record.locked_until.filter(|u| *u > now) {
            return Err(IdentityError::AccountLocked {
                retry_after: (until - now).to_std().unwrap_or_default(),
            });
        }
        let stored = record.password_hash.clone();
        if !verify_password(password.to_owned(), move || stored).await {
            let lock_until = now
                + chrono::Duration::from_std(self.policy.lock_duration)
                    .unwrap_or_else(|_| chrono::Duration::minutes(15));
            let locked = self
                .store
                .record_login_failure(record.owner, self.policy.max_failed_logins, lock_until)
                .await?;
            if locked {
                tracing::warn!(owner = ?owner_kind(record.owner), "account locked after repeated failed logins");
                return Err(IdentityError::AccountLocked {
                    retry_after: self.policy.lock_duration,
                });
            }
            return Err(IdentityError::InvalidCredentials);
        }
        match record.status {
            ResidentStatus::Active => {}
            ResidentStatus::Closed => return Err(IdentityError::Closed),
            ResidentStatus::Suspended => return Err(IdentityError::Suspended),
        }
        self.store.record_login_success(record.owner).await?;
        self.start_session(record.owner, Uuid::now_v7()).await
    }

    /// Takes one attempt from the client address's and the account's budgets.
    pub(super) fn throttle(&self, client_address: &str, account_key: &str) -> Result<()> {
        let limited = |retry_after| IdentityError::RateLimited { retry_after };
        if !client_address.is_empty() {
            self.by_address.check(client_address).map_err(limited)?;
        }
        self.by_account.check(account_key).map_err(limited)
    }

    /// Issues an access token and a fresh refresh token in `family` (a login).
    pub(super) async fn start_session(
        &self,
        owner: SessionOwner,
        family: Uuid,
    ) -> Result<TokenPair> {
        let refresh = self.crypto.random_token(32)?;
        let (pair, new) = self.new_pair(owner, family, refresh).await?;
        self.store.insert_refresh(new).await?;
        Ok(pair)
    }

    /// A pair of a fresh access token and `refresh` for `owner` in `family`, and the refresh
    /// token's row, not yet stored.
    async fn new_pair(
        &self,
        owner: SessionOwner,
        family: Uuid,
        refresh: String,
    ) -> Result<(TokenPair, NewRefresh)> {
        let claims = self.claims_for(owner).await?;
        let access_token = self.sign(claims).await?;
        let now = self.now();
        let ttl = chrono::Duration::from_std(self.tokens.policy().refresh_ttl)
            .unwrap_or_else(|_| chrono::Duration::days(30));
        let new = NewRefresh {
            hash: self.crypto.token_hash(&refresh),
            family_id: family,
            owner,
            issued_at: now,
            expires_at: now + ttl,
        };
        Ok((
            TokenPair {
                access_token,
                refresh_token: Some(refresh),
                expires_in: self.access_ttl_secs(),
            },
            new,
        ))
    }

    fn access_ttl_secs(&self) -> u32 {
        u32::try_from(self.tokens.policy().access_ttl.as_secs()).unwrap_or(u32::MAX)
    }

    async fn claims_for(&self, owner: SessionOwner) -> Result<Claims> {
        match owner {
            SessionOwner::Resident(id) => {
                let r = self.store.resident(id).await?;
                if r.status != ResidentStatus::Active {
                    return Err(IdentityError::Suspended);
                }
                let mut c = self.base_claims(id.to_string(), Role::Resident);
                c.district = Some(r.residence_district.to_string());
                Ok(c)
            }
            SessionOwner::Staff(id) => {
                let s = self.store.staff(id).await?;
                Ok(self.staff_claims(&s))
            }
        }
    }

    fn staff_claims(&self, s: &Staff) -> Claims {
        let role = match s.role {
            StaffRole::CityAdmin => Role::CityAdmin,
            StaffRole::DistrictAdmin => Role::DistrictAdmin,
            StaffRole::MerchantOperator => Role::Merchant,
            StaffRole::StationStaff => Role::StationStaff,
        };
        let mut c = self.base_claims(s.id.to_string(), role);
        c.district = s.district.map(|d| d.to_string());
        c.merchant_id = s.merchant_id.map(|m| m.to_string());
        c.mall = s.mall.map(|m| m.to_string());
        c.institution = s.institution_code.clone();
        c
    }

    pub(super) fn base_claims(&self, sub: String, role: Role) -> Claims {
        let now = u64::try_from(self.now().timestamp()).unwrap_or_default();
        Claims {
            iss: self.tokens.policy().issuer.clone(),
            aud: self.tokens.policy().audience.clone(),
            sub,
            exp: now + self.tokens.policy().access_ttl.as_secs(),
            nbf: now,
            iat: now,
            jti: Uuid::new_v4().to_string(),
            role,
            district: None,
            merchant_id: None,
            mall: None,
            partner_id: None,
            department: None,
            service: None,
            scopes: Vec::new(),
            institution: None,
            act: None,
        }
    }

    pub(super) async fn sign(&self, claims: Claims) -> Result<String> {
        self.tokens
            .refresh_if_stale(&self.store, &self.crypto, self.now())
            .await?;
        self.tokens.sign(&claims)
    }

    /// Rotates a refresh token: the presented one is spent and a new pair issued in the same
    /// family (RFC 9700 §4.14.2). The new refresh token is derived from the presented one
    /// ([`crate::crypto::Crypto::successor_token`]), so presented again within the reuse grace
    /// — two app instances refreshing at once, or a retry after a lost response — it answers
    /// the same refresh token (with a fresh access token), as long as that one is unspent; only
    /// hashes of tokens are stored. Any later use is reuse: the whole family (this session, on
    /// every device that shared it) is revoked; the person's other sessions are untouched.
    pub async fn refresh(&self, token: &str) -> Result<TokenPair> {
        let token = token.trim();
        if token.is_empty() {
            return Err(IdentityError::invalid("refresh_token", "must not be empty"));
        }
        let hash = self.crypto.token_hash(token);
        let now = self.now();
        let record = self
            .store
            .refresh(&hash)
            .await?
            .ok_or(IdentityError::RefreshTokenInvalid)?;
        if record.revoked || record.expires_at <= now {
            return Err(IdentityError::RefreshTokenInvalid);
        }
        let successor = self.crypto.successor_token(token);
        let record = if record.used_at.is_none() {
            let (pair, new) = self.pair_for(&record, successor.clone(), now).await?;
            if self.store.rotate_refresh(&hash, new).await? {
                return Ok(pair);
            }
            // Another request rotated it between our read and our write: answer as a repeat.
            self.store
                .refresh(&hash)
                .await?
                .ok_or(IdentityError::RefreshTokenInvalid)?
        } else {
            record
        };
        if record.revoked {
            // Revoked meanwhile (a logout, a password change): not a reuse.
            return Err(IdentityError::RefreshTokenInvalid);
        }
        if self.repeat_within_grace(&record, &successor, now).await? {
            let (pair, _) = self.pair_for(&record, successor, now).await?;
            return Ok(pair);
        }
        self.store.revoke_family(record.family_id, now).await?;
        tracing::warn!(owner = ?owner_kind(record.owner), "refresh token reused; its session was revoked");
        Err(IdentityError::RefreshTokenReused)
    }

    /// A pair in the token's family with `refresh`; a suspended owner's family is revoked.
    async fn pair_for(
        &self,
        record: &RefreshRecord,
        refresh: String,
        now: DateTime<Utc>,
    ) -> Result<(TokenPair, NewRefresh)> {
        match self.new_pair(record.owner, record.family_id, refresh).await {
            Err(IdentityError::Suspended) => {
                self.store.revoke_family(record.family_id, now).await?;
                Err(IdentityError::Suspended)
            }
            other => other,
        }
    }

    /// Whether a spent token may be answered again: spent within the grace, and the refresh
    /// token it was rotated into still unspent and unrevoked.
    async fn repeat_within_grace(
        &self,
        record: &RefreshRecord,
        successor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let grace = chrono::Duration::from_std(self.tokens.policy().refresh_reuse_grace)
            .unwrap_or_default();
        let Some(used_at) = record.used_at else {
            return Ok(false);
        };
        if record.revoked || now > used_at + grace {
            return Ok(false);
        }
        Ok(self
            .store
            .refresh(&self.crypto.token_hash(successor))
            .await?
            .is_some_and(|s| {
                s.family_id == record.family_id
                    && s.used_at.is_none()
                    && !s.revoked
                    && s.expires_at > now
            }))
    }

    /// Logs out: revokes the token's whole family. Unknown tokens are ignored.
    pub async fn logout(&self, token: &str) -> Result<()> {
        if token.trim().is_empty() {
            return Err(IdentityError::invalid("refresh_token", "must not be empty"));
        }
        if let Some(record) = self
            .store
            .refresh(&self.crypto.token_hash(token.trim()))
            .await?
        {
            self.store
                .revoke_family(record.family_id, self.now())
                .await?;
        }
        Ok(())
    }

    /// The client-credentials grant: a token carrying `scopes` (each one the client holds; none
    /// asked: every one it holds), and the scopes it carries. The client is authenticated before
    /// its scopes are looked at.
    pub async fn client_token(
        &self,
        client_id: &str,
        secret: &str,
        client_address: &str,
        scopes: &[String],
    ) -> Result<(TokenPair, Vec<String>)> {
        if client_id.trim().is_empty() {
            return Err(IdentityError::invalid("client_id", "must not be empty"));
        }
        if secret.is_empty() {
            return Err(IdentityError::invalid("client_secret", "must not be empty"));
        }
        self.throttle(client_address, &format!("client:{client_id}"))?;
        let record = self.store.client(client_id.trim()).await?;
        let Some(record) = record.filter(|r| {
            !r.disabled
                && r.accepted_hashes(self.now())
                    .any(|hash| self.crypto.token_matches(secret, hash))
        }) else {
            return Err(IdentityError::InvalidClientCredentials);
        };
        let c = &record.client;
        let role = match c.kind {
            ClientKind::Partner => Role::Partner,
            ClientKind::Merchant => Role::Merchant,
            ClientKind::Service => Role::Service,
        };
        let mut claims = self.base_claims(c.client_id.clone(), role);
        claims.partner_id = c.partner_id.clone();
        claims.department = c.department.clone();
        if scopes.iter().any(|s| !c.scopes.contains(s)) {
            return Err(IdentityError::invalid(
                "scope",
                "asks for a scope this client does not hold",
            ));
        }
        claims.scopes = if scopes.is_empty() {
            c.scopes.clone()
        } else {
            c.scopes
                .iter()
                .filter(|s| scopes.contains(s))
                .cloned()
                .collect()
        };
        let granted = claims.scopes.clone();
        claims.service = c.service.clone();
        claims.district = c.district.map(|d| d.to_string());
        claims.merchant_id = c.merchant_id.map(|m| m.to_string());
        claims.mall = c.mall.map(|m| m.to_string());
        let tokens = TokenPair {
            access_token: self.sign(claims).await?,
            refresh_token: None,
            expires_in: self.access_ttl_secs(),
        };
        Ok((tokens, granted))
    }

    /// The published public keys.
    pub async fn jwks(&self) -> Result<Vec<healthpoints_proto::identity::v1::Jwk>> {
        self.tokens
            .refresh_if_stale(&self.store, &self.crypto, self.now())
            .await?;
        Ok(self.tokens.jwks())
    }

    /// Starts signing with a new key. City admin.
    pub async fn rotate_key(&self, caller: &Principal) -> Result<String> {
        require_city_admin(caller)?;
        let kid = self
            .tokens
            .rotate(&self.store, &self.crypto, self.now())
            .await?;
        tracing::info!(kid = %kid, "signing key rotated");
        Ok(kid)
    }
}

fn owner_kind(owner: SessionOwner) -> &'static str {
    match owner {
        SessionOwner::Resident(_) => "resident",
        SessionOwner::Staff(_) => "staff",
    }
}

/// A hash of a random password, verified against unknown logins so they take as long as known
/// ones (made once, at the first unknown login).
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn dummy_hash() -> String {
    DUMMY_HASH
        .get_or_init(|| crypto::hash_password(&Uuid::new_v4().to_string()).unwrap_or_default())
        .clone()
}
