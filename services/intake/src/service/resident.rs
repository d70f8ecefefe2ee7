//! A resident's own view: check-ins with their streak, history and outcomes (what a check-in
//! is: [`crate::domain::resident`]).

use std::collections::BTreeSet;

use chrono::{Datelike, Duration};
use healthpoints_auth::Principal;

use super::{Intake, PointsLedger, Residents};
use crate::domain::resident::{
    CHECKIN, CheckIn, STREAK_BONUS, STREAK_DAYS, may_act_for, resident_or_self,
};
use crate::domain::{
    calendar::{local_date, period_bounds},
    catalogue::SELF_SOURCE,
    error::{IntakeError, Result},
    model::{Event, Outcome, OutcomeKind, ResidentRef},
};

/// Days in a row in `days` ending on `last`.
fn streak_ending(days: &BTreeSet<chrono::NaiveDate>, last: chrono::NaiveDate) -> u32 {
    let mut streak = 0u32;
    let mut day = last;
    while days.contains(&day) {
        streak += 1;
        match day.pred_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    streak
}

impl<R: Residents, L: PointsLedger> Intake<R, L> {
    /// Today's check-in (Asia/Shanghai day): once a day, however often it is sent; the streak
    /// bonus is awarded once when the streak reaches 7, 14, 21, … days.
    pub async fn check_in(&self, caller: &Principal, resident_id: &str) -> Result<CheckIn> {
        let resident_id = resident_or_self(caller, resident_id)?;
        may_act_for(caller, &resident_id)?;
        let now = self.now();
        let today = local_date(now);
        let event = |behaviour: &str, key: &str, quantity: u64| Event {
            source_id: SELF_SOURCE.to_owned(),
            source_event_id: format!("{key}:{resident_id}:{today}"),
            resident: ResidentRef::Id(resident_id.clone()),
            behaviour_code: behaviour.to_owned(),
            occurred_at: now,
            quantity,
            district: None,
            attributes: Default::default(),
        };
        let outcome = self
            .submit(vec![event(CHECKIN, "checkin", 1)])
            .await?
            .remove(0);
        let counted = matches!(
            outcome.kind,
            OutcomeKind::Awarded | OutcomeKind::Pending | OutcomeKind::Held | OutcomeKind::Capped
        );
        if !counted {
            return Ok(CheckIn {
                outcome,
                streak_days: 0,
                streak_bonus: None,
            });
        }
        let days = self.check_in_days(&resident_id, now).await?;
        let streak_days = streak_ending(&days, today);
        let streak_bonus = if streak_days > 0 && streak_days.is_multiple_of(STREAK_DAYS) {
            Some(
                self.submit(vec![event(STREAK_BONUS, "streak", u64::from(streak_days))])
                    .await?
                    .remove(0),
            )
        } else {
            None
        };
        Ok(CheckIn {
            outcome,
            streak_days,
            streak_bonus,
        })
    }

    /// Whether today's check-in is done, and the streak: up to today, or up to yesterday while
    /// today's is not done yet (it is still alive until the day ends).
    pub async fn check_in_status(
        &self,
        caller: &Principal,
        resident_id: &str,
    ) -> Result<(bool, u32)> {
        let resident_id = resident_or_self(caller, resident_id)?;
        may_act_for(caller, &resident_id)?;
        let now = self.now();
        let today = local_date(now);
        let days = self.check_in_days(&resident_id, now).await?;
        if days.contains(&today) {
            return Ok((true, streak_ending(&days, today)));
        }
        Ok((
            false,
            today.pred_opt().map_or(0, |y| streak_ending(&days, y)),
        ))
    }

    /// The days (Asia/Shanghai) of the resident's counted check-ins over the last 400 days.
    async fn check_in_days(
        &self,
        resident_id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<BTreeSet<chrono::NaiveDate>> {
        Ok(self
            .store()
            .counted_times(resident_id, CHECKIN, now - Duration::days(400))
            .await?
            .into_iter()
            .map(local_date)
            .collect())
    }

    /// A resident's outcomes, newest first; the cursor is the last event id of the previous
    /// page.
    /// Points earned per month, newest first, over the last `months` months (12 by default,
    /// at most 36), months without awards included.
    pub async fn monthly_points(
        &self,
        caller: &Principal,
        resident_id: &str,
        months: u32,
    ) -> Result<Vec<(String, u64, u32)>> {
        let resident_id = resident_or_self(caller, resident_id)?;
        may_act_for(caller, &resident_id)?;
        let months = match months {
            0 => 12,
            n if n > 36 => {
                return Err(IntakeError::invalid("months", "must be at most 36"));
            }
            n => n,
        };
        let today = local_date(self.now());
        let mut keys = Vec::with_capacity(months as usize);
        let (mut year, mut month) = (today.year(), today.month());
        for _ in 0..months {
            keys.push(format!("{year:04}-{month:02}"));
            if month == 1 {
                year -= 1;
                month = 12;
            } else {
                month -= 1;
            }
        }
        let oldest = keys.last().cloned().unwrap_or_default();
        let since = period_bounds(&oldest)
            .map(|(from, _)| from)
            .ok_or_else(|| IntakeError::fault("month bounds"))?;
        let mut sums: std::collections::BTreeMap<String, (u64, u32)> =
            std::collections::BTreeMap::new();
        for (at, points) in self.store().awards_since(&resident_id, since).await? {
            let day = local_date(at);
            let entry = sums
                .entry(format!("{:04}-{:02}", day.year(), day.month()))
                .or_default();
            entry.0 += points;
            entry.1 += 1;
        }
        Ok(keys
            .into_iter()
            .map(|k| {
                let (points, awards) = sums.get(&k).copied().unwrap_or_default();
                (k, points, awards)
            })
            .collect())
    }

    pub async fn outcomes(
        &self,
        caller: &Principal,
        resident_id: &str,
        cursor: &str,
        page_size: u32,
    ) -> Result<(Vec<Outcome>, Option<String>)> {
        let resident_id = resident_or_self(caller, resident_id)?;
        may_act_for(caller, &resident_id)?;
        let before = healthpoints_types::uuid_cursor(cursor)
            .map_err(|e| IntakeError::invalid("page.cursor", e.0))?;
        let size = match page_size {
            0 => 50,
            n => n.min(500),
        };
        let mut outcomes = self
            .store()
            .outcomes_of(&resident_id, before, u64::from(size) + 1)
            .await?;
        let next = if outcomes.len() > size as usize {
            outcomes.truncate(size as usize);
            outcomes.last().map(|o| o.event_id.to_string())
        } else {
            None
        };
        Ok((outcomes, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_counts_the_days_in_a_row_up_to_its_last() {
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let days: BTreeSet<_> = [1, 3, 4, 5].into_iter().map(day).collect();
        assert_eq!(streak_ending(&days, day(5)), 3);
        // Today (the 6th) not done yet: yesterday's streak is still alive.
        assert_eq!(streak_ending(&days, day(6)), 0);
        assert_eq!(streak_ending(&days, day(2)), 0);
        assert_eq!(streak_ending(&days, day(1)), 1);
    }
}
