//! What officials manage: the review queue (release or reject held awards), the merchants of
//! their mall (admit, suspend, reinstate) and the partner departments (the list; the city admin
//! registers one and sees its client secret once).

use askama::Template;
use axum::{
    http::{Method, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    api::{ApiError, segment, with_query},
    ctx::{Chrome, Ctx, PageError, Posted, render},
    i18n::{local_time, mall_name},
    pages::resident::{Outcome, RuleTitles, why},
    session::{Role, User},
};

const OFFICIALS: &[Role] = &[Role::DistrictAdmin, Role::CityAdmin];

#[derive(Debug, Deserialize)]
struct Held {
    event_id: String,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Debug, Deserialize)]
struct Queue {
    held: Vec<Held>,
}

struct HeldLine {
    id: String,
    what: String,
    points: u64,
    when: String,
    why: String,
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    c: Chrome,
    held: Vec<HeldLine>,
}

/// `GET /office/review`: held awards of the official's scope, oldest first.
pub(crate) async fn review(ctx: Ctx) -> Result<Response, PageError> {
    let user = ctx.require(OFFICIALS)?;
    let t = ctx.t();
    let path = with_query(
        "/v1/admin/review-queue",
        &[("district", user.district.as_deref().unwrap_or_default())],
    );
    let queue: Queue = ctx.get(&path).await?;
    let titles = RuleTitles::load(&ctx).await;
    Ok(render(&ReviewPage {
        c: ctx.chrome(t.review, "/office/review"),
        held: queue
            .held
            .into_iter()
            .map(|h| HeldLine {
                id: h.event_id,
                what: titles.of(&h.outcome.behaviour),
                points: h.outcome.points,
                when: h
                    .outcome
                    .occurred_at
                    .as_deref()
                    .map(local_time)
                    .unwrap_or_default(),
                why: why(t, &h.outcome).unwrap_or_default(),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct DecisionForm {
    event_id: String,
    /// `release` or `reject`.
    decision: String,
}

/// `POST /office/review`: releases (the points are paid) or rejects one held award.
pub(crate) async fn decide(
    ctx: Ctx,
    Posted(form): Posted<DecisionForm>,
) -> Result<Response, PageError> {
    ctx.require(OFFICIALS)?;
    let t = ctx.t();
    let done: Result<Value, ApiError> = ctx
        .api(
            Method::POST,
            &format!("/v1/admin/review-queue/{}", segment(&form.event_id)),
            Some(&json!({ "decision": form.decision })),
            None,
        )
        .await;
    match done {
        Ok(_) if form.decision == "release" => ctx.flash(true, t.released_ok),
        Ok(_) => ctx.flash(true, t.rejected_ok),
        Err(ApiError::Problem(p)) if matches!(p.status, 400 | 404 | 422) => {
            ctx.flash(false, t.already_decided);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to("/office/review").into_response())
}

#[derive(Debug, Deserialize)]
struct Merchant {
    merchant_id: String,
    name: String,
    licence_no: String,
    status: String,
}

#[derive(Debug, Deserialize)]
struct Merchants {
    merchants: Vec<Merchant>,
}

/// A new merchant as the form holds it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AdmitForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    licence_no: String,
    #[serde(default)]
    contact: String,
}

#[derive(Template)]
#[template(path = "merchants.html")]
struct MerchantsPage {
    c: Chrome,
    mall: String,
    merchants: Vec<(String, String, String, String)>,
    form: AdmitForm,
    error: Option<(String, String)>,
}

impl MerchantsPage {
    /// The form's fields: (name, label, what was typed).
    fn fields(&self) -> Vec<(&'static str, &'static str, &str)> {
        let t = self.c.t;
        vec![
            ("name", t.merchant, &self.form.name),
            ("licence_no", t.licence_no, &self.form.licence_no),
            ("contact", t.contact, &self.form.contact),
        ]
    }
}

/// The mall an official runs: their district's, or the city's.
fn mall_of(user: &User) -> String {
    user.district.clone().unwrap_or_else(|| "city".into())
}

async fn merchants_page(
    ctx: &Ctx,
    form: AdmitForm,
    error: Option<(String, String)>,
) -> Result<Response, PageError> {
    let user = ctx.require(OFFICIALS)?;
    let t = ctx.t();
    let mall = mall_of(&user);
    let list: Merchants = ctx
        .public(
            Method::GET,
            &format!("/v1/malls/{}/merchants?page_size=200", segment(&mall)),
            None,
        )
        .await?;
    let invalid = error.is_some();
    let mut r = render(&MerchantsPage {
        c: ctx.chrome(t.merchants, "/office/merchants"),
        mall: mall_name(t, &mall),
        merchants: list
            .merchants
            .into_iter()
            .map(|m| (m.merchant_id, m.name, m.licence_no, m.status))
            .collect(),
        form,
        error,
    });
    if invalid {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

/// `GET /office/merchants`.
pub(crate) async fn merchants(ctx: Ctx) -> Result<Response, PageError> {
    merchants_page(&ctx, AdmitForm::default(), None).await
}

/// `POST /office/merchants`: admits a merchant to the official's mall.
pub(crate) async fn admit(
    ctx: Ctx,
    Posted(form): Posted<AdmitForm>,
) -> Result<Response, PageError> {
    let user = ctx.require(OFFICIALS)?;
    let t = ctx.t();
    let admitted: Result<Value, ApiError> = ctx
        .api(
            Method::POST,
            &format!("/v1/admin/malls/{}/merchants", segment(&mall_of(&user))),
            Some(&json!({
                "name": form.name.trim(), "licence_no": form.licence_no.trim(),
                "contact": form.contact.trim(), "status": "active",
            })),
            None,
        )
        .await;
    match admitted {
        Ok(_) => {
            ctx.flash(true, t.admitted_ok);
            Ok(Redirect::to("/office/merchants").into_response())
        }
        Err(ApiError::Problem(p)) if matches!(p.status, 400 | 409 | 422) => {
            let field = p
                .fields()
                .first()
                .map(|f| (*f).to_owned())
                .unwrap_or("name".into());
            let message = if p.status == 409 {
                t.err_taken.to_owned()
            } else {
                p.reason_for(&field).unwrap_or(t.form_errors).to_owned()
            };
            merchants_page(&ctx, form, Some((field, message))).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct StatusForm {
    merchant_id: String,
    status: String,
}

/// `POST /office/merchants/status`: suspends or reinstates a merchant.
pub(crate) async fn merchant_status(
    ctx: Ctx,
    Posted(form): Posted<StatusForm>,
) -> Result<Response, PageError> {
    let user = ctx.require(OFFICIALS)?;
    let t = ctx.t();
    let _: Value = ctx
        .api(
            Method::PUT,
            &format!(
                "/v1/admin/malls/{}/merchants/{}/status",
                segment(&mall_of(&user)),
                segment(&form.merchant_id)
            ),
            Some(&json!({"status": form.status, "reason": t.status_reason})),
            None,
        )
        .await?;
    ctx.flash(true, t.saved_ok);
    Ok(Redirect::to("/office/merchants").into_response())
}

#[derive(Debug, Deserialize)]
struct Partner {
    partner_id: String,
    name: String,
    department: String,
    kind: String,
    behaviours: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Partners {
    partners: Vec<Partner>,
}

/// A new partner as the form holds it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PartnerForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    behaviours: String,
    #[serde(default)]
    scopes: String,
}

#[derive(Template)]
#[template(path = "partners.html")]
struct PartnersPage {
    c: Chrome,
    partners: Vec<(String, String, String, String)>,
    city_admin: bool,
    form: PartnerForm,
    error: Option<(String, String)>,
    /// A partner just registered: its client id and secret, shown this once.
    issued: Option<(String, String)>,
}

impl PartnersPage {
    /// The form's fields: (name, label, what was typed).
    fn fields(&self) -> Vec<(&'static str, &'static str, &str)> {
        let t = self.c.t;
        vec![
            ("name", t.partner, &self.form.name),
            ("department", t.department, &self.form.department),
            ("behaviours", t.behaviours_list, &self.form.behaviours),
            ("scopes", t.scopes_list, &self.form.scopes),
        ]
    }
}

async fn partners_page(
    ctx: &Ctx,
    form: PartnerForm,
    error: Option<(String, String)>,
    issued: Option<(String, String)>,
) -> Result<Response, PageError> {
    let user = ctx.require(OFFICIALS)?;
    let t = ctx.t();
    let list: Partners = ctx.public(Method::GET, "/v1/partners", None).await?;
    let invalid = error.is_some();
    let mut r = render(&PartnersPage {
        c: ctx.chrome(t.partners, "/office/partners"),
        partners: list
            .partners
            .into_iter()
            .map(|p| {
                (
                    format!("{} ({})", p.name, p.partner_id),
                    p.department,
                    p.kind,
                    p.behaviours.join(", "),
                )
            })
            .collect(),
        city_admin: user.role == Role::CityAdmin,
        form,
        error,
        issued,
    });
    if invalid {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

/// `GET /office/partners`.
pub(crate) async fn partners(ctx: Ctx) -> Result<Response, PageError> {
    partners_page(&ctx, PartnerForm::default(), None, None).await
}

fn list(text: &str) -> Vec<String> {
    text.split([',', '，', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /office/partners`: the city admin registers a partner; its secret is shown once.
pub(crate) async fn register_partner(
    ctx: Ctx,
    Posted(form): Posted<PartnerForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::CityAdmin])?;
    let t = ctx.t();
    #[derive(Deserialize)]
    struct Registered {
        client_id: String,
        client_secret: String,
    }
    let registered: Result<Registered, ApiError> = ctx
        .api(
            Method::POST,
            "/v1/admin/partners",
            Some(&json!({
                "name": form.name.trim(), "department": form.department.trim(),
                "kind": if form.kind == "department" { "department" } else { "commercial" },
                "behaviours": list(&form.behaviours), "scopes": list(&form.scopes),
            })),
            None,
        )
        .await;
    match registered {
        Ok(r) => {
            partners_page(
                &ctx,
                PartnerForm::default(),
                None,
                Some((r.client_id, r.client_secret)),
            )
            .await
        }
        Err(ApiError::Problem(p)) if matches!(p.status, 400 | 409 | 422) => {
            let field = p
                .fields()
                .first()
                .map(|f| f.split(['[', '.']).next().unwrap_or(f).to_owned())
                .unwrap_or("name".into());
            let message = if p.status == 409 {
                t.err_taken.to_owned()
            } else {
                p.detail.clone().unwrap_or(p.title.clone())
            };
            partners_page(&ctx, form, Some((field, message)), None).await
        }
        Err(e) => Err(e.into()),
    }
}
