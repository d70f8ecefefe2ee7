//! Changing the catalogue, never silently: admins save drafts, simulate them over stored events
//! (what-if), and publish them with an effective time. Publishing adds a version and closes the
//! one it replaces at that time, so an event is still judged by the version in force when it
//! occurred and awards already made never change; every publication is entered in the public
//! changelog (who, when, what).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use healthpoints_auth::Principal;
use healthpoints_types::{Book, DistrictCode};
use uuid::Uuid;

use super::{
    catalogue::{Catalogue, Category, Level, Rule},
    error::{IntakeError, Result},
    judge::{Report, Tally, Verdict},
    service::{Intake, PointsLedger, Residents},
};

/// What a publication did to a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Changed,
    Retired,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Changed => "changed",
            Self::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created" => Self::Created,
            "changed" => Self::Changed,
            "retired" => Self::Retired,
            _ => return None,
        })
    }
}

/// One entry of the public changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleChange {
    pub id: Uuid,
    pub code: String,
    pub district: Option<DistrictCode>,
    pub version: u32,
    pub change: ChangeKind,
    /// What changed, field by field, in words a resident can read.
    pub summary: String,
    /// Staff id of who published it (`system` for the default catalogue).
    pub changed_by: String,
    pub published_at: DateTime<Utc>,
    pub effective_from: DateTime<Utc>,
}

/// A rule as an admin wants it to become; version and effective times are set on publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub id: Uuid,
    pub rule: Rule,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Set once published, as that version.
    pub published_version: Option<u32>,
}

/// A new version ready to store: the rule, the version it replaces, its changelog entry.
#[derive(Debug, Clone)]
pub struct Publication {
    pub rule: Rule,
    pub replaces: Option<u32>,
    pub draft: Option<Uuid>,
    pub change: RuleChange,
}

/// One cell of a what-if: points under the rules in force, and under the drafts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulationCell {
    /// The district of a district book, else the district where the events happened (empty
    /// when they named none).
    pub district: Option<DistrictCode>,
    pub category: Option<Category>,
    pub points_before: u64,
    pub points_after: u64,
}

/// What a what-if found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Simulation {
    pub events_replayed: u64,
    pub cells: Vec<SimulationCell>,
}

/// The most events one what-if replays by default; a longer period is refused with the figure.
pub const MAX_SIMULATED_EVENTS: u64 = 2_000_000;

/// Staff id for the changelog; only admins change rules.
fn staff_id(caller: &Principal) -> Result<String> {
    match caller {
        Principal::CityAdmin { staff_id } | Principal::DistrictAdmin { staff_id, .. } => {
            Ok(staff_id.to_string())
        }
        _ => Err(IntakeError::Forbidden(
            "only city and district admins change rules".into(),
        )),
    }
}

/// City admins manage city-wide rules; a district admin their district's own rules and
/// tightenings.
fn may_manage(caller: &Principal, rule: &Rule) -> Result<()> {
    match (caller, rule.district) {
        (Principal::CityAdmin { .. }, None) => Ok(()),
        (Principal::CityAdmin { .. }, Some(_)) => Err(IntakeError::Forbidden(
            "district rules are managed by that district's admin".into(),
        )),
        (Principal::DistrictAdmin { district, .. }, Some(d)) if *district == d => Ok(()),
        (Principal::DistrictAdmin { .. }, _) => Err(IntakeError::Forbidden(
            "a district admin manages their own district's rules only (set rule.district)".into(),
        )),
        _ => Err(IntakeError::Forbidden(
            "only city and district admins change rules".into(),
        )),
    }
}

fn invalid_rule(v: Vec<super::catalogue::RuleViolation>) -> IntakeError {
    let first = &v[0];
    let rest = v[1..]
        .iter()
        .map(|p| format!("; rule.{p}"))
        .collect::<String>();
    IntakeError::invalid(
        &format!("rule.{}", first.field),
        format!("{}{rest}", first.reason),
    )
}

/// The fields of a rule a changelog entry compares.
fn described(rule: &Rule) -> BTreeMap<String, serde_json::Value> {
    let mut value = serde_json::to_value(rule).unwrap_or_default();
    let mut fields = BTreeMap::new();
    if let Some(map) = value.as_object_mut() {
        for (k, v) in std::mem::take(map) {
            if !matches!(
                k.as_str(),
                "version" | "effective_from" | "effective_until" | "code" | "district"
            ) {
                fields.insert(k, v);
            }
        }
    }
    fields
}

/// "award: {"fixed":5} → {"fixed":10}; caps: …" — what a publication changed.
fn summary(old: Option<&Rule>, new: &Rule) -> String {
    let Some(old) = old else {
        return format!("new rule \"{}\"", new.title);
    };
    let (before, after) = (described(old), described(new));
    let changes: Vec<String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| {
            let old = before.get(k).map_or("unset".into(), |o| o.to_string());
            format!("{k}: {old} → {v}")
        })
        .collect();
    let text = if changes.is_empty() {
        "republished without changes".to_owned()
    } else {
        changes.join("; ")
    };
    text.chars().take(2_000).collect()
}

/// The new versions that `drafts` become when they take effect at `at`, checked against the
/// catalogue as it will then be; and that catalogue. Shared by publishing and the what-if.
pub fn apply_drafts(
    catalogue: &Catalogue,
    drafts: &[Draft],
    at: DateTime<Utc>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(Catalogue, Vec<Publication>)> {
    let mut rules: Vec<Rule> = catalogue.rules().to_vec();
    let mut publications = Vec::with_capacity(drafts.len());
    for (i, draft) in drafts.iter().enumerate() {
        let mut rule = draft.rule.clone();
        let same = |r: &Rule| r.code == rule.code && r.district == rule.district;
        if drafts[..i]
            .iter()
            .any(|d| d.rule.code == rule.code && d.rule.district == rule.district)
        {
            return Err(IntakeError::invalid(
                "draft_ids",
                format!("two drafts change rule {}; publish one", rule.code),
            ));
        }
        let open = rules
            .iter()
            .filter(|r| same(r) && r.effective_until.is_none())
            .max_by_key(|r| r.version)
            .cloned();
        if let Some(open) = &open
            && open.effective_from >= at
        {
            return Err(IntakeError::Conflict(format!(
                "version {} of {} takes effect at {}; publish after that",
                open.version, rule.code, open.effective_from
            )));
        }
        let in_force = rules
            .iter()
            .filter(|r| same(r) && r.in_force(at))
            .max_by_key(|r| r.version)
            .cloned();
        rule.version = rules
            .iter()
            .filter(|r| same(r))
            .map(|r| r.version)
            .max()
            .unwrap_or(0)
            + 1;
        rule.effective_from = at;
        rule.effective_until = None;
        if let Some(open) = &open {
            for r in rules.iter_mut() {
                if same(r) && r.version == open.version {
                    r.effective_until = Some(at);
                }
            }
        }
        rules.push(rule.clone());
        publications.push(Publication {
            change: RuleChange {
                id: Uuid::now_v7(),
                code: rule.code.clone(),
                district: rule.district,
                version: rule.version,
                change: if in_force.is_some() || open.is_some() {
                    ChangeKind::Changed
                } else {
                    ChangeKind::Created
                },
                summary: summary(in_force.as_ref().or(open.as_ref()), &rule),
                changed_by: by.to_owned(),
                published_at: now,
                effective_from: at,
            },
            replaces: open.map(|o| o.version),
            draft: Some(draft.id),
            rule,
        });
    }
    let next = Catalogue::new(rules);
    // District rules are checked against the city rules they will stand beside.
    next.check()
        .map_err(|problem| IntakeError::invalid("rule", problem))?;
    Ok((next, publications))
}

impl<R: Residents, L: PointsLedger> Intake<R, L> {
    /// The rules in force at `as_of`: city-wide, plus `district`'s own rules and tightenings.
    pub fn rules_in_force(
        &self,
        as_of: DateTime<Utc>,
        district: Option<DistrictCode>,
    ) -> Vec<Rule> {
        self.catalogue()
            .in_force(as_of, district)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The public changelog, newest first.
    pub async fn rule_changes(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<RuleChange>> {
        self.store().rule_changes(after, limit).await
    }

    /// Saves a draft after checking it on its own and the caller's right to it.
    pub async fn save_draft(&self, caller: &Principal, mut rule: Rule) -> Result<Draft> {
        let by = staff_id(caller)?;
        may_manage(caller, &rule)?;
        rule.version = 1;
        rule.effective_from = self.now();
        rule.effective_until = None;
        rule.validate().map_err(invalid_rule)?;
        rule.validate_text().map_err(invalid_rule)?;
        if rule.district.is_some() {
            let city = self
                .catalogue()
                .rule_for(&rule.code, None, self.now())
                .cloned();
            match city {
                Some(city) => rule.tightens(&city).map_err(invalid_rule)?,
                None if rule.level == Level::City => {
                    return Err(IntakeError::invalid(
                        "rule.level",
                        "a district's own rule awards district points",
                    ));
                }
                None => {}
            }
        }
        let draft = Draft {
            id: Uuid::now_v7(),
            rule,
            created_by: by,
            created_at: self.now(),
            published_version: None,
        };
        self.store().insert_draft(&draft).await?;
        tracing::info!(draft = %draft.id, code = %draft.rule.code, "rule draft saved");
        Ok(draft)
    }

    async fn drafts_for(&self, caller: &Principal, ids: &[Uuid]) -> Result<Vec<Draft>> {
        if ids.is_empty() || ids.len() > 100 {
            return Err(IntakeError::invalid("draft_ids", "name 1 to 100 drafts"));
        }
        let drafts = self.store().drafts(ids).await?;
        if drafts.len() != ids.len() {
            return Err(IntakeError::NotFound("draft".into()));
        }
        for d in &drafts {
            may_manage(caller, &d.rule)?;
            if d.published_version.is_some() {
                return Err(IntakeError::Conflict(format!(
                    "draft {} is already published",
                    d.id
                )));
            }
        }
        Ok(drafts)
    }

    /// Publishes drafts, effective from `at` (now when unset; never in the past).
    pub async fn publish_drafts(
        &self,
        caller: &Principal,
        ids: &[Uuid],
        at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Rule>> {
        let by = staff_id(caller)?;
        let drafts = self.drafts_for(caller, ids).await?;
        let now = self.now();
        let at = at.unwrap_or(now);
        // A minute of grace for the admin's clock; earlier would re-judge the past.
        if at < now - chrono::Duration::minutes(1) {
            return Err(IntakeError::invalid(
                "effective_from",
                "must not be in the past: awards already made never change",
            ));
        }
        let at = at.max(now);
        let (_, publications) = apply_drafts(&self.catalogue(), &drafts, at, &by, now)?;
        self.store().publish(&publications).await?;
        self.reload_catalogue().await?;
        for p in &publications {
            tracing::info!(code = %p.rule.code, version = p.rule.version, "rule published");
        }
        Ok(publications.into_iter().map(|p| p.rule).collect())
    }

    /// Replays the stored events that occurred in `[from, to)` under the rules in force and
    /// under the drafts (as if in force for the whole period) and reports the points of each,
    /// per district and category. Caps count awards inside the period only, on both sides, so
    /// the difference is the drafts' own effect.
    pub async fn simulate_drafts(
        &self,
        caller: &Principal,
        ids: &[Uuid],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Simulation> {
        let by = staff_id(caller)?;
        if to <= from {
            return Err(IntakeError::invalid("to", "must be after from"));
        }
        if to - from > chrono::Duration::days(366) {
            return Err(IntakeError::invalid(
                "to",
                "simulate at most a year at a time",
            ));
        }
        let drafts = self.drafts_for(caller, ids).await?;
        let current = self.catalogue();
        let (drafted, _) = apply_drafts(&current, &drafts, from, &by, self.now())?;
        let mut before = Tally::default();
        let mut after = Tally::default();
        let mut cells: BTreeMap<(Option<DistrictCode>, Option<Category>), SimulationCell> =
            BTreeMap::new();
        let max = self.options().max_simulated_events;
        let mut replayed = 0u64;
        let mut cursor = None;
        loop {
            let page = self.store().replayable(from, to, cursor, 5_000).await?;
            let Some(last) = page.last() else { break };
            cursor = Some((last.occurred_at, last.event_id));
            for e in &page {
                replayed += 1;
                if replayed > max {
                    return Err(IntakeError::invalid(
                        "from",
                        format!("the period holds more than {max} events; simulate a shorter one"),
                    ));
                }
                let report = Report {
                    source_id: &e.source_id,
                    occurred_at: e.occurred_at,
                    quantity: e.quantity,
                    attributes: &e.attributes,
                };
                for (side, catalogue, tally) in
                    [(0, &*current, &mut before), (1, &drafted, &mut after)]
                {
                    let Some(rule) =
                        catalogue.rule_for(&e.behaviour_code, e.district, e.occurred_at)
                    else {
                        continue;
                    };
                    let Some(book) = rule.book(e.district) else {
                        continue;
                    };
                    if let Verdict::Award { points, .. } =
                        tally.judge_and_record(&e.resident_id, rule, report)
                    {
                        let district = match book {
                            Book::District(d) => Some(d),
                            Book::City => e.district,
                        };
                        let cell =
                            cells
                                .entry((district, Some(rule.category)))
                                .or_insert_with(|| SimulationCell {
                                    district,
                                    category: Some(rule.category),
                                    ..SimulationCell::default()
                                });
                        if side == 0 {
                            cell.points_before += points;
                        } else {
                            cell.points_after += points;
                        }
                    }
                }
            }
        }
        Ok(Simulation {
            events_replayed: replayed,
            cells: cells.into_values().collect(),
        })
    }
}
