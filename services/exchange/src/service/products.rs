//! The points summary, read under the resident's consent (the data product:
//! [`crate::domain::products`]).

use healthpoints_auth::Principal;

use super::Exchange;
use crate::domain::products::{MonthSummary, MonthlyPoints, activity_level};
use crate::domain::{
    consent::Category,
    error::{ExchangeError, Result},
};

impl<I, N: MonthlyPoints, L> Exchange<I, N, L> {
    /// A resident's last twelve months, for a partner with scope `points-summary:read` and the
    /// resident's active `points_summary` consent to it. The read is in the resident's access log.
    pub async fn points_summary(
        &self,
        caller: &Principal,
        resident_id: &str,
    ) -> Result<Vec<MonthSummary>> {
        let partner = self.acting_partner(caller, "points-summary:read").await?;
        let resident_id = resident_id.trim();
        if uuid::Uuid::parse_str(resident_id).is_err() {
            return Err(ExchangeError::invalid(
                "resident_id",
                "must be a resident id (UUID)",
            ));
        }
        let consented = self
            .store
            .active_consents(&partner.partner_id, &[resident_id.to_owned()])
            .await?
            .contains(&(resident_id.to_owned(), Category::PointsSummary));
        if !consented {
            return Err(ExchangeError::Forbidden(
            "the resident has not consented (or has revoked consent) to share their points summary with this partner".into(),
        ));
        }
        let months = self.intake.monthly_points(resident_id, 12).await?;
        self.store
            .append(&self.access_entries(
                caller,
                "read_points_summary",
                "monthly points summary, 12 months",
                &[(resident_id.to_owned(), 1)],
            ))
            .await?;
        Ok(months
            .into_iter()
            .map(|(month, points)| MonthSummary {
                month,
                points_earned: points,
                activity_level: activity_level(points),
            })
            .collect())
    }
}
