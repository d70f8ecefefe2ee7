//! The thin gRPC adapter of intake: wire messages ⇄ domain values, and the one place where
//! [`IntakeError`] becomes a `Status`.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use healthpoints_auth::{Principal, principal};
use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_proto::time::{datetime, timestamp as ts};
use healthpoints_proto::{
    common::v1::{BehaviourCategory, PageInfo, PointsLevel, Yuan},
    intake::v1::{self as pb, intake_service_server::IntakeService},
};
use healthpoints_types::DistrictCode;
use prost_types::Timestamp;
use tokio::sync::OnceCell;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    clients::{IdentityResidents, LedgerAwards},
    domain::{
        catalogue::{Award, Caps, Category, Level, Rule, Tier},
        error::IntakeError,
        model::{Event, Outcome, OutcomeKind, ResidentRef},
        play::{Challenge, Honour, Progress},
        rules::RuleChange,
        service::Intake,
    },
};

/// The intake domain as the server runs it.
pub type LiveIntake = Intake<IdentityResidents, LedgerAwards>;

/// Converts a domain error once, with a log level per kind.
pub fn to_api_error(err: IntakeError) -> ApiError {
    match err {
        IntakeError::Invalid { field, reason } => ApiError::invalid(field, reason),
        e @ IntakeError::Forbidden(_) => {
            tracing::info!(reason = %e, "intake request forbidden");
            ApiError::forbidden(e.to_string())
        }
        e @ IntakeError::NotFound(_) => ApiError::not_found(e.to_string()),
        e @ IntakeError::Conflict(_) => ApiError::new(ErrorCode::FailedPrecondition, e.to_string()),
        e @ IntakeError::Unavailable(_) => {
            tracing::warn!(reason = %e, "intake dependency unavailable");
            ApiError::new(ErrorCode::Unavailable, e.to_string())
        }
        e @ IntakeError::Store(_) => {
            tracing::error!(error = %e, "intake request failed");
            ApiError::internal()
        }
    }
}

fn status(err: IntakeError) -> Status {
    to_api_error(err).into()
}

fn from_ts(field: &str, t: &Timestamp) -> Result<DateTime<Utc>, Status> {
    datetime(t).ok_or_else(|| ApiError::invalid(field, "is not a valid time").into())
}

fn kind_to_pb(k: OutcomeKind) -> pb::OutcomeKind {
    match k {
        OutcomeKind::Pending => pb::OutcomeKind::Pending,
        OutcomeKind::Awarded => pb::OutcomeKind::Awarded,
        OutcomeKind::Capped => pb::OutcomeKind::Capped,
        OutcomeKind::Duplicate => pb::OutcomeKind::Duplicate,
        OutcomeKind::Held => pb::OutcomeKind::Held,
        OutcomeKind::Rejected => pb::OutcomeKind::Rejected,
    }
}

/// The sentence for a cap that bound, when no other reason was stored.
fn cap_sentence(cap: &str, points_cut: u64) -> String {
    match cap {
        "day_best" => "this day's total was already paid for at this level".to_owned(),
        "min_interval" => "too soon after the last award under this rule".to_owned(),
        cap => format!("the {} cap cut {points_cut} points", cap.replace('_', " ")),
    }
}

/// Domain outcome → wire. Every outcome short of a full award carries a sentence saying why.
pub fn outcome_to_pb(o: &Outcome) -> pb::Outcome {
    let (rule_code, rule_version) = o.rule.clone().unwrap_or_default();
    let (reason_code, reason) = match (&o.reason, &o.cap) {
        (Some(r), _) => r.clone(),
        (None, Some(cap)) => (cap.clone(), cap_sentence(cap, o.points_cut)),
        (None, None) => Default::default(),
    };
    pb::Outcome {
        event_id: o.event_id.to_string(),
        source_id: o.source_id.clone(),
        source_event_id: o.source_event_id.clone(),
        resident_id: o.resident_id.clone().unwrap_or_default(),
        behaviour_code: o.behaviour_code.clone(),
        occurred_at: Some(ts(o.occurred_at)),
        kind: kind_to_pb(o.kind) as i32,
        points: o.points,
        book: o.book.map(|b| b.to_string()).unwrap_or_default(),
        rule_code,
        rule_version,
        transfer_id: o.transfer_id.map(|t| t.to_string()).unwrap_or_default(),
        cap: o.cap.clone().unwrap_or_default(),
        points_cut: o.points_cut,
        duplicate_of: o.duplicate_of.map(|d| d.to_string()).unwrap_or_default(),
        reason_code,
        reason,
        decided_at: Some(ts(o.received_at)),
    }
}

fn category_to_pb(c: Category) -> BehaviourCategory {
    match c {
        Category::Learning => BehaviourCategory::Learning,
        Category::Lifestyle => BehaviourCategory::Lifestyle,
        Category::PublicHealthService => BehaviourCategory::PublicHealthService,
        Category::PublicWelfare => BehaviourCategory::PublicWelfare,
    }
}

fn category_from_pb(v: i32) -> Option<Category> {
    Some(match BehaviourCategory::try_from(v).ok()? {
        BehaviourCategory::Learning => Category::Learning,
        BehaviourCategory::Lifestyle => Category::Lifestyle,
        BehaviourCategory::PublicHealthService => Category::PublicHealthService,
        BehaviourCategory::PublicWelfare => Category::PublicWelfare,
        BehaviourCategory::Unspecified => return None,
    })
}

/// Domain rule → wire.
pub fn rule_to_pb(r: &Rule) -> pb::Rule {
    let award = match &r.award {
        Award::Fixed(p) => pb::award::Award::FixedPoints(*p),
        Award::PerUnit(p) => pb::award::Award::PointsPerUnit(*p),
        Award::Tiers(tiers) => pb::award::Award::Tiers(pb::Tiers {
            tiers: tiers
                .iter()
                .map(|t| pb::Tier {
                    min_quantity: t.min_quantity,
                    points: t.points,
                })
                .collect(),
        }),
    };
    pb::Rule {
        code: r.code.clone(),
        version: r.version,
        category: category_to_pb(r.category) as i32,
        title: r.title.clone(),
        description: r.description.clone(),
        level: level_to_pb(r.level) as i32,
        district: r.district.map(|d| d.to_string()).unwrap_or_default(),
        award: Some(pb::Award { award: Some(award) }),
        caps: Some(pb::Caps {
            per_day: r.caps.per_day,
            per_week: r.caps.per_week,
            per_month: r.caps.per_month,
            per_year: r.caps.per_year,
            per_lifetime: r.caps.per_lifetime,
            min_interval_seconds: r.caps.min_interval_seconds,
        }),
        unit: r.unit.clone(),
        max_quantity: r.max_quantity,
        sources: r.sources.clone(),
        evidence: r.evidence.clone(),
        effective_from: Some(ts(r.effective_from)),
        effective_until: r.effective_until.map(ts),
        daily_total: r.daily_total,
    }
}

fn level_to_pb(level: Level) -> PointsLevel {
    match level {
        Level::City => PointsLevel::City,
        Level::District => PointsLevel::District,
    }
}

fn level_from_pb(field: &str, level: i32) -> Result<Level, Status> {
    match PointsLevel::try_from(level).unwrap_or_default() {
        PointsLevel::City => Ok(Level::City),
        PointsLevel::District => Ok(Level::District),
        PointsLevel::Unspecified => {
            Err(ApiError::invalid(field, "must be city or district").into())
        }
    }
}

fn district_from_pb(field: &str, raw: &str) -> Result<Option<DistrictCode>, Status> {
    match raw.trim() {
        "" => Ok(None),
        d => DistrictCode::parse(d)
            .map(Some)
            .map_err(|_| ApiError::invalid(field, "is not a district code").into()),
    }
}

fn challenge_to_pb(c: &Challenge) -> pb::Challenge {
    pb::Challenge {
        challenge_id: c.id.to_string(),
        title: c.title.clone(),
        district: c.district.map(|d| d.to_string()).unwrap_or_default(),
        behaviour_code: c.behaviour_code.clone(),
        daily_min_quantity: c.daily_min_quantity,
        days_required: c.days_required,
        starts_at: Some(ts(c.starts_at)),
        ends_at: Some(ts(c.ends_at)),
        bonus_points: c.bonus_points,
        level: level_to_pb(c.level) as i32,
    }
}

/// Wire challenge → domain; the id and author are assigned on creation.
fn challenge_from_pb(c: pb::Challenge) -> Result<Challenge, Status> {
    let time = |field: &str, t: Option<Timestamp>| {
        t.ok_or_else(|| Status::from(ApiError::invalid(field, "must be set")))
            .and_then(|t| from_ts(field, &t))
    };
    Ok(Challenge {
        id: Uuid::nil(),
        title: c.title,
        district: district_from_pb("challenge.district", &c.district)?,
        behaviour_code: c.behaviour_code.trim().to_owned(),
        daily_min_quantity: c.daily_min_quantity,
        days_required: c.days_required,
        starts_at: time("challenge.starts_at", c.starts_at)?,
        ends_at: time("challenge.ends_at", c.ends_at)?,
        bonus_points: c.bonus_points,
        level: level_from_pb("challenge.level", c.level)?,
        created_by: String::new(),
    })
}

fn progress_to_pb(p: &Progress) -> pb::ChallengeProgress {
    pb::ChallengeProgress {
        challenge: Some(challenge_to_pb(&p.challenge)),
        joined: p.joined,
        days_done: p.days_done,
        completed: p.bonus.is_some(),
        bonus: p.bonus.as_ref().map(outcome_to_pb),
    }
}

/// Wire rule → domain, for drafts; version and effective times are assigned on publication.
fn rule_from_pb(r: pb::Rule) -> Result<Rule, Status> {
    let category = category_from_pb(r.category)
        .ok_or_else(|| Status::from(ApiError::invalid("rule.category", "must be set")))?;
    let level = level_from_pb("rule.level", r.level)?;
    let district = district_from_pb("rule.district", &r.district)?;
    let award = match r.award.and_then(|a| a.award) {
        Some(pb::award::Award::FixedPoints(p)) => Award::Fixed(p),
        Some(pb::award::Award::PointsPerUnit(p)) => Award::PerUnit(p),
        Some(pb::award::Award::Tiers(t)) => Award::Tiers(
            t.tiers
                .into_iter()
                .map(|t| Tier {
                    min_quantity: t.min_quantity,
                    points: t.points,
                })
                .collect(),
        ),
        None => return Err(ApiError::invalid("rule.award", "must be set").into()),
    };
    let caps = r.caps.unwrap_or_default();
    Ok(Rule {
        code: r.code.trim().to_owned(),
        version: 1,
        category,
        title: r.title,
        description: r.description,
        level,
        district,
        award,
        caps: Caps {
            per_day: caps.per_day,
            per_week: caps.per_week,
            per_month: caps.per_month,
            per_year: caps.per_year,
            per_lifetime: caps.per_lifetime,
            min_interval_seconds: caps.min_interval_seconds,
        },
        unit: r.unit,
        max_quantity: r.max_quantity,
        daily_total: r.daily_total,
        sources: r.sources,
        evidence: r.evidence,
        effective_from: DateTime::UNIX_EPOCH,
        effective_until: None,
    })
}

fn change_to_pb(c: &RuleChange) -> pb::RuleChange {
    pb::RuleChange {
        rule_code: c.code.clone(),
        version: c.version,
        district: c.district.map(|d| d.to_string()).unwrap_or_default(),
        change: c.change.as_str().to_owned(),
        summary: c.summary.clone(),
        changed_by: c.changed_by.clone(),
        published_at: Some(ts(c.published_at)),
        effective_from: Some(ts(c.effective_from)),
    }
}

/// Wire event → domain. Malformed times and districts refuse the whole batch, naming the field.
fn event_from_pb(i: usize, e: pb::BehaviourEvent) -> Result<Event, Status> {
    let field = |name: &str| format!("events[{i}].{name}");
    let resident = match e.resident {
        Some(pb::behaviour_event::Resident::ResidentId(id)) => {
            ResidentRef::Id(id.trim().to_owned())
        }
        Some(pb::behaviour_event::Resident::IdNumberHash(h)) => {
            ResidentRef::IdNumberHash(h.trim().to_owned())
        }
        None => {
            return Err(
                ApiError::invalid(field("resident"), "set resident_id or id_number_hash").into(),
            );
        }
    };
    let occurred_at = match &e.occurred_at {
        Some(t) => from_ts(&field("occurred_at"), t)?,
        None => return Err(ApiError::invalid(field("occurred_at"), "must be set").into()),
    };
    let district = match e.district.trim() {
        "" => None,
        d => Some(DistrictCode::parse(d).map_err(|_| {
            Status::from(ApiError::invalid(
                field("district"),
                "is not a district code",
            ))
        })?),
    };
    Ok(Event {
        source_id: e.source_id.trim().to_owned(),
        source_event_id: e.source_event_id.trim().to_owned(),
        resident,
        behaviour_code: e.behaviour_code.trim().to_owned(),
        occurred_at,
        quantity: e.quantity,
        district,
        attributes: e.attributes.into_iter().collect::<BTreeMap<_, _>>(),
    })
}

fn parse_ids(field: &str, ids: &[String]) -> Result<Vec<Uuid>, Status> {
    ids.iter()
        .map(|id| {
            Uuid::parse_str(id.trim())
                .map_err(|_| Status::from(ApiError::invalid(field, "must hold draft ids")))
        })
        .collect()
}

/// The gRPC face of intake.
#[derive(Debug, Clone)]
pub struct IntakeGrpc {
    intake: Arc<OnceCell<Arc<LiveIntake>>>,
}

impl IntakeGrpc {
    pub fn new(intake: Arc<OnceCell<Arc<LiveIntake>>>) -> Self {
        Self { intake }
    }

    fn ready(&self) -> Result<&LiveIntake, Status> {
        self.intake.get().map(AsRef::as_ref).ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unavailable,
                "intake is starting up; retry shortly",
            )
            .into()
        })
    }
}

fn caller<T>(request: &Request<T>) -> Result<Principal, Status> {
    principal(request).map_err(Status::from)
}

#[tonic::async_trait]
impl IntakeService for IntakeGrpc {
    #[tracing::instrument(name = "intake.SubmitBehaviours", skip_all, fields(events = request.get_ref().events.len()))]
    async fn submit_behaviours(
        &self,
        request: Request<pb::SubmitBehavioursRequest>,
    ) -> Result<Response<pb::SubmitBehavioursResponse>, Status> {
        let p = caller(&request)?;
        if !p.is_service() {
            return Err(ApiError::forbidden(
                "behaviours are submitted by mesh services (partners go through the exchange)",
            )
            .into());
        }
        let events = request
            .into_inner()
            .events
            .into_iter()
            .enumerate()
            .map(|(i, e)| event_from_pb(i, e))
            .collect::<Result<Vec<_>, _>>()?;
        let outcomes = self.ready()?.submit(events).await.map_err(status)?;
        Ok(Response::new(pb::SubmitBehavioursResponse {
            outcomes: outcomes.iter().map(outcome_to_pb).collect(),
        }))
    }

    #[tracing::instrument(name = "intake.CheckIn", skip_all)]
    async fn check_in(
        &self,
        request: Request<pb::CheckInRequest>,
    ) -> Result<Response<pb::CheckInResponse>, Status> {
        let p = caller(&request)?;
        let c = self
            .ready()?
            .check_in(&p, &request.get_ref().resident_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CheckInResponse {
            outcome: Some(outcome_to_pb(&c.outcome)),
            streak_days: c.streak_days,
            streak_bonus: c.streak_bonus.as_ref().map(outcome_to_pb),
        }))
    }

    #[tracing::instrument(name = "intake.ListOutcomes", skip_all)]
    async fn list_outcomes(
        &self,
        request: Request<pb::ListOutcomesRequest>,
    ) -> Result<Response<pb::ListOutcomesResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let page = r.page.unwrap_or_default();
        let (outcomes, next) = self
            .ready()?
            .outcomes(&p, &r.resident_id, &page.cursor, page.page_size)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListOutcomesResponse {
            outcomes: outcomes.iter().map(outcome_to_pb).collect(),
            page: Some(PageInfo {
                next_cursor: next.unwrap_or_default(),
            }),
        }))
    }

    #[tracing::instrument(name = "intake.GetMonthlyPoints", skip_all)]
    async fn get_monthly_points(
        &self,
        request: Request<pb::GetMonthlyPointsRequest>,
    ) -> Result<Response<pb::GetMonthlyPointsResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let months = self
            .ready()?
            .monthly_points(&p, &r.resident_id, r.months)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetMonthlyPointsResponse {
            months: months
                .into_iter()
                .map(|(month, points, awards)| pb::MonthlyPoints {
                    month,
                    points,
                    awards,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(name = "intake.GetAwardStatistics", skip_all)]
    async fn get_award_statistics(
        &self,
        request: Request<pb::GetAwardStatisticsRequest>,
    ) -> Result<Response<pb::GetAwardStatisticsResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let (cohorts, books) = self
            .ready()?
            .award_statistics(&p, &r.month, &r.district)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetAwardStatisticsResponse {
            cohorts: cohorts
                .into_iter()
                .map(|c| pb::AwardCohort {
                    book: c.book.to_string(),
                    district: c.cohort.district.map(|d| d.to_string()).unwrap_or_default(),
                    category: category_to_pb(c.cohort.category) as i32,
                    age_band: c.cohort.age_band.to_owned(),
                    residence_type: c.cohort.residence_type.to_owned(),
                    residents: c.residents,
                    points: c.points,
                })
                .collect(),
            books: books
                .into_iter()
                .map(|b| pb::BookParticipation {
                    book: b.book.to_string(),
                    residents: b.residents,
                    points: b.points,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(name = "intake.ListRules", skip_all)]
    async fn list_rules(
        &self,
        request: Request<pb::ListRulesRequest>,
    ) -> Result<Response<pb::ListRulesResponse>, Status> {
        let r = request.into_inner();
        let intake = self.ready()?;
        let as_of = match &r.as_of {
            Some(t) => from_ts("as_of", t)?,
            None => intake.now(),
        };
        let district = match r.district.trim() {
            "" => None,
            d => Some(DistrictCode::parse(d).map_err(|_| {
                Status::from(ApiError::invalid("district", "is not a district code"))
            })?),
        };
        Ok(Response::new(pb::ListRulesResponse {
            rules: intake
                .rules_in_force(as_of, district)
                .iter()
                .map(rule_to_pb)
                .collect(),
        }))
    }

    #[tracing::instrument(name = "intake.ListRuleChanges", skip_all)]
    async fn list_rule_changes(
        &self,
        request: Request<pb::ListRuleChangesRequest>,
    ) -> Result<Response<pb::ListRuleChangesResponse>, Status> {
        let page = request.into_inner().page.unwrap_or_default();
        let after = healthpoints_types::uuid_cursor(&page.cursor)
            .map_err(|e| Status::from(ApiError::invalid("page.cursor", e.0)))?;
        let size = match page.page_size {
            0 => 50,
            n => n.min(500),
        };
        let mut changes = self
            .ready()?
            .rule_changes(after, u64::from(size) + 1)
            .await
            .map_err(status)?;
        let next = if changes.len() > size as usize {
            changes.truncate(size as usize);
            changes.last().map(|c| c.id.to_string())
        } else {
            None
        };
        Ok(Response::new(pb::ListRuleChangesResponse {
            changes: changes.iter().map(change_to_pb).collect(),
            page: Some(PageInfo {
                next_cursor: next.unwrap_or_default(),
            }),
        }))
    }

    #[tracing::instrument(name = "intake.SaveRuleDraft", skip_all)]
    async fn save_rule_draft(
        &self,
        request: Request<pb::SaveRuleDraftRequest>,
    ) -> Result<Response<pb::SaveRuleDraftResponse>, Status> {
        let p = caller(&request)?;
        let rule = request
            .into_inner()
            .rule
            .ok_or_else(|| Status::from(ApiError::invalid("rule", "must be set")))?;
        let draft = self
            .ready()?
            .save_draft(&p, rule_from_pb(rule)?)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SaveRuleDraftResponse {
            draft_id: draft.id.to_string(),
        }))
    }

    #[tracing::instrument(name = "intake.SimulateDrafts", skip_all)]
    async fn simulate_drafts(
        &self,
        request: Request<pb::SimulateDraftsRequest>,
    ) -> Result<Response<pb::SimulateDraftsResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let ids = parse_ids("draft_ids", &r.draft_ids)?;
        let from = from_ts(
            "from",
            r.from
                .as_ref()
                .ok_or_else(|| Status::from(ApiError::invalid("from", "must be set")))?,
        )?;
        let to = from_ts(
            "to",
            r.to.as_ref()
                .ok_or_else(|| Status::from(ApiError::invalid("to", "must be set")))?,
        )?;
        let sim = self
            .ready()?
            .simulate_drafts(&p, &ids, from, to)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SimulateDraftsResponse {
            events_replayed: sim.events_replayed,
            cells: sim
                .cells
                .iter()
                .map(|c| pb::SimulationCell {
                    district: c.district.map(|d| d.to_string()).unwrap_or_default(),
                    category: c
                        .category
                        .map_or(BehaviourCategory::Unspecified, category_to_pb)
                        as i32,
                    points_before: c.points_before,
                    points_after: c.points_after,
                    yuan_before: Some(Yuan::from_points(c.points_before)),
                    yuan_after: Some(Yuan::from_points(c.points_after)),
                })
                .collect(),
        }))
    }

    #[tracing::instrument(name = "intake.PublishDrafts", skip_all)]
    async fn publish_drafts(
        &self,
        request: Request<pb::PublishDraftsRequest>,
    ) -> Result<Response<pb::PublishDraftsResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let ids = parse_ids("draft_ids", &r.draft_ids)?;
        let at = r
            .effective_from
            .as_ref()
            .map(|t| from_ts("effective_from", t))
            .transpose()?;
        let rules = self
            .ready()?
            .publish_drafts(&p, &ids, at)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::PublishDraftsResponse {
            rules: rules.iter().map(rule_to_pb).collect(),
        }))
    }

    #[tracing::instrument(name = "intake.CreateChallenge", skip_all)]
    async fn create_challenge(
        &self,
        request: Request<pb::CreateChallengeRequest>,
    ) -> Result<Response<pb::CreateChallengeResponse>, Status> {
        let p = caller(&request)?;
        let c = request
            .into_inner()
            .challenge
            .ok_or_else(|| Status::from(ApiError::invalid("challenge", "must be set")))?;
        let c = challenge_from_pb(c)?;
        let c = self
            .ready()?
            .create_challenge(&p, c)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CreateChallengeResponse {
            challenge: Some(challenge_to_pb(&c)),
        }))
    }

    #[tracing::instrument(name = "intake.ListChallenges", skip_all)]
    async fn list_challenges(
        &self,
        request: Request<pb::ListChallengesRequest>,
    ) -> Result<Response<pb::ListChallengesResponse>, Status> {
        let p = caller(&request)?;
        let list = self
            .ready()?
            .challenges(&p, &request.get_ref().resident_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListChallengesResponse {
            challenges: list.iter().map(progress_to_pb).collect(),
        }))
    }

    #[tracing::instrument(name = "intake.JoinChallenge", skip_all)]
    async fn join_challenge(
        &self,
        request: Request<pb::JoinChallengeRequest>,
    ) -> Result<Response<pb::JoinChallengeResponse>, Status> {
        let p = caller(&request)?;
        let r = request.get_ref();
        let progress = self
            .ready()?
            .join_challenge(&p, &r.resident_id, &r.challenge_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::JoinChallengeResponse {
            progress: Some(progress_to_pb(&progress)),
        }))
    }

    #[tracing::instrument(name = "intake.GetLeaderboard", skip_all)]
    async fn get_leaderboard(
        &self,
        request: Request<pb::GetLeaderboardRequest>,
    ) -> Result<Response<pb::GetLeaderboardResponse>, Status> {
        caller(&request)?;
        let r = request.get_ref();
        let ranked = self
            .ready()?
            .leaderboard(&r.scope, &r.period, r.limit)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetLeaderboardResponse {
            entries: ranked
                .into_iter()
                .map(|e| pb::LeaderboardEntry {
                    rank: e.rank,
                    name_masked: e.name_masked,
                    district: e.district.map(|d| d.to_string()).unwrap_or_default(),
                    points: e.points,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(name = "intake.SetLeaderboardOptIn", skip_all)]
    async fn set_leaderboard_opt_in(
        &self,
        request: Request<pb::SetLeaderboardOptInRequest>,
    ) -> Result<Response<pb::SetLeaderboardOptInResponse>, Status> {
        let p = caller(&request)?;
        let r = request.get_ref();
        self.ready()?
            .set_leaderboard_opt_in(&p, &r.resident_id, r.opt_in)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SetLeaderboardOptInResponse {}))
    }

    #[tracing::instrument(name = "intake.AwardHonour", skip_all)]
    async fn award_honour(
        &self,
        request: Request<pb::AwardHonourRequest>,
    ) -> Result<Response<pb::AwardHonourResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let honour = Honour {
            resident_id: r.resident_id,
            honour: r.honour,
            period: r.period,
            district: district_from_pb("district", &r.district)?,
            points: r.points,
            citation: r.citation,
        };
        let outcome = self
            .ready()?
            .award_honour(&p, honour)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::AwardHonourResponse {
            outcome: Some(outcome_to_pb(&outcome)),
        }))
    }

    #[tracing::instrument(name = "intake.ListReviewQueue", skip_all)]
    async fn list_review_queue(
        &self,
        request: Request<pb::ListReviewQueueRequest>,
    ) -> Result<Response<pb::ListReviewQueueResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let page = r.page.unwrap_or_default();
        let queue = self
            .ready()?
            .review_queue(&p, &r.district, &page.cursor, page.page_size)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListReviewQueueResponse {
            held: queue.held.iter().map(outcome_to_pb).collect(),
            page: Some(PageInfo {
                next_cursor: queue.next_cursor.unwrap_or_default(),
            }),
        }))
    }

    #[tracing::instrument(name = "intake.ResolveReview", skip_all)]
    async fn resolve_review(
        &self,
        request: Request<pb::ResolveReviewRequest>,
    ) -> Result<Response<pb::ResolveReviewResponse>, Status> {
        let p = caller(&request)?;
        let r = request.get_ref();
        let outcome = self
            .ready()?
            .resolve_review(&p, &r.event_id, r.release, &r.note)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ResolveReviewResponse {
            outcome: Some(outcome_to_pb(&outcome)),
        }))
    }

    #[tracing::instrument(name = "intake.FlagResident", skip_all)]
    async fn flag_resident(
        &self,
        request: Request<pb::FlagResidentRequest>,
    ) -> Result<Response<pb::FlagResidentResponse>, Status> {
        let p = caller(&request)?;
        let r = request.get_ref();
        self.ready()?
            .flag_resident(&p, &r.resident_id, &r.reason, r.clear)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::FlagResidentResponse {}))
    }
}
