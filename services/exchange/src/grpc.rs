//! The thin gRPC adapter of the exchange: each RPC checks its caller, converts its message
//! (`convert.rs`, also the one place a domain error becomes a `Status`), calls the service and
//! converts the answer.

use std::collections::BTreeMap;

use chrono::Utc;
use healthpoints_errors::ApiError;
use healthpoints_grpc::time::{read_optional, timestamp as ts};
use healthpoints_grpc::{Ready, caller};
use healthpoints_proto::exchange::v1::{self as pb, exchange_service_server::ExchangeService};
use tonic::{Request, Response, Status};

use crate::domain::fhir::capability_statement;
use crate::{
    clients::{IdentityPeer, IntakePeer, LedgerPeer},
    domain::{
        audit,
        consent::PartnerKind,
        contracts::ContractRecord,
        partners::{Partner, PartnerSpec, PartnerStatus},
        records::Person,
        station::Purpose,
        statistics::{self},
    },
    service::{Exchange, station::CounterRecord},
};

use crate::convert::{
    at_counter_to_pb, category_from_pb, cell_to_pb, consent_to_pb, delivery_to_pb, kind_from,
    notification_to_pb, outbox_event_from_pb, partner_to_pb, proof_from_pb, record_from_pb,
    results_to_pb, status, webhook_to_pb,
};

/// The exchange domain as the server runs it.
pub type LiveExchange = Exchange<IdentityPeer, IntakePeer, LedgerPeer>;

/// The gRPC face of the exchange.
#[derive(Debug, Clone)]
pub struct ExchangeGrpc {
    exchange: Ready<LiveExchange>,
}

impl ExchangeGrpc {
    pub fn new(exchange: Ready<LiveExchange>) -> Self {
        Self { exchange }
    }

    fn ready(&self) -> Result<&LiveExchange, Status> {
        self.exchange.get()
    }
}

#[tonic::async_trait]
impl ExchangeService for ExchangeGrpc {
    #[tracing::instrument(name = "exchange.CreatePartnerClient", skip_all)]
    async fn create_partner_client(
        &self,
        request: Request<pb::CreatePartnerClientRequest>,
    ) -> Result<Response<pb::CreatePartnerClientResponse>, Status> {
        let p = caller(&request)?;
        let x = self.ready()?;
        let r = request.into_inner();
        let (client_id, client_secret) = x
            .add_partner_client(&p, &r.partner_id, &r.department, &r.scopes)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CreatePartnerClientResponse {
            client_id,
            client_secret,
        }))
    }

    #[tracing::instrument(name = "exchange.RegisterPartner", skip_all)]
    async fn register_partner(
        &self,
        request: Request<pb::RegisterPartnerRequest>,
    ) -> Result<Response<pb::RegisterPartnerResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let x = self.ready()?;
        let (partner, client_id, client_secret) = x
            .register_partner(
                &p,
                PartnerSpec {
                    partner_id: r.partner_id,
                    name: r.name,
                    department: r.department,
                    contact: r.contact,
                    behaviours: r.behaviours,
                    scopes: r.scopes,
                    kind: kind_from("kind", &r.kind)?,
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
            registered_at: Utc::now(),
            kind: PartnerKind::Department,
        };
        let kind = kind_from("partner.kind", &r.kind)?;
        let partner = x.update_partner(&p, changed, kind).await.map_err(status)?;
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
        let partners = self.ready()?.store().partners().await.map_err(status)?;
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
        let results = x.submit_records(&p, records).await.map_err(status)?;
        Ok(Response::new(pb::SubmitRecordsResponse {
            results: results_to_pb(results),
        }))
    }

    #[tracing::instrument(name = "exchange.SubmitFhir", skip_all, fields(bytes = request.get_ref().body.len()))]
    async fn submit_fhir(
        &self,
        request: Request<pb::SubmitFhirRequest>,
    ) -> Result<Response<pb::SubmitFhirResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let x = self.ready()?;
        let answer = x
            .submit_fhir(&p, &r.content_type, &r.body)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SubmitFhirResponse {
            body: serde_json::to_vec(&answer.body).unwrap_or_default(),
            results: results_to_pb(answer.results),
            refused: answer.status != 200,
            status: answer.status.into(),
        }))
    }

    async fn get_fhir_capabilities(
        &self,
        _request: Request<pb::GetFhirCapabilitiesRequest>,
    ) -> Result<Response<pb::GetFhirCapabilitiesResponse>, Status> {
        Ok(Response::new(pb::GetFhirCapabilitiesResponse {
            capability_statement: serde_json::to_vec(&capability_statement()).unwrap_or_default(),
        }))
    }

    #[tracing::instrument(name = "exchange.SubmitContracts", skip_all, fields(records = request.get_ref().records.len()))]
    async fn submit_contracts(
        &self,
        request: Request<pb::SubmitContractsRequest>,
    ) -> Result<Response<pb::SubmitContractsResponse>, Status> {
        let p = caller(&request)?;
        let records = request
            .into_inner()
            .records
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let person = match r.person {
                    Some(pb::contract_record::Person::IdNumber(n)) => Person::IdNumber(n),
                    Some(pb::contract_record::Person::ResidentId(id)) => Person::ResidentId(id),
                    None => {
                        return Err(Status::from(ApiError::invalid(
                            format!("records[{i}].id_number"),
                            "set id_number or resident_id",
                        )));
                    }
                };
                Ok(ContractRecord {
                    record_id: r.record_id,
                    person,
                    action: r.action,
                    institution_code: r.institution_code,
                    institution_name: r.institution_name,
                    district: r.district,
                    signed_on: r.signed_on,
                    valid_until: r.valid_until,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let x = self.ready()?;
        let results = x.submit_contracts(&p, records).await.map_err(status)?;
        Ok(Response::new(pb::SubmitContractsResponse {
            results: results_to_pb(results),
        }))
    }

    #[tracing::instrument(name = "exchange.ListConsents", skip_all)]
    async fn list_consents(
        &self,
        request: Request<pb::ListConsentsRequest>,
    ) -> Result<Response<pb::ListConsentsResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let consents = self
            .ready()?
            .consents(&p, &r.resident_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListConsentsResponse {
            consents: consents.iter().map(consent_to_pb).collect(),
        }))
    }

    #[tracing::instrument(name = "exchange.GrantConsent", skip_all)]
    async fn grant_consent(
        &self,
        request: Request<pb::GrantConsentRequest>,
    ) -> Result<Response<pb::GrantConsentResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let x = self.ready()?;
        let c = x
            .grant_consent(
                &p,
                &r.resident_id,
                &r.partner_id,
                category_from_pb(r.category),
                &r.purpose,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GrantConsentResponse {
            consent: Some(consent_to_pb(&c)),
        }))
    }

    #[tracing::instrument(name = "exchange.RevokeConsent", skip_all)]
    async fn revoke_consent(
        &self,
        request: Request<pb::RevokeConsentRequest>,
    ) -> Result<Response<pb::RevokeConsentResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let x = self.ready()?;
        let c = x
            .revoke_consent(
                &p,
                &r.resident_id,
                &r.partner_id,
                category_from_pb(r.category),
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RevokeConsentResponse {
            consent: Some(consent_to_pb(&c)),
        }))
    }

    #[tracing::instrument(name = "exchange.GetStatistics", skip_all)]
    async fn get_statistics(
        &self,
        request: Request<pb::GetStatisticsRequest>,
    ) -> Result<Response<pb::GetStatisticsResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let x = self.ready()?;
        let cells = x
            .statistics(&p, &r.district, &r.month)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetStatisticsResponse {
            cells: cells.into_iter().map(cell_to_pb).collect(),
            min_cell: u32::try_from(statistics::MIN_CELL).unwrap_or(u32::MAX),
        }))
    }

    #[tracing::instrument(name = "exchange.GetPointsSummary", skip_all)]
    async fn get_points_summary(
        &self,
        request: Request<pb::GetPointsSummaryRequest>,
    ) -> Result<Response<pb::GetPointsSummaryResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let x = self.ready()?;
        let months = x.points_summary(&p, &r.resident_id).await.map_err(status)?;
        Ok(Response::new(pb::GetPointsSummaryResponse {
            resident_id: r.resident_id.trim().to_owned(),
            months: months
                .into_iter()
                .map(|m| pb::MonthlySummary {
                    month: m.month,
                    points_earned: m.points_earned,
                    activity_level: m.activity_level.to_owned(),
                })
                .collect(),
        }))
    }

    #[tracing::instrument(name = "exchange.ListAccessLog", skip_all)]
    async fn list_access_log(
        &self,
        request: Request<pb::ListAccessLogRequest>,
    ) -> Result<Response<pb::ListAccessLogResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let (resident, partner, station) = match &r.filter {
            Some(pb::list_access_log_request::Filter::ResidentId(id)) => {
                (Some(id.as_str()), None, None)
            }
            Some(pb::list_access_log_request::Filter::PartnerId(id)) => {
                (None, Some(id.as_str()), None)
            }
            Some(pb::list_access_log_request::Filter::Station(s)) => (None, None, Some(s.as_str())),
            None => (None, None, None),
        };
        let page = r.page.unwrap_or_default();
        let x = self.ready()?;
        let (entries, next) = x
            .access_log(
                &p,
                audit::AccessQuery {
                    resident_id: resident,
                    partner_id: partner,
                    station,
                    from: read_optional("from", r.from.as_ref())?,
                    to: read_optional("to", r.to.as_ref())?,
                    page_size: page.page_size,
                    cursor: &page.cursor,
                },
            )
            .await
            .map_err(status)?;
        let names: BTreeMap<String, String> = x
            .store()
            .partners()
            .await
            .map_err(status)?
            .into_iter()
            .map(|p| (p.partner_id, p.name))
            .collect();
        let admin = p.is_admin();
        Ok(Response::new(pb::ListAccessLogResponse {
            entries: entries
                .into_iter()
                .map(|e| pb::AccessLogEntry {
                    at: Some(ts(e.at)),
                    partner_name: e
                        .partner_id
                        .as_ref()
                        .and_then(|id| names.get(id).cloned())
                        .unwrap_or_default(),
                    actor: e.actor,
                    action: e.action,
                    records: e.records,
                    detail: e.detail,
                    station: e.station.unwrap_or_default(),
                    resident_id: if admin {
                        e.resident_id.unwrap_or_default()
                    } else {
                        String::new()
                    },
                })
                .collect(),
            page: Some(healthpoints_proto::common::v1::PageInfo {
                next_cursor: next.unwrap_or_default(),
            }),
        }))
    }

    #[tracing::instrument(name = "exchange.StartStationVisit", skip_all)]
    async fn start_station_visit(
        &self,
        request: Request<pb::StartStationVisitRequest>,
    ) -> Result<Response<pb::StartStationVisitResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let proof = proof_from_pb(r.proof)?;
        let purpose = Purpose::parse(&r.purpose)
            .ok_or_else(|| ApiError::invalid("purpose", "must be lookup or order"))?;
        let (resident, access_token, expires_in) = self
            .ready()?
            .start_station_visit(&p, &proof, purpose)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::StartStationVisitResponse {
            resident: Some(at_counter_to_pb(resident)),
            access_token,
            expires_in,
        }))
    }

    #[tracing::instrument(name = "exchange.SubmitStationRecord", skip_all)]
    async fn submit_station_record(
        &self,
        request: Request<pb::SubmitStationRecordRequest>,
    ) -> Result<Response<pb::SubmitStationRecordResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let proof = proof_from_pb(r.proof)?;
        let asked = CounterRecord {
            record_id: r.record_id,
            behaviour: r.behaviour,
            occurred_at: read_optional("occurred_at", r.occurred_at.as_ref())?,
            quantity: (r.quantity > 0).then_some(r.quantity),
            attributes: r.attributes.into_iter().collect(),
        };
        let (resident, result) = self
            .ready()?
            .submit_station_record(&p, &proof, asked)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SubmitStationRecordResponse {
            resident: Some(at_counter_to_pb(resident)),
            result: results_to_pb(vec![result]).pop(),
        }))
    }

    #[tracing::instrument(name = "exchange.ResetPasswordAtCounter", skip_all)]
    async fn reset_password_at_counter(
        &self,
        request: Request<pb::ResetPasswordAtCounterRequest>,
    ) -> Result<Response<pb::ResetPasswordAtCounterResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let proof = proof_from_pb(r.proof)?;
        let resident = self
            .ready()?
            .reset_password_at_counter(&p, &proof, &r.new_password)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ResetPasswordAtCounterResponse {
            resident: Some(at_counter_to_pb(resident)),
        }))
    }

    #[tracing::instrument(name = "exchange.ListNotifications", skip_all)]
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let page = r.page.unwrap_or_default();
        let (list, unread, next) = self
            .ready()?
            .notifications(&p, r.unread_only, &page.cursor, page.page_size)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: list.into_iter().map(notification_to_pb).collect(),
            unread,
            page: Some(healthpoints_proto::common::v1::PageInfo {
                next_cursor: next.unwrap_or_default(),
            }),
        }))
    }

    #[tracing::instrument(name = "exchange.MarkNotificationsRead", skip_all)]
    async fn mark_notifications_read(
        &self,
        request: Request<pb::MarkNotificationsReadRequest>,
    ) -> Result<Response<pb::MarkNotificationsReadResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let marked = self
            .ready()?
            .mark_read(&p, &r.notification_ids)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::MarkNotificationsReadResponse { marked }))
    }

    #[tracing::instrument(name = "exchange.RegisterWebhook", skip_all)]
    async fn register_webhook(
        &self,
        request: Request<pb::RegisterWebhookRequest>,
    ) -> Result<Response<pb::RegisterWebhookResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let hook = self
            .ready()?
            .register_webhook(&p, &r.url, &r.events)
            .await
            .map_err(status)?;
        let secret = hook.secret.clone();
        let mut wire = webhook_to_pb(hook);
        wire.secret = secret;
        Ok(Response::new(pb::RegisterWebhookResponse {
            webhook: Some(wire),
        }))
    }

    #[tracing::instrument(name = "exchange.ListWebhooks", skip_all)]
    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Result<Response<pb::ListWebhooksResponse>, Status> {
        let p = caller(&request)?;
        let hooks = self.ready()?.webhooks(&p).await.map_err(status)?;
        Ok(Response::new(pb::ListWebhooksResponse {
            webhooks: hooks.into_iter().map(webhook_to_pb).collect(),
        }))
    }

    #[tracing::instrument(name = "exchange.DeleteWebhook", skip_all)]
    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Result<Response<pb::DeleteWebhookResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        self.ready()?
            .delete_webhook(&p, &r.webhook_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteWebhookResponse {}))
    }

    #[tracing::instrument(name = "exchange.ListDeliveries", skip_all)]
    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let page = r.page.unwrap_or_default();
        let (list, next) = self
            .ready()?
            .deliveries(&p, &r.webhook_id, &page.cursor, page.page_size)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: list.into_iter().map(delivery_to_pb).collect(),
            page: Some(healthpoints_proto::common::v1::PageInfo {
                next_cursor: next.unwrap_or_default(),
            }),
        }))
    }

    #[tracing::instrument(name = "exchange.ReplayDelivery", skip_all)]
    async fn replay_delivery(
        &self,
        request: Request<pb::ReplayDeliveryRequest>,
    ) -> Result<Response<pb::ReplayDeliveryResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        self.ready()?
            .replay(&p, &r.webhook_id, &r.delivery_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ReplayDeliveryResponse {}))
    }

    #[tracing::instrument(name = "exchange.PublishEvents", skip_all, fields(events = request.get_ref().events.len()))]
    async fn publish_events(
        &self,
        request: Request<pb::PublishEventsRequest>,
    ) -> Result<Response<pb::PublishEventsResponse>, Status> {
        let p = caller(&request)?;
        if request.get_ref().events.len() > 1_000 {
            return Err(ApiError::invalid("events", "at most 1,000 at a time").into());
        }
        let mut ids = Vec::new();
        let mut events = Vec::new();
        let mut refused = Vec::new();
        for (i, e) in request.into_inner().events.into_iter().enumerate() {
            let event_id = e.event_id.clone();
            match outbox_event_from_pb(i, e) {
                Ok(event) => events.push((i, event)),
                Err((field, reason)) => {
                    tracing::error!(%field, reason, "a mall's event could not be read and was dropped");
                    refused.push(pb::RefusedEvent {
                        event_id: event_id.clone(),
                        field,
                        reason: reason.to_owned(),
                    });
                }
            }
            ids.push(event_id);
        }
        let checked = self
            .ready()?
            .publish_events(&p, events)
            .await
            .map_err(status)?;
        refused.extend(checked.into_iter().map(|r| pb::RefusedEvent {
            event_id: ids[r.position].clone(),
            field: r.field,
            reason: r.reason,
        }));
        Ok(Response::new(pb::PublishEventsResponse { refused }))
    }
}
