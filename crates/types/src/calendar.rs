//! The programme's calendar: days, weeks and months are **Asia/Shanghai** calendar periods.
//! China Standard Time is UTC+8 all year (no daylight saving since 1991), so a fixed offset is
//! exact and needs no time-zone database. Ages and the age bands of the statistics live here
//! too, so that every service counts them the same way.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};

/// UTC+8, China Standard Time.
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The Asia/Shanghai calendar date of an instant.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&shanghai()).date_naive()
}

/// The month (`2026-11`) an instant falls in, Asia/Shanghai.
pub fn month_key(at: DateTime<Utc>) -> String {
    local_date(at).format("%Y-%m").to_string()
}

/// The instants `[from, to)` of a month (`2026-11`) or an ISO week (`2026-W47`), Asia/Shanghai;
/// `None` if the key is neither.
pub fn period_bounds(key: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (first, next) = if let Some((year, week)) = key.split_once("-W") {
        let year: i32 = year.parse().ok()?;
        let week: u32 = week.parse().ok()?;
        let monday = NaiveDate::from_isoywd_opt(year, week, chrono::Weekday::Mon)?;
        (monday, monday + chrono::Days::new(7))
    } else {
        let first = NaiveDate::parse_from_str(&format!("{key}-01"), "%Y-%m-%d").ok()?;
        if first.format("%Y-%m").to_string() != key {
            return None;
        }
        (first, first.checked_add_months(chrono::Months::new(1))?)
    };
    Some((local_midnight(first)?, local_midnight(next)?))
}

/// The instants `[from, to)` of a month (`2026-11`), Asia/Shanghai; `None` for anything else
/// (a week key included).
pub fn month_bounds(key: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    period_bounds(key).filter(|_| !key.contains('W'))
}

/// The first instant of a calendar day, Asia/Shanghai.
pub fn local_midnight(day: NaiveDate) -> Option<DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0)?
        .and_local_timezone(shanghai())
        .single()
        .map(|t| t.to_utc())
}

/// Whole years between a birth date and a day.
pub fn age_on(birth: NaiveDate, day: NaiveDate) -> u32 {
    let mut years = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// The age band of the de-identified statistics: `0-17`, `18-39`, `40-59` or `60+` (the
/// programme's elderly services start at 60).
pub fn age_band(age: u32) -> &'static str {
    match age {
        0..=17 => "0-17",
        18..=39 => "18-39",
        40..=59 => "40-59",
        _ => "60+",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn period_bounds_are_local_months_and_iso_weeks() {
        let (from, to) = period_bounds("2026-11").unwrap();
        assert_eq!(from, at("2026-11-01T00:00:00+08:00"));
        assert_eq!(to, at("2026-12-01T00:00:00+08:00"));
        let (from, to) = period_bounds("2026-W47").unwrap();
        assert_eq!(from, at("2026-11-16T00:00:00+08:00"));
        assert_eq!(to, at("2026-11-23T00:00:00+08:00"));
        for bad in ["2026-13", "2026-1", "2026-W54", "november", ""] {
            assert!(period_bounds(bad).is_none(), "{bad}");
        }
        assert_eq!(month_bounds("2026-11"), period_bounds("2026-11"));
        assert!(month_bounds("2026-W47").is_none());
    }

    #[test]
    fn months_turn_at_local_midnight() {
        assert_eq!(month_key(at("2026-11-30T15:59:59Z")), "2026-11");
        assert_eq!(month_key(at("2026-11-30T16:00:00Z")), "2026-12");
    }

    #[test]
    fn ages_count_whole_years_and_fall_in_bands() {
        let birth = NaiveDate::from_ymd_opt(1966, 11, 23).unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        assert_eq!(age_on(birth, day(22)), 59);
        assert_eq!(age_on(birth, day(23)), 60);
        assert_eq!(age_band(age_on(birth, day(22))), "40-59");
        assert_eq!(age_band(age_on(birth, day(23))), "60+");
        assert_eq!(age_band(17), "0-17");
        assert_eq!(age_band(18), "18-39");
        assert_eq!(age_band(40), "40-59");
    }
}
