//! A mall's administration by its admins (the city admin anywhere, a district admin in their
//! district's mall): admitting and suspending merchants, orders and refunds, settlement and the
//! mall's figures.

// utoipa's `params(...)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use axum::{Json, extract::State, http::StatusCode, response::Response};
use healthpoints_errors::ApiError;
use healthpoints_proto::{common::v1::PageRequest, mall::v1 as pb};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    mall::{
        MerchantView, OrderView, OrdersPage, client, merchant_status_from, order_of, parse_mall,
    },
    statements::{AdminStatementsQuery, StatementView, Statements, statements_of},
    views::{some, yuan},
};
use crate::{
    AppState,
    auth::Admin,
    body::{JsonBody, Params, Segments},
    error::{HttpResult, Problem},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmitBody {
    #[schema(min_length = 1, max_length = 120)]
    pub name: String,
    #[schema(min_length = 1, max_length = 64)]
    pub licence_no: String,
    pub contact: String,
    /// `active` (default) or `pending` while the agreement is not in force.
    #[serde(default)]
    #[schema(value_type = Option<super::views::names::MerchantStatus>)]
    pub status: Option<String>,
}

/// Admits a merchant to a mall (the mall's admin).
#[utoipa::path(post, path = "/v1/admin/malls/{mall}/merchants", tag = "admin", security(("bearer" = [])), request_body = AdmitBody,
    params(("mall" = String, Path)),
    responses((status = 201, body = MerchantView), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn admit(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(mall): Segments<String>,
    JsonBody(b): JsonBody<AdmitBody>,
) -> HttpResult<(StatusCode, Json<MerchantView>)> {
    let status = merchant_status_from("status", b.status.as_deref())?;
    let r = client(&state, parse_mall(&mall)?)?
        .admit_merchant(caller.request(pb::AdmitMerchantRequest {
            name: b.name,
            licence_no: b.licence_no,
            contact: b.contact,
            status: status as i32,
        }))
        .await?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(r.merchant.ok_or_else(ApiError::internal)?.into()),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantStatusBody {
    /// `pending`, `active` or `suspended`.
    #[schema(value_type = super::views::names::MerchantStatus)]
    pub status: String,
    #[serde(default)]
    pub reason: String,
}

/// Activates or suspends a merchant (the mall's admin); a suspension needs a reason.
#[utoipa::path(put, path = "/v1/admin/malls/{mall}/merchants/{id}/status", tag = "admin", security(("bearer" = [])),
    request_body = MerchantStatusBody, params(("mall" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = MerchantView), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn set_merchant_status(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments((mall, id)): Segments<(String, String)>,
    JsonBody(b): JsonBody<MerchantStatusBody>,
) -> HttpResult<Json<MerchantView>> {
    let status = merchant_status_from("status", Some(&b.status))?;
    let r = client(&state, parse_mall(&mall)?)?
        .set_merchant_status(caller.request(pb::SetMerchantStatusRequest {
            merchant_id: id,
            status: status as i32,
            reason: b.reason,
        }))
        .await?
        .into_inner();
    Ok(Json(r.merchant.ok_or_else(ApiError::internal)?.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminOrdersQuery {
    #[serde(default)]
    pub resident_id: Option<String>,
    #[serde(default)]
    pub merchant_id: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default, deserialize_with = "super::views::page_size")]
    pub page_size: Option<u32>,
}

/// A mall's orders (the mall's admin), optionally of one resident or merchant.
#[utoipa::path(get, path = "/v1/admin/malls/{mall}/orders", tag = "admin", security(("bearer" = [])),
    params(("mall" = String, Path), AdminOrdersQuery),
    responses((status = 200, body = OrdersPage), (status = 403, body = Problem)))]
pub async fn admin_orders(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(mall): Segments<String>,
    Params(q): Params<AdminOrdersQuery>,
) -> HttpResult<Json<OrdersPage>> {
    let owner = match (q.resident_id, q.merchant_id) {
        (Some(r), _) => Some(pb::list_orders_request::Owner::ResidentId(r)),
        (None, Some(m)) => Some(pb::list_orders_request::Owner::MerchantId(m)),
        (None, None) => None,
    };
    let r = client(&state, parse_mall(&mall)?)?
        .list_orders(caller.request(pb::ListOrdersRequest {
            owner,
            page: Some(PageRequest {
                page_size: q.page_size.unwrap_or_default(),
                cursor: q.cursor.unwrap_or_default(),
            }),
        }))
        .await?
        .into_inner();
    Ok(Json(OrdersPage {
        orders: r.orders.into_iter().map(Into::into).collect(),
        next_cursor: r.page.and_then(|p| some(p.next_cursor)),
        unavailable: Vec::new(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// Refunds a written-off order whose service was not delivered (the mall's admin).
#[utoipa::path(post, path = "/v1/admin/malls/{mall}/orders/{id}/refund", tag = "admin", security(("bearer" = [])),
    request_body = RefundBody, params(("mall" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = OrderView), (status = 403, body = Problem), (status = 422, body = Problem, description = "only a written-off order can be refunded")))]
pub async fn refund(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments((mall, id)): Segments<(String, String)>,
    JsonBody(b): JsonBody<RefundBody>,
) -> HttpResult<Json<OrderView>> {
    let r = client(&state, parse_mall(&mall)?)?
        .refund_order(caller.request(pb::RefundOrderRequest {
            order_id: id,
            reason: b.reason,
        }))
        .await?
        .into_inner();
    Ok(Json(order_of(r.order)?))
}

/// A merchant's statements in a mall (the mall's admin).
#[utoipa::path(get, path = "/v1/admin/malls/{mall}/settlements", tag = "admin", security(("bearer" = [])),
    params(("mall" = String, Path), AdminStatementsQuery),
    responses((status = 200, content((Statements = "application/json"), (String = "text/csv")), description = "the statements; with `format=csv`, one period's lines as CSV"), (status = 403, body = Problem)))]
pub async fn admin_settlements(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(mall): Segments<String>,
    Params(q): Params<AdminStatementsQuery>,
) -> HttpResult<Response> {
    let (period, format) = (q.period.as_deref(), q.format.as_deref());
    statements_of(
        &state,
        &caller,
        parse_mall(&mall)?,
        q.merchant_id,
        period,
        format,
    )
    .await
}

/// Closes a merchant's period: the statement is fixed and the payable moves to settled.
#[utoipa::path(post, path = "/v1/admin/malls/{mall}/settlements/{merchant_id}/{period}/close", tag = "admin",
    security(("bearer" = [])), params(("mall" = String, Path), ("merchant_id" = String, Path), ("period" = String, Path)),
    responses((status = 200, body = StatementView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "the period has not started yet")))]
pub async fn close(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments((mall, merchant_id, period)): Segments<(String, String, String)>,
) -> HttpResult<Json<StatementView>> {
    let r = client(&state, parse_mall(&mall)?)?
        .close_settlement(caller.request(pb::CloseSettlementRequest {
            merchant_id,
            period,
        }))
        .await?
        .into_inner();
    Ok(Json(r.statement.ok_or_else(ApiError::internal)?.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MallStatsView {
    pub mall: String,
    pub merchants_active: u64,
    pub products_active: u64,
    pub orders_reserved: u64,
    pub orders_written_off: u64,
    pub points_redeemed: u64,
    pub yuan_redeemed: String,
}

/// A mall's figures (the mall's admin).
#[utoipa::path(get, path = "/v1/admin/malls/{mall}/stats", tag = "admin", security(("bearer" = [])),
    params(("mall" = String, Path)),
    responses((status = 200, body = MallStatsView), (status = 403, body = Problem)))]
pub async fn stats(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(mall): Segments<String>,
) -> HttpResult<Json<MallStatsView>> {
    let id = parse_mall(&mall)?;
    let s = client(&state, id)?
        .get_mall_statistics(caller.request(pb::GetMallStatisticsRequest {}))
        .await?
        .into_inner();
    Ok(Json(MallStatsView {
        mall: id.to_string(),
        merchants_active: s.merchants_active,
        products_active: s.products_active,
        orders_reserved: s.orders_reserved,
        orders_written_off: s.orders_written_off,
        yuan_redeemed: yuan(s.points_redeemed),
        points_redeemed: s.points_redeemed,
    }))
}
