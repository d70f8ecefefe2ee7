//! A resident's own pages: points per book in points and ¥, today's check-in, the serving mall,
//! the family-doctor contract, and the history with why each record did or did not earn points.

use std::collections::HashMap;

use askama::Template;
use axum::{
    extract::Query,
    http::Method,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use crate::{
    api::with_query,
    ctx::{Chrome, Ctx, PageError, Posted, render},
    i18n::{Msgs, district_name, grouped, local_time, mall_name},
    session::Role,
};

#[derive(Debug, Deserialize)]
pub(crate) struct Balance {
    pub book: String,
    pub pending: u64,
    pub available: u64,
    #[serde(default)]
    pub expiring: Vec<Expiring>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Expiring {
    pub points: u64,
    pub on: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Balances {
    pub balances: Vec<Balance>,
}

#[derive(Debug, Deserialize)]
struct Doctor {
    institution_name: String,
    district: String,
    valid_until: String,
}

#[derive(Debug, Deserialize)]
struct Me {
    #[serde(default)]
    family_doctor: Option<Doctor>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MallRef {
    pub mall: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Jump {
    pub mall: String,
    pub available_points: u64,
}

/// `GET /v1/mall`: where the router sends this resident, and why.
#[derive(Debug, Deserialize)]
pub(crate) struct Route {
    pub mall: MallRef,
    /// Why: `family_doctor_contract`, `no_family_doctor_contract`, `district_not_enrolled`,
    /// `district_mall_unavailable`.
    pub reason: String,
    pub message: String,
    pub available_points: u64,
    #[serde(default)]
    pub jumps: Vec<Jump>,
}

impl Route {
    /// The router's reason in the page's language (English pages show the gateway's own).
    pub(super) fn explain(&self, t: &Msgs) -> String {
        let template = match self.reason.as_str() {
            "family_doctor_contract" => t.route_contract,
            "no_family_doctor_contract" => t.route_no_contract,
            "district_not_enrolled" => t.route_not_enrolled,
            "district_mall_unavailable" => t.route_unavailable,
            _ => return self.message.clone(),
        };
        if t.html_lang == "en" {
            return self.message.clone();
        }
        t.fill(template, mall_name(t, &self.mall.mall))
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Outcome {
    pub behaviour: String,
    #[serde(default)]
    pub occurred_at: Option<String>,
    #[serde(default)]
    pub decided_at: Option<String>,
    pub outcome: String,
    pub points: u64,
    #[serde(default)]
    pub cap: Option<String>,
    #[serde(default)]
    pub points_cut: u64,
    #[serde(default)]
    pub reason_code: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Outcomes {
    outcomes: Vec<Outcome>,
}

pub(crate) struct BookView {
    pub(crate) name: String,
    pub(crate) available: String,
    pub(crate) reserved: Option<String>,
    /// "1,200 points expire on 2027-12-31", soonest first.
    pub(crate) expiring: Vec<String>,
}

/// The books a resident holds points in, as the home page and the station counter show them.
pub(crate) fn book_views(t: &Msgs, balances: &Balances) -> Vec<BookView> {
    balances
        .balances
        .iter()
        .filter(|b| b.available > 0 || b.pending > 0)
        .map(|b| BookView {
            name: t.book(&b.book),
            available: t.points_yuan(b.available),
            reserved: (b.pending > 0).then(|| t.points_yuan(b.pending)),
            expiring: b
                .expiring
                .iter()
                .map(|e| t.fill(&t.fill(t.expires_on, grouped(e.points)), &e.on))
                .collect(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
    balances: Vec<BookView>,
    checked_in: Option<String>,
    /// A streak still alive from yesterday.
    streak: Option<String>,
    mall: Option<(String, String)>,
    doctor: Option<String>,
}

/// `GET /me`.
pub(crate) async fn home(ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let (me, balances, route, today) = tokio::join!(
        ctx.get::<Me>("/v1/me"),
        ctx.get::<Balances>("/v1/me/balances"),
        ctx.get::<Route>("/v1/mall"),
        ctx.get::<Today>("/v1/me/checkins"),
    );
    let (me, balances, today) = (me?, balances?, today?);
    let checked_in = today
        .checked_in_today
        .then(|| t.fill(t.checkin_done, today.streak_days));
    let streak = (!today.checked_in_today && today.streak_days > 0)
        .then(|| t.fill(t.streak_alive, today.streak_days));
    Ok(render(&HomePage {
        c: ctx.chrome(t.home, "/me"),
        balances: book_views(t, &balances),
        checked_in,
        streak,
        mall: route
            .ok()
            .map(|r| (mall_name(t, &r.mall.mall), r.explain(t))),
        doctor: me.family_doctor.map(|d| {
            format!(
                "{} · {} · {} {}",
                d.institution_name,
                district_name(t, &d.district),
                t.valid_until,
                d.valid_until
            )
        }),
    }))
}

/// `GET /v1/me/checkins`.
#[derive(Debug, Deserialize)]
struct Today {
    checked_in_today: bool,
    streak_days: u32,
}

#[derive(Debug, Deserialize)]
struct CheckIn {
    #[serde(flatten)]
    outcome: Outcome,
    streak_days: u32,
    #[serde(default)]
    streak_bonus: Option<Outcome>,
}

/// `POST /me/checkin`: today's check-in; the result is shown on the home page.
pub(crate) async fn check_in(
    ctx: Ctx,
    Posted(_): Posted<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let r: CheckIn = ctx.api(Method::POST, "/v1/me/checkins", None, None).await?;
    // A check-in sent again the same day answers its first outcome without the streak: ask.
    let streak = match ctx.get::<Today>("/v1/me/checkins").await {
        Ok(today) => today.streak_days.max(r.streak_days),
        Err(_) => r.streak_days,
    };
    let mut text = t.fill(t.checkin_done, streak);
    let ok = r.outcome.outcome != "rejected";
    if r.outcome.points > 0 {
        text = format!("{text}。{}", t.fill(t.checkin_points, r.outcome.points));
    } else if !ok {
        text = format!(
            "{}{}",
            t.checkin_none,
            why(t, &r.outcome).unwrap_or_default()
        );
    }
    if let Some(bonus) = r.streak_bonus.filter(|b| b.points > 0) {
        text = format!("{text}。{}", t.fill(t.checkin_bonus, bonus.points));
    }
    ctx.flash(ok, text);
    Ok(Redirect::to("/me").into_response())
}

/// Why an outcome earned what it did, in the page's language.
pub(crate) fn why(t: &Msgs, o: &Outcome) -> Option<String> {
    if let Some(code) = &o.reason_code {
        return Some(
            t.reason(code)
                .map(str::to_owned)
                .or_else(|| o.reason.clone())
                .unwrap_or_else(|| code.clone()),
        );
    }
    o.cap
        .as_ref()
        .map(|cap| t.fill(&t.fill(t.cap_cut, t.cap(cap)), o.points_cut))
}

#[derive(Debug, Deserialize)]
struct Transaction {
    kind: String,
    points: i64,
    #[serde(default)]
    pending_points: Option<i64>,
    #[serde(default)]
    reservation: Option<String>,
    #[serde(default)]
    reason: String,
    at: String,
}

#[derive(Debug, Deserialize)]
struct Transactions {
    transactions: Vec<Transaction>,
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Rule {
    code: String,
    title: String,
}

#[derive(Debug, Deserialize)]
struct Rules {
    rules: Vec<Rule>,
}

/// The catalogue's titles by rule code, to name what a record was for.
pub(crate) struct RuleTitles(HashMap<String, String>);

impl RuleTitles {
    /// The rules in force; none when the catalogue cannot be read (codes are shown instead).
    pub(crate) async fn load(ctx: &Ctx) -> Self {
        let rules = ctx.public::<Rules>(Method::GET, "/v1/rules", None).await;
        Self(
            rules
                .map(|r| r.rules.into_iter().map(|r| (r.code, r.title)).collect())
                .unwrap_or_default(),
        )
    }

    /// The title of `code`, or the code itself.
    pub(crate) fn of(&self, code: &str) -> String {
        self.0.get(code).cloned().unwrap_or_else(|| code.to_owned())
    }
}

struct BehaviourLine {
    what: String,
    outcome: &'static str,
    points: u64,
    when: String,
    why: Option<String>,
}

struct TxLine {
    when: String,
    what: String,
    points: String,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    c: Chrome,
    behaviours: Vec<BehaviourLine>,
    transactions: Vec<TxLine>,
    next_tx: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct HistoryQuery {
    #[serde(default)]
    tx: String,
}

/// `GET /me/history`: the newest behaviours with their outcome and why, and the points records
/// (paged by the API's cursor).
pub(crate) async fn history(
    ctx: Ctx,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let tx_path = with_query(
        "/v1/me/transactions",
        &[("page_size", "30"), ("cursor", &q.tx)],
    );
    let (outcomes, transactions, titles) = tokio::join!(
        ctx.get::<Outcomes>("/v1/me/behaviours?page_size=30"),
        ctx.get::<Transactions>(&tx_path),
        RuleTitles::load(&ctx),
    );
    let transactions = transactions?;
    Ok(render(&HistoryPage {
        c: ctx.chrome(t.history, "/me/history"),
        behaviours: outcomes?
            .outcomes
            .iter()
            .map(|o| BehaviourLine {
                what: titles.of(&o.behaviour),
                outcome: t.outcome(&o.outcome),
                points: o.points,
                when: o
                    .occurred_at
                    .as_deref()
                    .or(o.decided_at.as_deref())
                    .map(local_time)
                    .unwrap_or_default(),
                why: why(t, o),
            })
            .collect(),
        transactions: transactions
            .transactions
            .iter()
            .map(|x| TxLine {
                when: local_time(&x.at),
                what: match &x.reservation {
                    Some(state) => format!("{} ({})", x.reason, t.reservation(state)),
                    None if x.reason.is_empty() => x.kind.clone(),
                    None => x.reason.clone(),
                },
                points: match (x.points, x.pending_points) {
                    (0, Some(p)) if p != 0 => format!("({:+})", p),
                    (p, _) if p > 0 => format!("+{}", grouped(p.unsigned_abs())),
                    (p, _) if p < 0 => format!("−{}", grouped(p.unsigned_abs())),
                    _ => "0".into(),
                },
            })
            .collect(),
        next_tx: transactions
            .next_cursor
            .map(|c| with_query("/me/history", &[("tx", &c)])),
    }))
}
