//! A resident's inbox: what happened to their data and their vouchers (a consent granted or
//! revoked, a voucher used, refunded or expired), newest first, the unread ones marked, and one
//! button that marks them all read.

use std::collections::HashMap;

use askama::Template;
use axum::{
    http::Method,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    ctx::{Chrome, Ctx, PageError, Posted, render},
    i18n::{Msgs, local_time},
    session::Role,
};

#[derive(Debug, Deserialize)]
struct Notification {
    kind: String,
    #[serde(default)]
    data: Value,
    created_at: String,
    read: bool,
}

#[derive(Debug, Deserialize)]
struct Notifications {
    notifications: Vec<Notification>,
    unread: u64,
}

#[derive(Debug, Deserialize)]
struct Partner {
    partner_id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Partners {
    partners: Vec<Partner>,
}

struct Line {
    text: String,
    when: String,
    unread: bool,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    c: Chrome,
    lines: Vec<Line>,
    unread: u64,
}

/// What a notification says, in the page's language.
fn text(t: &Msgs, n: &Notification, partners: &HashMap<String, String>) -> String {
    let s = |key: &str| n.data[key].as_str().unwrap_or_default().to_owned();
    let partner = partners
        .get(&s("partner_id"))
        .cloned()
        .unwrap_or_else(|| s("partner_id"));
    let product = s("product_title");
    let points = t.points_yuan(n.data["points"].as_u64().unwrap_or_default());
    let fill2 = |template: &str, a: &str, b: &str| t.fill(&t.fill(template, a), b);
    match n.kind.as_str() {
        "consent.granted" => fill2(
            t.note_consent_granted,
            &partner,
            &t.consent_category(&s("category")),
        ),
        "consent.revoked" => fill2(
            t.note_consent_revoked,
            &partner,
            &t.consent_category(&s("category")),
        ),
        "order.written_off" => fill2(t.note_written_off, &product, &points),
        "order.refunded" => fill2(t.note_refunded, &product, &points),
        "order.expired" => fill2(t.note_expired, &product, &points),
        "points.awarded" => fill2(t.note_awarded, &points, &s("behaviour")),
        "points.held" => fill2(t.note_held, &s("behaviour"), &points),
        "record.rejected" => fill2(t.note_rejected, &s("behaviour"), &s("reason")),
        "points.expiring" => {
            let when = fill2(t.note_points_expiring, &points, &s("on"));
            t.fill(&when, t.book(&s("book")))
        }
        "voucher.expiring" => fill2(
            t.note_voucher_expiring,
            &product,
            &local_time(&s("expires_at")),
        ),
        other => other.to_owned(),
    }
}

/// `GET /me/notifications`.
pub(crate) async fn inbox(ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let (list, partners) = tokio::join!(
        ctx.get::<Notifications>("/v1/me/notifications?page_size=100"),
        ctx.public::<Partners>(Method::GET, "/v1/partners", None),
    );
    let list = list?;
    let partners: HashMap<String, String> = partners
        .map(|p| {
            p.partners
                .into_iter()
                .map(|p| (p.partner_id, p.name))
                .collect()
        })
        .unwrap_or_default();
    Ok(render(&InboxPage {
        c: ctx.chrome(t.notifications, "/me/notifications"),
        lines: list
            .notifications
            .iter()
            .map(|n| Line {
                text: text(t, n, &partners),
                when: local_time(&n.created_at),
                unread: !n.read,
            })
            .collect(),
        unread: list.unread,
    }))
}

/// `POST /me/notifications/read`: all of them read.
pub(crate) async fn read_all(
    ctx: Ctx,
    Posted(_): Posted<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    ctx.api::<Value>(
        Method::POST,
        "/v1/me/notifications/read",
        Some(&serde_json::json!({})),
        None,
    )
    .await?;
    Ok(Redirect::to("/me/notifications").into_response())
}
