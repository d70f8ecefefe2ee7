//! The thin gRPC adapter of the exchange, and the one place where [`ExchangeError`] becomes a
//! `Status`.

use std::{collections::BTreeMap, sync::Arc};

use chrono::DateTime;
use healthpoints_auth::{Principal, principal};
use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_proto::exchange::v1::{self as pb, exchange_service_server::ExchangeService};
use prost_types::Timestamp;
use tokio::sync::OnceCell;
use tonic::{Request, Response, Status};

use crate::{
    Exchange,
    domain::{
        error::ExchangeError,
        partners::{self, Partner, PartnerSpec, PartnerStatus},
        records::{self, Person, Record, RecordOutcome},
    },
};

/// Converts a domain error once, with a log level per kind.
pub fn to_api_error(err: ExchangeError) -> ApiError {
    match err {
        ExchangeError::Invalid { field, reason } => ApiError::invalid(field, reason),
        e @ ExchangeError::Forbidden(_) => {
            tracing::info!(reason = %e, "exchange request forbidden");
            ApiError::forbidden(e.to_string())
        }
        e @ ExchangeError::NotFound(_) => ApiError::not_found(e.to_string()),
        e @ ExchangeError::Conflict(_) => ApiError::new(ErrorCode::AlreadyExists, e.to_string()),
        e @ ExchangeError::Unavailable(_) => {
            tracing::warn!(reason = %e, "exchange dependency unavailable");
            ApiError::new(ErrorCode::Unavailable, e.to_string())
        }
        e @ ExchangeError::Store(_) => {
            tracing::error!(error = %e, "exchange request failed");
            ApiError::internal()
        }
    }
}

fn status(err: ExchangeError) -> Status {
    to_api_error(err).into()
}

fn partner_to_pb(p: &Partner) -> pb::Partner {
    pb::Partner {
        partner_id: p.partner_id.clone(),
        name: p.name.clone(),
        department: p.department.clone(),
        contact: p.contact.clone(),
        behaviours: p.behaviours.clone(),
        scopes: p.scopes.clone(),
        status: match p.status {
            PartnerStatus::Active => pb::PartnerStatus::Active,
            PartnerStatus::Suspended => pb::PartnerStatus::Suspended,
            PartnerStatus::Registering => pb::PartnerStatus::Unspecified,
        } as i32,
        registered_at: Some(Timestamp {
            seconds: p.registered_at.timestamp(),
            nanos: 0,
        }),
    }
}

fn outcome_to_pb(o: RecordOutcome) -> pb::RecordOutcome {
    match o {
        RecordOutcome::Awarded => pb::RecordOutcome::Awarded,
        RecordOutcome::Capped => pb::RecordOutcome::Capped,
        RecordOutcome::Duplicate => pb::RecordOutcome::Duplicate,
        RecordOutcome::Held => pb::RecordOutcome::Held,
        RecordOutcome::Rejected => pb::RecordOutcome::Rejected,
        RecordOutcome::Pending => pb::RecordOutcome::Pending,
    }
}

fn record_from_pb(i: usize, r: pb::BehaviourRecord) -> Result<Record, Status> {
    let field = |name: &str| format!("records[{i}].{name}");
    let person = match r.person {
        Some(pb::behaviour_record::Person::IdNumber(n)) => Person::IdNumber(n),
        Some(pb::behaviour_record::Person::ResidentId(id)) => Person::ResidentId(id),
        None => {
            return Err(
                ApiError::invalid(field("id_number"), "set id_number or resident_id").into(),
            );
        }
    };
    let occurred_at = r
        .occurred_at
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .ok_or_else(|| {
            Status::from(ApiError::invalid(
                field("occurred_at"),
                "must be set to a valid time",
            ))
        })?;
    Ok(Record {
        record_id: r.record_id,
        person,
        behaviour: r.behaviour,
        occurred_at,
        quantity: r.quantity,
        district: r.district,
        attributes: r.attributes.into_iter().collect::<BTreeMap<_, _>>(),
    })
}

/// The gRPC face of the exchange.
#[derive(Debug, Clone)]
pub struct ExchangeGrpc {
    exchange: Arc<OnceCell<Arc<Exchange>>>,
}

impl ExchangeGrpc {
    pub fn new(exchange: Arc<OnceCell<Arc<Exchange>>>) -> Self {
        Self { exchange }
    }

    fn ready(&self) -> Result<&Exchange, Status> {
        self.exchange.get().map(AsRef::as_ref).ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unavailable,
                "the exchange is starting up; retry shortly",
            )
            .into()
        })
    }
}

fn caller<T>(request: &Request<T>) -> Result<Principal, Status> {
    principal(request).map_err(Status::from)
}

fn not_yet(what: &str) -> Status {
    ApiError::new(
        ErrorCode::FailedPrecondition,
        format!("{what} is not available in this release yet"),
    )
    .into()
}

#[tonic::async_trait]
impl ExchangeService for ExchangeGrpc {
    #[tracing::instrument(name = "exchange.RegisterPartner", skip_all)]
    async fn register_partner(
        &self,
        request: Request<pb::RegisterPartnerRequest>,
    ) -> Result<Response<pb::RegisterPartnerResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let x = self.ready()?;
        let (partner, client_id, client_secret) = partners::register(
            &x.store,
            &x.identity,
            &x.intake,
            &p,
            PartnerSpec {
                partner_id: r.partner_id,
                name: r.name,
                department: r.department,
                contact: r.contact,
                behaviours: r.behaviours,
                scopes: r.scopes,
            },
        )
        .await
        .map_err(status)?;
        Ok(Response::new(pb::RegisterPartnerResponse {
            partner: Some(partner_to_pb(&partner)),
            client_id,
            client_secret,
        }))
    }

    #[tracing::instrument(name = "exchange.UpdatePartner", skip_all)]
    async fn update_partner(
        &self,
        request: Request<pb::UpdatePartnerRequest>,
    ) -> Result<Response<pb::UpdatePartnerResponse>, Status> {
        let p = caller(&request)?;
        let r = request
            .into_inner()
            .partner
            .ok_or_else(|| Status::from(ApiError::invalid("partner", "must be set")))?;
        let status_value = match pb::PartnerStatus::try_from(r.status).unwrap_or_default() {
            pb::PartnerStatus::Active => PartnerStatus::Active,
            pb::PartnerStatus::Suspended => PartnerStatus::Suspended,
            pb::PartnerStatus::Unspecified => {
                return Err(
                    ApiError::invalid("partner.status", "must be active or suspended").into(),
                );
            }
        };
        let x = self.ready()?;
        let changed = Partner {
            partner_id: r.partner_id,
            name: r.name,
            department: r.department,
            contact: r.contact,
            behaviours: r.behaviours,
            scopes: r.scopes,
            status: status_value,
            client_id: None,
            registered_at: chrono::Utc::now(),
        };
        let partner = partners::update(&x.store, &x.intake, &p, changed)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::UpdatePartnerResponse {
            partner: Some(partner_to_pb(&partner)),
        }))
    }

    #[tracing::instrument(name = "exchange.ListPartners", skip_all)]
    async fn list_partners(
        &self,
        request: Request<pb::ListPartnersRequest>,
    ) -> Result<Response<pb::ListPartnersResponse>, Status> {
        // Public: names and departments; admins also see behaviours, scopes and contacts.
        let admin = healthpoints_auth::optional_principal(&request).is_some_and(|p| p.is_admin());
        let partners = self.ready()?.store.partners().await.map_err(status)?;
        Ok(Response::new(pb::ListPartnersResponse {
            partners: partners
                .iter()
                .map(|p| {
                    let mut v = partner_to_pb(p);
                    if !admin {
                        v.contact.clear();
                        v.scopes.clear();
                    }
                    v
                })
                .collect(),
        }))
    }

    #[tracing::instrument(name = "exchange.SubmitRecords", skip_all, fields(records = request.get_ref().records.len()))]
    async fn submit_records(
        &self,
        request: Request<pb::SubmitRecordsRequest>,
    ) -> Result<Response<pb::SubmitRecordsResponse>, Status> {
        let p = caller(&request)?;
        let records = request
            .into_inner()
            .records
            .into_iter()
            .enumerate()
            .map(|(i, r)| record_from_pb(i, r))
            .collect::<Result<Vec<_>, _>>()?;
        let x = self.ready()?;
        let results = records::submit(&x.store, &x.identity, &x.intake, &p, records)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SubmitRecordsResponse {
            results: results
                .into_iter()
                .map(|r| pb::RecordResult {
                    record_id: r.record_id,
                    outcome: outcome_to_pb(r.outcome) as i32,
                    points: r.points,
                    reason_code: r.reason_code,
                    reason: r.reason,
                })
                .collect(),
        }))
    }

    async fn submit_fhir(
        &self,
        _request: Request<pb::SubmitFhirRequest>,
    ) -> Result<Response<pb::SubmitFhirResponse>, Status> {
        Err(not_yet("FHIR submission"))
    }

    async fn submit_contracts(
        &self,
        _request: Request<pb::SubmitContractsRequest>,
    ) -> Result<Response<pb::SubmitContractsResponse>, Status> {
        Err(not_yet("the family-doctor contracts feed"))
    }

    async fn list_consents(
        &self,
        _request: Request<pb::ListConsentsRequest>,
    ) -> Result<Response<pb::ListConsentsResponse>, Status> {
        Err(not_yet("consent"))
    }

    async fn grant_consent(
        &self,
        _request: Request<pb::GrantConsentRequest>,
    ) -> Result<Response<pb::GrantConsentResponse>, Status> {
        Err(not_yet("consent"))
    }

    async fn revoke_consent(
        &self,
        _request: Request<pb::RevokeConsentRequest>,
    ) -> Result<Response<pb::RevokeConsentResponse>, Status> {
        Err(not_yet("consent"))
    }

    async fn get_statistics(
        &self,
        _request: Request<pb::GetStatisticsRequest>,
    ) -> Result<Response<pb::GetStatisticsResponse>, Status> {
        Err(not_yet("statistics"))
    }

    async fn get_points_summary(
        &self,
        _request: Request<pb::GetPointsSummaryRequest>,
    ) -> Result<Response<pb::GetPointsSummaryResponse>, Status> {
        Err(not_yet("points summaries"))
    }

    async fn list_access_log(
        &self,
        _request: Request<pb::ListAccessLogRequest>,
    ) -> Result<Response<pb::ListAccessLogResponse>, Status> {
        Err(not_yet("the access log"))
    }
}
