//! Notifications and webhooks: a resident's inbox (`/v1/me/notifications`), and a partner's
//! and a merchant's webhooks (`/v1/partner/webhooks`, `/v1/merchant/webhooks`), their delivery
//! log and replays. What they carry and how
//! they are signed: docs/notifications.md.

// utoipa's `params(…Query)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use axum::{Json, extract::State, http::StatusCode};
use healthpoints_errors::ApiError;
use healthpoints_proto::{common::v1::PageRequest, exchange::v1 as pb};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::views::{rfc3339, some};
use crate::{
    AppState,
    auth::{Caller, MerchantOperator, PartnerClient, Resident},
    body::{JsonBody, Params, Segments},
    error::{HttpResult, Problem},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub notification_id: String,
    /// `points.awarded`, `points.held`, `record.rejected` (after a review), `points.expiring`,
    /// `voucher.expiring`, `order.written_off`, `order.refunded`, `order.expired`,
    /// `consent.granted`, `consent.revoked`.
    pub kind: String,
    /// What it is about (ids and codes).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub created_at: String,
    pub read: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Notifications {
    pub notifications: Vec<NotificationView>,
    /// How many of all the resident's notifications are unread.
    pub unread: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationsQuery {
    /// Only the unread ones.
    #[serde(default)]
    pub unread: Option<bool>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default, deserialize_with = "super::views::page_size")]
    pub page_size: Option<u32>,
}

/// My notifications, newest first, and how many are unread.
#[utoipa::path(get, path = "/v1/me/notifications", tag = "resident", security(("bearer" = [])), params(NotificationsQuery),
    responses((status = 200, body = Notifications), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn notifications(
    State(state): State<AppState>,
    Resident { caller, .. }: Resident,
    Params(q): Params<NotificationsQuery>,
) -> HttpResult<Json<Notifications>> {
    let r = state
        .exchange()
        .list_notifications(caller.request(pb::ListNotificationsRequest {
            unread_only: q.unread.unwrap_or(false),
            page: Some(PageRequest {
                page_size: q.page_size.unwrap_or_default(),
                cursor: q.cursor.unwrap_or_default(),
            }),
        }))
        .await?
        .into_inner();
    Ok(Json(Notifications {
        notifications: r
            .notifications
            .into_iter()
            .map(|n| NotificationView {
                notification_id: n.notification_id,
                kind: n.kind,
                data: serde_json::from_str(&n.data_json).unwrap_or_default(),
                created_at: rfc3339(n.created_at).unwrap_or_default(),
                read: n.read_at.is_some(),
            })
            .collect(),
        unread: r.unread,
        next_cursor: r.page.and_then(|p| some(p.next_cursor)),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    /// The notifications read; absent or empty: all of them.
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>, max_items = 200)]
    pub notification_ids: Vec<String>,
}

/// Marks my notifications read: those named, or all.
#[utoipa::path(post, path = "/v1/me/notifications/read", tag = "resident", security(("bearer" = [])), request_body = ReadBody,
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn read(
    State(state): State<AppState>,
    Resident { caller, .. }: Resident,
    JsonBody(b): JsonBody<ReadBody>,
) -> HttpResult<StatusCode> {
    if b.notification_ids.len() > 200 {
        return Err(ApiError::invalid("notification_ids", "at most 200 at a time").into());
    }
    state
        .exchange()
        .mark_notifications_read(caller.request(pb::MarkNotificationsReadRequest {
            notification_ids: b.notification_ids,
        }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// Where to POST events: a public `https` address (a private, loopback, link-local or
    /// metadata one is refused, 422).
    #[schema(
        min_length = 9,
        max_length = 2000,
        pattern = "^https?://[^/?#@\\s]+([/?][!-~]*)?$"
    )]
    pub url: String,
    /// Which events.
    #[schema(value_type = Vec<PartnerEvent>, min_items = 1)]
    pub events: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantWebhookBody {
    /// Where to POST events: a public `https` address (a private, loopback, link-local or
    /// metadata one is refused, 422).
    #[schema(
        min_length = 9,
        max_length = 2000,
        pattern = "^https?://[^/?#@\\s]+([/?][!-~]*)?$"
    )]
    pub url: String,
    /// Which events.
    #[schema(value_type = Vec<MerchantEvent>, min_items = 1)]
    pub events: Vec<String>,
}

/// An event a partner hears of.
#[derive(Debug, Serialize, ToSchema)]
pub enum PartnerEvent {
    #[serde(rename = "consent.granted")]
    ConsentGranted,
    #[serde(rename = "consent.revoked")]
    ConsentRevoked,
    #[serde(rename = "record.rejected")]
    RecordRejected,
}

/// An event a merchant hears of.
#[derive(Debug, Serialize, ToSchema)]
pub enum MerchantEvent {
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.cancelled")]
    OrderCancelled,
    #[serde(rename = "order.expired")]
    OrderExpired,
    #[serde(rename = "order.written_off")]
    OrderWrittenOff,
    #[serde(rename = "order.refunded")]
    OrderRefunded,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub webhook_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: String,
    /// The signing secret (`whsec_…`): in the registration's answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<pb::Webhook> for WebhookView {
    fn from(w: pb::Webhook) -> Self {
        Self {
            webhook_id: w.webhook_id,
            url: w.url,
            events: w.events,
            created_at: rfc3339(w.created_at).unwrap_or_default(),
            secret: some(w.secret),
        }
    }
}

/// Registers a webhook: events are POSTed to `url`, signed as Standard Webhooks describes,
/// retried with backoff for about a day. The secret is shown once.
#[utoipa::path(post, path = "/v1/partner/webhooks", tag = "partner", security(("bearer" = [])), request_body = WebhookBody,
    responses((status = 201, body = WebhookView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "an address webhooks may not call, or 10 webhooks already")))]
pub async fn register(
    State(state): State<AppState>,
    PartnerClient(caller): PartnerClient,
    JsonBody(b): JsonBody<WebhookBody>,
) -> HttpResult<(StatusCode, Json<WebhookView>)> {
    register_for(&state, &caller, b.url, b.events).await
}

async fn register_for(
    state: &AppState,
    caller: &Caller,
    url: String,
    events: Vec<String>,
) -> HttpResult<(StatusCode, Json<WebhookView>)> {
    let r = state
        .exchange()
        .register_webhook(caller.request(pb::RegisterWebhookRequest { url, events }))
        .await?
        .into_inner();
    let hook = r.webhook.ok_or_else(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(hook.into())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Webhooks {
    pub webhooks: Vec<WebhookView>,
}

/// My webhooks (without their secrets).
#[utoipa::path(get, path = "/v1/partner/webhooks", tag = "partner", security(("bearer" = [])),
    responses((status = 200, body = Webhooks), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    PartnerClient(caller): PartnerClient,
) -> HttpResult<Json<Webhooks>> {
    list_for(&state, &caller).await
}

async fn list_for(state: &AppState, caller: &Caller) -> HttpResult<Json<Webhooks>> {
    let r = state
        .exchange()
        .list_webhooks(caller.request(pb::ListWebhooksRequest {}))
        .await?
        .into_inner();
    Ok(Json(Webhooks {
        webhooks: r.webhooks.into_iter().map(Into::into).collect(),
    }))
}

/// Deletes a webhook: nothing more is sent to it; its delivery log stays.
#[utoipa::path(delete, path = "/v1/partner/webhooks/{id}", tag = "partner", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    PartnerClient(caller): PartnerClient,
    Segments(id): Segments<String>,
) -> HttpResult<StatusCode> {
    delete_for(&state, &caller, id).await
}

async fn delete_for(state: &AppState, caller: &Caller, id: String) -> HttpResult<StatusCode> {
    state
        .exchange()
        .delete_webhook(caller.request(pb::DeleteWebhookRequest { webhook_id: id }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub delivery_id: String,
    /// The `webhook-id` the receiver saw: the same on every attempt and replay.
    pub event_id: String,
    pub kind: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<String>,
    /// The receiver's HTTP status of the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deliveries {
    pub deliveries: Vec<DeliveryView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default, deserialize_with = "super::views::page_size")]
    pub page_size: Option<u32>,
}

/// A webhook's delivery log, newest first: each event, its status and its last attempt.
#[utoipa::path(get, path = "/v1/partner/webhooks/{id}/deliveries", tag = "partner", security(("bearer" = [])),
    params(("id" = String, Path), DeliveriesQuery),
    responses((status = 200, body = Deliveries), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn deliveries(
    State(state): State<AppState>,
    PartnerClient(caller): PartnerClient,
    Segments(id): Segments<String>,
    Params(q): Params<DeliveriesQuery>,
) -> HttpResult<Json<Deliveries>> {
    deliveries_for(&state, &caller, id, q).await
}

async fn deliveries_for(
    state: &AppState,
    caller: &Caller,
    id: String,
    q: DeliveriesQuery,
) -> HttpResult<Json<Deliveries>> {
    let r = state
        .exchange()
        .list_deliveries(caller.request(pb::ListDeliveriesRequest {
            webhook_id: id,
            page: Some(PageRequest {
                page_size: q.page_size.unwrap_or_default(),
                cursor: q.cursor.unwrap_or_default(),
            }),
        }))
        .await?
        .into_inner();
    Ok(Json(Deliveries {
        deliveries: r
            .deliveries
            .into_iter()
            .map(|d| DeliveryView {
                delivery_id: d.delivery_id,
                event_id: d.event_id,
                kind: d.kind,
                status: d.status,
                attempts: d.attempts,
                next_attempt_at: rfc3339(d.next_attempt_at),
                last_attempt_at: rfc3339(d.last_attempt_at),
                last_status: (d.last_status > 0).then_some(d.last_status),
                last_error: some(d.last_error),
                created_at: rfc3339(d.created_at).unwrap_or_default(),
            })
            .collect(),
        next_cursor: r.page.and_then(|p| some(p.next_cursor)),
    }))
}

/// Sends a delivery again now, with the same `webhook-id` (a receiver that has it ignores it).
#[utoipa::path(post, path = "/v1/partner/webhooks/{id}/deliveries/{delivery_id}/replay", tag = "partner", security(("bearer" = [])),
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn replay(
    State(state): State<AppState>,
    PartnerClient(caller): PartnerClient,
    Segments(ids): Segments<(String, String)>,
) -> HttpResult<StatusCode> {
    replay_for(&state, &caller, ids).await
}

async fn replay_for(
    state: &AppState,
    caller: &Caller,
    (id, delivery_id): (String, String),
) -> HttpResult<StatusCode> {
    state
        .exchange()
        .replay_delivery(caller.request(pb::ReplayDeliveryRequest {
            webhook_id: id,
            delivery_id,
        }))
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Registers a webhook for the merchant's orders (`order.created`, `order.cancelled`,
/// `order.expired`, `order.written_off`, `order.refunded`), signed and retried as a partner's.
/// The secret is shown once.
#[utoipa::path(post, path = "/v1/merchant/webhooks", tag = "merchant", security(("bearer" = [])), request_body = MerchantWebhookBody,
    responses((status = 201, body = WebhookView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "an address webhooks may not call, or 10 webhooks already")))]
pub async fn merchant_register(
    State(state): State<AppState>,
    op: MerchantOperator,
    JsonBody(b): JsonBody<MerchantWebhookBody>,
) -> HttpResult<(StatusCode, Json<WebhookView>)> {
    register_for(&state, &op.caller, b.url, b.events).await
}

/// The merchant's webhooks (without their secrets).
#[utoipa::path(get, path = "/v1/merchant/webhooks", tag = "merchant", security(("bearer" = [])),
    responses((status = 200, body = Webhooks), (status = 403, body = Problem)))]
pub async fn merchant_list(
    State(state): State<AppState>,
    op: MerchantOperator,
) -> HttpResult<Json<Webhooks>> {
    list_for(&state, &op.caller).await
}

/// Deletes one of the merchant's webhooks; its delivery log stays.
#[utoipa::path(delete, path = "/v1/merchant/webhooks/{id}", tag = "merchant", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn merchant_delete(
    State(state): State<AppState>,
    op: MerchantOperator,
    Segments(id): Segments<String>,
) -> HttpResult<StatusCode> {
    delete_for(&state, &op.caller, id).await
}

/// A merchant webhook's delivery log, newest first.
#[utoipa::path(get, path = "/v1/merchant/webhooks/{id}/deliveries", tag = "merchant", security(("bearer" = [])),
    params(("id" = String, Path), DeliveriesQuery),
    responses((status = 200, body = Deliveries), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn merchant_deliveries(
    State(state): State<AppState>,
    op: MerchantOperator,
    Segments(id): Segments<String>,
    Params(q): Params<DeliveriesQuery>,
) -> HttpResult<Json<Deliveries>> {
    deliveries_for(&state, &op.caller, id, q).await
}

/// Sends one of the merchant's deliveries again now, with the same `webhook-id`.
#[utoipa::path(post, path = "/v1/merchant/webhooks/{id}/deliveries/{delivery_id}/replay", tag = "merchant", security(("bearer" = [])),
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn merchant_replay(
    State(state): State<AppState>,
    op: MerchantOperator,
    Segments(ids): Segments<(String, String)>,
) -> HttpResult<StatusCode> {
    replay_for(&state, &op.caller, ids).await
}
