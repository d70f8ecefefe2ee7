//! A resident's own affairs beyond points: the challenges (join, progress) and the leaderboard
//! (opt in or out, this month's top ten), the profile with the family-doctor contract, and
//! consent per partner and category with the access log ("who saw my data").

use std::collections::HashMap;

use askama::Template;
use axum::{
    http::Method,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    api::{ApiError, segment},
    ctx::{Chrome, Ctx, PageError, Posted, render},
    i18n::{district_name, grouped, local_time, today},
    session::Role,
};

#[derive(Debug, Deserialize)]
struct Challenge {
    challenge_id: String,
    title: String,
    days_required: u32,
    #[serde(default)]
    ends_at: Option<String>,
    bonus_points: u64,
    joined: bool,
    days_done: u32,
    completed: bool,
}

#[derive(Debug, Deserialize)]
struct Challenges {
    challenges: Vec<Challenge>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    rank: u32,
    name: String,
    points: u64,
}

#[derive(Debug, Deserialize)]
struct Leaderboard {
    entries: Vec<Entry>,
}

struct ChallengeLine {
    id: String,
    title: String,
    done: u32,
    required: u32,
    bonus: String,
    ends: String,
    joined: bool,
    completed: bool,
}

#[derive(Template)]
#[template(path = "play.html")]
struct PlayPage {
    c: Chrome,
    challenges: Vec<ChallengeLine>,
    board: Vec<(u32, String, String)>,
    month: String,
}

/// `GET /me/play`.
pub(crate) async fn play(ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let (challenges, board) = tokio::join!(
        ctx.get::<Challenges>("/v1/me/challenges"),
        ctx.get::<Leaderboard>("/v1/leaderboards?scope=city&limit=10"),
    );
    Ok(render(&PlayPage {
        c: ctx.chrome(t.play, "/me/play"),
        challenges: challenges?
            .challenges
            .into_iter()
            .map(|c| ChallengeLine {
                id: c.challenge_id,
                title: c.title,
                done: c.days_done.min(c.days_required),
                required: c.days_required,
                bonus: t.points_yuan(c.bonus_points),
                ends: c.ends_at.as_deref().map(local_time).unwrap_or_default(),
                joined: c.joined,
                completed: c.completed,
            })
            .collect(),
        board: board
            .map(|b| {
                b.entries
                    .into_iter()
                    .map(|e| (e.rank, e.name, grouped(e.points)))
                    .collect()
            })
            .unwrap_or_default(),
        month: today().format("%Y-%m").to_string(),
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct JoinForm {
    challenge: String,
}

/// `POST /me/play/join`.
pub(crate) async fn join(ctx: Ctx, Posted(form): Posted<JoinForm>) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let joined: Result<serde_json::Value, ApiError> = ctx
        .api(
            Method::POST,
            &format!("/v1/me/challenges/{}/join", segment(&form.challenge)),
            None,
            None,
        )
        .await;
    match joined {
        Ok(_) => ctx.flash(true, t.joined_ok),
        Err(ApiError::Problem(p)) if p.status == 422 => ctx.flash(false, t.challenge_ended),
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to("/me/play").into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct OptInForm {
    opt_in: String,
}

/// `POST /me/play/leaderboard`: appear on the leaderboards (masked) or not.
pub(crate) async fn leaderboard(
    ctx: Ctx,
    Posted(form): Posted<OptInForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let opt_in = form.opt_in == "true";
    let _: serde_json::Value = ctx
        .api(
            Method::PUT,
            "/v1/me/leaderboard",
            Some(&json!({ "opt_in": opt_in })),
            None,
        )
        .await?;
    ctx.flash(true, if opt_in { t.opted_in } else { t.opted_out });
    Ok(Redirect::to("/me/play").into_response())
}

#[derive(Debug, Deserialize)]
struct Doctor {
    institution_name: String,
    district: String,
    signed_on: String,
    valid_until: String,
}

#[derive(Debug, Deserialize)]
struct Me {
    name: String,
    id_number_masked: String,
    phone_masked: String,
    residence_district: String,
    residence_type: String,
    #[serde(default)]
    family_doctor: Option<Doctor>,
}

#[derive(Debug, Deserialize)]
struct Consent {
    partner_id: String,
    category: String,
    #[serde(default)]
    granted_at: Option<String>,
    active: bool,
}

#[derive(Debug, Deserialize)]
struct Consents {
    consents: Vec<Consent>,
}

#[derive(Debug, Deserialize)]
struct Partner {
    partner_id: String,
    name: String,
    kind: String,
}

#[derive(Debug, Deserialize)]
struct Partners {
    partners: Vec<Partner>,
}

#[derive(Debug, Deserialize)]
struct Access {
    #[serde(default)]
    at: Option<String>,
    actor: String,
    #[serde(default)]
    partner_name: Option<String>,
    action: String,
    records: u32,
}

#[derive(Debug, Deserialize)]
struct AccessLog {
    entries: Vec<Access>,
}

struct ConsentLine {
    partner_id: String,
    partner: String,
    category: String,
    category_name: String,
    since: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    c: Chrome,
    facts: Vec<(&'static str, String)>,
    doctor: Option<String>,
    consents: Vec<ConsentLine>,
    partners: Vec<(String, String)>,
    categories: Vec<(&'static str, String)>,
    access: Vec<(String, String, String, u32)>,
}

/// The data categories a resident consents to, in the order the page lists them.
const CATEGORIES: [&str; 6] = [
    "steps_exercise",
    "sleep",
    "chronic_disease",
    "vaccination",
    "screening",
    "points_summary",
];

/// `GET /me/profile`.
pub(crate) async fn profile(ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let (me, consents, partners, access) = tokio::join!(
        ctx.get::<Me>("/v1/me"),
        ctx.get::<Consents>("/v1/me/consents"),
        ctx.public::<Partners>(Method::GET, "/v1/partners", None),
        ctx.get::<AccessLog>("/v1/me/access-log?page_size=50"),
    );
    let me = me?;
    let names: HashMap<String, String> = partners
        .as_ref()
        .map(|p| {
            p.partners
                .iter()
                .map(|p| (p.partner_id.clone(), p.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    Ok(render(&ProfilePage {
        c: ctx.chrome(t.profile, "/me/profile"),
        facts: vec![
            (t.name, me.name),
            (t.id_number, me.id_number_masked),
            (t.phone, me.phone_masked),
            (
                t.residence_district,
                district_name(t, &me.residence_district),
            ),
            (
                t.residence_type,
                match me.residence_type.as_str() {
                    "registered" => t.registered_type.to_owned(),
                    _ => t.migrant_type.to_owned(),
                },
            ),
        ],
        doctor: me.family_doctor.map(|d| {
            format!(
                "{} · {} · {} ~ {}",
                d.institution_name,
                district_name(t, &d.district),
                d.signed_on,
                d.valid_until
            )
        }),
        consents: consents?
            .consents
            .into_iter()
            .map(|c| ConsentLine {
                partner: names
                    .get(&c.partner_id)
                    .cloned()
                    .unwrap_or_else(|| c.partner_id.clone()),
                partner_id: c.partner_id,
                category_name: t.consent_category(&c.category),
                category: c.category,
                since: c.granted_at.as_deref().map(local_time).unwrap_or_default(),
                active: c.active,
            })
            .collect(),
        partners: partners
            .map(|p| {
                p.partners
                    .into_iter()
                    .filter(|p| p.kind == "commercial")
                    .map(|p| (p.partner_id, p.name))
                    .collect()
            })
            .unwrap_or_default(),
        categories: CATEGORIES
            .iter()
            .map(|c| (*c, t.consent_category(c)))
            .collect(),
        access: access?
            .entries
            .into_iter()
            .map(|a| {
                (
                    a.at.as_deref().map(local_time).unwrap_or_default(),
                    a.partner_name.unwrap_or(a.actor),
                    t.access_action(&a.action),
                    a.records,
                )
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConsentForm {
    partner_id: String,
    category: String,
    #[serde(default)]
    purpose: String,
    /// `grant` or `revoke`.
    action: String,
}

/// `POST /me/profile/consent`: grants or revokes one partner's access to one category.
pub(crate) async fn consent(
    ctx: Ctx,
    Posted(form): Posted<ConsentForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let done: Result<serde_json::Value, ApiError> = if form.action == "revoke" {
        ctx.api(
            Method::DELETE,
            &format!(
                "/v1/me/consents/{}/{}",
                segment(&form.partner_id),
                segment(&form.category)
            ),
            None,
            None,
        )
        .await
    } else {
        let purpose = if form.purpose.trim().is_empty() {
            t.default_purpose.to_owned()
        } else {
            form.purpose.trim().to_owned()
        };
        ctx.api(
            Method::PUT,
            "/v1/me/consents",
            Some(&json!({"partner_id": form.partner_id, "category": form.category, "purpose": purpose})),
            None,
        )
        .await
    };
    match done {
        Ok(_) => ctx.flash(
            true,
            if form.action == "revoke" {
                t.revoked_ok
            } else {
                t.granted_ok
            },
        ),
        Err(ApiError::Problem(p)) if matches!(p.status, 400 | 404 | 422) => {
            ctx.flash(false, p.detail.unwrap_or(p.title));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to("/me/profile").into_response())
}
