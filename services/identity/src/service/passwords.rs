//! Passwords, a person's own (PIPL gives residents the right to correct and protect their
//! account): changed with the current one, or — forgotten — reset with a one-time code sent to
//! the resident's phone. Either way every session of the account is signed out (its refresh
//! tokens revoked with the new hash, in one transaction); a change answers a fresh session for
//! the device that made it. Access tokens already issued run out by themselves
//! (`tokens.access_ttl_seconds`).
//!
//! A reset request is answered alike whether or not the phone is registered, so it cannot tell
//! who is; codes are 6 digits, kept only as a keyed hash, valid `password_reset.code_ttl_seconds`,
//! void after `max_attempts` wrong tries, and sent at most once per `resend_after_seconds`.

use std::{io::Write as _, path::PathBuf};

use chrono::{DateTime, Duration, Utc};
use healthpoints_auth::Principal;
use uuid::Uuid;

use super::{Identity, TokenPair, hash_password, verify_password};
use crate::{
    domain::{
        error::{IdentityError, Result},
        model::{ResidentStatus, SessionOwner},
        values::{Phone, check_password},
    },
    store::ResetCode,
};

/// Sends a text to a resident's phone: an SMS gateway's or a WeChat-message adapter in a
/// deployment. None is reachable from here; [`FileMessenger`] serves development.
pub trait Messenger: Send + Sync {
    fn send(&self, phone: &str, text: &str) -> std::result::Result<(), String>;
}

/// Writes each message to `<dir>/<phone>.txt` (the latest one), in a directory only the
/// service's user can read: `healthpoints up` and the test meshes, so a developer (or a test)
/// reads the code the phone would have received. Never in production.
#[derive(Debug, Clone)]
pub struct FileMessenger {
    dir: PathBuf,
}

impl FileMessenger {
    pub fn new(dir: &str) -> anyhow::Result<Self> {
        let dir = PathBuf::from(dir);
        // Created 0700 (an existing one must be closed to others): the codes are secrets.
        healthpoints_db::private::dir(&dir)?;
        Ok(Self { dir })
    }
}

impl Messenger for FileMessenger {
    fn send(&self, phone: &str, text: &str) -> std::result::Result<(), String> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        // Written aside and renamed into place: a reader sees the whole message or the one
        // before, never an empty or half-written file.
        let aside = self.dir.join(format!(".{phone}.{}.tmp", Uuid::now_v7()));
        options
            .open(&aside)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .and_then(|()| std::fs::rename(&aside, self.dir.join(format!("{phone}.txt"))))
            .map_err(|e| {
                let _ = std::fs::remove_file(&aside);
                format!("the message could not be written: {e}")
            })
    }
}

/// The account a caller signs in to, if it has a password.
fn own_account(caller: &Principal) -> Result<SessionOwner> {
    match caller {
        Principal::Resident { resident_id } => Ok(SessionOwner::Resident(*resident_id)),
        Principal::CityAdmin { staff_id }
        | Principal::DistrictAdmin { staff_id, .. }
        | Principal::StationStaff { staff_id, .. } => Ok(SessionOwner::Staff(*staff_id)),
        // An operator signs in (its subject is its staff id); a till is a client.
        Principal::Merchant { subject, .. } => Uuid::parse_str(subject)
            .map(SessionOwner::Staff)
            .map_err(|_| no_password()),
        _ => Err(no_password()),
    }
}

fn no_password() -> IdentityError {
    IdentityError::Forbidden(
        "only residents and staff have passwords; clients rotate their secrets",
    )
}

fn new_password_ok(new_password: &str) -> Result<()> {
    check_password(new_password).map_err(|why| IdentityError::invalid("new_password", why))
}

/// The generic refusal of a code: wrong, expired, used up or never sent look alike.
fn bad_code() -> IdentityError {
    IdentityError::Refused {
        field: "code",
        reason: "is wrong or has expired; ask for a new code if it keeps failing",
    }
}

impl Identity {
    /// Changes the caller's password: the current one must be right (a wrong one counts
    /// towards the lockout, like a failed login); every session is signed out and a new one
    /// answered.
    pub async fn change_password(
        &self,
        caller: &Principal,
        current_password: &str,
        new_password: &str,
        client_address: &str,
    ) -> Result<TokenPair> {
        let owner = own_account(caller)?;
        if current_password.trim().is_empty() {
            return Err(IdentityError::invalid(
                "current_password",
                "must not be empty",
            ));
        }
        new_password_ok(new_password)?;
        if new_password == current_password {
            return Err(IdentityError::Refused {
                field: "new_password",
                reason: "must differ from the current password",
            });
        }
        let now = self
            .check_own_password(
                owner,
                current_password,
                client_address,
                IdentityError::Suspended,
                IdentityError::Refused {
                    field: "current_password",
                    reason: "is not the account's current password",
                },
            )
            .await?;
        let hash = hash_password(new_password.to_owned()).await?;
        self.store.set_password(owner, &hash, now).await?;
        tracing::info!("password changed; every session of the account signed out");
        self.start_session(owner, Uuid::now_v7()).await
    }

    /// Checks the caller's own password as a login would (a change or a close asks for it):
    /// throttled per account, refused while locked, `inactive` for an account that is not
    /// active, and a wrong one counted towards the lock (`wrong` names it). Answers now.
    pub(super) async fn check_own_password(
        &self,
        owner: SessionOwner,
        password: &str,
        client_address: &str,
        inactive: IdentityError,
        wrong: IdentityError,
    ) -> Result<DateTime<Utc>> {
        let (SessionOwner::Resident(id) | SessionOwner::Staff(id)) = owner;
        self.throttle(client_address, &format!("password:{id}"))?;
        let record = self.store.login_record(owner).await?;
        let now = self.now();
        if let Some(until) = record.locked_until.filter(|u| *u > now) {
            return Err(IdentityError::AccountLocked {
                retry_after: (until - now).to_std().unwrap_or_default(),
            });
        }
        if record.status != ResidentStatus::Active {
            return Err(inactive);
        }
        let stored = record.password_hash.clone();
        if !verify_password(password.to_owned(), move || stored).await {
            let lock_until = now
                + Duration::from_std(self.policy.lock_duration)
                    .unwrap_or_else(|_| Duration::minutes(15));
            if self
                .store
                .record_login_failure(owner, self.policy.max_failed_logins, lock_until)
                .await?
            {
                return Err(IdentityError::AccountLocked {
                    retry_after: self.policy.lock_duration,
                });
            }
            return Err(wrong);
        }
        Ok(now)
    }

    /// Sends a one-time code to `phone` if a resident in good standing has it; answers the same
    /// either way (and how long a code is valid).
    pub async fn request_password_reset(
        &self,
        phone: &str,
        client_address: &str,
    ) -> Result<std::time::Duration> {
        let phone = Phone::parse(phone).map_err(|e| IdentityError::invalid("phone", e))?;
        let Some(messenger) = self.messenger.clone() else {
            return Err(IdentityError::Precondition(
                "a password cannot be reset by text message here; a health station resets it after checking the resident's ID card",
            ));
        };
        let phone_hash = self.crypto.lookup_hash("phone", phone.as_str());
        self.throttle(client_address, &format!("reset:{phone_hash}"))?;
        // Answered at once, the same for every number: whether one is registered shows neither
        // in the answer nor in its time. The code is made and sent behind it.
        let sending = CodeSending {
            store: self.store.clone(),
            crypto: self.crypto.clone(),
            messenger,
            now: self.now(),
            ttl: self.policy.reset_code_ttl,
            resend_after: self.policy.reset_resend_after,
        };
        tokio::spawn(async move {
            if let Err(e) = sending.send(phone.as_str(), &phone_hash).await {
                tracing::warn!(error = %e, "a password reset code was not sent");
            }
        });
        Ok(self.policy.reset_code_ttl)
    }

    /// Sets a new password with the code sent to `phone`; every session is signed out.
    pub async fn confirm_password_reset(
        &self,
        phone: &str,
        code: &str,
        new_password: &str,
        client_address: &str,
    ) -> Result<()> {
        let phone = Phone::parse(phone).map_err(|e| IdentityError::invalid("phone", e))?;
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdentityError::invalid("code", "must be the 6 digits sent"));
        }
        new_password_ok(new_password)?;
        let phone_hash = self.crypto.lookup_hash("phone", phone.as_str());
        // Its own budget: a code's tries are also capped by `max_attempts`.
        self.throttle(client_address, &format!("reset-confirm:{phone_hash}"))?;
        let Some(record) = self.store.resident_login(&phone_hash).await? else {
            return Err(bad_code());
        };
        let SessionOwner::Resident(resident) = record.owner else {
            return Err(bad_code());
        };
        let now = self.now();
        // Each try is counted before the code is compared, in one conditional update: tries at
        // once cannot pass `max_attempts` between them.
        let Some(sent) = self
            .store
            .take_reset_attempt(resident, self.policy.reset_max_attempts, now)
            .await?
        else {
            return Err(bad_code());
        };
        if !self.crypto.token_matches(code, &sent.code_hash) {
            return Err(bad_code());
        }
        if record.status != ResidentStatus::Active {
            return Err(IdentityError::Suspended);
        }
        let hash = hash_password(new_password.to_owned()).await?;
        self.store.set_password(record.owner, &hash, now).await?;
        tracing::info!("password reset with a code; every session of the account signed out");
        Ok(())
    }

    /// Sets a resident's new password at a health-station counter (the exchange, after the
    /// staff checked the ID card and logged the visit); every session is signed out.
    pub async fn set_password_at_counter(
        &self,
        caller: &Principal,
        resident_id: &str,
        new_password: &str,
    ) -> Result<()> {
        if !matches!(caller, Principal::Service { service, .. } if service == "exchange") {
            return Err(IdentityError::Forbidden(
                "a password is reset at a counter through the exchange",
            ));
        }
        let id = Uuid::parse_str(resident_id.trim())
            .map_err(|_| IdentityError::invalid("resident_id", "must be a UUID"))?;
        new_password_ok(new_password)?;
        let owner = SessionOwner::Resident(id);
        let record = self.store.login_record(owner).await?;
        match record.status {
            ResidentStatus::Active => {}
            ResidentStatus::Closed => return Err(IdentityError::Closed),
            ResidentStatus::Suspended => return Err(IdentityError::Suspended),
        }
        let hash = hash_password(new_password.to_owned()).await?;
        self.store.set_password(owner, &hash, self.now()).await?;
        tracing::info!("password reset at a health-station counter; every session signed out");
        Ok(())
    }
}

/// What it takes to make and send a reset code, away from the request that asked for it.
struct CodeSending {
    store: crate::store::Store,
    crypto: std::sync::Arc<crate::crypto::Crypto>,
    messenger: std::sync::Arc<dyn Messenger>,
    now: DateTime<Utc>,
    ttl: std::time::Duration,
    resend_after: std::time::Duration,
}

impl CodeSending {
    /// Sends a code if a resident in good standing has the number. Wrong tries carry over to a
    /// new code sent within a day, so asking again does not buy more guesses.
    async fn send(self, phone: &str, phone_hash: &str) -> Result<()> {
        let Some(record) = self.store.resident_login(phone_hash).await? else {
            return Ok(());
        };
        let SessionOwner::Resident(resident) = record.owner else {
            return Ok(());
        };
        if record.status != ResidentStatus::Active {
            return Ok(());
        }
        let now = self.now;
        let earlier = self.store.reset_code(resident).await?;
        let resend_after =
            Duration::from_std(self.resend_after).unwrap_or_else(|_| Duration::zero());
        if earlier
            .as_ref()
            .is_some_and(|c| c.sent_at + resend_after > now && c.expires_at > now)
        {
            // Sent a moment ago: that code still works.
            return Ok(());
        }
        let attempts = earlier
            .filter(|c| c.sent_at > now - Duration::days(1))
            .map_or(0, |c| c.attempts);
        let mut bytes = [0u8; 4];
        aws_lc_rs::rand::SecureRandom::fill(self.crypto.rng(), &mut bytes)
            .map_err(|_| IdentityError::fault("no random code"))?;
        let code = format!("{:06}", u32::from_be_bytes(bytes) % 1_000_000);
        self.store
            .put_reset_code(
                resident,
                &ResetCode {
                    code_hash: self.crypto.token_hash(&code),
                    sent_at: now,
                    expires_at: now
                        + Duration::from_std(self.ttl).unwrap_or_else(|_| Duration::minutes(10)),
                    attempts,
                },
            )
            .await?;
        let minutes = self.ttl.as_secs() / 60;
        let text = format!(
            "【健康积分】您的密码重置验证码是 {code}，{minutes} 分钟内有效。如非本人操作，请忽略。\n\
             healthpoints: your password reset code is {code}, valid for {minutes} minutes. If you did not ask for it, ignore this message.\n"
        );
        let messenger = self.messenger.clone();
        let to = phone.to_owned();
        let sent = tokio::task::spawn_blocking(move || messenger.send(&to, &text))
            .await
            .map_err(|_| IdentityError::fault("the message task failed"))?;
        if let Err(why) = sent {
            self.store.drop_reset_code(resident).await?;
            tracing::warn!(%why, "a password reset code could not be sent");
            return Err(IdentityError::fault("the code could not be sent"));
        }
        tracing::info!("password reset code sent");
        Ok(())
    }
}
