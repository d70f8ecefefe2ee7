//! A service's outbox on the wire (`healthpoints.common.v1.OutboxEvent`), and the two RPCs
//! intake and the ledger serve for the exchange to pull their events: `ReadOutbox` (what is not
//! taken yet) and `AckOutbox` (taken). Only the exchange's service client may call them — the
//! events name residents.

use chrono::Utc;
use healthpoints_auth::Principal;
use healthpoints_db::outbox::{self, OutboxEvent};
use healthpoints_errors::{ApiError, Fault};
use healthpoints_proto::common::v1 as pb;
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::caller;

/// The most events one read answers.
const MAX_READ: u32 = 1_000;

/// An outbox event as the contracts carry it.
pub fn to_pb(e: &OutboxEvent) -> pb::OutboxEvent {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    pb::OutboxEvent {
        event_id: e.id.to_string(),
        kind: e.kind.clone(),
        at: Some(prost_types::Timestamp {
            seconds: e.at.timestamp(),
            nanos: i32::try_from(e.at.timestamp_subsec_nanos()).unwrap_or_default(),
        }),
        resident_id: text(&e.resident_id),
        merchant_id: text(&e.merchant_id),
        mall: text(&e.mall),
        data_json: e.data.to_string(),
        partner_id: text(&e.partner_id),
    }
}

fn exchange_only<T>(request: &Request<T>) -> Result<(), Status> {
    match caller(request)? {
        Principal::Service { service, .. } if service == "exchange" => Ok(()),
        _ => Err(ApiError::forbidden("only the exchange reads this service's events").into()),
    }
}

fn storage(e: sea_orm::DbErr) -> Status {
    ApiError::from_fault("the outbox", &Fault::caused_by("the outbox", e)).into()
}

/// `ReadOutbox`: the events not taken yet, in id order.
pub async fn read(
    db: &DatabaseConnection,
    request: Request<pb::ReadOutboxRequest>,
) -> Result<Response<pb::ReadOutboxResponse>, Status> {
    exchange_only(&request)?;
    let limit = match request.get_ref().limit {
        0 => 200,
        n if n <= MAX_READ => n,
        _ => {
            return Err(ApiError::invalid("limit", format!("must be at most {MAX_READ}")).into());
        }
    };
    let events = outbox::unpublished(db, u64::from(limit))
        .await
        .map_err(storage)?;
    Ok(Response::new(pb::ReadOutboxResponse {
        events: events.iter().map(to_pb).collect(),
    }))
}

/// `AckOutbox`: the events the exchange took are not read again.
pub async fn ack(
    db: &DatabaseConnection,
    request: Request<pb::AckOutboxRequest>,
) -> Result<Response<pb::AckOutboxResponse>, Status> {
    exchange_only(&request)?;
    let raw = &request.get_ref().event_ids;
    if raw.len() > MAX_READ as usize {
        return Err(ApiError::invalid("event_ids", format!("at most {MAX_READ} at a time")).into());
    }
    let ids = raw
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Uuid::parse_str(id).map_err(|_| {
                Status::from(ApiError::invalid(
                    format!("event_ids[{i}]"),
                    "must be a UUID",
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    outbox::mark_published(db, &ids, Utc::now())
        .await
        .map_err(storage)?;
    Ok(Response::new(pb::AckOutboxResponse {}))
}
