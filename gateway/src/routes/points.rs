//! Points: a resident's balances and history, a book's figures for admins. Amounts are integer
//! points; `yuan` is the decimal value at 100 points = ¥1, as a string ("12.34").

// utoipa's `params(TransactionsQuery)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use axum::{Json, extract::State};
use healthpoints_errors::ApiError;
use healthpoints_proto::{
    common::v1::PageRequest,
    ledger::v1::{self as pb, list_account_history_request::Account},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::views::yuan;
use crate::body::{Params, Segments};
use crate::{
    AppState,
    auth::{Admin, Caller, Resident},
    error::{HttpResult, Problem},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceView {
    /// `city` or `district:<code>`.
    pub book: String,
    /// Points held.
    pub posted: u64,
    /// Points reserved by open orders.
    pub pending: u64,
    /// Points that can be spent now.
    pub available: u64,
    /// `available` in yuan.
    pub yuan: String,
    /// The points of `available` that expire, soonest first: they can be spent until the end of
    /// `on` (Asia/Shanghai). The rest never expire.
    pub expiring: Vec<ExpiringView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExpiringView {
    pub points: u64,
    /// `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub on: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Balances {
    pub balances: Vec<BalanceView>,
}

/// The caller's points in every book. A book where they never earned does not appear.
#[utoipa::path(get, path = "/v1/me/balances", tag = "resident", security(("bearer" = [])),
    responses((status = 200, body = Balances), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn balances(
    State(state): State<AppState>,
    Resident { caller, id }: Resident,
) -> HttpResult<Json<Balances>> {
    Ok(Json(balances_of(&state, &caller, id).await?))
}

/// A resident's balances, asked with `caller`'s token (the resident's, or a counter's delegated
/// one).
pub(crate) async fn balances_of(
    state: &AppState,
    caller: &Caller,
    id: uuid::Uuid,
) -> HttpResult<Balances> {
    let owner_id = id.to_string();
    let balances = state
        .ledger()
        .get_balances(caller.request(pb::GetBalancesRequest { owner_id }))
        .await?
        .into_inner()
        .balances;
    Ok(Balances {
        balances: balances
            .into_iter()
            .map(|b| BalanceView {
                yuan: yuan(b.available),
                book: b.book,
                posted: b.posted,
                pending: b.pending,
                available: b.available,
                expiring: b
                    .expiring
                    .into_iter()
                    .map(|e| ExpiringView {
                        points: e.points,
                        on: e.on,
                    })
                    .collect(),
            })
            .collect(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransactionsQuery {
    /// `city` (default) or `district:<code>`.
    #[serde(default)]
    pub book: Option<String>,
    /// `award`, `redeem`, `refund`, `expire`, `adjust` or `settle`.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default, deserialize_with = "super::views::page_size")]
    pub page_size: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionView {
    pub transfer_id: String,
    /// `award`, `redeem`, …
    pub kind: String,
    /// What this line did to your points, signed: positive when points came in, negative
    /// when they went out. A reservation (an order waiting for its voucher to be used) moves
    /// nothing here — its post does, once — so the sum over a book's whole history is your
    /// `posted` balance.
    pub points: i64,
    /// Reservations only: the points set aside, signed (e.g. -300), whatever became of them.
    /// Summed over the reservations still `pending`, it is your `pending` balance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_points: Option<i64>,
    /// For reservations: `pending`, `posted`, `voided` or `expired`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<String>,
    /// Who was on the other side: `issuance`, `merchant_payable`, …
    pub counterparty: String,
    pub reason: String,
    /// RFC 3339.
    pub at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Transactions {
    pub transactions: Vec<TransactionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn kind_name(v: i32) -> String {
    pb::TransferKind::try_from(v)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("TRANSFER_KIND_")
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

fn kind_value(name: &str) -> Option<i32> {
    pb::TransferKind::from_str_name(&format!("TRANSFER_KIND_{}", name.to_ascii_uppercase()))
        .filter(|k| *k != pb::TransferKind::Unspecified)
        .map(|k| k as i32)
}

/// The caller's transactions in one book, newest first.
#[utoipa::path(get, path = "/v1/me/transactions", tag = "resident", security(("bearer" = [])), params(TransactionsQuery),
    responses((status = 200, body = Transactions), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn transactions(
    State(state): State<AppState>,
    Resident { caller, id }: Resident,
    Params(q): Params<TransactionsQuery>,
) -> HttpResult<Json<Transactions>> {
    let owner_id = id.to_string();
    let kinds = match q.kind.as_deref() {
        None | Some("") => vec![],
        Some(k) => vec![kind_value(k).ok_or_else(|| {
            ApiError::invalid(
                "kind",
                "must be award, redeem, refund, expire, adjust or settle",
            )
        })?],
    };
    let response = state
        .ledger()
        .list_account_history(caller.request(pb::ListAccountHistoryRequest {
            account: Some(Account::OwnerBook(pb::OwnerBook {
                owner_id,
                book: q.book.unwrap_or_else(|| "city".into()),
            })),
            kinds,
            from: None,
            to: None,
            page: Some(PageRequest {
                page_size: q.page_size.unwrap_or_default(),
                cursor: q.cursor.unwrap_or_default(),
            }),
        }))
        .await;
    let response = match response {
        // No account in that book yet: nothing happened there.
        Err(status) if status.code() == tonic::Code::NotFound => {
            return Ok(Json(Transactions {
                transactions: vec![],
                next_cursor: None,
            }));
        }
        other => other?.into_inner(),
    };
    let transactions = response
        .entries
        .into_iter()
        .filter_map(|e| {
            let t = e.transfer?;
            let reservation = pb::PendingState::try_from(t.pending_state)
                .ok()
                .filter(|s| *s != pb::PendingState::Unspecified)
                .map(|s| {
                    s.as_str_name()
                        .trim_start_matches("PENDING_STATE_")
                        .to_ascii_lowercase()
                });
            Some(TransactionView {
                transfer_id: t.id,
                kind: kind_name(t.kind),
                points: e.posted_points,
                pending_points: e.pending_points,
                reservation,
                counterparty: pb::AccountKind::try_from(e.counterparty_kind)
                    .map(|k| {
                        k.as_str_name()
                            .trim_start_matches("ACCOUNT_KIND_")
                            .to_ascii_lowercase()
                    })
                    .unwrap_or_default(),
                reason: e.reason,
                at: t
                    .created_at
                    .and_then(|c| {
                        chrono::DateTime::from_timestamp(
                            c.seconds,
                            u32::try_from(c.nanos).unwrap_or_default(),
                        )
                    })
                    .map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
            })
        })
        .collect();
    let next = response
        .page
        .map(|p| p.next_cursor)
        .filter(|c| !c.is_empty());
    Ok(Json(Transactions {
        transactions,
        next_cursor: next,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookStats {
    pub book: String,
    pub issued: u64,
    pub redeemed: u64,
    pub refunded: u64,
    pub expired: u64,
    /// Points residents hold: the programme's liability.
    pub outstanding: u64,
    pub outstanding_yuan: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_left: Option<u64>,
    pub resident_accounts: u64,
    /// Points brought from the city's earlier platform as opening balances (always the whole
    /// history, like `outstanding`).
    pub migrated: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BookStatsQuery {
    /// `2026-11`: issued, redeemed, refunded and expired of that month (Asia/Shanghai) only.
    /// Outstanding points are always as of now.
    pub month: Option<String>,
}

/// A book's figures, of the whole history or of one month. City admins: any book; district
/// admins: their own.
#[utoipa::path(get, path = "/v1/admin/books/{book}/stats", tag = "admin", security(("bearer" = [])),
    params(("book" = String, Path, description = "`city` or `district:<code>`"), BookStatsQuery),
    responses((status = 200, body = BookStats), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn book_stats(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(book): Segments<String>,
    Params(q): Params<BookStatsQuery>,
) -> HttpResult<Json<BookStats>> {
    let s = state
        .ledger()
        .get_book_statistics(caller.request(pb::GetBookStatisticsRequest {
            book,
            month: q.month.unwrap_or_default(),
        }))
        .await?
        .into_inner();
    Ok(Json(BookStats {
        outstanding_yuan: yuan(s.outstanding),
        book: s.book,
        issued: s.issued,
        redeemed: s.redeemed,
        refunded: s.refunded,
        expired: s.expired,
        outstanding: s.outstanding,
        budget: s.budget,
        budget_left: s.budget_left,
        resident_accounts: s.resident_accounts,
        migrated: s.migrated,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_has_two_decimals_and_kinds_round_trip() {
        assert_eq!(yuan(1234), "12.34");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(kind_name(kind_value("redeem").unwrap()), "redeem");
        assert!(kind_value("gift").is_none());
    }
}
