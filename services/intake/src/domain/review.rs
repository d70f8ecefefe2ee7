//! Fraud review: residents flagged (by the velocity guards or an admin) have their awards held;
//! admins of the resident's district (or city admins) list the held outcomes and release or
//! reject each. A released award goes to the ledger like any other; a rejected one earns
//! nothing and says why. The flag clears with the resident's last held outcome.

use healthpoints_auth::Principal;
use healthpoints_types::DistrictCode;

use super::{
    error::{IntakeError, Result},
    model::Outcome,
};

/// The admin's id if the caller administers `district` (`None`: only city admins).
pub(crate) fn admin_over(caller: &Principal, district: Option<DistrictCode>) -> Result<String> {
    match (caller, district) {
        (Principal::CityAdmin { staff_id }, _) => Ok(staff_id.to_string()),
        (Principal::DistrictAdmin { staff_id, district }, Some(d)) if *district == d => {
            Ok(staff_id.to_string())
        }
        (Principal::DistrictAdmin { .. }, _) => Err(IntakeError::Forbidden(
            "a district admin acts for their own district only".into(),
        )),
        _ => Err(IntakeError::Forbidden(
            "only city and district admins may do this".into(),
        )),
    }
}

/// A page of the review queue.
#[derive(Debug, Clone)]
pub struct ReviewPage {
    pub held: Vec<Outcome>,
    pub next_cursor: Option<String>,
}
