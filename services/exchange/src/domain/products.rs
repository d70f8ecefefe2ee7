//! Consented data products: what a partner may read about one resident, and only while that
//! resident's consent to this partner for the product's category is active. Today: the points
//! summary (health-behaviour level per month) an insurer reads to offer a premium discount.

use super::error::Result;
use std::future::Future;

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
