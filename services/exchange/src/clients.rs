//! The exchange's peers behind the domain's traits, called with the exchange's own service
//! token: identity creates partner clients and resolves ID numbers; intake lists behaviour
//! codes, judges records and counts awards; the ledger gives each book's figures.

use std::collections::{BTreeMap, BTreeSet};

use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_grpc::{
    client::PeerChannel,
    credentials::{PeerError, ServiceToken},
};
use healthpoints_proto::{
    common::v1::{
        AckOutboxRequest, BehaviourCategory as PbCategory, OutboxEvent as PbEvent,
        ReadOutboxRequest,
    },
    identity::v1::{
        self as idpb, ClientKind, CreateClientRequest, ResolveResidentRequest,
        SetFamilyDoctorContractRequest, identity_service_client::IdentityServiceClient,
        resolve_resident_request,
    },
    intake::v1::{
        self as ipb, BehaviourEvent, ListRulesRequest, SubmitBehavioursRequest,
        intake_service_client::IntakeServiceClient,
    },
    ledger::v1::{GetBookStatisticsRequest, ledger_service_client::LedgerServiceClient},
};
use healthpoints_types::{Book, DistrictCode};
use prost_types::Timestamp;

use crate::domain::{
    contracts::{Contract, ContractAction, Contracts},
    error::{ExchangeError, Result},
    notify::{Event, EventSource},
    partners::{Identity, Intake, Partner, Resolved},
    products::MonthlyPoints,
    records::{Behaviours, Forward, Judged, RecordOutcome, RecordResult},
    station::{AtCounter, Proof},
    statistics::{
        AwardFigures, BehaviourCategory, BookAwards, BookMovements, CohortAwards, LedgerFigures,
    },
};

/// A peer's refusal or silence, as the domain sees it: retryable unless it is our own bug.
impl From<PeerError> for ExchangeError {
    fn from(e: PeerError) -> Self {
        if e.retryable() {
            Self::Unavailable(e.describe("the exchange"))
        } else {
            Self::fault(e.describe("the exchange"))
        }
    }
}

/// identity over gRPC.
#[derive(Debug, Clone)]
pub struct IdentityPeer {
    client: IdentityServiceClient<PeerChannel>,
    token: ServiceToken,
}

impl IdentityPeer {
    pub fn new(channel: PeerChannel, token: ServiceToken) -> Self {
        Self {
            client: IdentityServiceClient::new(channel),
            token,
        }
    }
}

impl Identity for IdentityPeer {
    async fn create_partner_client(&self, partner: &Partner) -> Result<(String, String)> {
        let r = self
            .token
            .call(
                "identity",
                &self.client,
                CreateClientRequest {
                    kind: ClientKind::Partner as i32,
                    name: partner.name.clone(),
                    partner_id: partner.partner_id.clone(),
                    department: partner.department.clone(),
                    scopes: partner.scopes.clone(),
                    ..CreateClientRequest::default()
                },
                async |mut c, r| c.create_client(r).await,
            )
            .await?;
        Ok((r.client_id, r.client_secret))
    }

    async fn resolve_id_number(&self, id_number: &str) -> Result<Resolved> {
        let answer = self
            .token
            .call(
                "identity",
                &self.client,
                ResolveResidentRequest {
                    resident: Some(resolve_resident_request::Resident::IdNumber(
                        id_number.to_owned(),
                    )),
                },
                async |mut c, r| c.resolve_resident(r).await,
            )
            .await;
        match answer {
            Ok(r) => Ok(Resolved::Resident(r.resident_id)),
            Err(e) if e.peer == "identity" && e.error.code == ErrorCode::NotFound => {
                Ok(Resolved::Unknown)
            }
            // identity names what is wrong with the number without repeating it.
            Err(e) if e.peer == "identity" && e.error.code == ErrorCode::InvalidArgument => {
                Ok(Resolved::Invalid(e.error.violations.first().map_or_else(
                    || "is malformed".to_owned(),
                    |v| v.reason.clone(),
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn resolve_at_counter(&self, proof: &Proof) -> Result<AtCounter> {
        let resident = match proof {
            Proof::IdNumber(n) => resolve_resident_request::Resident::IdNumber(n.trim().to_owned()),
            Proof::StationCode(c) => {
                resolve_resident_request::Resident::StationCode(c.trim().to_owned())
            }
        };
        let answer = self
            .token
            .call(
                "identity",
                &self.client,
                ResolveResidentRequest {
                    resident: Some(resident),
                },
                async |mut c, r| c.resolve_resident(r).await,
            )
            .await;
        let r = match answer {
            Ok(r) => r,
            Err(e) if e.peer == "identity" && e.error.code == ErrorCode::NotFound => {
                return Err(ExchangeError::NotFound(format!(
                    "a resident under this {}",
                    proof.field().replace('_', " ")
                )));
            }
            // identity names what is wrong without repeating the number or code.
            Err(e) if e.peer == "identity" && e.error.code == ErrorCode::InvalidArgument => {
                return Err(ExchangeError::invalid(
                    proof.field(),
                    e.error
                        .violations
                        .first()
                        .map_or("is malformed", |v| v.reason.as_str()),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if r.status != idpb::ResidentStatus::Active as i32 {
            return Err(ExchangeError::Refused(
                "this resident's account is suspended or closed; the district's office can help"
                    .into(),
            ));
        }
        Ok(AtCounter {
            resident_id: r.resident_id,
            name_masked: r.name_masked,
            residence_district: r.residence_district,
            birth_date: r.birth_date,
            family_doctor_district: r.family_doctor.map(|f| f.district),
        })
    }

    async fn delegated_token(
        &self,
        resident_id: &str,
        staff_id: &str,
        institution: &str,
    ) -> Result<(String, u32)> {
        let r = self
            .token
            .call(
                "identity",
                &self.client,
                idpb::IssueDelegatedTokenRequest {
                    resident_id: resident_id.to_owned(),
                    staff_id: staff_id.to_owned(),
                    institution_code: institution.to_owned(),
                },
                async |mut c, r| c.issue_delegated_token(r).await,
            )
            .await?;
        Ok((r.access_token, r.expires_in))
    }

    async fn set_password(&self, resident_id: &str, new_password: &str) -> Result<()> {
        let answer = self
            .token
            .call(
                "identity",
                &self.client,
                idpb::SetPasswordAtCounterRequest {
                    resident_id: resident_id.to_owned(),
                    new_password: new_password.to_owned(),
                },
                async |mut c, r| c.set_password_at_counter(r).await,
            )
            .await;
        match answer {
            Ok(_) => Ok(()),
            // A password the policy refuses: the resident types another.
            Err(e) if e.peer == "identity" && e.error.code == ErrorCode::InvalidArgument => {
                Err(ExchangeError::invalid(
                    "new_password",
                    e.error
                        .violations
                        .first()
                        .map_or("is not allowed", |v| v.reason.as_str()),
                ))
            }
            Err(e) if e.peer == "identity" && e.error.code == ErrorCode::AccountSuspended => {
                Err(ExchangeError::Refused(
                    "this resident's account is suspended or closed; the district's office can help"
                        .into(),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Contracts for IdentityPeer {
    async fn set_contract(
        &self,
        resident_id: &str,
        action: ContractAction,
        contract: &Contract,
    ) -> Result<std::result::Result<(), String>> {
        let request = SetFamilyDoctorContractRequest {
            resident_id: resident_id.to_owned(),
            action: match action {
                ContractAction::Sign => idpb::ContractAction::Sign,
                ContractAction::Change => idpb::ContractAction::Change,
                ContractAction::End => idpb::ContractAction::End,
            } as i32,
            contract: (action != ContractAction::End).then(|| idpb::FamilyDoctorContract {
                institution_code: contract.institution_code.clone(),
                institution_name: contract.institution_name.clone(),
                district: contract.district.clone(),
                signed_on: contract.signed_on.clone(),
                valid_until: contract.valid_until.clone(),
            }),
        };
        match self
            .token
            .call("identity", &self.client, request, async |mut c, r| {
                c.set_family_doctor_contract(r).await
            })
            .await
        {
            Ok(_) => Ok(Ok(())),
            // identity's refusal of this record (who or what), said to the partner.
            Err(e)
                if e.peer == "identity"
                    && matches!(
                        e.error.code,
                        ErrorCode::NotFound
                            | ErrorCode::InvalidArgument
                            | ErrorCode::FailedPrecondition
                            | ErrorCode::AccountSuspended
                    ) =>
            {
                Ok(Err(e.error.message))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// intake over gRPC.
#[derive(Debug, Clone)]
pub struct IntakePeer {
    client: IntakeServiceClient<PeerChannel>,
    token: ServiceToken,
}

impl IntakePeer {
    pub fn new(channel: PeerChannel, token: ServiceToken) -> Self {
        Self {
            client: IntakeServiceClient::new(channel)
                .max_decoding_message_size(16 << 20)
                .max_encoding_message_size(16 << 20),
            token,
        }
    }
}

impl Intake for IntakePeer {
    async fn behaviour_sources(&self) -> Result<BTreeMap<String, BTreeSet<String>>> {
        let rules = self
            .client
            .clone()
            .list_rules(ListRulesRequest::default())
            .await
            .map_err(|s| PeerError {
                peer: "intake",
                error: ApiError::from_status(&s),
            })?
            .into_inner()
            .rules;
        let mut catalogue: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in rules {
            catalogue.entry(r.code).or_default().extend(r.sources);
        }
        Ok(catalogue)
    }
}

fn outcome(kind: i32) -> RecordOutcome {
    match ipb::OutcomeKind::try_from(kind).unwrap_or_default() {
        ipb::OutcomeKind::Awarded => RecordOutcome::Awarded,
        ipb::OutcomeKind::Capped => RecordOutcome::Capped,
        ipb::OutcomeKind::Duplicate => RecordOutcome::Duplicate,
        ipb::OutcomeKind::Held => RecordOutcome::Held,
        ipb::OutcomeKind::Pending => RecordOutcome::Pending,
        ipb::OutcomeKind::Rejected | ipb::OutcomeKind::Unspecified => RecordOutcome::Rejected,
    }
}

impl MonthlyPoints for IntakePeer {
    async fn monthly_points(&self, resident_id: &str, months: u32) -> Result<Vec<(String, u64)>> {
        let r = self
            .token
            .call(
                "intake",
                &self.client,
                ipb::GetMonthlyPointsRequest {
                    resident_id: resident_id.to_owned(),
                    months,
                },
                async |mut c, r| c.get_monthly_points(r).await,
            )
            .await?;
        Ok(r.months.into_iter().map(|m| (m.month, m.points)).collect())
    }
}

impl AwardFigures for IntakePeer {
    async fn award_figures(
        &self,
        month: &str,
        district: Option<DistrictCode>,
    ) -> Result<(Vec<CohortAwards>, Vec<BookAwards>)> {
        let r = self
            .token
            .call(
                "intake",
                &self.client,
                ipb::GetAwardStatisticsRequest {
                    month: month.to_owned(),
                    district: district.map(|d| d.to_string()).unwrap_or_default(),
                },
                async |mut c, r| c.get_award_statistics(r).await,
            )
            .await?;
        let book = |b: &str| {
            Book::parse(b)
                .map_err(|_| ExchangeError::fault("intake named a book that does not exist"))
        };
        let mut cohorts = Vec::with_capacity(r.cohorts.len());
        for c in r.cohorts {
            let category = match PbCategory::try_from(c.category).unwrap_or_default() {
                PbCategory::Learning => BehaviourCategory::Learning,
                PbCategory::Lifestyle => BehaviourCategory::Lifestyle,
                PbCategory::PublicHealthService => BehaviourCategory::PublicHealthService,
                PbCategory::PublicWelfare => BehaviourCategory::PublicWelfare,
                PbCategory::Unspecified => {
                    return Err(ExchangeError::fault(
                        "intake counted awards without a category",
                    ));
                }
            };
            cohorts.push(CohortAwards {
                book: book(&c.book)?,
                district: DistrictCode::parse(&c.district).ok(),
                category,
                age_band: c.age_band,
                residence_type: c.residence_type,
                residents: c.residents,
                points: c.points,
            });
        }
        let books = r
            .books
            .iter()
            .map(|b| {
                Ok(BookAwards {
                    book: book(&b.book)?,
                    residents: b.residents,
                    points: b.points,
                })
            })
            .collect::<Result<_>>()?;
        Ok((cohorts, books))
    }
}

/// The ledger over gRPC (book figures).
#[derive(Debug, Clone)]
pub struct LedgerPeer {
    client: LedgerServiceClient<PeerChannel>,
    token: ServiceToken,
}

impl LedgerPeer {
    pub fn new(channel: PeerChannel, token: ServiceToken) -> Self {
        Self {
            client: LedgerServiceClient::new(channel),
            token,
        }
    }
}

impl LedgerFigures for LedgerPeer {
    async fn book_movements(&self, book: Book, month: &str) -> Result<BookMovements> {
        let r = self
            .token
            .call(
                "ledger",
                &self.client,
                GetBookStatisticsRequest {
                    book: book.to_string(),
                    month: month.to_owned(),
                },
                async |mut c, r| c.get_book_statistics(r).await,
            )
            .await?;
        Ok(BookMovements {
            issued: r.issued,
            redeemed: r.redeemed,
            outstanding: r.outstanding,
            holders: r.resident_accounts,
        })
    }
}

impl Behaviours for IntakePeer {
    async fn submit(&self, records: Vec<Forward>, all_or_none: bool) -> Result<Judged> {
        let events = records
            .into_iter()
            .map(|r| BehaviourEvent {
                source_id: r.source_id,
                source_event_id: r.record_id,
                resident: Some(ipb::behaviour_event::Resident::ResidentId(r.resident_id)),
                behaviour_code: r.behaviour,
                occurred_at: Some(Timestamp {
                    seconds: r.occurred_at.timestamp(),
                    nanos: i32::try_from(r.occurred_at.timestamp_subsec_nanos())
                        .unwrap_or_default(),
                }),
                quantity: r.quantity,
                district: r.district,
                attributes: r.attributes.into_iter().collect(),
            })
            .collect();
        let answer = self
            .token
            .call(
                "intake",
                &self.client,
                SubmitBehavioursRequest {
                    events,
                    all_or_none,
                },
                async |mut c, r| c.submit_behaviours(r).await,
            )
            .await?;
        Ok(Judged {
            results: answer
                .outcomes
                .into_iter()
                .map(|o| RecordResult {
                    outcome: outcome(o.kind),
                    record_id: o.source_event_id,
                    points: o.points,
                    reason_code: o.reason_code,
                    reason: o.reason,
                })
                .collect(),
            recorded: answer.recorded,
        })
    }
}

/// Events read from an outbox: each with its id, parsed when it can be.
fn pulled(events: Vec<PbEvent>) -> Vec<(String, Option<Event>)> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let id = e.event_id.clone();
            (id, crate::convert::outbox_event_from_pb(i, e).ok())
        })
        .collect()
}

/// A peer whose outbox the exchange reads: the same two calls on intake and on the ledger.
macro_rules! outbox_source {
    ($peer:ty, $name:literal) => {
        impl EventSource for $peer {
            async fn read_events(&self, limit: u32) -> Result<Vec<(String, Option<Event>)>> {
                let r = self
                    .token
                    .call(
                        $name,
                        &self.client,
                        ReadOutboxRequest { limit },
                        async |mut c, r| c.read_outbox(r).await,
                    )
                    .await?;
                Ok(pulled(r.events))
            }

            async fn ack_events(&self, event_ids: Vec<String>) -> Result<()> {
                self.token
                    .call(
                        $name,
                        &self.client,
                        AckOutboxRequest { event_ids },
                        async |mut c, r| c.ack_outbox(r).await,
                    )
                    .await?;
                Ok(())
            }
        }
    };
}

outbox_source!(IntakePeer, "intake");
outbox_source!(LedgerPeer, "ledger");
