//! Rule drafts, what-if simulation and publication of a new catalogue version (drafts and
//! changes: [`crate::domain::rules`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use healthpoints_auth::Principal;
use healthpoints_types::{Book, DistrictCode};
use uuid::Uuid;

use super::{Intake, PointsLedger, Residents};
use crate::domain::rules::{Draft, RuleChange, Simulation, SimulationCell, apply_drafts};
use crate::domain::{
    catalogue::{Category, Level, Rule},
    error::{IntakeError, Result},
    judge::{Report, Tally, Verdict},
};

/// Staff id for the changelog; only admins change rules.
pub(super) fn staff_id(caller: &Principal) -> Result<String> {
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

fn invalid_rule(v: Vec<crate::domain::catalogue::RuleViolation>) -> IntakeError {
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
                return Err(IntakeError::Precondition(format!(
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
