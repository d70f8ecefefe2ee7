//! What one event earns under one rule, given what the resident already earned under it — a
//! pure function, so the service, the what-if simulator and the tests share it exactly.
//!
//! Order of judgement: the source may report the behaviour; the evidence is there; the quantity
//! is plausible and reaches the first tier; a daily-total rule (steps) pays only the top-up over
//! what the day already earned; the minimum interval since the last award; then every cap
//! (day, week, month, year, lifetime — Asia/Shanghai periods) cuts the award to what is left
//! under the tightest one.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::{
    calendar::{Period, local_date},
    catalogue::Rule,
};

/// What the resident already earned under the rule's code, as seen from the event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prior {
    /// Points awarded in each period that contains the event.
    pub totals: BTreeMap<Period, u64>,
    /// When the event behind the nearest award (in occurrence time) happened.
    pub nearest_award_at: Option<DateTime<Utc>>,
    /// Points awarded for the event's local day (what a daily-total report tops up).
    pub day_awarded: u64,
}

/// Why an event earns nothing and counts as refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    SourceNotAllowed,
    MissingEvidence,
    ImplausibleQuantity,
    BelowThreshold,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::SourceNotAllowed => "source_not_allowed",
            Self::MissingEvidence => "missing_evidence",
            Self::ImplausibleQuantity => "implausible_quantity",
            Self::BelowThreshold => "below_threshold",
        }
    }

    pub fn sentence(self) -> &'static str {
        match self {
            Self::SourceNotAllowed => "this source may not report this behaviour",
            Self::MissingEvidence => "the record lacks evidence the rule requires",
            Self::ImplausibleQuantity => {
                "the quantity is beyond what the rule accepts as plausible"
            }
            Self::BelowThreshold => "the quantity does not reach the rule's first tier",
        }
    }
}

/// Which limit bound, and how many points it cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// `per_day` … `per_lifetime`, `min_interval`, or `day_best` (a daily total already paid
    /// for an equal or higher count).
    pub cap: &'static str,
    pub points_cut: u64,
}

/// The judgement of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Points to award (at least 1); `cut` when a limit reduced them.
    Award {
        points: u64,
        cut: Option<Cut>,
    },
    /// A limit left nothing to award.
    Capped(Cut),
    Refused(Refusal),
}

/// The event as the judge sees it.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub source_id: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub quantity: u64,
    pub attributes: &'a HashMap<String, String>,
}

/// Judges `report` under `rule`.
pub fn judge(rule: &Rule, report: Report<'_>, prior: &Prior) -> Verdict {
    if !rule.sources.iter().any(|s| s == report.source_id) {
        return Verdict::Refused(Refusal::SourceNotAllowed);
    }
    if rule
        .evidence
        .iter()
        .any(|e| report.attributes.get(e).is_none_or(|v| v.trim().is_empty()))
    {
        return Verdict::Refused(Refusal::MissingEvidence);
    }
    if rule.max_quantity.is_some_and(|max| report.quantity > max) {
        return Verdict::Refused(Refusal::ImplausibleQuantity);
    }
    let Some(mut points) = rule.award.points(report.quantity) else {
        return Verdict::Refused(Refusal::BelowThreshold);
    };
    let mut cut: Option<Cut> = None;
    if rule.daily_total {
        let top_up = points.saturating_sub(prior.day_awarded);
        if top_up == 0 {
            return Verdict::Capped(Cut {
                cap: "day_best",
                points_cut: points,
            });
        }
        points = top_up;
    }
    if let (Some(gap), Some(nearest)) = (rule.caps.min_interval_seconds, prior.nearest_award_at) {
        let apart = (report.occurred_at - nearest).num_seconds().unsigned_abs();
        if apart < gap {
            return Verdict::Capped(Cut {
                cap: "min_interval",
                points_cut: points,
            });
        }
    }
    let tightest = Period::ALL
        .iter()
        .filter_map(|p| {
            let limit = rule.caps.limit(*p)?;
            let used = prior.totals.get(p).copied().unwrap_or(0);
            Some((limit.saturating_sub(used), *p))
        })
        .min();
    if let Some((left, period)) = tightest
        && left < points
    {
        let c = Cut {
            cap: period.cap_name(),
            points_cut: points - left,
        };
        if left == 0 {
            return Verdict::Capped(c);
        }
        points = left;
        cut = Some(c);
    }
    Verdict::Award { points, cut }
}

/// What earlier awards (occurrence time, points) under one rule code mean for an event at `at`.
pub fn prior_from(awards: impl IntoIterator<Item = Awarded>, at: DateTime<Utc>) -> Prior {
    let mut prior = Prior::default();
    let day = local_date(at);
    let keys = Period::ALL.map(|p| p.key(at));
    for (when, points) in awards {
        for (period, key) in Period::ALL.into_iter().zip(&keys) {
            if period.key(when) == *key {
                *prior.totals.entry(period).or_default() += points;
            }
        }
        if local_date(when) == day {
            prior.day_awarded += points;
        }
        let nearer = prior
            .nearest_award_at
            .is_none_or(|n| (at - when).num_seconds().abs() < (at - n).num_seconds().abs());
        if nearer {
            prior.nearest_award_at = Some(when);
        }
    }
    prior
}

/// Awards in memory, per resident and rule code: the what-if simulator replays events through
/// it, and tests use it as the store's stand-in. The store keeps the same figures in tables.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Per (resident, rule code): each award's occurrence time and points.
    awards: HashMap<(String, String), Vec<Awarded>>,
}

/// When an awarded event occurred, and what it earned.
pub type Awarded = (DateTime<Utc>, u64);

impl Tally {
    /// What `resident` already earned under `code`, as seen from an event at `at`.
    pub fn prior(&self, resident: &str, code: &str, at: DateTime<Utc>) -> Prior {
        match self.awards.get(&(resident.to_owned(), code.to_owned())) {
            Some(awards) => prior_from(awards.iter().copied(), at),
            None => Prior::default(),
        }
    }

    pub fn record(&mut self, resident: &str, code: &str, at: DateTime<Utc>, points: u64) {
        self.awards
            .entry((resident.to_owned(), code.to_owned()))
            .or_default()
            .push((at, points));
    }

    /// Judges an event and, when it earns points, records them.
    pub fn judge_and_record(&mut self, resident: &str, rule: &Rule, report: Report<'_>) -> Verdict {
        let verdict = judge(
            rule,
            report,
            &self.prior(resident, &rule.code, report.occurred_at),
        );
        if let Verdict::Award { points, .. } = verdict {
            self.record(resident, &rule.code, report.occurred_at, points);
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn each_refusal_says_why_in_its_own_words() {
        for (refusal, word) in [
            (Refusal::SourceNotAllowed, "source"),
            (Refusal::MissingEvidence, "evidence"),
            (Refusal::ImplausibleQuantity, "plausible"),
            (Refusal::BelowThreshold, "tier"),
        ] {
            assert!(
                refusal.sentence().contains(word),
                "{}: {}",
                refusal.code(),
                refusal.sentence()
            );
        }
    }

    /// Only the distance counts (the minimum-interval cap): of two awards equally far, either.
    #[test]
    fn the_nearest_award_is_the_nearest_in_either_direction() {
        let at = Utc.with_ymd_and_hms(2026, 12, 4, 4, 0, 0).unwrap();
        let hours = chrono::Duration::hours;
        let prior = prior_from(
            [
                (at - hours(3), 10),
                (at + hours(2), 10),
                (at - hours(1), 10),
                (at + hours(5), 10),
            ],
            at,
        );
        assert_eq!(prior.nearest_award_at, Some(at - hours(1)));
    }
}
