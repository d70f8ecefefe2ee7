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
        if record.status != ResidentStatus::Active {
            return Err(IdentityError::Suspended);
        }
        self.store.record_login_success(record.owner).await?;
        self.start_session(record.owner, Uuid::now_v7()).await
    }

    /// Takes one attempt from the client address's and the account's budgets.
    fn throttle(&self, client_address: &str, account_key: &str) -> Result<()> {
        let limited = |retry_after| IdentityError::RateLimited { retry_after };
        if !client_address.is_empty() {
            self.by_address.check(client_address).map_err(limited)?;
        }
        self.by_account.check(account_key).map_err(limited)
    }

    /// Issues an access token and a refresh token in `family`.
    async fn start_session(&self, owner: SessionOwner, family: Uuid) -> Result<TokenPair> {
        let (pair, new) = self.new_pair(owner, family).await?;
        self.store.insert_refresh(new).await?;
        Ok(pair)
    }

    /// A fresh pair for `owner` in `family`, and the refresh token's row, not yet stored.
    async fn new_pair(&self, owner: SessionOwner, family: Uuid) -> Result<(TokenPair, NewRefresh)> {
        let claims = self.claims_for(owner).await?;
        let access_token = self.sign(claims).await?;
        let refresh = self.crypto.random_token(32)?;
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
        };
        let mut c = self.base_claims(s.id.to_string(), role);
        c.district = s.district.map(|d| d.to_string());
        c.merchant_id = s.merchant_id.map(|m| m.to_string());
        c.mall = s.mall.map(|m| m.to_string());
        c
    }

    fn base_claims(&self, sub: String, role: Role) -> Claims {
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
        }
    }

    async fn sign(&self, claims: Claims) -> Result<String> {
        self.tokens
            .refresh_if_stale(&self.store, &self.crypto, self.now())
            .await?;
        self.tokens.sign(&claims)
    }

    /// Rotates a refresh token: the presented one is spent and a new pair issued in the same
    /// family (RFC 9700 §4.14.2). Presented again within the reuse grace — two app instances
    /// refreshing at once, or a retry after a lost response — it answers that same pair, as
    /// long as the pair's refresh token is itself unspent. Any later use is reuse: the whole
    /// family (this session, on every device that shared it) is revoked; the person's other
    /// sessions are untouched.
    pub async fn refresh(&self, token: &str) -> Result<TokenPair> {
        if token.trim().is_empty() {
            return Err(IdentityError::invalid("refresh_token", "must not be empty"));
        }
        let hash = self.crypto.token_hash(token.trim());
        let now = self.now();
        let record = self
            .store
            .refresh(&hash)
            .await?
            .ok_or(IdentityError::RefreshTokenInvalid)?;
        if record.revoked || record.expires_at <= now {
            return Err(IdentityError::RefreshTokenInvalid);
        }
        let record = if record.used_at.is_none() {
            let (pair, new) = match self.new_pair(record.owner, record.family_id).await {
                Err(IdentityError::Suspended) => {
                    self.store.revoke_family(record.family_id, now).await?;
                    return Err(IdentityError::Suspended);
                }
                other => other?,
            };
            let sealed = self.crypto.encrypt_pii(SUCCESSOR, &seal_pair(&pair))?;
            if self.store.rotate_refresh(&hash, new, sealed).await? {
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
        if let Some(pair) = self.repeat_within_grace(&record, now).await? {
            return Ok(pair);
        }
        self.store.revoke_family(record.family_id, now).await?;
        tracing::warn!(owner = ?owner_kind(record.owner), "refresh token reused; its session was revoked");
        Err(IdentityError::RefreshTokenReused)
    }

    /// The pair a spent token was rotated into, if it was spent within the grace and that
    /// pair's refresh token is still unspent and unrevoked.
    async fn repeat_within_grace(
        &self,
        record: &RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenPair>> {
        let grace = chrono::Duration::from_std(self.tokens.policy().refresh_reuse_grace)
            .unwrap_or_default();
        let (Some(used_at), Some(successor), Some(sealed)) = (
            record.used_at,
            &record.successor_hash,
            &record.successor_enc,
        ) else {
            return Ok(None);
        };
        if record.revoked || now > used_at + grace {
            return Ok(None);
        }
        let live = self
            .store
            .refresh(successor)
            .await?
            .is_some_and(|s| s.used_at.is_none() && !s.revoked && s.expires_at > now);
        if !live {
            return Ok(None);
        }
        let plain = self.crypto.decrypt_pii(SUCCESSOR, sealed)?;
        // The access token is the one issued at the rotation: it has that much less to live.
        let elapsed = u32::try_from((now - used_at).num_seconds().max(0)).unwrap_or(u32::MAX);
        Ok(open_pair(
            &plain,
            self.access_ttl_secs().saturating_sub(elapsed),
        ))
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

    /// The client-credentials grant.
    pub async fn client_token(
        &self,
        client_id: &str,
        secret: &str,
        client_address: &str,
    ) -> Result<TokenPair> {
        if client_id.trim().is_empty() {
            return Err(IdentityError::invalid("client_id", "must not be empty"));
        }
        if secret.is_empty() {
            return Err(IdentityError::invalid("client_secret", "must not be empty"));
        }
        self.throttle(client_address, &format!("client:{client_id}"))?;
        let record = self.store.client(client_id.trim()).await?;
        let Some(record) =
            record.filter(|r| !r.disabled && self.crypto.token_matches(secret, &r.secret_hash))
        else {
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
        claims.scopes = c.scopes.clone();
        claims.service = c.service.clone();
        claims.district = c.district.map(|d| d.to_string());
        claims.merchant_id = c.merchant_id.map(|m| m.to_string());
        claims.mall = c.mall.map(|m| m.to_string());
        Ok(TokenPair {
            access_token: self.sign(claims).await?,
            refresh_token: None,
            expires_in: self.access_ttl_secs(),
        })
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

/// The associated data binding a sealed successor pair to its column.
const SUCCESSOR: &str = "refresh_successor";

/// A token pair as sealed for the reuse grace: access token and refresh token on two lines.
fn seal_pair(pair: &TokenPair) -> String {
    format!(
        "{}\n{}",
        pair.access_token,
        pair.refresh_token.as_deref().unwrap_or_default()
    )
}

fn open_pair(plain: &str, expires_in: u32) -> Option<TokenPair> {
    let (access, refresh) = plain.split_once('\n')?;
    Some(TokenPair {
        access_token: access.to_owned(),
        refresh_token: Some(refresh.to_owned()),
        expires_in,
    })
}

/// A hash of a random password, verified against unknown logins so they take as long as known
/// ones (made once, at the first unknown login).
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn dummy_hash() -> String {
    DUMMY_HASH
        .get_or_init(|| crypto::hash_password(&Uuid::new_v4().to_string()).unwrap_or_default())
        .clone()
}
