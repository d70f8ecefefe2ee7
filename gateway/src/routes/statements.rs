//! Settlement as merchants and mall admins read it: a merchant's statements per period (JSON or
//! CSV), with their lines.

// utoipa's `params(...)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use axum::{
    Json,
    http::header,
    response::{IntoResponse, Response},
};
use healthpoints_errors::ApiError;
use healthpoints_proto::mall::v1::{self as pb};
use healthpoints_types::MallId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::mall::client;
use super::views::{rfc3339, some, yuan};
use crate::{AppState, auth::Caller, error::HttpResult};

#[derive(Debug, Serialize, ToSchema)]
pub struct StatementLineView {
    pub order_id: String,
    pub product_title: String,
    pub quantity: u32,
    pub points: u64,
    pub written_off_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded_at: Option<String>,
    /// The ledger transfer that posted the redemption.
    pub transfer_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatementView {
    pub merchant_id: String,
    /// `2026-11` (or `2026-W47` where a mall settles weekly).
    pub period: String,
    /// `open` or `closed`.
    pub status: String,
    pub written_off: u32,
    pub refunded: u32,
    pub redeemed_points: u64,
    pub refunded_points: u64,
    /// What the programme owes for the period: redeemed − refunded.
    pub points: u64,
    pub yuan: String,
    /// Refunds of orders from closed periods, taken back from earlier payments.
    pub clawed_back: u32,
    pub clawed_back_points: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settle_transfer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<StatementLineView>,
}

impl From<pb::SettlementStatement> for StatementView {
    fn from(s: pb::SettlementStatement) -> Self {
        Self {
            merchant_id: s.merchant_id,
            period: s.period,
            status: match pb::SettlementStatus::try_from(s.status).unwrap_or_default() {
                pb::SettlementStatus::Closed => "closed",
                _ => "open",
            }
            .to_owned(),
            written_off: s.written_off,
            refunded: s.refunded,
            redeemed_points: s.redeemed_points,
            refunded_points: s.refunded_points,
            yuan: yuan(s.points),
            points: s.points,
            clawed_back: s.clawed_back,
            clawed_back_points: s.clawed_back_points,
            settle_transfer_id: some(s.settle_transfer_id),
            closed_at: rfc3339(s.closed_at),
            lines: s
                .lines
                .into_iter()
                .map(|l| StatementLineView {
                    order_id: l.order_id,
                    product_title: l.product_title,
                    quantity: l.quantity,
                    points: l.points,
                    written_off_at: rfc3339(l.written_off_at),
                    refunded_at: rfc3339(l.refunded_at),
                    transfer_id: l.transfer_id,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Statements {
    pub statements: Vec<StatementView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementsQuery {
    /// One period, with its lines.
    #[serde(default)]
    pub period: Option<String>,
    /// `json` (default) or `csv` (one period's lines, for download).
    #[serde(default)]
    pub format: Option<String>,
}

/// An admin's view of one merchant's statements.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminStatementsQuery {
    /// Whose statements.
    pub merchant_id: String,
    /// One period, with its lines.
    #[serde(default)]
    pub period: Option<String>,
    /// `json` (default) or `csv` (one period's lines, for download).
    #[serde(default)]
    pub format: Option<String>,
}

/// One statement's lines as CSV, for the merchant's accounts.
fn csv(s: &StatementView) -> String {
    let field = super::views::csv_field;
    let mut out = String::from(
        "period,order_id,product,quantity,points,yuan,written_off_at,refunded_at,transfer_id\n",
    );
    for l in &s.lines {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            s.period,
            l.order_id,
            field(&l.product_title),
            l.quantity,
            l.points,
            yuan(l.points),
            l.written_off_at.clone().unwrap_or_default(),
            l.refunded_at.clone().unwrap_or_default(),
            l.transfer_id
        ));
    }
    out.push_str(&format!(
        "{},total,,{},{},{},,,\n",
        s.period, s.written_off, s.points, s.yuan
    ));
    out
}

pub(crate) async fn statements_of(
    state: &AppState,
    caller: &Caller,
    mall: MallId,
    merchant_id: String,
    period: Option<&str>,
    format: Option<&str>,
) -> HttpResult<Response> {
    let period = period.unwrap_or_default().to_owned();
    let r = client(state, mall)?
        .list_settlements(caller.request(pb::ListSettlementsRequest {
            merchant_id,
            period: period.clone(),
        }))
        .await?
        .into_inner();
    let statements: Vec<StatementView> = r.statements.into_iter().map(Into::into).collect();
    match format {
        None | Some("json") => Ok(Json(Statements { statements }).into_response()),
        Some("csv") if !period.is_empty() => {
            let body = statements.first().map(csv).unwrap_or_default();
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"statement-{period}.csv\""),
                    ),
                ],
                body,
            )
                .into_response())
        }
        Some("csv") => Err(ApiError::invalid("period", "a CSV download is of one period").into()),
        Some(_) => Err(ApiError::invalid("format", "must be json or csv").into()),
    }
}
