//! The rule catalogue: what each behaviour earns, at which level, under which caps, from which
//! sources — versioned with effective times, so an event is always judged by the version in
//! force when it **occurred**, and publishing a new version never changes awards already made.

use chrono::{DateTime, Utc};
use healthpoints_types::{
    Book, DistrictCode,
    text::{Lines, free_text},
};
use serde::{Deserialize, Serialize};

use super::calendar::Period;

/// The default catalogue shipped with the service; see the comments in the file for why each
/// value is what it is.
pub const DEFAULT_CATALOGUE: &str = include_str!("../../catalogue/default.toml");

/// The source id of a resident's own check-in.
pub const SELF_SOURCE: &str = "self";

/// Which of the four kinds of behaviour a rule rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Learning,
    Lifestyle,
    PublicHealthService,
    PublicWelfare,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Self::Learning,
        Self::Lifestyle,
        Self::PublicHealthService,
        Self::PublicWelfare,
    ];

    /// The name stored with awards.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Learning => "learning",
            Self::Lifestyle => "lifestyle",
            Self::PublicHealthService => "public_health_service",
            Self::PublicWelfare => "public_welfare",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Which points a rule awards: municipal (book `city`) or the district's (where the behaviour
/// happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    City,
    District,
}

/// One step of a tiered award: a quantity reaching `min_quantity` earns `points`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub min_quantity: u64,
    pub points: u64,
}

/// How an event's points are computed from its quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Award {
    /// The same points for every qualifying event.
    Fixed(u64),
    /// The highest tier whose threshold the quantity reaches (tiers ascending).
    Tiers(Vec<Tier>),
    /// Points per unit of quantity (e.g. per hour of volunteering).
    PerUnit(u64),
}

impl Award {
    /// The points a quantity earns before caps; `None` below the first tier.
    pub fn points(&self, quantity: u64) -> Option<u64> {
        match self {
            Self::Fixed(p) => Some(*p),
            Self::Tiers(tiers) => tiers
                .iter()
                .rev()
                .find(|t| quantity >= t.min_quantity)
                .map(|t| t.points),
            Self::PerUnit(p) => Some(p.saturating_mul(quantity)),
        }
    }
}

/// Limits on what one resident earns under one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    pub per_day: Option<u64>,
    pub per_week: Option<u64>,
    pub per_month: Option<u64>,
    pub per_year: Option<u64>,
    pub per_lifetime: Option<u64>,
    /// Seconds that must pass between two awards under the rule.
    pub min_interval_seconds: Option<u64>,
}

impl Caps {
    pub fn limit(&self, period: Period) -> Option<u64> {
        match period {
            Period::Day => self.per_day,
            Period::Week => self.per_week,
            Period::Month => self.per_month,
            Period::Year => self.per_year,
            Period::Lifetime => self.per_lifetime,
        }
    }
}

/// One version of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Behaviour code, e.g. `steps.daily`.
    pub code: String,
    #[serde(default = "first_version")]
    pub version: u32,
    pub category: Category,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub level: Level,
    /// The district whose own rule, or tightening of a city-wide rule, this is; unset on
    /// city-wide rules. A city-wide district-level rule awards the points of the district
    /// where the behaviour happened.
    #[serde(default, deserialize_with = "optional_district")]
    pub district: Option<DistrictCode>,
    pub award: Award,
    #[serde(default)]
    pub caps: Caps,
    /// Unit of quantity: `steps`, `minutes`, `hours`, `count`.
    pub unit: String,
    /// Largest plausible quantity of one event; beyond it the event is rejected.
    #[serde(default)]
    pub max_quantity: Option<u64>,
    /// The quantity is a running daily total (steps): reports of one day from any number of
    /// sources count once — the highest — and a later, larger report tops up the difference.
    #[serde(default)]
    pub daily_total: bool,
    /// Partner ids that may report it, and/or `self` for the resident's own check-in.
    pub sources: Vec<String>,
    /// Evidence attributes an event must carry, e.g. `vaccine_code`.
    #[serde(default)]
    pub evidence: Vec<String>,
    pub effective_from: DateTime<Utc>,
    #[serde(default)]
    pub effective_until: Option<DateTime<Utc>>,
}

fn first_version() -> u32 {
    1
}

fn optional_district<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<DistrictCode>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|code| DistrictCode::parse(&code).map_err(serde::de::Error::custom))
        .transpose()
}

/// A problem with a rule, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct RuleViolation {
    pub field: String,
    pub reason: String,
}

fn violation(field: &str, reason: impl Into<String>) -> RuleViolation {
    RuleViolation {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

impl Rule {
    /// Whether this version is in force at `at`.
    pub fn in_force(&self, at: DateTime<Utc>) -> bool {
        self.effective_from <= at && self.effective_until.is_none_or(|until| at < until)
    }

    /// The book an award under this rule goes to, for an event that happened in `district`.
    pub fn book(&self, district: Option<DistrictCode>) -> Option<Book> {
        match self.level {
            Level::City => Some(Book::City),
            Level::District => self.district.or(district).map(Book::District),
        }
    }

    /// Checks a new draft's texts as free text (no control characters; the description may break
    /// lines). Rules published before this check existed are not held to it: publishing other
    /// rules must never fail on them.
    pub fn validate_text(&self) -> Result<(), Vec<RuleViolation>> {
        let mut v = Vec::new();
        if let Err(e) = free_text(&self.title, 100, true, Lines::One) {
            v.push(violation("title", e.0));
        }
        if let Err(e) = free_text(&self.description, 2000, false, Lines::Many) {
            v.push(violation("description", e.0));
        }
        if v.is_empty() { Ok(()) } else { Err(v) }
    }

    /// Checks the rule on its own; every problem is reported, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<RuleViolation>> {
        let mut v = Vec::new();
        let code_ok = !self.code.is_empty()
            && self.code.len() <= 64
            && self
                .code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
        if !code_ok {
            v.push(violation(
                "code",
                "must be 1-64 characters of a-z, 0-9, '.' and '_'",
            ));
        }
        if self.title.trim().is_empty() || self.title.chars().count() > 100 {
            v.push(violation("title", "must be 1-100 characters"));
        }
        match &self.award {
            Award::Fixed(0) | Award::PerUnit(0) => {
                v.push(violation("award", "must award at least 1 point"));
            }
            Award::Tiers(tiers) => {
                if tiers.is_empty() {
                    v.push(violation("award.tiers", "needs at least one tier"));
                }
                let ascending = tiers
                    .windows(2)
                    .all(|w| w[0].min_quantity < w[1].min_quantity && w[0].points < w[1].points);
                if !ascending || tiers.iter().any(|t| t.points == 0) {
                    v.push(violation(
                        "award.tiers",
                        "thresholds and points must rise from tier to tier, from at least 1 point",
                    ));
                }
            }
            _ => {}
        }
        for period in Period::ALL {
            if self.caps.limit(period) == Some(0) {
                v.push(violation(
                    &format!("caps.{}", period.cap_name()),
                    "a cap of 0 would make the rule award nothing; retire the rule instead",
                ));
            }
        }
        if !["steps", "minutes", "hours", "count"].contains(&self.unit.as_str()) {
            v.push(violation("unit", "must be steps, minutes, hours or count"));
        }
        if self.daily_total && !matches!(self.award, Award::Tiers(_)) {
            v.push(violation(
                "daily_total",
                "only tiered rules count a running daily total",
            ));
        }
        if self.sources.is_empty() {
            v.push(violation(
                "sources",
                "name at least one source (or \"self\")",
            ));
        }
        if let Some(until) = self.effective_until
            && until <= self.effective_from
        {
            v.push(violation("effective_until", "must be after effective_from"));
        }
        if v.is_empty() { Ok(()) } else { Err(v) }
    }

    /// Checks that this district version only **tightens** the city rule `city`: it never
    /// awards more for any quantity, keeps every cap the city sets (no higher), waits at least
    /// as long between awards, accepts no new sources and demands no less evidence.
    pub fn tightens(&self, city: &Rule) -> Result<(), Vec<RuleViolation>> {
        let mut v = Vec::new();
        if self.code != city.code || self.level != city.level || self.category != city.category {
            v.push(violation(
                "code",
                "a tightening keeps the city rule's code, level and category",
            ));
        }
        let probes = probe_quantities(&self.award)
            .chain(probe_quantities(&city.award))
            .collect::<Vec<_>>();
        if probes
            .iter()
            .any(|q| self.award.points(*q).unwrap_or(0) > city.award.points(*q).unwrap_or(0))
        {
            v.push(violation("award", "must not award more than the city rule"));
        }
        for period in Period::ALL {
            if let Some(city_cap) = city.caps.limit(period)
                && self.caps.limit(period).is_none_or(|cap| cap > city_cap)
            {
                v.push(violation(
                    &format!("caps.{}", period.cap_name()),
                    format!("must be at most the city rule's {city_cap}"),
                ));
            }
        }
        if let Some(city_gap) = city.caps.min_interval_seconds
            && self
                .caps
                .min_interval_seconds
                .is_none_or(|gap| gap < city_gap)
        {
            v.push(violation(
                "caps.min_interval_seconds",
                format!("must be at least the city rule's {city_gap}"),
            ));
        }
        if let Some(city_max) = city.max_quantity
            && self.max_quantity.is_none_or(|max| max > city_max)
        {
            v.push(violation(
                "max_quantity",
                format!("must be at most the city rule's {city_max}"),
            ));
        }
        if self.sources.iter().any(|s| !city.sources.contains(s)) {
            v.push(violation(
                "sources",
                "may only drop sources of the city rule",
            ));
        }
        if city.evidence.iter().any(|e| !self.evidence.contains(e)) {
            v.push(violation(
                "evidence",
                "must keep all evidence the city rule asks for",
            ));
        }
        if v.is_empty() { Ok(()) } else { Err(v) }
    }
}

/// Quantities at which two awards can differ: every tier threshold, and a few round numbers.
fn probe_quantities(award: &Award) -> impl Iterator<Item = u64> + '_ {
    let tiers: &[Tier] = match award {
        Award::Tiers(t) => t,
        _ => &[],
    };
    tiers
        .iter()
        .map(|t| t.min_quantity)
        .chain([0, 1, 10, 100, 1_000, 10_000, 100_000])
}

/// A set of rule versions: the published catalogue, or it plus drafts for a what-if.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    rule: Vec<Rule>,
}

impl Catalogue {
    pub fn new(rules: Vec<Rule>) -> Self {
        Self { rules }
    }

    /// Parses a catalogue file (TOML, `[[rule]]` tables) and validates every rule; errors name
    /// the rule and the field.
    pub fn parse(toml_text: &str) -> Result<Self, String> {
        let file: CatalogueFile = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        let catalogue = Self::new(file.rule);
        catalogue.check()?;
        Ok(catalogue)
    }

    /// Checks every rule on its own, and each district rule against the city rule it stands
    /// beside: a tightening of a city-wide code, or the district's own rule of district points.
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        for rule in &self.rules {
            if let Err(v) = rule.validate() {
                problems.extend(v.into_iter().map(|p| format!("rule {}: {p}", rule.code)));
            }
            if rule.district.is_some() {
                match self.city_rule(&rule.code, rule.effective_from) {
                    Some(city) => {
                        if let Err(v) = rule.tightens(city) {
                            problems
                                .extend(v.into_iter().map(|p| format!("rule {}: {p}", rule.code)));
                        }
                    }
                    None if rule.level == Level::City => problems.push(format!(
                        "rule {}: level: a district's own rule awards district points",
                        rule.code
                    )),
                    None => {}
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The text of the shipped default catalogue.
    pub fn default_catalogue_text() -> &'static str {
        DEFAULT_CATALOGUE
    }

    /// The shipped default catalogue.
    pub fn default_catalogue() -> Self {
        Self::parse(DEFAULT_CATALOGUE).expect("the default catalogue is valid (tested)")
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    fn city_rule(&self, code: &str, at: DateTime<Utc>) -> Option<&Rule> {
        self.rules
            .iter()
            .filter(|r| r.code == code && r.district.is_none() && r.in_force(at))
            .max_by_key(|r| r.version)
    }

    /// The version that judges an event of `code` that occurred at `at` in `district`: the
    /// district's own rule or tightening if one is in force there, else the city rule.
    pub fn rule_for(
        &self,
        code: &str,
        district: Option<DistrictCode>,
        at: DateTime<Utc>,
    ) -> Option<&Rule> {
        let local = district.and_then(|d| {
            self.rules
                .iter()
                .filter(|r| r.code == code && r.district == Some(d) && r.in_force(at))
                .max_by_key(|r| r.version)
        });
        local.or_else(|| self.city_rule(code, at))
    }

    /// Every version in force at `at`: city rules, plus `district`'s rules and tightenings
    /// (which replace the city rule of the same code).
    pub fn in_force(&self, at: DateTime<Utc>, district: Option<DistrictCode>) -> Vec<&Rule> {
        let mut codes: Vec<&str> = self
            .rules
            .iter()
            .filter(|r| r.district.is_none() || r.district == district)
            .map(|r| r.code.as_str())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        codes
            .into_iter()
            .filter_map(|code| self.rule_for(code, district, at))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_with_a_control_character_is_refused_naming_the_field() {
        let mut rule = Catalogue::default_catalogue().rules()[0].clone();
        rule.title = "Daily\u{0}check-in".into();
        let problems = rule.validate_text().unwrap_err();
        assert!(problems.iter().any(|p| p.field == "title"), "{problems:?}");
        assert!(
            rule.validate().is_ok(),
            "published rules are not held to it"
        );
        for shipped in Catalogue::default_catalogue().rules() {
            assert!(shipped.validate_text().is_ok(), "{}", shipped.code);
        }
    }

    proptest::proptest! {
        #[test]
        fn rule_codes_and_titles_of_any_text_are_checked_without_panicking(s in proptest::prelude::any::<String>()) {
            let mut rule = Catalogue::default_catalogue().rules()[0].clone();
            rule.code = s.clone();
            rule.title = s.clone();
            rule.description = s;
            for checked in [rule.validate(), rule.validate_text()] {
                if let Err(problems) = checked {
                    proptest::prop_assert!(problems.iter().all(|p| !p.field.is_empty() && !p.reason.is_empty()));
                }
            }
            let _ = Category::parse(&rule.code);
        }
    }
}
