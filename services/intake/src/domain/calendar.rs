//! The programme's calendar: days, weeks, months and years are **Asia/Shanghai** calendar
//! periods. China Standard Time is UTC+8 all year (no daylight saving since 1991), so a fixed
//! offset is exact and needs no time-zone database.

use chrono::{DateTime, Datelike, Utc};

pub use healthpoints_types::calendar::{local_date, period_bounds, shanghai};

/// A period a cap counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    Day,
    Week,
    Month,
    Year,
    Lifetime,
}

impl Period {
    pub const ALL: [Period; 5] = [
        Period::Day,
        Period::Week,
        Period::Month,
        Period::Year,
        Period::Lifetime,
    ];

    /// The cap's name as outcomes report it.
    pub fn cap_name(self) -> &'static str {
        match self {
            Self::Day => "per_day",
            Self::Week => "per_week",
            Self::Month => "per_month",
            Self::Year => "per_year",
            Self::Lifetime => "per_lifetime",
        }
    }

    /// The key of the period containing `at`: `2026-11-22`, `2026-W47` (ISO week, Monday
    /// first), `2026-11`, `2026`, or `lifetime`. Keys of one period kind never collide with
    /// another's, so they can share a column.
    pub fn key(self, at: DateTime<Utc>) -> String {
        let date = local_date(at);
        match self {
            Self::Day => date.format("%Y-%m-%d").to_string(),
            Self::Week => {
                let week = date.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Self::Month => date.format("%Y-%m").to_string(),
            Self::Year => date.format("%Y").to_string(),
            Self::Lifetime => "lifetime".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn local_midnight_is_16_00_utc() {
        // 23:59:59 and 00:00:00 Shanghai time fall on different days, weeks, months and years.
        let before = at("2026-12-31T23:59:59+08:00");
        let after = at("2027-01-01T00:00:00+08:00");
        assert_eq!(before, at("2026-12-31T15:59:59Z"));
        assert_eq!(Period::Day.key(before), "2026-12-31");
        assert_eq!(Period::Day.key(after), "2027-01-01");
        assert_eq!(Period::Month.key(before), "2026-12");
        assert_eq!(Period::Month.key(after), "2027-01");
        assert_eq!(Period::Year.key(before), "2026");
        assert_eq!(Period::Year.key(after), "2027");
        // 2026-12-31 is a Thursday of ISO week 53 of 2026; 2027-01-01 still belongs to it.
        assert_eq!(Period::Week.key(before), "2026-W53");
        assert_eq!(Period::Week.key(after), "2026-W53");
        assert_eq!(Period::Lifetime.key(before), Period::Lifetime.key(after));
    }

    #[test]
    fn weeks_start_on_monday_local_time() {
        // Sunday 2026-11-22 23:59:59 and Monday 2026-11-23 00:00:00, Shanghai.
        let sunday = at("2026-11-22T15:59:59Z");
        let monday = at("2026-11-22T16:00:00Z");
        assert_eq!(Period::Week.key(sunday), "2026-W47");
        assert_eq!(Period::Week.key(monday), "2026-W48");
        // The same UTC day, but already Monday in Shanghai.
        assert_eq!(sunday.date_naive(), monday.date_naive());
    }
}
