//! Joining challenges, their progress and bonuses, leaderboards and honours, granted exactly
//! once (the rules of play: [`crate::domain::play`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use healthpoints_auth::Principal;
use healthpoints_types::{Book, DistrictCode};
use uuid::Uuid;

use super::{Intake, PointsLedger, Residents};
use crate::domain::play::{
    CHALLENGE_SOURCE, Challenge, HONOUR_SOURCE, Honour, MAX_GRANT, Progress, Ranked,
};
use crate::domain::{
    calendar::{local_date, period_bounds},
    catalogue::{Category, Level},
    error::{IntakeError, Result},
    model::{Event, Outcome, OutcomeKind, ResidentRef, award_transfer_id},
    resident::{may_act_for, resident_or_self},
    review::admin_over,
};

/// Points the programme grants outside the rules.
struct Grant {
    source_id: &'static str,
    key: String,
    resident_id: String,
    behaviour_code: String,
    /// What the statistics count it under.
    category: Category,
    points: u64,
    book: Book,
    reason: (String, String),
}

/// A one-line free-text field: 1 to `max` characters, no control characters.
fn text(field: &str, value: &str, max: usize) -> Result<String> {
    healthpoints_types::text::free_text(value, max, true, healthpoints_types::text::Lines::One)
        .map_err(|e| IntakeError::invalid(field, e.0))
}

impl<R: Residents, L: PointsLedger> Intake<R, L> {
    /// Records a grant (once per key) and hands it to the ledger.
    async fn grant(&self, g: Grant) -> Result<Outcome> {
        let now = self.now();
        let resident = self
            .residents()
            .resolve(&ResidentRef::Id(g.resident_id.clone()))
            .await?
            .ok_or_else(|| IntakeError::NotFound("resident".into()))?;
        let event = Event {
            source_id: g.source_id.to_owned(),
            source_event_id: g.key.clone(),
            resident: ResidentRef::Id(g.resident_id.clone()),
            behaviour_code: g.behaviour_code.clone(),
            occurred_at: now,
            quantity: g.points,
            district: match g.book {
                Book::District(d) => Some(d),
                Book::City => None,
            },
            attributes: BTreeMap::new(),
        };
        let outcome = Outcome {
            event_id: Uuid::now_v7(),
            source_id: event.source_id.clone(),
            source_event_id: g.key.clone(),
            resident_id: Some(g.resident_id),
            behaviour_code: g.behaviour_code.clone(),
            occurred_at: now,
            kind: OutcomeKind::Pending,
            points: g.points,
            rule: Some((g.behaviour_code, 1)),
            cap: None,
            points_cut: 0,
            reason: Some(g.reason),
            duplicate_of: None,
            transfer_id: Some(award_transfer_id(g.source_id, &g.key)),
            book: Some(g.book),
            received_at: now,
            cohort: Some(resident.cohort(g.category, now)),
            link_group: None,
        };
        self.store().insert_all(&[(&event, outcome)]).await?;
        let mut stored = self
            .store()
            .stored(&[(g.source_id.to_owned(), g.key)])
            .await?;
        self.hand_over(&mut stored).await?;
        stored
            .pop()
            .ok_or_else(|| IntakeError::fault("recorded grant not found"))
    }

    /// Creates a challenge. City admins: city-wide or any district's; a district admin: their
    /// district's, paying district points.
    pub async fn create_challenge(
        &self,
        caller: &Principal,
        mut c: Challenge,
    ) -> Result<Challenge> {
        c.created_by = admin_over(caller, c.district)?;
        if matches!(caller, Principal::DistrictAdmin { .. }) && c.level != Level::District {
            return Err(IntakeError::Forbidden(
                "a district admin's challenges pay district points (level district)".into(),
            ));
        }
        c.title = text("challenge.title", &c.title, 100)?;
        let catalogue = self.catalogue();
        if !catalogue.rules().iter().any(|r| r.code == c.behaviour_code) {
            return Err(IntakeError::invalid(
                "challenge.behaviour_code",
                "is not a behaviour of the catalogue",
            ));
        }
        if c.ends_at <= c.starts_at {
            return Err(IntakeError::invalid(
                "challenge.ends_at",
                "must be after starts_at",
            ));
        }
        if c.ends_at <= self.now() {
            return Err(IntakeError::invalid(
                "challenge.ends_at",
                "must be in the future",
            ));
        }
        let days = (local_date(c.ends_at) - local_date(c.starts_at)).num_days() + 1;
        if days > 366 {
            return Err(IntakeError::invalid(
                "challenge.ends_at",
                "a challenge lasts at most 366 days",
            ));
        }
        if c.days_required == 0 || i64::from(c.days_required) > days {
            return Err(IntakeError::invalid(
                "challenge.days_required",
                format!("must be 1 to {days} (the days of the window)"),
            ));
        }
        if i64::try_from(c.daily_min_quantity).is_err() {
            return Err(IntakeError::invalid(
                "challenge.daily_min_quantity",
                "is too large",
            ));
        }
        if !(1..=MAX_GRANT).contains(&c.bonus_points) {
            return Err(IntakeError::invalid(
                "challenge.bonus_points",
                format!("must be 1 to {MAX_GRANT}"),
            ));
        }
        if c.level == Level::District && c.district.is_none() {
            return Err(IntakeError::invalid(
                "challenge.district",
                "a challenge paying district points names its district",
            ));
        }
        c.id = Uuid::now_v7();
        self.store().insert_challenge(&c, self.now()).await?;
        Ok(c)
    }

    /// The challenges open to a resident (city-wide and their district's, not ended longer ago
    /// than the reporting window), with their progress; completes any whose goal is reached.
    pub async fn challenges(&self, caller: &Principal, resident_id: &str) -> Result<Vec<Progress>> {
        let resident_id = resident_or_self(caller, resident_id)?;
        may_act_for(caller, &resident_id)?;
        let district = self.home_district(&resident_id).await?;
        let open = self
            .store()
            .challenges_open_to(district, self.now() - self.options().window)
            .await?;
        let joined: HashMap<Uuid, Option<Uuid>> = self
            .store()
            .memberships(&resident_id)
            .await?
            .into_iter()
            .collect();
        let mut list = Vec::with_capacity(open.len());
        for c in open {
            list.push(if joined.contains_key(&c.id) {
                self.progress(c, &resident_id).await?
            } else {
                Progress {
                    challenge: c,
                    joined: false,
                    days_done: 0,
                    bonus: None,
                }
            });
        }
        Ok(list)
    }

    /// Joins a challenge open to the resident; answers the progress (days before joining count).
    pub async fn join_challenge(
        &self,
        caller: &Principal,
        resident_id: &str,
        challenge_id: &str,
    ) -> Result<Progress> {
        let resident_id = resident_or_self(caller, resident_id)?;
        may_act_for(caller, &resident_id)?;
        let id = Uuid::parse_str(challenge_id.trim())
            .map_err(|_| IntakeError::invalid("challenge_id", "must be a challenge id (UUID)"))?;
        let c = self
            .store()
            .challenge(id)
            .await?
            .ok_or_else(|| IntakeError::NotFound("challenge".into()))?;
        let district = self.home_district(&resident_id).await?;
        if c.district.is_some() && c.district != district {
            return Err(IntakeError::NotFound("challenge".into()));
        }
        if c.ends_at <= self.now() {
            return Err(IntakeError::Precondition("the challenge has ended".into()));
        }
        self.store()
            .join_challenge(c.id, &resident_id, self.now())
            .await?;
        self.progress(c, &resident_id).await
    }

    /// The resident's residence district, from identity.
    async fn home_district(&self, resident_id: &str) -> Result<Option<DistrictCode>> {
        Ok(self
            .residents()
            .resolve(&ResidentRef::Id(resident_id.to_owned()))
            .await?
            .ok_or_else(|| IntakeError::NotFound("resident".into()))?
            .district)
    }

    /// Counts the days that reached the goal and grants the bonus once they are enough.
    async fn progress(&self, c: Challenge, resident_id: &str) -> Result<Progress> {
        let daily_total = self
            .catalogue()
            .rules()
            .iter()
            .any(|r| r.code == c.behaviour_code && r.daily_total);
        let mut per_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();
        for (at, quantity) in self
            .store()
            .happened(resident_id, &c.behaviour_code, c.starts_at, c.ends_at)
            .await?
        {
            let day = per_day.entry(local_date(at)).or_default();
            // Steps: the day's best report; other behaviours: the day's reports add up.
            *day = if daily_total {
                (*day).max(quantity)
            } else {
                day.saturating_add(quantity.max(1))
            };
        }
        let days_done = per_day
            .values()
            .filter(|q| **q >= c.daily_min_quantity)
            .count();
        let days_done = u32::try_from(days_done).unwrap_or(u32::MAX);
        let bonus = if days_done >= c.days_required {
            let book = c
                .book()
                .ok_or_else(|| IntakeError::fault("challenge without a book"))?;
            let outcome = self
                .grant(Grant {
                    source_id: CHALLENGE_SOURCE,
                    key: c.bonus_key(resident_id),
                    resident_id: resident_id.to_owned(),
                    behaviour_code: "challenge.bonus".into(),
                    category: self
                        .catalogue()
                        .rules()
                        .iter()
                        .find(|r| r.code == c.behaviour_code)
                        .map_or(Category::Lifestyle, |r| r.category),
                    points: c.bonus_points,
                    book,
                    reason: (
                        "challenge_completed".into(),
                        format!("completed “{}”", c.title),
                    ),
                })
                .await?;
            self.store()
                .complete_challenge(c.id, resident_id, outcome.event_id)
                .await?;
            Some(outcome)
        } else {
            None
        };
        Ok(Progress {
            challenge: c,
            joined: true,
            days_done,
            bonus,
        })
    }

    /// After outcomes were recorded: completes the challenges they finish.
    pub(crate) async fn advance_challenges(&self, outcomes: &[Outcome]) -> Result<()> {
        let mut residents = BTreeSet::new();
        let mut behaviours = BTreeSet::new();
        for o in outcomes {
            let happened = matches!(
                o.kind,
                OutcomeKind::Awarded | OutcomeKind::Pending | OutcomeKind::Capped
            );
            if let (true, Some(r)) = (happened, &o.resident_id)
                && o.source_id != CHALLENGE_SOURCE
                && o.source_id != HONOUR_SOURCE
            {
                residents.insert(r.clone());
                behaviours.insert(o.behaviour_code.clone());
            }
        }
        if residents.is_empty() {
            return Ok(());
        }
        let residents: Vec<String> = residents.into_iter().collect();
        let behaviours: Vec<String> = behaviours.into_iter().collect();
        let open = self
            .store()
            .open_memberships(&residents, &behaviours, self.now() - self.options().window)
            .await?;
        for (c, resident) in open {
            self.progress(c, &resident).await?;
        }
        Ok(())
    }

    /// Opts a resident in or out of leaderboards (their masked name and district are shown).
    pub async fn set_leaderboard_opt_in(
        &self,
        caller: &Principal,
        resident_id: &str,
        opt_in: bool,
    ) -> Result<()> {
        let resident_id = resident_or_self(caller, resident_id)?;
        may_act_for(caller, &resident_id)?;
        let resident = self
            .residents()
            .resolve(&ResidentRef::Id(resident_id.clone()))
            .await?
            .ok_or_else(|| IntakeError::NotFound("resident".into()))?;
        self.store()
            .set_leaderboard(
                &resident_id,
                opt_in,
                &resident.name_masked,
                resident.district,
                self.now(),
            )
            .await
    }

    /// The leaderboard of `scope` (`city` or a district code) for `period` (`2026-11` or
    /// `2026-W47`): opted-in residents by points awarded for what they did in the period.
    pub async fn leaderboard(&self, scope: &str, period: &str, limit: u32) -> Result<Vec<Ranked>> {
        let district = match scope.trim() {
            "" | "city" => None,
            d => Some(DistrictCode::parse(d).map_err(|_| {
                IntakeError::invalid("scope", "must be city or a 6-digit district code")
            })?),
        };
        let (from, to) = period_bounds(period.trim()).ok_or_else(|| {
            IntakeError::invalid(
                "period",
                "must be a month (2026-11) or an ISO week (2026-W47)",
            )
        })?;
        let limit = match limit {
            0 => 10,
            n => n.min(100),
        };
        let rows = self
            .store()
            .leaderboard(district, from, to, u64::from(limit))
            .await?;
        let mut ranked: Vec<Ranked> = Vec::with_capacity(rows.len());
        for (i, row) in rows.into_iter().enumerate() {
            let rank = match ranked.last() {
                Some(prev) if prev.points == row.points => prev.rank,
                _ => u32::try_from(i + 1).unwrap_or(u32::MAX),
            };
            ranked.push(Ranked {
                rank,
                name_masked: row.name_masked,
                district: row.district,
                points: row.points,
            });
        }
        Ok(ranked)
    }

    /// Awards an honour: once per resident, honour, period and scope. City admins: city
    /// honours or any district's; a district admin: their district's, to its residents.
    pub async fn award_honour(&self, caller: &Principal, h: Honour) -> Result<Outcome> {
        admin_over(caller, h.district)?;
        let honour = h.honour.trim();
        let valid_name = (2..=32).contains(&honour.len())
            && honour.starts_with(|c: char| c.is_ascii_lowercase())
            && honour
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_name {
            return Err(IntakeError::invalid(
                "honour",
                "must be 2 to 32 characters of a-z, 0-9 and -, starting with a letter, e.g. health-star",
            ));
        }
        let period = h.period.trim();
        if period.len() != 7 || period_bounds(period).is_none() {
            return Err(IntakeError::invalid(
                "period",
                "must be a month, e.g. 2026-11",
            ));
        }
        if !(1..=MAX_GRANT).contains(&h.points) {
            return Err(IntakeError::invalid(
                "points",
                format!("must be 1 to {MAX_GRANT}"),
            ));
        }
        let citation = text("citation", &h.citation, 500)?;
        let resident = self
            .residents()
            .resolve(&ResidentRef::Id(h.resident_id.trim().to_owned()))
            .await?
            .ok_or_else(|| IntakeError::NotFound("resident".into()))?;
        if resident.suspended {
            return Err(IntakeError::Precondition(
                "the resident's participation is suspended".into(),
            ));
        }
        if h.district.is_some() && resident.district != h.district {
            return Err(IntakeError::invalid(
                "resident_id",
                "the resident does not live in the honour's district",
            ));
        }
        let scope = h
            .district
            .map_or_else(|| "city".to_owned(), |d| d.to_string());
        self.grant(Grant {
            source_id: HONOUR_SOURCE,
            key: format!("honour:{honour}:{period}:{scope}:{}", resident.resident_id),
            resident_id: resident.resident_id,
            behaviour_code: format!("honour.{honour}"),
            // Honours recognise public-spirited conduct: the category of blood donation and
            // volunteering.
            category: Category::PublicWelfare,
            points: h.points,
            book: h.district.map_or(Book::City, Book::District),
            reason: ("honour".into(), citation),
        })
        .await
    }
}
