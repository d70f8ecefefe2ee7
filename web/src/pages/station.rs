//! The health-station counter, for staff serving residents who come in person: find the
//! resident by the ID card's number or the code their app shows (a scanner types it into the
//! field), see who they are (masked) and their points, record what they did here, order for
//! them with their consent, and print or show the voucher. The ID number travels only in forms
//! (POST), never in a page's address; each action proves the resident again, and each is in
//! their access log.

use std::collections::HashMap;

use askama::Template;
use axum::{http::Method, http::StatusCode, response::Response};
use serde::Deserialize;

use super::resident::{Balances, BookView, book_views};
use super::shop::qr_svg;
use crate::{
    api::{ApiError, segment, with_query},
    ctx::{Chrome, Ctx, PageError, Posted, render},
    i18n::{Msgs, district_name, local_time, mall_name},
    session::Role,
};

/// How the resident proved who they are, carried from form to form.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Proof {
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    station_code: String,
}

impl Proof {
    fn body(&self) -> serde_json::Value {
        let (id, code) = (self.id_number.trim(), self.station_code.trim());
        if !id.is_empty() {
            serde_json::json!({ "id_number": id })
        } else {
            serde_json::json!({ "station_code": code })
        }
    }

    fn is_empty(&self) -> bool {
        self.id_number.trim().is_empty() && self.station_code.trim().is_empty()
    }
}

#[derive(Debug, Deserialize)]
struct CounterResident {
    name_masked: String,
    residence_district: String,
    birth_date: String,
    #[serde(default)]
    family_doctor_district: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Lookup {
    resident: CounterResident,
    #[serde(flatten)]
    balances: Balances,
}

#[derive(Debug, Deserialize)]
struct StationRule {
    code: String,
    title: String,
    #[serde(default)]
    sources: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Rules {
    rules: Vec<StationRule>,
}

#[derive(Debug, Deserialize)]
struct Product {
    product_id: String,
    title: String,
    price_points: u64,
}

#[derive(Debug, Deserialize)]
struct Products {
    products: Vec<Product>,
}

/// The resident in front of the counter.
struct Card {
    name: String,
    facts: String,
    books: Vec<BookView>,
}

#[derive(Template)]
#[template(path = "station.html")]
struct StationPage {
    c: Chrome,
    proof: Proof,
    error: Option<String>,
    result: Option<(bool, String)>,
    card: Option<Card>,
    behaviours: Vec<(String, String)>,
    products: Vec<(String, String)>,
    key: String,
}

#[derive(Template)]
#[template(path = "station_voucher.html")]
struct VoucherPage {
    c: Chrome,
    resident: String,
    title: String,
    mall: String,
    points: String,
    code: String,
    qr: Option<String>,
    expires: String,
}

fn page(ctx: &Ctx, proof: Proof) -> StationPage {
    StationPage {
        c: ctx.chrome(ctx.t().station, "/station"),
        proof,
        error: None,
        result: None,
        card: None,
        behaviours: Vec::new(),
        products: Vec::new(),
        key: ctx.web().keys.random_token(18),
    }
}

/// What a refusal of the counter tells the staff member, in the page's language.
fn refusal(t: &Msgs, e: &ApiError) -> Option<String> {
    let ApiError::Problem(p) = e else { return None };
    match p.status {
        400 => Some(match p.field.as_deref() {
            Some("station_code") => t.station_bad_code.to_owned(),
            Some("id_number") => t.id_check.to_owned(),
            _ => p.detail.clone().unwrap_or_else(|| p.title.clone()),
        }),
        404 => Some(t.station_nobody.to_owned()),
        409 | 422 => Some(p.detail.clone().unwrap_or_else(|| p.title.clone())),
        429 => Some(t.station_slow_down.to_owned()),
        _ => None,
    }
}

/// `GET /station`: the counter, waiting for the next resident.
pub(crate) async fn station(ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Station])?;
    Ok(render(&page(&ctx, Proof::default())))
}

/// The counter with the resident found: who, their points, what can be done for them.
async fn with_resident(
    ctx: &Ctx,
    proof: Proof,
    result: Option<(bool, String)>,
) -> Result<Response, PageError> {
    let t = ctx.t();
    let mut p = page(ctx, proof.clone());
    p.result = result;
    if proof.is_empty() {
        p.error = Some(t.station_proof_needed.to_owned());
        return Ok(unprocessable(render(&p)));
    }
    let found: Result<Lookup, ApiError> = ctx
        .api(
            Method::POST,
            "/v1/station/lookup",
            Some(&proof.body()),
            None,
        )
        .await;
    let found = match found {
        Ok(f) => f,
        Err(e) => match refusal(t, &e) {
            Some(why) => {
                p.error = Some(why);
                p.proof = Proof::default();
                return Ok(unprocessable(render(&p)));
            }
            None => return Err(e.into()),
        },
    };
    let r = &found.resident;
    let mut malls = vec![
        r.family_doctor_district
            .clone()
            .unwrap_or_else(|| r.residence_district.clone()),
    ];
    malls.push("city".into());
    let rules = ctx.public::<Rules>(Method::GET, "/v1/rules", None).await;
    p.behaviours = rules
        .map(|r| {
            r.rules
                .into_iter()
                .filter(|r| r.sources.iter().any(|s| s == "station"))
                .map(|r| (r.code, r.title))
                .collect()
        })
        .unwrap_or_default();
    let mut titles: HashMap<String, (String, String)> = HashMap::new();
    for mall in &malls {
        let path = with_query(
            &format!("/v1/malls/{}/products", segment(mall)),
            &[("page_size", "100")],
        );
        if let Ok(list) = ctx.public::<Products>(Method::GET, &path, None).await {
            for product in list.products {
                let label = format!(
                    "{} · {} · {}",
                    mall_name(t, mall),
                    product.title,
                    t.points_yuan(product.price_points)
                );
                titles.insert(
                    format!("{mall}|{}", product.product_id),
                    (label, mall.clone()),
                );
            }
        }
    }
    let mut products: Vec<(String, String)> = titles
        .into_iter()
        .map(|(k, (label, _))| (k, label))
        .collect();
    products.sort_by(|a, b| a.1.cmp(&b.1));
    p.products = products;
    p.card = Some(Card {
        name: r.name_masked.clone(),
        facts: format!(
            "{} · {} {}",
            district_name(t, &r.residence_district),
            t.born,
            r.birth_date
        ),
        books: book_views(t, &found.balances),
    });
    Ok(render(&p))
}

fn unprocessable(mut r: Response) -> Response {
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

/// `POST /station/lookup`: the resident proves who they are.
pub(crate) async fn lookup(ctx: Ctx, Posted(proof): Posted<Proof>) -> Result<Response, PageError> {
    ctx.require(&[Role::Station])?;
    with_resident(&ctx, proof, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct RecordForm {
    #[serde(flatten)]
    proof: Proof,
    behaviour: String,
    #[serde(default)]
    activity: String,
    key: String,
}

#[derive(Debug, Deserialize)]
struct Recorded {
    result: RecordResult,
}

#[derive(Debug, Deserialize)]
struct RecordResult {
    outcome: String,
    points: u64,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /station/record`: a behaviour the resident did here (the form's key makes a resent
/// form answer the same).
pub(crate) async fn record(
    ctx: Ctx,
    Posted(form): Posted<RecordForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Station])?;
    let t = ctx.t();
    let mut body = form.proof.body();
    body["record_id"] = form.key.clone().into();
    body["behaviour"] = form.behaviour.trim().into();
    let activity = form.activity.trim();
    if !activity.is_empty() {
        // The evidence a station's rules ask for: the lecture's or the group's number.
        body["attributes"] = serde_json::json!({"lecture_id": activity, "group_id": activity});
    }
    let done: Result<Recorded, ApiError> = ctx
        .api(Method::POST, "/v1/station/behaviours", Some(&body), None)
        .await;
    let result = match done {
        Ok(r) => match r.result.outcome.as_str() {
            "awarded" | "capped" | "pending" => (
                true,
                t.fill(t.station_recorded, t.points_yuan(r.result.points)),
            ),
            "held" => (true, t.station_held.to_owned()),
            _ => (
                false,
                r.result
                    .reason
                    .unwrap_or_else(|| t.outcome(&r.result.outcome).to_owned()),
            ),
        },
        Err(e) => match refusal(t, &e) {
            Some(why) => (false, why),
            None => return Err(e.into()),
        },
    };
    with_resident(&ctx, form.proof, Some(result)).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(flatten)]
    proof: Proof,
    #[serde(default)]
    new_password: String,
}

/// `POST /station/password`: a forgotten password reset, the ID card checked.
pub(crate) async fn password(
    ctx: Ctx,
    Posted(form): Posted<PasswordForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Station])?;
    let t = ctx.t();
    let body = serde_json::json!({
        "id_number": form.proof.id_number.trim(),
        "new_password": form.new_password,
    });
    let done: Result<serde_json::Value, ApiError> = ctx
        .api(Method::POST, "/v1/station/password", Some(&body), None)
        .await;
    let result = match done {
        Ok(_) => (true, t.station_password_done.to_owned()),
        Err(ApiError::Problem(p)) if p.field.as_deref() == Some("new_password") => {
            (false, t.err_password.to_owned())
        }
        Err(e) => match refusal(t, &e) {
            Some(why) => (false, why),
            None => return Err(e.into()),
        },
    };
    with_resident(&ctx, form.proof, Some(result)).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct OrderForm {
    #[serde(flatten)]
    proof: Proof,
    product: String,
    #[serde(default)]
    consent: String,
    key: String,
}

#[derive(Debug, Deserialize)]
struct Placed {
    resident: CounterResident,
    order: Order,
}

#[derive(Debug, Deserialize)]
struct Order {
    mall: String,
    product_title: String,
    quantity: u32,
    points: u64,
    voucher_code: String,
    scan_payload: String,
    #[serde(default)]
    expires_at: Option<String>,
}

/// `POST /station/order`: an order for the resident, with their consent; the voucher to print.
pub(crate) async fn order(
    ctx: Ctx,
    Posted(form): Posted<OrderForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Station])?;
    let t = ctx.t();
    if form.consent != "yes" {
        return with_resident(
            &ctx,
            form.proof,
            Some((false, t.station_consent_needed.to_owned())),
        )
        .await;
    }
    let Some((mall, product)) = form.product.split_once('|') else {
        return with_resident(
            &ctx,
            form.proof,
            Some((false, t.station_pick_product.to_owned())),
        )
        .await;
    };
    let mut body = form.proof.body();
    body["resident_consents"] = true.into();
    body["mall"] = mall.into();
    body["product_id"] = product.into();
    let placed: Result<Placed, ApiError> = ctx
        .api(
            Method::POST,
            "/v1/station/orders",
            Some(&body),
            Some(&form.key),
        )
        .await;
    match placed {
        Ok(p) => Ok(render(&VoucherPage {
            c: ctx.chrome(t.voucher, "/station"),
            resident: p.resident.name_masked,
            title: format!("{} × {}", p.order.product_title, p.order.quantity),
            mall: mall_name(t, &p.order.mall),
            points: t.points_yuan(p.order.points),
            qr: qr_svg(&p.order.scan_payload, t.qr_label),
            code: p.order.voucher_code,
            expires: p
                .order
                .expires_at
                .as_deref()
                .map(local_time)
                .unwrap_or_default(),
        })),
        Err(e) => match refusal(t, &e) {
            Some(why) => with_resident(&ctx, form.proof, Some((false, why))).await,
            None => Err(e.into()),
        },
    }
}

#[derive(Template)]
#[template(path = "station_code.html")]
struct CodePage {
    c: Chrome,
    qr: Option<String>,
    expires: String,
}

#[derive(Debug, Deserialize)]
struct StationCode {
    code: String,
    expires_at: String,
}

/// `GET /me/station-code`: the resident's code to show at a health station's counter instead
/// of their ID card (a fresh one each time the page is opened).
pub(crate) async fn station_code(ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let code: StationCode = ctx
        .api(Method::POST, "/v1/me/station-code", None, None)
        .await?;
    Ok(render(&CodePage {
        c: ctx.chrome(t.station_code_title, "/me"),
        qr: qr_svg(&code.code, t.station_code_title),
        expires: local_time(&code.expires_at),
    }))
}
