//! Redemption: the router (`GET /v1/mall`), each mall's catalogue and orders, the merchant's
//! counter and catalogue, and the mall admins' work (admission, refunds, settlement,
//! statistics). A request goes to the mall it names — or, for a merchant, to its own mall —
//! only while that mall is healthy; rights are checked by the mall itself.

// utoipa's `params(...)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_grpc::client::PeerChannel;
use healthpoints_proto::{
    common::v1::PageRequest,
    identity::v1 as ipb,
    ledger::v1 as lpb,
    mall::v1::{self as pb, mall_service_client::MallServiceClient},
};
use healthpoints_types::{Book, DistrictCode, MallId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::views::{rfc3339, some, yuan};
use crate::body::{JsonBody, Params, Segments};
use crate::{
    AppState,
    auth::{Caller, Resident},
    error::{HttpResult, Problem, renamed},
    malls::{RouteFacts, mall_name, route},
};

pub(crate) fn parse_mall(raw: &str) -> Result<MallId, ApiError> {
    MallId::parse(raw).map_err(|e| ApiError::invalid("mall", e.0))
}

pub(crate) fn client(state: &AppState, mall: MallId) -> HttpResult<MallServiceClient<PeerChannel>> {
    Ok(state.malls().client(mall)?)
}

/// A mall as residents see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MallView {
    /// `city` or a district code: the `{mall}` of the mall's routes.
    pub mall: String,
    /// The points it redeems: `city` or `district:<code>`.
    pub book: String,
    pub name: String,
}

fn mall_view(mall: MallId) -> MallView {
    MallView {
        mall: mall.to_string(),
        book: mall.book().to_string(),
        name: mall_name(mall),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JumpView {
    #[serde(flatten)]
    pub mall: MallView,
    /// Points available there.
    pub available_points: u64,
}

/// Which mall serves me, why, and where else I can redeem.
#[derive(Debug, Serialize, ToSchema)]
pub struct MallRoute {
    /// The book of the serving mall: `city` or `district:<code>`.
    pub serving: String,
    pub mall: MallView,
    /// `family_doctor_contract`, `no_family_doctor_contract`, `district_not_enrolled` or
    /// `district_mall_unavailable`.
    pub reason: String,
    pub message: String,
    pub available_points: u64,
    pub jumps: Vec<JumpView>,
}

/// Routes me to a mall: my family-doctor contract district's mall when that district is
/// enrolled and its mall healthy, else the city mall, with the reason and my jumps.
#[utoipa::path(get, path = "/v1/mall", tag = "mall", security(("bearer" = [])),
    responses((status = 200, body = MallRoute), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn my_mall(
    State(state): State<AppState>,
    Resident { caller, id }: Resident,
) -> HttpResult<Json<MallRoute>> {
    let resident_id = id.to_string();
    // Asked on every request: a changed contract or enrolment routes the next request anew.
    let (me, districts, balances) = futures::future::try_join3(
        state
            .identity()
            .get_resident(caller.request(ipb::GetResidentRequest {
                resident_id: resident_id.clone(),
            })),
        state
            .identity()
            .list_districts(ipb::ListDistrictsRequest {}),
        state
            .ledger()
            .get_balances(caller.request(lpb::GetBalancesRequest {
                owner_id: resident_id,
            })),
    )
    .await?;
    let contract = me
        .into_inner()
        .resident
        .and_then(|r| r.family_doctor)
        .and_then(|c| DistrictCode::parse(&c.district).ok());
    let balances: Vec<(Book, u64)> = balances
        .into_inner()
        .balances
        .into_iter()
        .filter_map(|b| Book::parse(&b.book).ok().map(|book| (book, b.available)))
        .collect();
    let facts = RouteFacts {
        contract_district: contract,
        enrolled: districts
            .into_inner()
            .districts
            .into_iter()
            .filter(|d| d.enrolled)
            .filter_map(|d| DistrictCode::parse(&d.code).ok())
            .collect(),
        balances: balances.clone(),
    };
    let malls = state.malls();
    let r = route(&facts, &|m| (malls.is_registered(m), malls.is_healthy(m)));
    let available = |mall: MallId| {
        balances
            .iter()
            .find(|(b, _)| *b == mall.book())
            .map_or(0, |(_, a)| *a)
    };
    Ok(Json(MallRoute {
        serving: r.serving.book().to_string(),
        mall: mall_view(r.serving),
        reason: r.reason.code().to_owned(),
        message: r.reason.sentence(r.district),
        available_points: available(r.serving),
        jumps: r
            .jumps
            .iter()
            .map(|m| JumpView {
                mall: mall_view(*m),
                available_points: available(*m),
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MallStatusView {
    #[serde(flatten)]
    pub mall: MallView,
    pub healthy: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Malls {
    pub malls: Vec<MallStatusView>,
}

/// Every mall of the city and whether it is open right now. Public.
#[utoipa::path(get, path = "/v1/malls", tag = "public", responses((status = 200, body = Malls)))]
pub async fn malls(State(state): State<AppState>) -> Json<Malls> {
    Json(Malls {
        malls: state
            .malls()
            .all()
            .into_iter()
            .map(|(m, healthy)| MallStatusView {
                mall: mall_view(m),
                healthy,
            })
            .collect(),
    })
}

// === catalogue ===

#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantView {
    pub merchant_id: String,
    pub name: String,
    pub licence_no: String,
    pub contact: String,
    /// `pending`, `active` or `suspended`; only active merchants sell.
    pub status: String,
    pub admitted_at: Option<String>,
}

pub(crate) fn merchant_status(s: i32) -> String {
    match pb::MerchantStatus::try_from(s).unwrap_or_default() {
        pb::MerchantStatus::Pending => "pending",
        pb::MerchantStatus::Active => "active",
        pb::MerchantStatus::Suspended => "suspended",
        pb::MerchantStatus::Unspecified => "unknown",
    }
    .to_owned()
}

pub(crate) fn merchant_status_from(
    field: &str,
    s: Option<&str>,
) -> Result<pb::MerchantStatus, ApiError> {
    Ok(match s.map(str::trim) {
        None | Some("") => pb::MerchantStatus::Unspecified,
        Some("pending") => pb::MerchantStatus::Pending,
        Some("active") => pb::MerchantStatus::Active,
        Some("suspended") => pb::MerchantStatus::Suspended,
        Some(_) => {
            return Err(ApiError::invalid(
                field,
                "must be pending, active or suspended",
            ));
        }
    })
}

impl From<pb::Merchant> for MerchantView {
    fn from(m: pb::Merchant) -> Self {
        Self {
            merchant_id: m.merchant_id,
            name: m.name,
            licence_no: m.licence_no,
            contact: m.contact,
            status: merchant_status(m.status),
            admitted_at: rfc3339(m.admitted_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantsPage {
    pub merchants: Vec<MerchantView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this merchant's products.
    #[serde(default)]
    pub merchant_id: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default, deserialize_with = "super::views::page_size")]
    pub page_size: Option<u32>,
}

/// One page of a listing, and nothing else to filter by.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default, deserialize_with = "super::views::page_size")]
    pub page_size: Option<u32>,
}

pub(crate) fn page(cursor: Option<&String>, page_size: Option<u32>) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: page_size.unwrap_or_default(),
        cursor: cursor.cloned().unwrap_or_default(),
    })
}

/// The merchants admitted to a mall. Public.
#[utoipa::path(get, path = "/v1/malls/{mall}/merchants", tag = "public", params(("mall" = String, Path), PageQuery),
    responses((status = 200, body = MerchantsPage), (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn merchants(
    State(state): State<AppState>,
    Segments(mall): Segments<String>,
    Params(q): Params<PageQuery>,
) -> HttpResult<Json<MerchantsPage>> {
    let r = client(&state, parse_mall(&mall)?)?
        .list_merchants(pb::ListMerchantsRequest {
            page: page(q.cursor.as_ref(), q.page_size),
        })
        .await?
        .into_inner();
    Ok(Json(MerchantsPage {
        merchants: r.merchants.into_iter().map(Into::into).collect(),
        next_cursor: r.page.and_then(|p| some(p.next_cursor)),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    pub product_id: String,
    pub merchant_id: String,
    pub title: String,
    pub description: String,
    /// `health_service` or `health_product`.
    pub category: String,
    pub price_points: u64,
    pub price_yuan: String,
    /// Absent: unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_resident_limit: Option<u32>,
    pub limit_period: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_until: Option<String>,
    /// Only residents of at least this age may order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u32>,
    /// `active` or `inactive`.
    pub status: String,
}

impl From<pb::Product> for ProductView {
    fn from(p: pb::Product) -> Self {
        Self {
            price_yuan: yuan(p.price_points),
            product_id: p.product_id,
            merchant_id: p.merchant_id,
            title: p.title,
            description: p.description,
            category: match pb::ProductCategory::try_from(p.category).unwrap_or_default() {
                pb::ProductCategory::HealthService => "health_service",
                pb::ProductCategory::HealthProduct => "health_product",
                pb::ProductCategory::Unspecified => "unknown",
            }
            .to_owned(),
            price_points: p.price_points,
            stock: p.stock,
            per_resident_limit: p.per_resident_limit,
            limit_period: p.limit_period,
            available_from: rfc3339(p.available_from),
            available_until: rfc3339(p.available_until),
            min_age: p.min_age,
            status: match pb::ProductStatus::try_from(p.status).unwrap_or_default() {
                pb::ProductStatus::Inactive => "inactive",
                _ => "active",
            }
            .to_owned(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductsPage {
    pub products: Vec<ProductView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A mall's catalogue: products on sale, with prices in points and yuan. Public.
#[utoipa::path(get, path = "/v1/malls/{mall}/products", tag = "public", params(("mall" = String, Path), ListQuery),
    responses((status = 200, body = ProductsPage), (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn products(
    State(state): State<AppState>,
    Segments(mall): Segments<String>,
    Params(q): Params<ListQuery>,
) -> HttpResult<Json<ProductsPage>> {
    let r = client(&state, parse_mall(&mall)?)?
        .list_products(pb::ListProductsRequest {
            merchant_id: q.merchant_id.clone().unwrap_or_default(),
            page: page(q.cursor.as_ref(), q.page_size),
        })
        .await?
        .into_inner();
    Ok(Json(ProductsPage {
        products: r.products.into_iter().map(Into::into).collect(),
        next_cursor: r.page.and_then(|p| some(p.next_cursor)),
    }))
}

// === orders ===

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    #[schema(format = Uuid)]
    pub product_id: String,
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 20)]
    pub quantity: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub order_id: String,
    /// The mall that holds it: `city` or a district code.
    pub mall: String,
    /// `reserved` (voucher valid), `written_off`, `cancelled`, `expired` or `refunded`.
    pub status: String,
    pub merchant_id: String,
    pub product_id: String,
    pub product_title: String,
    pub quantity: u32,
    /// The price when ordered × quantity.
    pub points: u64,
    pub yuan: String,
    /// Show it at the counter (or the QR code of `scan_payload`).
    pub voucher_code: String,
    pub scan_payload: String,
    pub expires_at: Option<String>,
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<String>,
}

fn order_status(s: i32) -> String {
    match pb::OrderStatus::try_from(s).unwrap_or_default() {
        pb::OrderStatus::Reserved => "reserved",
        pb::OrderStatus::WrittenOff => "written_off",
        pb::OrderStatus::Cancelled => "cancelled",
        pb::OrderStatus::Expired => "expired",
        pb::OrderStatus::Refunded => "refunded",
        pb::OrderStatus::Unspecified => "unknown",
    }
    .to_owned()
}

impl From<pb::Order> for OrderView {
    fn from(o: pb::Order) -> Self {
        let voucher = o.voucher.unwrap_or_default();
        Self {
            order_id: o.order_id,
            mall: o.mall,
            status: order_status(o.status),
            merchant_id: o.merchant_id,
            product_id: o.product_id,
            product_title: o.product_title,
            quantity: o.quantity,
            yuan: yuan(o.points),
            points: o.points,
            voucher_code: voucher.code,
            scan_payload: voucher.scan_payload,
            expires_at: rfc3339(voucher.expires_at),
            created_at: rfc3339(o.created_at),
            resolved_at: rfc3339(o.resolved_at),
            refund_reason: some(o.refund_reason),
        }
    }
}

pub(crate) fn order_of(o: Option<pb::Order>) -> HttpResult<OrderView> {
    Ok(o.ok_or_else(ApiError::internal)?.into())
}

/// Places an order: points and stock are reserved and a voucher issued. Send a fresh
/// `Idempotency-Key` per order; repeating it (e.g. after a timeout) answers the same order.
#[utoipa::path(post, path = "/v1/malls/{mall}/orders", tag = "mall", security(("bearer" = [])), request_body = OrderBody,
    params(("mall" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = OrderView), (status = 400, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem, description = "sold out, limit reached, not enough points, not on sale"), (status = 503, body = Problem)))]
pub async fn create_order(
    State(state): State<AppState>,
    caller: Caller,
    Segments(mall): Segments<String>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<OrderBody>,
) -> HttpResult<(StatusCode, Json<OrderView>)> {
    let key = idempotency_key(&headers)?;
    let order = place_order(&state, &caller, &mall, key, b).await?;
    Ok((StatusCode::CREATED, Json(order)))
}

/// The `Idempotency-Key` header an order needs.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> HttpResult<String> {
    Ok(headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "Idempotency-Key",
                "this header must carry a fresh key per order",
            )
        })?
        .to_owned())
}

/// Places an order in `mall` as `caller` (a resident, or a counter's delegated token for one).
pub(crate) async fn place_order(
    state: &AppState,
    caller: &Caller,
    mall: &str,
    key: String,
    b: OrderBody,
) -> HttpResult<OrderView> {
    let r = client(state, parse_mall(mall)?)?
        .create_order(caller.request(pb::CreateOrderRequest {
            idempotency_key: key,
            resident_id: String::new(),
            product_id: b.product_id,
            quantity: b.quantity,
        }))
        .await
        .map_err(|s| renamed(s, "idempotency_key", "Idempotency-Key"))?
        .into_inner();
    order_of(r.order)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrdersQuery {
    /// Only this mall's orders (`city` or a district code), paged with `cursor`.
    #[serde(default)]
    pub mall: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default, deserialize_with = "super::views::page_size")]
    pub page_size: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrdersPage {
    pub orders: Vec<OrderView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Malls that could not be asked right now; their orders are missing from this answer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
}

/// My orders, newest first, page by page: across every mall (one cursor walks them all), or
/// one mall's (`?mall=`).
#[utoipa::path(get, path = "/v1/me/orders", tag = "resident", security(("bearer" = [])), params(OrdersQuery),
    responses((status = 200, body = OrdersPage), (status = 401, body = Problem)))]
pub async fn my_orders(
    State(state): State<AppState>,
    Resident { caller, id }: Resident,
    Params(q): Params<OrdersQuery>,
) -> HttpResult<Json<OrdersPage>> {
    let resident_id = id.to_string();
    let request = |cursor: String| pb::ListOrdersRequest {
        owner: Some(pb::list_orders_request::Owner::ResidentId(
            resident_id.clone(),
        )),
        page: Some(PageRequest {
            page_size: q.page_size.unwrap_or_default(),
            cursor,
        }),
    };
    if let Some(mall) = &q.mall {
        let r = client(&state, parse_mall(mall)?)?
            .list_orders(caller.request(request(q.cursor.clone().unwrap_or_default())))
            .await?
            .into_inner();
        return Ok(Json(OrdersPage {
            orders: r.orders.into_iter().map(Into::into).collect(),
            next_cursor: r.page.and_then(|p| some(p.next_cursor)),
            unavailable: Vec::new(),
        }));
    }
    // Across malls, page by page: order ids are time-ordered (UUID v7) and unique across
    // malls, so one cursor — the last id shown — means "older than this" in every mall. Each
    // mall answers its newest `size` orders before the cursor; the newest `size` of them all
    // is the page, and any order left out is older than its last line, so the next page finds
    // it. Malls that are down are named in `unavailable`: their orders are missing.
    let size = q.page_size.unwrap_or(50);
    let cursor = q.cursor.clone().unwrap_or_default();
    healthpoints_types::uuid_cursor(&cursor).map_err(|e| ApiError::invalid("cursor", e.0))?;
    let (up, mut down) = state.malls().healthy_clients();
    let asks = up.into_iter().map(|(mall, mut c)| {
        let mut ask = request(cursor.clone());
        if let Some(page) = ask.page.as_mut() {
            page.page_size = size;
        }
        let req = caller.request(ask);
        async move { (mall, c.list_orders(req).await) }
    });
    let mut orders = Vec::new();
    let mut more = false;
    for (mall, answer) in futures::future::join_all(asks).await {
        match answer {
            Ok(r) => {
                let r = r.into_inner();
                more |= r.page.is_some_and(|p| !p.next_cursor.is_empty());
                orders.extend(r.orders);
            }
            Err(_) => down.push(mall),
        }
    }
    orders.sort_by(|a, b| b.order_id.cmp(&a.order_id));
    more |= orders.len() > size as usize;
    orders.truncate(size as usize);
    let next_cursor = more
        .then(|| orders.last().map(|o| o.order_id.clone()))
        .flatten();
    Ok(Json(OrdersPage {
        orders: orders.into_iter().map(Into::into).collect(),
        next_cursor,
        unavailable: down.iter().map(ToString::to_string).collect(),
    }))
}

/// Finds which mall holds one of the calling resident's orders.
async fn find_order(
    state: &AppState,
    Resident { caller, .. }: &Resident,
    order_id: &str,
) -> HttpResult<(MallServiceClient<PeerChannel>, pb::Order)> {
    let (up, down) = state.malls().healthy_clients();
    let asks = up.into_iter().map(|(_, mut c)| {
        let req = caller.request(pb::GetOrderRequest {
            order_id: order_id.to_owned(),
        });
        async move {
            let answer = c.get_order(req).await;
            (c, answer)
        }
    });
    for (c, answer) in futures::future::join_all(asks).await {
        match answer {
            Ok(r) => return Ok((c, r.into_inner().order.ok_or_else(ApiError::internal)?)),
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) if s.code() == tonic::Code::InvalidArgument => return Err(s.into()),
            Err(_) => {}
        }
    }
    if down.is_empty() {
        Err(ApiError::not_found("order not found").into())
    } else {
        Err(ApiError::new(
            ErrorCode::Unavailable,
            "order not found in the malls that are open; some malls are unavailable, retry shortly",
        )
        .into())
    }
}

/// One of my orders, with its voucher.
#[utoipa::path(get, path = "/v1/me/orders/{id}", tag = "resident", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = Problem)))]
pub async fn my_order(
    State(state): State<AppState>,
    resident: Resident,
    Segments(id): Segments<String>,
) -> HttpResult<Json<OrderView>> {
    let (_, order) = find_order(&state, &resident, &id).await?;
    Ok(Json(order.into()))
}

/// Cancels my order before write-off: the points and the stock come back.
#[utoipa::path(post, path = "/v1/me/orders/{id}/cancel", tag = "resident", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "written off, expired, or lost to the counter's write-off: see order_status")))]
pub async fn cancel(
    State(state): State<AppState>,
    resident: Resident,
    Segments(id): Segments<String>,
) -> HttpResult<Json<OrderView>> {
    let (mut c, _) = find_order(&state, &resident, &id).await?;
    let r = c
        .cancel_order(
            resident
                .caller
                .request(pb::CancelOrderRequest { order_id: id }),
        )
        .await?
        .into_inner();
    Ok(Json(order_of(r.order)?))
}
