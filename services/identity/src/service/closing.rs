//! A resident closes their account (PIPL Article 47): with their password, at once — no more
//! logins, earning or orders (intake and the malls treat any status but active as barred), every
//! session signed out — and, after `closing.retention_days`, their personal data is erased by a
//! sweep (a chore of the service). Vouchers they already hold stay usable at the counter, or
//! the gateway cancels them first when asked.

use chrono::{DateTime, Duration, Utc};
use healthpoints_auth::Principal;

use super::Identity;
use crate::domain::{
    error::{IdentityError, Result},
    model::SessionOwner,
};

/// Accounts one erasure round handles.
const ERASE_BATCH: u64 = 200;

impl Identity {
    /// Closes the calling resident's account; answers when, and when its personal data will be
    /// erased.
    pub async fn close_account(
        &self,
        caller: &Principal,
        password: &str,
        client_address: &str,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let Principal::Resident { resident_id } = caller else {
            return Err(IdentityError::Forbidden(
                "only a resident closes their own account",
            ));
        };
        if password.trim().is_empty() {
            return Err(IdentityError::invalid("password", "must not be empty"));
        }
        let owner = SessionOwner::Resident(*resident_id);
        let now = self
            .check_own_password(
                owner,
                password,
                client_address,
                IdentityError::Precondition("only an active account can be closed"),
                IdentityError::Refused {
                    field: "password",
                    reason: "is not the account's password",
                },
            )
            .await?;
        if !self.store.close_account(*resident_id, now).await? {
            return Err(IdentityError::Precondition(
                "only an active account can be closed",
            ));
        }
        tracing::info!("a resident closed their account; every session signed out");
        Ok((now, now + self.retention()))
    }

    fn retention(&self) -> Duration {
        Duration::from_std(self.policy.closed_retention).unwrap_or_else(|_| Duration::days(180))
    }

    /// Erases the personal data of accounts closed longer ago than the retention period;
    /// answers how many it erased.
    pub async fn erase_closed_once(&self) -> Result<usize> {
        let due = self
            .store
            .erasure_due(self.now() - self.retention(), ERASE_BATCH)
            .await?;
        for id in &due {
            self.store.erase(*id, self.now()).await?;
        }
        Ok(due.len())
    }
}
