//! The thin gRPC adapter of intake: each RPC checks its caller, converts its message
//! (`convert.rs`), calls the service and converts the answer.

use healthpoints_errors::ApiError;
use healthpoints_grpc::{Ready, caller, time};
use healthpoints_proto::{
    common::v1::{BehaviourCategory, PageInfo, Yuan},
    intake::v1::{self as pb, intake_service_server::IntakeService},
};
use healthpoints_types::{Book, DistrictCode};
use tonic::{Request, Response, Status};

use crate::convert::{
    category_to_pb, challenge_from_pb, challenge_to_pb, change_to_pb, district_from_pb,
    event_from_pb, parse_ids, progress_to_pb, rule_from_pb, status,
};
pub use crate::convert::{outcome_to_pb, rule_to_pb, to_api_error};
use crate::{
    clients::{IdentityResidents, LedgerAwards},
    domain::{
        expiry::{ExpiryPolicy, PolicyVersion},
        play::Honour,
    },
    service::Intake,
};

/// The intake domain as the server runs it.
pub type LiveIntake = Intake<IdentityResidents, LedgerAwards>;

/// The gRPC face of intake.
#[derive(Debug, Clone)]
pub struct IntakeGrpc {
    intake: Ready<LiveIntake>,
}

impl IntakeGrpc {
    pub fn new(intake: Ready<LiveIntake>) -> Self {
        Self { intake }
    }

    fn ready(&self) -> Result<&LiveIntake, Status> {
        self.intake.get()
    }
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
        let r = request.into_inner();
        let events = r
            .events
            .into_iter()
            .enumerate()
            .map(|(i, e)| event_from_pb(i, e))
            .collect::<Result<Vec<_>, _>>()?;
        let (outcomes, recorded) = self
            .ready()?
            .submit_events(events, r.all_or_none)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SubmitBehavioursResponse {
            outcomes: outcomes.iter().map(outcome_to_pb).collect(),
            recorded,
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

    #[tracing::instrument(name = "intake.GetCheckIn", skip_all)]
    async fn get_check_in(
        &self,
        request: Request<pb::GetCheckInRequest>,
    ) -> Result<Response<pb::GetCheckInResponse>, Status> {
        let p = caller(&request)?;
        let (checked_in_today, streak_days) = self
            .ready()?
            .check_in_status(&p, &request.get_ref().resident_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetCheckInResponse {
            checked_in_today,
            streak_days,
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
            Some(t) => time::read("as_of", t)?,
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
        let from = time::read(
            "from",
            r.from
                .as_ref()
                .ok_or_else(|| Status::from(ApiError::invalid("from", "must be set")))?,
        )?;
        let to = time::read(
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
            .map(|t| time::read("effective_from", t))
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

    #[tracing::instrument(name = "intake.ListExpiryPolicies", skip_all)]
    async fn list_expiry_policies(
        &self,
        _request: Request<pb::ListExpiryPoliciesRequest>,
    ) -> Result<Response<pb::ListExpiryPoliciesResponse>, Status> {
        let books = self.ready()?.books_expiry();
        Ok(Response::new(pb::ListExpiryPoliciesResponse {
            books: books
                .into_iter()
                .map(|b| pb::BookExpiryPolicy {
                    current: Some(pb::ExpiryPolicyVersion {
                        book: b.book.to_string(),
                        policy: b.policy.to_string(),
                        version: b.version,
                        effective_from: b.effective_from.map(time::timestamp),
                    }),
                    next: b.next.as_ref().map(policy_to_pb),
                })
                .collect(),
        }))
    }

    #[tracing::instrument(name = "intake.PublishExpiryPolicy", skip_all)]
    async fn publish_expiry_policy(
        &self,
        request: Request<pb::PublishExpiryPolicyRequest>,
    ) -> Result<Response<pb::PublishExpiryPolicyResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let book =
            Book::parse(&r.book).map_err(|e| Status::from(ApiError::invalid("book", e.0)))?;
        let policy = ExpiryPolicy::parse(&r.policy)
            .map_err(|e| Status::from(ApiError::invalid("policy", e)))?;
        let at = r
            .effective_from
            .as_ref()
            .map(|t| time::read("effective_from", t))
            .transpose()?;
        let published = self
            .ready()?
            .publish_expiry_policy(&p, book, policy, at)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::PublishExpiryPolicyResponse {
            published: Some(policy_to_pb(&published)),
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

    #[tracing::instrument(name = "intake.ReadOutbox", skip_all)]
    async fn read_outbox(
        &self,
        request: Request<healthpoints_proto::common::v1::ReadOutboxRequest>,
    ) -> Result<Response<healthpoints_proto::common::v1::ReadOutboxResponse>, Status> {
        healthpoints_grpc::outbox::read(self.ready()?.store().connection(), request).await
    }

    #[tracing::instrument(name = "intake.AckOutbox", skip_all)]
    async fn ack_outbox(
        &self,
        request: Request<healthpoints_proto::common::v1::AckOutboxRequest>,
    ) -> Result<Response<healthpoints_proto::common::v1::AckOutboxResponse>, Status> {
        healthpoints_grpc::outbox::ack(self.ready()?.store().connection(), request).await
    }
}

fn policy_to_pb(v: &PolicyVersion) -> pb::ExpiryPolicyVersion {
    pb::ExpiryPolicyVersion {
        book: v.book.to_string(),
        policy: v.policy.to_string(),
        version: v.version,
        effective_from: Some(time::timestamp(v.effective_from)),
    }
}
