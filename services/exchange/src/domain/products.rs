//! Consented data products: what a partner may read about one resident, and only while that
//! resident's consent to this partner for the product's category is active. Today: the points
//! summary (health-behaviour level per month) an insurer reads to offer a premium discount.

use std::future::Future;

use healthpoints_auth::Principal;

use super::{
    audit,
    consent::Category,
    error::{ExchangeError, Result},
    partners::acting_partner,
};
use crate::store::Store;

/// One month of a resident's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthSummary {
    /// `2026-11`.
    pub month: String,
    pub points_earned: u64,
    /// `low`, `medium` or `high`.
    pub activity_level: &'static str,
}

/// Points earned per month, newest first, seen from the exchange (intake's
/// `GetMonthlyPoints`).
pub trait MonthlyPoints: Send + Sync {
    fn monthly_points(
        &self,
        resident_id: &str,
        months: u32,
    ) -> impl Future<Output = Result<Vec<(String, u64)>>> + Send;
}

/// The level a month's points say: `high` from 900 (about 30 a day, what 10,000 daily steps
/// earn), `medium` from 300, else `low`.
pub fn activity_level(points: u64) -> &'static str {
    match points {
        900.. => "high",
        300.. => "medium",
        _ => "low",
    }
}

/// A resident's last twelve months, for a partner with scope `points-summary:read` and the
/// resident's active `points_summary` consent to it. The read is in the resident's access log.
pub async fn points_summary(
    store: &Store,
    intake: &impl MonthlyPoints,
    caller: &Principal,
    resident_id: &str,
) -> Result<Vec<MonthSummary>> {
    let partner = acting_partner(store, caller, "points-summary:read").await?;
    let resident_id = resident_id.trim();
    if uuid::Uuid::parse_str(resident_id).is_err() {
        return Err(ExchangeError::invalid(
            "resident_id",
            "must be a resident id (UUID)",
        ));
    }
    let consented = store
        .active_consents(&partner.partner_id, &[resident_id.to_owned()])
        .await?
        .contains(&(resident_id.to_owned(), Category::PointsSummary));
    if !consented {
        return Err(ExchangeError::Forbidden(
            "the resident has not consented (or has revoked consent) to share their points summary with this partner".into(),
        ));
    }
    let months = intake.monthly_points(resident_id, 12).await?;
    store
        .append(&audit::entries(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_monthly_points() {
        assert_eq!(activity_level(0), "low");
        assert_eq!(activity_level(299), "low");
        assert_eq!(activity_level(300), "medium");
        assert_eq!(activity_level(900), "high");
    }
}
