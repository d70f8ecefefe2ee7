//! The merchant's side of a mall: its catalogue, the counter (look up a voucher, write it off),
//! its orders and its settlement statements. Every call goes to the merchant's own mall, and the
//! mall checks the operator acts for the merchant that owns the object.

// utoipa's `params(...)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse as _, Response},
};
use healthpoints_errors::ApiError;
use healthpoints_proto::mall::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    mall::{OrderView, OrdersPage, PageQuery, ProductView, ProductsPage, client, order_of, page},
    statements::{Statements, StatementsQuery, statements_of},
    views::{some, timestamp},
};
use crate::{
    AppState,
    auth::MerchantOperator,
    body::{JsonBody, Params, Segments},
    error::{HttpResult, Problem, renamed},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductBody {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `health_service` or `health_product`.
    #[schema(value_type = super::views::names::ProductCategory)]
    pub category: String,
    pub price_points: u64,
    /// Leave out for unlimited (services).
    #[serde(default)]
    pub stock: Option<u64>,
    #[serde(default)]
    pub per_resident_limit: Option<u32>,
    /// `day`, `week`, `month` (default) or `year`.
    #[serde(default)]
    #[schema(value_type = Option<super::views::names::LimitPeriod>)]
    pub limit_period: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub available_from: Option<String>,
    #[serde(default)]
    #[schema(format = DateTime)]
    pub available_until: Option<String>,
    /// E.g. 60 for residents aged 60 and over.
    #[serde(default)]
    pub min_age: Option<u32>,
    /// `active` (default) or `inactive`.
    #[serde(default)]
    #[schema(value_type = Option<super::views::names::ProductStatus>)]
    pub status: Option<String>,
}

fn product_from(id: String, b: ProductBody) -> Result<pb::Product, ApiError> {
    Ok(pb::Product {
        product_id: id,
        merchant_id: String::new(),
        title: b.title,
        description: b.description,
        category: match b.category.trim() {
            "health_service" => pb::ProductCategory::HealthService,
            "health_product" => pb::ProductCategory::HealthProduct,
            _ => {
                return Err(ApiError::invalid(
                    "category",
                    "must be health_service or health_product",
                ));
            }
        } as i32,
        price_points: b.price_points,
        price_yuan: None,
        stock: b.stock,
        per_resident_limit: b.per_resident_limit,
        // Left out is the default (a month); written, it must be a period.
        limit_period: match b.limit_period {
            Some(p) if p.trim().is_empty() => {
                return Err(ApiError::invalid(
                    "limit_period",
                    "must be day, week, month or year",
                ));
            }
            p => p.unwrap_or_default(),
        },
        available_from: b
            .available_from
            .map(|t| timestamp("available_from", &t))
            .transpose()?,
        available_until: b
            .available_until
            .map(|t| timestamp("available_until", &t))
            .transpose()?,
        min_age: b.min_age,
        status: match b.status.as_deref().map(str::trim) {
            None | Some("active") => pb::ProductStatus::Active,
            Some("inactive") => pb::ProductStatus::Inactive,
            Some(_) => return Err(ApiError::invalid("status", "must be active or inactive")),
        } as i32,
    })
}

/// My merchant's products, including inactive ones.
#[utoipa::path(get, path = "/v1/merchant/products", tag = "merchant", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ProductsPage), (status = 403, body = Problem)))]
pub async fn my_products(
    State(state): State<AppState>,
    MerchantOperator {
        caller,
        merchant_id,
        mall,
    }: MerchantOperator,
    Params(q): Params<PageQuery>,
) -> HttpResult<Json<ProductsPage>> {
    let r = client(&state, mall)?
        .list_products(caller.request(pb::ListProductsRequest {
            merchant_id: merchant_id.to_string(),
            page: page(q.cursor.as_ref(), q.page_size),
        }))
        .await?
        .into_inner();
    Ok(Json(ProductsPage {
        products: r.products.into_iter().map(Into::into).collect(),
        next_cursor: r.page.and_then(|p| some(p.next_cursor)),
    }))
}

/// Adds a product or service to my merchant's catalogue.
#[utoipa::path(post, path = "/v1/merchant/products", tag = "merchant", security(("bearer" = [])), request_body = ProductBody,
    responses((status = 201, body = ProductView), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn create_product(
    State(state): State<AppState>,
    MerchantOperator {
        caller,
        merchant_id: _,
        mall,
    }: MerchantOperator,
    JsonBody(b): JsonBody<ProductBody>,
) -> HttpResult<(StatusCode, Json<ProductView>)> {
    let product = product_from(String::new(), b)?;
    let r = client(&state, mall)?
        .create_product(caller.request(pb::CreateProductRequest {
            product: Some(product),
        }))
        .await
        .map_err(|s| renamed(s, "product.", ""))?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(r.product.ok_or_else(ApiError::internal)?.into()),
    ))
}

/// Replaces one of my products (price, stock, window, status…); orders already placed keep
/// their price.
#[utoipa::path(put, path = "/v1/merchant/products/{id}", tag = "merchant", security(("bearer" = [])), request_body = ProductBody,
    params(("id" = String, Path)),
    responses((status = 200, body = ProductView), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn update_product(
    State(state): State<AppState>,
    MerchantOperator {
        caller,
        merchant_id: _,
        mall,
    }: MerchantOperator,
    Segments(id): Segments<String>,
    JsonBody(b): JsonBody<ProductBody>,
) -> HttpResult<Json<ProductView>> {
    let product = product_from(id, b)?;
    let r = client(&state, mall)?
        .update_product(caller.request(pb::UpdateProductRequest {
            product: Some(product),
        }))
        .await
        .map_err(|s| renamed(s, "product.", ""))?
        .into_inner();
    Ok(Json(r.product.ok_or_else(ApiError::internal)?.into()))
}

/// A voucher as the counter sees it before handing anything over.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoucherView {
    #[serde(flatten)]
    pub order: OrderView,
    /// The resident's name with all but its first and last characters masked, e.g. `张*明`.
    pub resident_name_masked: String,
    /// Whether a write-off would succeed now (reserved and not expired).
    pub can_write_off: bool,
}

/// Looks up one of my merchant's vouchers (the code as typed, or the scanned payload): the
/// product, quantity, points, the resident's masked name, its status and expiry.
#[utoipa::path(get, path = "/v1/merchant/vouchers/{code}", tag = "merchant", security(("bearer" = [])),
    params(("code" = String, Path)),
    responses((status = 200, body = VoucherView), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn voucher(
    State(state): State<AppState>,
    MerchantOperator {
        caller,
        merchant_id: _,
        mall,
    }: MerchantOperator,
    Segments(code): Segments<String>,
) -> HttpResult<Json<VoucherView>> {
    let r = client(&state, mall)?
        .get_voucher(caller.request(pb::GetVoucherRequest { code }))
        .await?
        .into_inner();
    Ok(Json(VoucherView {
        order: order_of(r.order)?,
        resident_name_masked: r.resident_name_masked,
        can_write_off: r.can_write_off,
    }))
}

/// A write-off as the counter is told it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WriteOffView {
    #[serde(flatten)]
    pub order: OrderView,
    /// True when this answers an earlier request with the same `Idempotency-Key` (the
    /// `Idempotent-Replayed: true` header says the same).
    pub replay: bool,
}

/// Writes off a voucher at the counter: the code as typed, or the scanned payload. Exactly one
/// request writes a voucher off; any other gets 422 with the voucher's state as data
/// (`order_id`, `order_status`, `written_off_at`). Send an `Idempotency-Key` to retry safely
/// after a timeout: the same key answers the first result again, with `replay: true`.
#[utoipa::path(post, path = "/v1/merchant/vouchers/{code}/write-off", tag = "merchant", security(("bearer" = [])),
    params(("code" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 printable ASCII characters, fresh per write-off")),
    responses((status = 200, body = WriteOffView), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "the Idempotency-Key was used for another voucher"),
        (status = 422, body = Problem, description = "already written off, cancelled or expired: see order_status")))]
pub async fn write_off(
    State(state): State<AppState>,
    MerchantOperator {
        caller,
        merchant_id: _,
        mall,
    }: MerchantOperator,
    Segments(code): Segments<String>,
    headers: HeaderMap,
) -> HttpResult<Response> {
    let idempotency_key = match headers.get("idempotency-key") {
        None => String::new(),
        Some(v) => v
            .to_str()
            .ok()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| {
                ApiError::invalid(
                    "Idempotency-Key",
                    "must be 1 to 128 printable ASCII characters",
                )
            })?
            .to_owned(),
    };
    let r = client(&state, mall)?
        .write_off_voucher(caller.request(pb::WriteOffVoucherRequest {
            code,
            idempotency_key,
        }))
        .await
        .map_err(|s| renamed(s, "idempotency_key", "Idempotency-Key"))?
        .into_inner();
    let view = WriteOffView {
        order: order_of(r.order)?,
        replay: r.replay,
    };
    let mut response = Json(view).into_response();
    if r.replay {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// My merchant's orders, newest first.
#[utoipa::path(get, path = "/v1/merchant/orders", tag = "merchant", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = OrdersPage), (status = 403, body = Problem)))]
pub async fn merchant_orders(
    State(state): State<AppState>,
    MerchantOperator {
        caller,
        merchant_id,
        mall,
    }: MerchantOperator,
    Params(q): Params<PageQuery>,
) -> HttpResult<Json<OrdersPage>> {
    let r = client(&state, mall)?
        .list_orders(caller.request(pb::ListOrdersRequest {
            owner: Some(pb::list_orders_request::Owner::MerchantId(
                merchant_id.to_string(),
            )),
            page: page(q.cursor.as_ref(), q.page_size),
        }))
        .await?
        .into_inner();
    Ok(Json(OrdersPage {
        orders: r.orders.into_iter().map(Into::into).collect(),
        next_cursor: r.page.and_then(|p| some(p.next_cursor)),
        unavailable: Vec::new(),
    }))
}

/// My merchant's settlement statements; `?period=2026-11&format=csv` downloads one.
#[utoipa::path(get, path = "/v1/merchant/settlements", tag = "merchant", security(("bearer" = [])), params(StatementsQuery),
    responses((status = 200, content((Statements = "application/json"), (String = "text/csv")), description = "the statements; with `format=csv`, one period's lines as CSV"), (status = 403, body = Problem)))]
pub async fn merchant_settlements(
    State(state): State<AppState>,
    MerchantOperator {
        caller,
        merchant_id,
        mall,
    }: MerchantOperator,
    Params(q): Params<StatementsQuery>,
) -> HttpResult<Response> {
    let (period, format) = (q.period.as_deref(), q.format.as_deref());
    statements_of(
        &state,
        &caller,
        mall,
        merchant_id.to_string(),
        period,
        format,
    )
    .await
}
