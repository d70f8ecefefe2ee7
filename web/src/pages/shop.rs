//! Redeeming: the mall the router chose (with its reason and the jumps the resident may make),
//! its products, ordering with one press (idempotent: the form carries its own key, so a double
//! press or a resent form answers the same order), the voucher with its code and QR code, my
//! orders, and cancelling.

use std::collections::HashMap;

use askama::Template;
use axum::{
    extract::{Path, Query},
    http::Method,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    api::{ApiError, segment, with_query},
    ctx::{Chrome, Ctx, PageError, Posted, render},
    i18n::{Msgs, grouped, local_time, mall_name},
    pages::resident::Route,
    session::Role,
};

#[derive(Debug, Deserialize)]
struct Product {
    product_id: String,
    merchant_id: String,
    title: String,
    #[serde(default)]
    description: String,
    price_points: u64,
    #[serde(default)]
    stock: Option<u64>,
    #[serde(default)]
    per_resident_limit: Option<u32>,
    #[serde(default)]
    min_age: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct Products {
    products: Vec<Product>,
}

#[derive(Debug, Deserialize)]
struct Merchant {
    merchant_id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Merchants {
    merchants: Vec<Merchant>,
}

struct ProductLine {
    id: String,
    title: String,
    description: String,
    merchant: String,
    price: String,
    facts: Vec<String>,
    affordable: bool,
}

struct MallChoice {
    href: String,
    name: String,
    points: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "mall.html")]
struct MallPage {
    c: Chrome,
    mall: String,
    mall_name: String,
    message: String,
    choices: Vec<MallChoice>,
    products: Vec<ProductLine>,
    closed: bool,
    /// This rendering's idempotency key: pressing any order button twice orders once.
    key: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MallQuery {
    #[serde(default)]
    mall: String,
}

/// `GET /mall`: the routed mall's catalogue, or that of a mall the resident may jump to.
pub(crate) async fn mall(ctx: Ctx, Query(q): Query<MallQuery>) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let route: Route = ctx.get("/v1/mall").await?;
    let mut choices = vec![(route.mall.mall.clone(), route.available_points)];
    choices.extend(
        route
            .jumps
            .iter()
            .map(|j| (j.mall.clone(), j.available_points)),
    );
    let (mall, available) = choices
        .iter()
        .find(|(m, _)| *m == q.mall)
        .cloned()
        .unwrap_or_else(|| choices[0].clone());
    let products_path = with_query(
        &format!("/v1/malls/{}/products", segment(&mall)),
        &[("page_size", "100")],
    );
    let merchants_path = format!("/v1/malls/{}/merchants", segment(&mall));
    let (products, merchants) = tokio::join!(
        ctx.public::<Products>(Method::GET, &products_path, None),
        ctx.public::<Merchants>(Method::GET, &merchants_path, None),
    );
    let names: HashMap<String, String> = merchants
        .map(|m| {
            m.merchants
                .into_iter()
                .map(|m| (m.merchant_id, m.name))
                .collect()
        })
        .unwrap_or_default();
    let (products, closed) = match products {
        Ok(p) => (p.products, false),
        Err(ApiError::Down(_)) => (vec![], true),
        Err(ApiError::Problem(p)) if p.status == 503 => (vec![], true),
        Err(e) => return Err(e.into()),
    };
    Ok(render(&MallPage {
        c: ctx.chrome(t.mall, "/mall"),
        mall_name: mall_name(t, &mall),
        message: route.explain(t),
        choices: choices
            .iter()
            .map(|(m, points)| MallChoice {
                href: with_query("/mall", &[("mall", m)]),
                name: mall_name(t, m),
                points: t.points_yuan(*points),
                current: *m == mall,
            })
            .collect(),
        products: products
            .into_iter()
            .map(|p| ProductLine {
                facts: facts(t, &p),
                affordable: p.price_points <= available,
                merchant: names.get(&p.merchant_id).cloned().unwrap_or_default(),
                price: t.points_yuan(p.price_points),
                id: p.product_id,
                title: p.title,
                description: p.description,
            })
            .collect(),
        closed,
        mall,
        key: ctx.web().keys.random_token(18),
    }))
}

fn facts(t: &Msgs, p: &Product) -> Vec<String> {
    let mut out = vec![format!(
        "{}：{}",
        t.stock,
        p.stock.map(grouped).unwrap_or_else(|| t.unlimited.into())
    )];
    if let Some(n) = p.per_resident_limit {
        out.push(format!("{}：{n}", t.limit));
    }
    if let Some(age) = p.min_age {
        out.push(format!("{}：{age}+", t.min_age));
    }
    out
}

#[derive(Debug, Deserialize)]
pub(crate) struct OrderForm {
    mall: String,
    product_id: String,
    key: String,
}

#[derive(Debug, Deserialize)]
struct Order {
    order_id: String,
    mall: String,
    status: String,
    product_title: String,
    quantity: u32,
    points: u64,
    voucher_code: String,
    scan_payload: String,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

/// `POST /mall/order`: orders one of the product with the form's key; the voucher after.
pub(crate) async fn order(
    ctx: Ctx,
    Posted(form): Posted<OrderForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let placed: Result<Order, ApiError> = ctx
        .api(
            Method::POST,
            &format!("/v1/malls/{}/orders", segment(&form.mall)),
            Some(&json!({ "product_id": form.product_id, "quantity": 1 })),
            Some(&form.key),
        )
        .await;
    match placed {
        Ok(order) => {
            ctx.flash(true, ctx.t().ordered);
            Ok(Redirect::to(&format!("/orders/{}", segment(&order.order_id))).into_response())
        }
        Err(ApiError::Problem(p)) if matches!(p.status, 400 | 409 | 422) => {
            ctx.flash(false, p.detail.unwrap_or(p.title));
            Ok(Redirect::to(&with_query("/mall", &[("mall", &form.mall)])).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

struct OrderLine {
    href: String,
    title: String,
    mall: String,
    points: String,
    status: String,
    status_text: &'static str,
    when: String,
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    c: Chrome,
    orders: Vec<OrderLine>,
    unavailable: String,
}

#[derive(Debug, Deserialize)]
struct OrderList {
    orders: Vec<Order>,
    #[serde(default)]
    unavailable: Vec<String>,
}

/// `GET /orders`: every order in every mall, newest first.
pub(crate) async fn orders(ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let list: OrderList = ctx.get("/v1/me/orders?page_size=50").await?;
    Ok(render(&OrdersPage {
        c: ctx.chrome(t.orders, "/orders"),
        orders: list
            .orders
            .iter()
            .map(|o| OrderLine {
                href: format!("/orders/{}", segment(&o.order_id)),
                title: format!("{} × {}", o.product_title, o.quantity),
                mall: mall_name(t, &o.mall),
                points: t.points_yuan(o.points),
                status: o.status.clone(),
                status_text: t.order_status(&o.status),
                when: o.created_at.as_deref().map(local_time).unwrap_or_default(),
            })
            .collect(),
        unavailable: list
            .unavailable
            .iter()
            .map(|m| mall_name(t, m))
            .collect::<Vec<_>>()
            .join("、"),
    }))
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    c: Chrome,
    id: String,
    title: String,
    mall: String,
    points: String,
    status: String,
    status_text: &'static str,
    code: String,
    qr: Option<String>,
    expires: String,
    can_cancel: bool,
}

/// The QR code of a voucher's scan payload, as an SVG element for the page.
pub(crate) fn qr_svg(payload: &str, label: &str) -> Option<String> {
    let code = qrcode::QrCode::new(payload.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    // The XML declaration has no place inside HTML; the label makes it an image with a name.
    let start = svg.find("<svg")?;
    let label = crate::chart::escape(label);
    Some(svg[start..].replacen(
        "<svg",
        &format!("<svg role=\"img\" aria-label=\"{label}\""),
        1,
    ))
}

/// `GET /orders/{id}`: the voucher, with its code and QR code while it can be used.
pub(crate) async fn order_page(ctx: Ctx, Path(id): Path<String>) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let o: Order = ctx.get(&format!("/v1/me/orders/{}", segment(&id))).await?;
    let usable = o.status == "reserved";
    Ok(render(&OrderPage {
        c: ctx.chrome(t.voucher, "/orders"),
        id: segment(&o.order_id),
        title: format!("{} × {}", o.product_title, o.quantity),
        mall: mall_name(t, &o.mall),
        points: t.points_yuan(o.points),
        status_text: t.order_status(&o.status),
        qr: if usable {
            qr_svg(&o.scan_payload, t.qr_label)
        } else {
            None
        },
        code: o.voucher_code,
        expires: o.expires_at.as_deref().map(local_time).unwrap_or_default(),
        can_cancel: usable,
        status: o.status,
    }))
}

/// `POST /orders/{id}/cancel`: the points and the stock come back; a cancel that lost to the
/// counter says what won.
pub(crate) async fn cancel(
    ctx: Ctx,
    Path(id): Path<String>,
    Posted(_): Posted<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let done: Result<Order, ApiError> = ctx
        .api(
            Method::POST,
            &format!("/v1/me/orders/{}/cancel", segment(&id)),
            None,
            None,
        )
        .await;
    match done {
        Ok(_) => ctx.flash(true, t.cancelled_ok),
        Err(ApiError::Problem(p)) if p.status == 422 => ctx.flash(
            false,
            p.order_status
                .as_deref()
                .map(|s| t.order_status(s).to_owned())
                .unwrap_or(p.detail.unwrap_or(p.title)),
        ),
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to(&format!("/orders/{}", segment(&id))).into_response())
}
