//! When points expire: a policy per book, versioned like the rules. The configuration gives each
//! book's first policy; an admin publishes a new one with an effective time that is never in the
//! past, and the policy in force when a behaviour **occurred** decides the day its points
//! expire, so points already earned keep their day whatever is published later. Intake puts
//! that day on the award; the ledger keeps the points in lots by day and expires them.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use healthpoints_types::{Book, calendar};

/// How long points last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryPolicy {
    /// They never expire.
    Never,
    /// At the end of the calendar year `years_after` years after the year earned (`year_end+2`:
    /// points of 2026 expire at the end of 2028-12-31).
    YearEnd { years_after: u8 },
    /// At the end of the day `days` days after the day earned (`days:365`).
    Days(u16),
}

impl ExpiryPolicy {
    /// Parses `none`, `year_end+N` (N 0–10) or `days:N` (N 1–3650).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("{s:?} is not a policy: none, year_end+N (0-10) or days:N (1-3650)");
        if s == "none" {
            return Ok(Self::Never);
        }
        if let Some(n) = s.strip_prefix("year_end+") {
            let years_after: u8 = n.parse().map_err(|_| bad())?;
            return (years_after <= 10)
                .then_some(Self::YearEnd { years_after })
                .ok_or_else(bad);
        }
        if let Some(n) = s.strip_prefix("days:") {
            let days: u16 = n.parse().map_err(|_| bad())?;
            return (1..=3650)
                .contains(&days)
                .then_some(Self::Days(days))
                .ok_or_else(bad);
        }
        Err(bad())
    }

    /// The day points earned on `earned` (Asia/Shanghai) expire on; `None`: never.
    pub fn expires_on(self, earned: NaiveDate) -> Option<NaiveDate> {
        match self {
            Self::Never => None,
            Self::YearEnd { years_after } => {
                NaiveDate::from_ymd_opt(earned.year() + i32::from(years_after), 12, 31)
            }
            Self::Days(days) => earned.checked_add_days(Days::new(u64::from(days))),
        }
    }
}

impl std::fmt::Display for ExpiryPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Never => f.write_str("none"),
            Self::YearEnd { years_after } => write!(f, "year_end+{years_after}"),
            Self::Days(days) => write!(f, "days:{days}"),
        }
    }
}

/// One published version of a book's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    pub book: Book,
    /// From 1; the configured policy is version 0.
    pub version: u32,
    pub policy: ExpiryPolicy,
    pub effective_from: DateTime<Utc>,
    /// Staff id of who published it.
    pub published_by: String,
    pub published_at: DateTime<Utc>,
}

/// The configured policies, and every published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryPolicies {
    pub city: ExpiryPolicy,
    /// Every district book's, until one publishes its own.
    pub district: ExpiryPolicy,
    /// Sorted by book, then version.
    versions: Vec<PolicyVersion>,
}

impl ExpiryPolicies {
    pub fn new(
        city: ExpiryPolicy,
        district: ExpiryPolicy,
        mut versions: Vec<PolicyVersion>,
    ) -> Self {
        versions.sort_by_key(|v| (v.book, v.version));
        Self {
            city,
            district,
            versions,
        }
    }

    /// The configured policy of `book` (its version 0).
    pub fn configured(&self, book: Book) -> ExpiryPolicy {
        match book {
            Book::City => self.city,
            Book::District(_) => self.district,
        }
    }

    /// The published versions of `book`, oldest first.
    pub fn versions(&self, book: Book) -> impl Iterator<Item = &PolicyVersion> {
        self.versions.iter().filter(move |v| v.book == book)
    }

    /// The policy of `book` in force at `at`, and its version (0: the configured one).
    pub fn in_force(&self, book: Book, at: DateTime<Utc>) -> (ExpiryPolicy, u32) {
        self.versions(book)
            .filter(|v| v.effective_from <= at)
            .last()
            .map_or((self.configured(book), 0), |v| (v.policy, v.version))
    }

    /// The day points of `book` earned at `earned` expire on.
    pub fn expires_on(&self, book: Book, earned: DateTime<Utc>) -> Option<NaiveDate> {
        self.in_force(book, earned)
            .0
            .expires_on(calendar::local_date(earned))
    }

    /// The version after the last of `book`.
    pub fn next_version(&self, book: Book) -> u32 {
        self.versions(book).map(|v| v.version).max().unwrap_or(0) + 1
    }

    /// The last published version of `book` that takes effect after `at`, if any.
    pub fn scheduled(&self, book: Book, at: DateTime<Utc>) -> Option<&PolicyVersion> {
        self.versions(book).filter(|v| v.effective_from > at).last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn policies_parse_print_and_give_the_day_points_expire_on() {
        let p = ExpiryPolicy::parse("year_end+2").unwrap();
        assert_eq!(p.to_string(), "year_end+2");
        assert_eq!(p.expires_on(day(2026, 1, 1)), Some(day(2028, 12, 31)));
        assert_eq!(p.expires_on(day(2026, 12, 31)), Some(day(2028, 12, 31)));
        let d = ExpiryPolicy::parse("days:365").unwrap();
        assert_eq!(d.expires_on(day(2026, 3, 1)), Some(day(2027, 3, 1)));
        assert_eq!(
            ExpiryPolicy::parse("none")
                .unwrap()
                .expires_on(day(2026, 3, 1)),
            None
        );
        for bad in [
            "",
            "never",
            "year_end+11",
            "days:0",
            "days:9999",
            "year_end+-1",
        ] {
            assert!(ExpiryPolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_policy_in_force_when_points_were_earned_decides_their_day() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let qingpu = Book::parse("district:310118").unwrap();
        let policies = ExpiryPolicies::new(
            ExpiryPolicy::YearEnd { years_after: 2 },
            ExpiryPolicy::Never,
            vec![PolicyVersion {
                book: qingpu,
                version: 1,
                policy: ExpiryPolicy::Days(30),
                effective_from: at("2027-01-01T00:00:00Z"),
                published_by: "admin".into(),
                published_at: at("2026-12-01T00:00:00Z"),
            }],
        );
        assert_eq!(
            policies.expires_on(qingpu, at("2026-12-31T12:00:00Z")),
            None
        );
        assert_eq!(
            policies.expires_on(qingpu, at("2027-01-02T00:00:00Z")),
            Some(day(2027, 2, 1))
        );
        assert_eq!(
            policies.expires_on(Book::City, at("2026-06-01T00:00:00Z")),
            Some(day(2028, 12, 31))
        );
        assert_eq!(policies.next_version(qingpu), 2);
        assert_eq!(policies.next_version(Book::City), 1);
        assert!(
            policies
                .scheduled(qingpu, at("2026-12-07T00:00:00Z"))
                .is_some()
        );
        assert!(
            policies
                .scheduled(qingpu, at("2027-01-07T00:00:00Z"))
                .is_none()
        );
    }
}
