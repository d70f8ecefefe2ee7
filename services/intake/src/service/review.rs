//! The review queue: listing held outcomes, flagging residents, releasing or rejecting (who
//! may: [`crate::domain::review`]).

use healthpoints_auth::Principal;
use healthpoints_types::{
    DistrictCode,
    text::{Lines, free_text},
};
use uuid::Uuid;

use super::{Intake, PointsLedger, Residents};
use crate::domain::review::{ReviewPage, admin_over};
use crate::domain::{
    error::{IntakeError, Result},
    model::{Outcome, OutcomeKind, ResidentRef},
};
use crate::store::review::{Flag, Resolution};

fn cursor(raw: &str) -> Result<Option<Uuid>> {
    healthpoints_types::uuid_cursor(raw).map_err(|e| IntakeError::invalid("page.cursor", e.0))
}

fn district(raw: &str, field: &str) -> Result<Option<DistrictCode>> {
    match raw.trim() {
        "" => Ok(None),
        d => DistrictCode::parse(d)
            .map(Some)
            .map_err(|_| IntakeError::invalid(field, "must be a 6-digit district code")),
    }
}

impl<R: Residents, L: PointsLedger> Intake<R, L> {
    /// Held outcomes, oldest first. City admins see one district or all; a district admin
    /// their own district (the default when `district` is empty).
    pub async fn review_queue(
        &self,
        caller: &Principal,
        district_code: &str,
        page_cursor: &str,
        page_size: u32,
    ) -> Result<ReviewPage> {
        let mut wanted = district(district_code, "district")?;
        if let (Principal::DistrictAdmin { district, .. }, None) = (caller, wanted) {
            wanted = Some(*district);
        }
        if wanted.is_some() || !matches!(caller, Principal::CityAdmin { .. }) {
            admin_over(caller, wanted)?;
        }
        let size = match page_size {
            0 => 50,
            n => n.min(500),
        };
        let district = wanted.map(|d| d.to_string());
        let mut held = self
            .store()
            .review_queue(
                district.as_deref(),
                cursor(page_cursor)?,
                u64::from(size) + 1,
            )
            .await?;
        let next_cursor = if held.len() > size as usize {
            held.truncate(size as usize);
            held.last().map(|o| o.event_id.to_string())
        } else {
            None
        };
        Ok(ReviewPage { held, next_cursor })
    }

    /// Releases a held outcome (its points go to the ledger now) or rejects it.
    pub async fn resolve_review(
        &self,
        caller: &Principal,
        event_id: &str,
        release: bool,
        note: &str,
    ) -> Result<Outcome> {
        let event_id = Uuid::parse_str(event_id.trim())
            .map_err(|_| IntakeError::invalid("event_id", "must be an event id (UUID)"))?;
        free_text(note, 500, false, Lines::Many).map_err(|e| IntakeError::invalid("note", e.0))?;
        let Some((_, flag_district)) = self.store().held(event_id).await? else {
            return Err(IntakeError::NotFound("held outcome".into()));
        };
        let reviewer = admin_over(caller, DistrictCode::parse(&flag_district).ok())?;
        let note = note.trim();
        let reason = if release {
            (
                "review_released".to_owned(),
                if note.is_empty() {
                    "released by a reviewer".to_owned()
                } else {
                    format!("released by a reviewer: {note}")
                },
            )
        } else {
            (
                "review_rejected".to_owned(),
                if note.is_empty() {
                    "a reviewer found the report not credible".to_owned()
                } else {
                    format!("rejected by a reviewer: {note}")
                },
            )
        };
        let outcome = self
            .store()
            .resolve(&Resolution {
                event_id,
                release,
                reason,
                reviewer,
                at: self.now(),
            })
            .await?;
        let mut outcomes = vec![outcome];
        if release {
            self.hand_over(&mut outcomes).await?;
        }
        let outcome = outcomes.remove(0);
        if outcome.kind == OutcomeKind::Awarded {
            self.advance_challenges(std::slice::from_ref(&outcome))
                .await?;
        }
        Ok(outcome)
    }

    /// Flags a resident for review (their awards are held from now on), or lifts the flag.
    pub async fn flag_resident(
        &self,
        caller: &Principal,
        resident_id: &str,
        reason: &str,
        clear: bool,
    ) -> Result<()> {
        if resident_id.trim().is_empty() {
            return Err(IntakeError::invalid("resident_id", "must be set"));
        }
        let reason = free_text(reason, 300, !clear, Lines::One)
            .map_err(|e| IntakeError::invalid("reason", format!("must say why: {}", e.0)))?;
        let reason = reason.as_str();
        let resident = self
            .residents()
            .resolve(&ResidentRef::Id(resident_id.trim().to_owned()))
            .await?
            .ok_or_else(|| IntakeError::NotFound("resident".into()))?;
        let admin = admin_over(caller, resident.district)?;
        if clear {
            return self
                .store()
                .clear_flag(&resident.resident_id, &admin, self.now())
                .await;
        }
        self.store()
            .flag_resident(Flag {
                resident_id: resident.resident_id,
                district: resident.district.map(|d| d.to_string()).unwrap_or_default(),
                reason_code: "flagged_by_admin".into(),
                reason: reason.to_owned(),
                flagged_by: admin,
                at: self.now(),
            })
            .await
    }
}
