//! The health-station counter: a resident's short-lived code for the counter to scan (a QR
//! code on their phone, instead of reading out their ID number), and the delegated token the
//! exchange asks for once a resident has proved they are at the counter, so the counter can
//! act for them in one action (RFC 8693's `act` claim names the staff member).

use healthpoints_auth::{Actor, Role};

use super::*;

/// How long a resident's station code stays valid: long enough to walk to the counter.
pub const STATION_CODE_TTL: Duration = Duration::from_secs(5 * 60);

/// How long a delegated token lives: one action at the counter.
pub const DELEGATED_TOKEN_TTL: Duration = Duration::from_secs(120);

impl Identity {
    /// A new station code for the calling resident, and when it expires.
    pub async fn issue_station_code(&self, caller: &Principal) -> Result<(String, DateTime<Utc>)> {
        let Principal::Resident { resident_id } = caller else {
            return Err(IdentityError::Forbidden(
                "station codes are for residents, for themselves",
            ));
        };
        let resident = self.store.resident(*resident_id).await?;
        if resident.status != ResidentStatus::Active {
            return Err(IdentityError::Suspended);
        }
        let until = self.now() + STATION_CODE_TTL;
        Ok((
            self.crypto.station_code(*resident_id, until.timestamp()),
            until,
        ))
    }

    /// The resident a station code names, while it is valid.
    pub(super) fn open_station_code(&self, code: &str) -> Result<Uuid> {
        let (resident, until) = self.crypto.open_station_code(code).ok_or_else(|| {
            IdentityError::invalid("station_code", "is not a code from the health points app")
        })?;
        if until < self.now().timestamp() {
            return Err(IdentityError::invalid(
                "station_code",
                "has expired: ask the resident to show a new one",
            ));
        }
        Ok(resident)
    }

    /// A resident access token for a counter acting for them, short-lived and naming the staff
    /// member (`act`). Only the exchange asks, after the resident proved they are there and the
    /// visit was written to their access log.
    pub async fn delegated_token(
        &self,
        caller: &Principal,
        resident: ResidentId,
        actor: Actor,
    ) -> Result<(String, u32)> {
        if !matches!(caller, Principal::Service { service, .. } if service == "exchange") {
            return Err(IdentityError::Forbidden(
                "only the exchange asks for a counter's delegated token",
            ));
        }
        if Uuid::parse_str(&actor.sub).is_err() || actor.institution.trim().is_empty() {
            return Err(IdentityError::invalid(
                "actor",
                "name the staff member (id) and their institution",
            ));
        }
        let r = self.store.resident(resident.uuid()).await?;
        if r.status != ResidentStatus::Active {
            return Err(IdentityError::Suspended);
        }
        let mut c = self.base_claims(r.id.to_string(), Role::Resident);
        c.district = Some(r.residence_district.to_string());
        c.exp = c.iat + DELEGATED_TOKEN_TTL.as_secs();
        c.act = Some(actor);
        let ttl = u32::try_from(DELEGATED_TOKEN_TTL.as_secs()).unwrap_or(u32::MAX);
        Ok((self.sign(c).await?, ttl))
    }
}
