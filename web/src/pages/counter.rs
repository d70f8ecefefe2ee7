//! The merchant's counter: scan or type a voucher, see what it is for (product, the resident's
//! masked name, status, expiry) before handing anything over, write it off once; today's orders;
//! the monthly statement, and its CSV. The voucher code travels only in forms (POST), never in a
//! page's address.

use askama::Template;
use axum::{
    extract::Query,
    http::StatusCode,
    http::{HeaderValue, Method, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use crate::{
    api::{ApiError, segment, with_query},
    ctx::{Chrome, Ctx, PageError, Posted, render},
    i18n::{Msgs, grouped, local_time, today, yuan},
    session::Role,
};

#[derive(Debug, Deserialize)]
struct Order {
    status: String,
    product_title: String,
    quantity: u32,
    points: u64,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    resolved_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Orders {
    orders: Vec<Order>,
}

struct TodayLine {
    title: String,
    points: String,
    status: String,
    status_text: &'static str,
    when: String,
}

#[derive(Template)]
#[template(path = "counter.html")]
struct CounterPage {
    c: Chrome,
    code: String,
    error: Option<String>,
    today: Vec<TodayLine>,
}

async fn counter_page(
    ctx: &Ctx,
    code: String,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = ctx.t();
    let list: Orders = ctx.get("/v1/merchant/orders?page_size=100").await?;
    let day = today().to_string();
    let today = list
        .orders
        .iter()
        .filter(|o| {
            o.created_at
                .as_deref()
                .or(o.resolved_at.as_deref())
                .is_some_and(|at| local_time(at).starts_with(&day))
        })
        .map(|o| TodayLine {
            title: format!("{} × {}", o.product_title, o.quantity),
            points: t.points_yuan(o.points),
            status: o.status.clone(),
            status_text: t.order_status(&o.status),
            when: o.created_at.as_deref().map(local_time).unwrap_or_default(),
        })
        .collect();
    let invalid = error.is_some();
    let mut r = render(&CounterPage {
        c: ctx.chrome(t.counter, "/counter"),
        code,
        error,
        today,
    });
    if invalid {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

/// `GET /counter`.
pub(crate) async fn counter(ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Merchant])?;
    counter_page(&ctx, String::new(), None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    code: String,
}

#[derive(Debug, Deserialize)]
struct Voucher {
    #[serde(flatten)]
    order: Order,
    resident_name_masked: String,
    can_write_off: bool,
}

#[derive(Template)]
#[template(path = "voucher.html")]
struct VoucherPage {
    c: Chrome,
    code: String,
    title: String,
    resident: String,
    points: String,
    status: String,
    status_text: &'static str,
    expires: String,
    can_write_off: bool,
    key: String,
    /// After a write-off: the outcome.
    result: Option<(bool, String)>,
}

/// A refusal of the counter, in the page's language.
fn refusal(t: &Msgs, e: &ApiError) -> Option<String> {
    let ApiError::Problem(p) = e else { return None };
    match p.status {
        404 => Some(t.not_found_text.to_owned()),
        403 => Some(t.not_your_voucher.to_owned()),
        400 => Some(t.bad_code.to_owned()),
        422 => Some(format!(
            "{}{}",
            t.cannot_write_off,
            p.order_status
                .as_deref()
                .map(|s| t.order_status(s).to_owned())
                .unwrap_or_else(|| p.detail.clone().unwrap_or_default())
        )),
        _ => None,
    }
}

/// `POST /counter/voucher`: what a voucher is for, before anything is handed over.
pub(crate) async fn voucher(
    ctx: Ctx,
    Posted(form): Posted<CodeForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Merchant])?;
    let t = ctx.t();
    let code = form.code.trim().to_owned();
    if code.is_empty() {
        return counter_page(&ctx, code, Some(t.bad_code.to_owned())).await;
    }
    let v: Result<Voucher, ApiError> = ctx
        .get(&format!("/v1/merchant/vouchers/{}", segment(&code)))
        .await;
    match v {
        Ok(v) => Ok(render(&voucher_page(&ctx, code, v, None))),
        Err(e) => match refusal(t, &e) {
            Some(why) => counter_page(&ctx, code, Some(why)).await,
            None => Err(e.into()),
        },
    }
}

fn voucher_page(
    ctx: &Ctx,
    code: String,
    v: Voucher,
    result: Option<(bool, String)>,
) -> VoucherPage {
    let t = ctx.t();
    VoucherPage {
        c: ctx.chrome(t.counter, "/counter"),
        code,
        title: format!("{} × {}", v.order.product_title, v.order.quantity),
        resident: v.resident_name_masked,
        points: t.points_yuan(v.order.points),
        status_text: t.order_status(&v.order.status),
        status: v.order.status,
        expires: v
            .order
            .expires_at
            .as_deref()
            .map(local_time)
            .unwrap_or_default(),
        can_write_off: v.can_write_off && result.is_none(),
        key: ctx.web().keys.random_token(18),
        result,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct WriteOffForm {
    code: String,
    key: String,
}

#[derive(Debug, Deserialize)]
struct WrittenOff {
    #[serde(flatten)]
    order: Order,
}

/// `POST /counter/write-off`: exactly one press writes a voucher off; a second till or a resent
/// form is told what happened (the form's key makes a retry of the same press answer the same).
pub(crate) async fn write_off(
    ctx: Ctx,
    Posted(form): Posted<WriteOffForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Merchant])?;
    let t = ctx.t();
    let path = format!(
        "/v1/merchant/vouchers/{}/write-off",
        segment(form.code.trim())
    );
    let done: Result<WrittenOff, ApiError> =
        ctx.api(Method::POST, &path, None, Some(&form.key)).await;
    let (voucher, result) = match done {
        Ok(w) => (
            Voucher {
                order: w.order,
                resident_name_masked: String::new(),
                can_write_off: false,
            },
            (true, t.written_off_ok.to_owned()),
        ),
        Err(e) => match refusal(t, &e) {
            Some(why) => {
                let v: Voucher = ctx
                    .get(&format!(
                        "/v1/merchant/vouchers/{}",
                        segment(form.code.trim())
                    ))
                    .await?;
                (v, (false, why))
            }
            None => return Err(e.into()),
        },
    };
    let mut page = voucher_page(&ctx, form.code.trim().to_owned(), voucher, Some(result));
    if page.resident.is_empty() {
        // The write-off answers the order; the masked name comes from the voucher.
        if let Ok(v) = ctx
            .get::<Voucher>(&format!(
                "/v1/merchant/vouchers/{}",
                segment(form.code.trim())
            ))
            .await
        {
            page.resident = v.resident_name_masked;
        }
    }
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
struct Statement {
    period: String,
    status: String,
    written_off: u32,
    refunded: u32,
    points: u64,
    #[serde(default)]
    lines: Vec<StatementLine>,
}

#[derive(Debug, Deserialize)]
struct StatementLine {
    product_title: String,
    quantity: u32,
    points: u64,
    #[serde(default)]
    written_off_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Statements {
    statements: Vec<Statement>,
}

#[derive(Template)]
#[template(path = "statement.html")]
struct StatementPage {
    c: Chrome,
    period: String,
    summary: Option<(String, String, u32, u32, String)>,
    lines: Vec<(String, String, String)>,
    csv: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PeriodQuery {
    #[serde(default)]
    period: String,
}

/// `2026-12`, or this month in Shanghai when `given` is not a month.
fn month_or_now(given: &str) -> String {
    let ok = given.len() == 7
        && given.as_bytes()[4] == b'-'
        && given
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 4 || b.is_ascii_digit());
    if ok {
        given.to_owned()
    } else {
        today().format("%Y-%m").to_string()
    }
}

/// `GET /counter/statement?period=`: one month's statement with its lines.
pub(crate) async fn statement(
    ctx: Ctx,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Merchant])?;
    let t = ctx.t();
    let period = month_or_now(&q.period);
    let list: Statements = ctx
        .get(&with_query(
            "/v1/merchant/settlements",
            &[("period", &period)],
        ))
        .await?;
    let s = list.statements.into_iter().find(|s| s.period == period);
    Ok(render(&StatementPage {
        c: ctx.chrome(t.statement, "/counter/statement"),
        csv: with_query("/counter/statement.csv", &[("period", &period)]),
        summary: s.as_ref().map(|s| {
            (
                s.status.clone(),
                t.points_yuan(s.points),
                s.written_off,
                s.refunded,
                yuan(s.points),
            )
        }),
        lines: s
            .map(|s| {
                s.lines
                    .into_iter()
                    .map(|l| {
                        (
                            l.written_off_at
                                .as_deref()
                                .map(local_time)
                                .unwrap_or_default(),
                            format!("{} × {}", l.product_title, l.quantity),
                            grouped(l.points),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        period,
    }))
}

/// `GET /counter/statement.csv?period=`: the month's lines as the gateway's CSV, downloaded.
pub(crate) async fn statement_csv(
    ctx: Ctx,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Merchant])?;
    let period = month_or_now(&q.period);
    let (content_type, body) = ctx
        .download(&with_query(
            "/v1/merchant/settlements",
            &[("period", &period), ("format", "csv")],
        ))
        .await?;
    let disposition = format!("attachment; filename=\"statement-{period}.csv\"");
    let mut r = body.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_period_is_a_month_or_this_month() {
        assert_eq!(super::month_or_now("2026-11"), "2026-11");
        for bad in ["2026-1", "2026/11", "", "abcd-ef", "2026-11-01"] {
            assert_eq!(super::month_or_now(bad).len(), 7, "{bad}");
            assert_ne!(super::month_or_now(bad), bad);
        }
    }
}
