//! What a resident does and asks directly: the daily check-in with its streak bonus, and "why
//! did I (not) get points?" — their outcomes, newest first.

use healthpoints_auth::Principal;

use super::{
    error::{IntakeError, Result},
    model::Outcome,
};

/// The behaviour a check-in reports.
pub const CHECKIN: &str = "learning.checkin";
/// The bonus behaviour of a completed streak.
pub const STREAK_BONUS: &str = "learning.checkin_streak";
/// Days in a row that complete a streak (and every multiple of it again).
pub const STREAK_DAYS: u32 = 7;

/// A check-in's answer.
#[derive(Debug, Clone)]
pub struct CheckIn {
    pub outcome: Outcome,
    /// Days in a row, today included, with a counted check-in.
    pub streak_days: u32,
    /// Set when this check-in completed a streak.
    pub streak_bonus: Option<Outcome>,
}

/// Residents act for themselves; services and city admins for anyone.
pub(crate) fn may_act_for(caller: &Principal, resident_id: &str) -> Result<()> {
    match caller {
        Principal::Resident { resident_id: own } if own.to_string() == resident_id => Ok(()),
        Principal::Service { .. } | Principal::CityAdmin { .. } => Ok(()),
        _ => Err(IntakeError::Forbidden(
            "residents see and act for themselves only".into(),
        )),
    }
}

/// The caller's own id when `resident_id` is left empty.
pub fn resident_or_self(caller: &Principal, resident_id: &str) -> Result<String> {
    if !resident_id.trim().is_empty() {
        return Ok(resident_id.trim().to_owned());
    }
    caller
        .resident_id()
        .map(|id| id.to_string())
        .ok_or_else(|| IntakeError::invalid("resident_id", "must be set"))
}
