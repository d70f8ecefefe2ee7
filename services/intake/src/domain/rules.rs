//! Changing the catalogue, never silently: admins save drafts, simulate them over stored events
//! (what-if), and publish them with an effective time. Publishing adds a version and closes the
//! one it replaces at that time, so an event is still judged by the version in force when it
//! occurred and awards already made never change; every publication is entered in the public
//! changelog (who, when, what).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use healthpoints_types::DistrictCode;
use uuid::Uuid;

use super::{
    catalogue::{Catalogue, Category, Rule},
    error::{IntakeError, Result},
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
            return Err(IntakeError::Precondition(format!(
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
