//! `POST /v1/admin/imports/balances`: the points residents held on the city's earlier platform.
//! Each line names its resident by ID number (identity finds them) and goes to the ledger as an
//! opening balance: a transfer from the book's migration account, imported once per source
//! record. Residents are imported first.

use axum::{body::Body, extract::State, http::HeaderMap, response::Response};
use healthpoints_proto::{identity::v1 as identity_pb, ledger::v1 as pb};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Format, ImportQuery, Imported, Kind, row, start};
use crate::body::Params;
use crate::{
    AppState,
    auth::{Admin, Caller},
    error::HttpResult,
};

/// One opening balance of an NDJSON file (a CSV file has these columns; `expires_on` may be
/// left empty).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceRow {
    /// The earlier platform's id of the record (1 to 128 characters): imported once.
    #[schema(min_length = 1, max_length = 128)]
    pub record_id: String,
    /// The resident's 18-character ID number (the resident was imported or registered before).
    pub id_number: String,
    /// `city` or `district:<code>`.
    #[schema(value_type = crate::routes::views::BookName)]
    pub book: String,
    /// Points, at least 1.
    #[schema(minimum = 1)]
    pub points: u64,
    /// `YYYY-MM-DD` (Asia/Shanghai): the day the points expire, at its end; not a day already
    /// ended. Empty or absent: never.
    #[serde(default)]
    pub expires_on: String,
}

/// A CSV file of opening balances: a header line naming the columns (in this order or any
/// other), then a balance per line.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, pattern = "^record_id,id_number,book,points,expires_on\r?\n")]
pub struct BalancesCsv(#[allow(dead_code)] String);

/// Opening balances: residents found by identity, balances written by the ledger.
pub(super) struct Balances;

impl Kind for Balances {
    type Item = BalanceRow;
    const WHAT: &'static str = "opening balances";
    const COLUMNS: &'static [&'static str] =
        &["record_id", "id_number", "book", "points", "expires_on"];

    fn parse(format: &Format, line: &str) -> Result<Self::Item, (String, String)> {
        let mut points_unreadable = false;
        let parsed = row(format, line, Self::COLUMNS, |f| {
            let [record_id, id_number, book, points, expires_on] =
                <[String; 5]>::try_from(f).unwrap_or_default();
            let points = points.parse().unwrap_or_else(|_| {
                points_unreadable = true;
                0
            });
            BalanceRow {
                record_id,
                id_number,
                book,
                points,
                expires_on,
            }
        })?;
        if points_unreadable {
            return Err(("points".into(), "must be a whole number of points".into()));
        }
        Ok(parsed)
    }

    async fn import(
        state: &AppState,
        caller: &Caller,
        rows: Vec<Self::Item>,
    ) -> Result<Vec<Imported>, tonic::Status> {
        let id_numbers = rows.iter().map(|r| r.id_number.clone()).collect();
        let found = state
            .identity()
            .find_residents(caller.request(identity_pb::FindResidentsRequest { id_numbers }))
            .await?
            .into_inner()
            .resident_ids;
        // Each row: the balance to import, or why not (the resident was not found).
        let mut results: Vec<Option<Imported>> = Vec::with_capacity(rows.len());
        let mut balances = Vec::new();
        for (row, resident_id) in rows.into_iter().zip(found) {
            if resident_id.is_empty() {
                results.push(Some(Imported::refused(
                    "id_number",
                    "names no resident you administer: import the residents first",
                )));
                continue;
            }
            results.push(None);
            balances.push(pb::OpeningBalance {
                record_id: row.record_id,
                resident_id,
                book: row.book,
                points: row.points,
                expires_on: row.expires_on,
            });
        }
        let mut written = if balances.is_empty() {
            Vec::new()
        } else {
            state
                .ledger()
                .import_opening_balances(
                    caller.request(pb::ImportOpeningBalancesRequest { balances }),
                )
                .await?
                .into_inner()
                .results
        }
        .into_iter();
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    let w = written.next().unwrap_or_default();
                    Imported {
                        outcome: w.outcome,
                        field: w.field,
                        reason: w.reason,
                        ..Imported::default()
                    }
                })
            })
            .collect())
    }
}

/// Imports residents' opening balances from a file of the city's earlier platform: NDJSON or
/// CSV, as for residents. Each balance names its resident by ID number and becomes a transfer
/// from its book's migration account (rule `opening-balance`), once per `record_id`: sending a
/// record again answers `exists`, sending it with other values is refused. City admin, or a
/// district's admin for its district's book and residents.
#[utoipa::path(post, path = "/v1/admin/imports/balances", tag = "admin", security(("bearer" = [])), params(ImportQuery),
    request_body(content((BalanceRow = "application/x-ndjson"), (BalancesCsv = "text/csv"))),
    responses((status = 200, content((super::ImportLine = "application/x-ndjson")), description = "a result per line, then a summary"),
        (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub async fn balances(
    State(state): State<AppState>,
    Admin(caller): Admin,
    headers: HeaderMap,
    Params(q): Params<ImportQuery>,
    body: Body,
) -> HttpResult<Response> {
    start::<Balances>(state, caller, &headers, q, body).await
}
