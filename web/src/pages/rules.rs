//! The rule catalogue for officials: the rules in force, a draft change of one (its title, its
//! points, its daily and monthly caps), what the draft would have changed over the last 30 days
//! (replayed by intake, drawn as a chart per category), and publishing it. A district official
//! drafts for their district (their own rules, or tightenings of city rules); the gateway
//! decides what each may publish.

use std::collections::BTreeMap;

use askama::Template;
use axum::{
    extract::Query,
    http::{Method, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use chrono::{Duration, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    api::{ApiError, with_query},
    chart::{Bar, Chart},
    ctx::{Chrome, Ctx, FieldErrors, PageError, Posted, render},
    i18n::{Msgs, grouped},
    session::{Role, User},
};

const OFFICIALS: &[Role] = &[Role::DistrictAdmin, Role::CityAdmin];

struct RuleLine {
    code: String,
    title: String,
    category: String,
    award: String,
    caps: String,
    edit: String,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage {
    c: Chrome,
    rules: Vec<RuleLine>,
}

/// The rules in force where the official works.
async fn catalogue(ctx: &Ctx, user: &User) -> Result<Vec<Value>, PageError> {
    let path = with_query(
        "/v1/rules",
        &[("district", user.district.as_deref().unwrap_or_default())],
    );
    let rules: Value = ctx.public(Method::GET, &path, None).await?;
    Ok(rules["rules"].as_array().cloned().unwrap_or_default())
}

fn award_text(t: &Msgs, rule: &Value) -> String {
    let award = &rule["award"];
    if let Some(p) = award["fixed"].as_u64() {
        format!("{} {}", grouped(p), t.points)
    } else if let Some(p) = award["per_unit"].as_u64() {
        format!(
            "{} {} / {}",
            grouped(p),
            t.points,
            rule["unit"].as_str().unwrap_or_default()
        )
    } else {
        t.tiered.to_owned()
    }
}

fn caps_text(t: &Msgs, rule: &Value) -> String {
    [
        "per_day",
        "per_week",
        "per_month",
        "per_year",
        "per_lifetime",
    ]
    .iter()
    .filter_map(|k| {
        rule["caps"][k]
            .as_u64()
            .map(|v| format!("{} {}", t.cap(k), grouped(v)))
    })
    .collect::<Vec<_>>()
    .join(" · ")
}

/// `GET /office/rules`.
pub(crate) async fn rules(ctx: Ctx) -> Result<Response, PageError> {
    let user = ctx.require(OFFICIALS)?;
    let t = ctx.t();
    let rules = catalogue(&ctx, &user).await?;
    Ok(render(&RulesPage {
        c: ctx.chrome(t.rules, "/office/rules"),
        rules: rules
            .iter()
            .map(|r| {
                let code = r["code"].as_str().unwrap_or_default().to_owned();
                RuleLine {
                    edit: with_query("/office/rules/draft", &[("code", &code)]),
                    title: r["title"].as_str().unwrap_or_default().to_owned(),
                    category: t.category(r["category"].as_str().unwrap_or_default()),
                    award: award_text(t, r),
                    caps: caps_text(t, r),
                    code,
                }
            })
            .collect(),
    }))
}

/// A draft as the form holds it: what was typed, kept as typed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DraftForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    points: String,
    #[serde(default)]
    per_day: String,
    #[serde(default)]
    per_month: String,
}

#[derive(Template)]
#[template(path = "rule_draft.html")]
struct DraftPage {
    c: Chrome,
    form: DraftForm,
    /// Whether the rule's award is per unit (else fixed).
    per_unit: bool,
    errors: FieldErrors,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CodeQuery {
    #[serde(default)]
    code: String,
}

/// The rule `code` of the catalogue.
async fn rule(ctx: &Ctx, user: &User, code: &str) -> Result<Value, PageError> {
    catalogue(ctx, user)
        .await?
        .into_iter()
        .find(|r| r["code"] == code)
        .ok_or(PageError::NotFound)
}

fn number(v: &Value) -> String {
    v.as_u64().map(|n| n.to_string()).unwrap_or_default()
}

/// `GET /office/rules/draft?code=`: the form, filled with the rule in force.
pub(crate) async fn draft_page(
    ctx: Ctx,
    Query(q): Query<CodeQuery>,
) -> Result<Response, PageError> {
    let user = ctx.require(OFFICIALS)?;
    let r = rule(&ctx, &user, &q.code).await?;
    let per_unit = r["award"]["per_unit"].is_u64();
    Ok(render(&DraftPage {
        c: ctx.chrome(ctx.t().draft, "/office/rules"),
        form: DraftForm {
            title: r["title"].as_str().unwrap_or_default().to_owned(),
            points: number(if per_unit {
                &r["award"]["per_unit"]
            } else {
                &r["award"]["fixed"]
            }),
            per_day: number(&r["caps"]["per_day"]),
            per_month: number(&r["caps"]["per_month"]),
            code: q.code,
        },
        per_unit,
        errors: FieldErrors::default(),
    }))
}

/// A whole number typed into `field`, or empty for none.
fn whole(t: &Msgs, field: &str, text: &str, errors: &mut FieldErrors) -> Option<Option<u64>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(None);
    }
    match text.parse::<u64>() {
        Ok(n) => Some(Some(n)),
        Err(_) => {
            errors.push(field, t.err_whole_number);
            None
        }
    }
}

struct WhatIf {
    svg: String,
    rows: Vec<(String, String, String)>,
    events: u64,
    before: String,
    after: String,
}

#[derive(Template)]
#[template(path = "rule_whatif.html")]
struct WhatIfPage {
    c: Chrome,
    title: String,
    draft_id: String,
    what_if: WhatIf,
}

/// `POST /office/rules/draft`: saves the draft, replays the last 30 days under it and shows
/// what would have changed, with the button to publish.
pub(crate) async fn draft(
    ctx: Ctx,
    Posted(form): Posted<DraftForm>,
) -> Result<Response, PageError> {
    let user = ctx.require(OFFICIALS)?;
    let t = ctx.t();
    let mut r = rule(&ctx, &user, &form.code).await?;
    let per_unit = r["award"]["per_unit"].is_u64();
    let mut errors = FieldErrors::default();
    if form.title.trim().is_empty() {
        errors.push("title", t.err_required);
    }
    let points = whole(t, "points", &form.points, &mut errors);
    let per_day = whole(t, "per_day", &form.per_day, &mut errors);
    let per_month = whole(t, "per_month", &form.per_month, &mut errors);
    if let Some(None) = points {
        errors.push("points", t.err_required);
    }
    let draft_id = if errors.is_empty() {
        r["title"] = json!(form.title.trim());
        r["award"] = if per_unit {
            json!({ "per_unit": points.flatten() })
        } else {
            json!({ "fixed": points.flatten() })
        };
        for (key, value) in [
            ("per_day", per_day.flatten()),
            ("per_month", per_month.flatten()),
        ] {
            match value {
                Some(v) => r["caps"][key] = json!(v),
                None => {
                    if let Some(caps) = r["caps"].as_object_mut() {
                        caps.remove(key);
                    }
                }
            }
        }
        if let Some(d) = &user.district {
            r["district"] = json!(d);
        }
        if let Some(obj) = r.as_object_mut() {
            for k in ["version", "effective_from", "effective_until"] {
                obj.remove(k);
            }
        }
        #[derive(Deserialize)]
        struct Saved {
            draft_id: String,
        }
        match ctx
            .api::<Saved>(Method::POST, "/v1/admin/rules/drafts", Some(&r), None)
            .await
        {
            Ok(saved) => Some(saved.draft_id),
            Err(ApiError::Problem(p)) if matches!(p.status, 400 | 422) => {
                let field = match p.field.as_deref() {
                    Some(f) if f.starts_with("award") => "points",
                    Some("caps.per_day") => "per_day",
                    Some("caps.per_month") => "per_month",
                    _ => "title",
                };
                errors.push(field, p.detail.unwrap_or(p.title));
                None
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let Some(draft_id) = draft_id else {
        let mut page = render(&DraftPage {
            c: ctx.chrome(t.draft, "/office/rules"),
            form,
            per_unit,
            errors,
        });
        *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(page);
    };
    let what_if = simulate(&ctx, &draft_id).await?;
    Ok(render(&WhatIfPage {
        c: ctx.chrome(t.what_if, "/office/rules"),
        title: form.title,
        draft_id,
        what_if,
    }))
}

/// The last 30 days replayed under the rules in force and under the draft.
async fn simulate(ctx: &Ctx, draft_id: &str) -> Result<WhatIf, PageError> {
    #[derive(Deserialize)]
    struct Cell {
        category: String,
        points_before: u64,
        points_after: u64,
    }
    #[derive(Deserialize)]
    struct Simulation {
        events_replayed: u64,
        cells: Vec<Cell>,
    }
    let t = ctx.t();
    let now = Utc::now();
    let to = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let from = (now - Duration::days(30)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let s: Simulation = ctx
        .api(
            Method::POST,
            "/v1/admin/rules/drafts/simulate",
            Some(&json!({"draft_ids": [draft_id], "from": from, "to": to})),
            None,
        )
        .await?;
    let mut by_category: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for c in &s.cells {
        let e = by_category.entry(c.category.clone()).or_default();
        e.0 += c.points_before;
        e.1 += c.points_after;
    }
    let bars: Vec<Bar> = by_category
        .iter()
        .map(|(k, (before, after))| Bar {
            label: t.category(k),
            a: Some(*before),
            b: Some(*after),
        })
        .collect();
    let (before, after) = by_category
        .values()
        .fold((0, 0), |(b, a), (x, y)| (b + x, a + y));
    Ok(WhatIf {
        svg: Chart {
            title: t.what_if,
            bars: &bars,
            two_series: true,
            hidden: t.hidden,
        }
        .svg(),
        rows: bars
            .iter()
            .map(|b| {
                (
                    b.label.clone(),
                    grouped(b.a.unwrap_or(0)),
                    grouped(b.b.unwrap_or(0)),
                )
            })
            .collect(),
        events: s.events_replayed,
        before: t.points_yuan(before),
        after: t.points_yuan(after),
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct PublishForm {
    draft_id: String,
}

/// `POST /office/rules/publish`: the draft becomes the rule's next version, from now.
pub(crate) async fn publish(
    ctx: Ctx,
    Posted(form): Posted<PublishForm>,
) -> Result<Response, PageError> {
    ctx.require(OFFICIALS)?;
    let t = ctx.t();
    let published: Result<Value, ApiError> = ctx
        .api(
            Method::POST,
            "/v1/admin/rules/drafts/publish",
            Some(&json!({ "draft_ids": [form.draft_id] })),
            None,
        )
        .await;
    match published {
        Ok(_) => ctx.flash(true, t.published_ok),
        Err(ApiError::Problem(p)) if matches!(p.status, 400 | 422) => {
            ctx.flash(false, p.detail.unwrap_or(p.title));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to("/office/rules").into_response())
}
