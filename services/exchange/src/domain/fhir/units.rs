//! UCUM units of the quantities the FHIR profiles read: a day's steps are a count per day, an
//! exercise duration is converted to whole minutes. A unit that is not one of these is refused,
//! naming the element, rather than its number being read as something else.

use super::{Issue, Quantity};

/// The UCUM code system.
pub(super) const UCUM: &str = "http://unitsofmeasure.org";

/// Steps in 24 hours (LOINC 41950-7) as UCUM writes a count per day; a bare count is read as
/// that day's, since the code already says "in 24 hours".
pub(super) const STEP_UNITS: [&str; 8] = [
    "/d",
    "/(24.h)",
    "{steps}/d",
    "{steps}/(24.h)",
    "{steps}",
    "{step}",
    "{count}",
    "1",
];

/// Duration units and how many seconds each is.
pub(super) const DURATION_UNITS: [(&str, u64); 3] = [("s", 1), ("min", 60), ("h", 3600)];

/// The largest quantity a record may carry.
const MAX_QUANTITY: f64 = 1_000_000.0;

/// The UCUM code of a quantity, or an issue at `path` when it has none or names another system.
fn code<'q>(path: &str, q: &'q Quantity) -> Result<&'q str, Issue> {
    if let Some(system) = q.system.as_deref()
        && system != UCUM
    {
        return Err(Issue::new(
            "value",
            format!("{path}.system"),
            format!("units are UCUM: the system must be {UCUM}"),
        ));
    }
    match q.code.as_deref().map(str::trim) {
        Some(code) if !code.is_empty() => Ok(code),
        _ => Err(Issue::new(
            "required",
            format!("{path}.code"),
            "the UCUM unit code is required (system http://unitsofmeasure.org)",
        )),
    }
}

fn value(path: &str, q: &Quantity) -> Result<f64, Issue> {
    let v = q
        .value
        .ok_or_else(|| Issue::new("required", format!("{path}.value"), "is required"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(Issue::new(
            "value",
            format!("{path}.value"),
            "must be a number, not negative",
        ));
    }
    Ok(v)
}

/// A day's steps: a whole count per day.
pub(super) fn steps(path: &str, q: Option<&Quantity>) -> Result<u64, Issue> {
    let q = q.ok_or_else(|| Issue::new("required", path.to_owned(), "is required"))?;
    let v = value(path, q)?;
    let unit = code(path, q)?;
    if !STEP_UNITS.contains(&unit) {
        return Err(Issue::new(
            "value",
            format!("{path}.code"),
            format!(
                "steps are a count per day: UCUM /d (or {{steps}}); {} is not",
                shown(unit)
            ),
        ));
    }
    if v > MAX_QUANTITY || v.fract() != 0.0 {
        return Err(Issue::new(
            "value",
            format!("{path}.value"),
            "must be a whole number of steps between 0 and 1,000,000",
        ));
    }
    Ok(v as u64)
}

/// An exercise duration in whole minutes: `s`, `min` or `h` converted, the part of a minute
/// left over not counted.
pub(super) fn minutes(path: &str, q: Option<&Quantity>) -> Result<u64, Issue> {
    let q = q.ok_or_else(|| Issue::new("required", path.to_owned(), "is required"))?;
    let v = value(path, q)?;
    let unit = code(path, q)?;
    let Some((_, seconds)) = DURATION_UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(Issue::new(
            "value",
            format!("{path}.code"),
            format!("a duration is in UCUM min, h or s; {} is not", shown(unit)),
        ));
    };
    let total = v * *seconds as f64;
    if total > MAX_QUANTITY * 60.0 {
        return Err(Issue::new(
            "value",
            format!("{path}.value"),
            "is longer than 1,000,000 minutes",
        ));
    }
    // Whole milliseconds first, so 4.1 h is 246 minutes and not 245.99… floored.
    Ok((total * 1000.0).round() as u64 / 60_000)
}

/// A unit code as sent, bounded and printable, for a diagnostic.
fn shown(unit: &str) -> String {
    let mut s: String = unit.chars().filter(|c| !c.is_control()).take(24).collect();
    if unit.chars().count() > 24 {
        s.push('…');
    }
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(value: f64, code: Option<&str>, system: Option<&str>) -> Quantity {
        Quantity {
            value: Some(value),
            code: code.map(str::to_owned),
            system: system.map(str::to_owned),
        }
    }

    #[test]
    fn durations_are_converted_to_whole_minutes() {
        for (v, unit, want) in [
            (45.0, "min", 45),
            (1.5, "h", 90),
            (2.0, "h", 120),
            (1_830.0, "s", 30),
            (89.0, "s", 1),
            (30.9, "min", 30),
            (4.1, "h", 246),
            (2.05, "h", 123),
        ] {
            assert_eq!(
                minutes("q", Some(&q(v, Some(unit), Some(UCUM)))).unwrap(),
                want,
                "{v} {unit}"
            );
        }
    }

    #[test]
    fn a_unit_that_is_not_a_duration_or_a_count_per_day_is_refused_naming_the_code() {
        for unit in ["km", "kcal", "d", "/h", "mo"] {
            let issue = minutes("q", Some(&q(30.0, Some(unit), Some(UCUM)))).unwrap_err();
            assert_eq!((issue.code, issue.expression.as_str()), ("value", "q.code"));
        }
        for unit in ["/h", "/min", "km", "min"] {
            let issue = steps("q", Some(&q(30.0, Some(unit), None))).unwrap_err();
            assert_eq!(issue.expression, "q.code", "{unit}");
        }
        let missing = steps("q", Some(&q(30.0, None, Some(UCUM)))).unwrap_err();
        assert_eq!(
            (missing.code, missing.expression.as_str()),
            ("required", "q.code")
        );
        let other = minutes(
            "q",
            Some(&q(30.0, Some("min"), Some("http://snomed.info/sct"))),
        )
        .unwrap_err();
        assert_eq!(other.expression, "q.system");
    }

    #[test]
    fn steps_are_whole_counts_per_day() {
        assert_eq!(
            steps("q", Some(&q(10_432.0, Some("/d"), Some(UCUM)))).unwrap(),
            10_432
        );
        assert_eq!(
            steps("q", Some(&q(8_000.0, Some("{steps}"), None))).unwrap(),
            8_000
        );
        for bad in [10.5, -1.0, 1_000_001.0, f64::NAN] {
            assert!(
                steps("q", Some(&q(bad, Some("/d"), Some(UCUM)))).is_err(),
                "{bad}"
            );
        }
    }
}
