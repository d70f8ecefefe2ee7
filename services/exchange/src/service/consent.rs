//! Granting, revoking and listing a resident's consents (the rules: [`crate::domain::consent`]).

use healthpoints_auth::Principal;

use super::Exchange;
use crate::domain::consent::{Category, Consent, category};
use crate::domain::error::{ExchangeError, Result};
use crate::domain::notify::Event;

/// The event of a consent granted or revoked: to the resident's inbox, and at once to the
/// partner's webhooks.
fn consent_event(kind: &str, c: &Consent, at: chrono::DateTime<chrono::Utc>) -> Event {
    Event {
        id: uuid::Uuid::now_v7(),
        kind: kind.to_owned(),
        at,
        resident_id: Some(c.resident_id.clone()),
        partner_id: Some(c.partner_id.clone()),
        merchant: None,
        data: serde_json::json!({
            "resident_id": c.resident_id,
            "partner_id": c.partner_id,
            "category": c.category.as_str(),
        }),
    }
}

/// The resident a consent call is about: residents act for themselves only.
fn own(caller: &Principal, resident_id: &str) -> Result<String> {
    let Some(me) = caller.resident_id() else {
        return Err(ExchangeError::Forbidden(
            "only the resident grants, revokes and lists their consents".into(),
        ));
    };
    let me = me.to_string();
    if !resident_id.trim().is_empty() && resident_id.trim() != me {
        return Err(ExchangeError::Forbidden(
            "residents manage only their own consents".into(),
        ));
    }
    Ok(me)
}

impl<I, N, L> Exchange<I, N, L> {
    /// The caller's consents, newest first.
    pub async fn consents(&self, caller: &Principal, resident_id: &str) -> Result<Vec<Consent>> {
        let me = own(caller, resident_id)?;
        self.store.consents(&me).await
    }

    /// Grants (or grants again) consent to a registered partner for one category.
    pub async fn grant_consent(
        &self,
        caller: &Principal,
        resident_id: &str,
        partner_id: &str,
        raw: Option<Category>,
        purpose: &str,
    ) -> Result<Consent> {
        let me = own(caller, resident_id)?;
        let category = category(raw)?;
        healthpoints_types::text::free_text(
            purpose,
            200,
            false,
            healthpoints_types::text::Lines::One,
        )
        .map_err(|e| ExchangeError::invalid("purpose", e.0))?;
        let partner = self
            .store
            .partner(partner_id.trim())
            .await?
            .filter(|p| p.client_id.is_some())
            .ok_or_else(|| ExchangeError::NotFound("partner".into()))?;
        let consent = Consent {
            resident_id: me,
            partner_id: partner.partner_id,
            category,
            purpose: purpose.trim().to_owned(),
            granted_at: self.now(),
            revoked_at: None,
        };
        let event = consent_event("consent.granted", &consent, consent.granted_at);
        self.store.save_consent(&consent, &event).await?;
        Ok(consent)
    }

    /// Revokes a consent; records in that category are refused from now on, points stay.
    pub async fn revoke_consent(
        &self,
        caller: &Principal,
        resident_id: &str,
        partner_id: &str,
        raw: Option<Category>,
    ) -> Result<Consent> {
        let me = own(caller, resident_id)?;
        let category = category(raw)?;
        let now = self.now();
        self.store
            .revoke_consent(&me, partner_id.trim(), category, now, |c| {
                consent_event("consent.revoked", c, now)
            })
            .await?
            .ok_or_else(|| ExchangeError::NotFound("consent".into()))
    }
}
