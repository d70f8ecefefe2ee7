//! Award figures for the de-identified statistics: raw counts per book and cohort of a month,
//! small cells included. Only the exchange (a service) and city admins read them; the exchange
//! suppresses small cells before anyone outside sees a number.

use healthpoints_auth::Principal;
use healthpoints_types::{DistrictCode, calendar::month_bounds};

use super::{Intake, PointsLedger, Residents};
use crate::domain::{
    error::{IntakeError, Result},
    model::{BookFigures, CohortFigures},
};

impl<R: Residents, L: PointsLedger> Intake<R, L> {
    /// Awards the ledger confirmed in `month` (`2026-11`, Asia/Shanghai), by book and cohort
    /// and by book; of the residents of `district` only if it is not empty.
    pub async fn award_statistics(
        &self,
        caller: &Principal,
        month: &str,
        district: &str,
    ) -> Result<(Vec<CohortFigures>, Vec<BookFigures>)> {
        if !matches!(
            caller,
            Principal::Service { .. } | Principal::CityAdmin { .. }
        ) {
            return Err(IntakeError::Forbidden(
                "raw award figures are for the exchange and city admins; ask the exchange's statistics"
                    .into(),
            ));
        }
        let month = month.trim();
        let (from, to) = month_bounds(month)
            .ok_or_else(|| IntakeError::invalid("month", "must be a month YYYY-MM"))?;
        let district = match district.trim() {
            "" => None,
            d => Some(DistrictCode::parse(d).map_err(|e| IntakeError::invalid("district", e.0))?),
        };
        self.store().award_statistics(from, to, district).await
    }
}
