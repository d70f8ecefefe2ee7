//! A resident's rights over their account and data (PIPL Articles 44–47): changing their
//! password (`PUT /v1/me/password`), resetting a forgotten one with a code sent to their phone
//! (`POST /v1/auth/password-reset`, then `…/confirm`) — identity checks, throttles and signs
//! every other session out — and downloading everything the programme holds about them
//! (`GET /v1/me/export`, JSON or CSV), gathered from the same routes that show it piece by
//! piece. See docs/security.md.

// utoipa's `params(…Query)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use std::future::Future;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use healthpoints_errors::ApiError;
use healthpoints_proto::identity::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    auth::{TokenResponse, token_response},
    behaviours::{self, OutcomeView},
    consent::{self, AccessEntryView, AccessQuery, ConsentView},
    mall::{self, OrderView, OrdersQuery},
    me::ResidentView,
    notify::{self, NotificationView, NotificationsQuery},
    points::{self, BalanceView, TransactionView, TransactionsQuery},
    views::csv_field,
};
use crate::{
    AppState,
    auth::{ClientAddr, Resident},
    body::{JsonBody, Params, Segments},
    error::{HttpResult, Problem, no_content},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    #[schema(min_length = 1, pattern = "\\S")]
    pub current_password: String,
    /// At least 8 characters with a letter and a digit; not the current one (422).
    #[schema(
        min_length = 8,
        max_length = 128,
        pattern = "^([\\s\\S]*[A-Za-z][\\s\\S]*[0-9][\\s\\S]*|[\\s\\S]*[0-9][\\s\\S]*[A-Za-z][\\s\\S]*)$"
    )]
    pub new_password: String,
}

/// Changes my password. Every session of the account — on every device — is signed out; the
/// answer is a new session for this one. Access tokens already issued run out by themselves
/// (within `tokens.access_ttl_seconds`).
#[utoipa::path(put, path = "/v1/me/password", tag = "resident", security(("bearer" = [])), request_body = PasswordChange,
    responses((status = 200, body = TokenResponse),
        (status = 400, body = Problem, description = "`new_password` is too weak"),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "`current_password` is not the account's, or `new_password` is the same"),
        (status = 423, body = Problem, description = "locked after repeated wrong passwords"),
        (status = 429, body = Problem, description = "too many attempts")))]
pub async fn change_password(
    State(state): State<AppState>,
    Resident { caller, .. }: Resident,
    ClientAddr(addr): ClientAddr,
    JsonBody(r): JsonBody<PasswordChange>,
) -> HttpResult<Json<TokenResponse>> {
    let response = state
        .identity()
        .change_password(caller.request(pb::ChangePasswordRequest {
            current_password: r.current_password,
            new_password: r.new_password,
            client_address: addr,
        }))
        .await?
        .into_inner();
    token_response(response.tokens)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordResetRequest {
    /// The mainland mobile number the account was registered with.
    #[schema(pattern = "^1[3-9][0-9]{9}$")]
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetSent {
    /// How long the code is valid.
    pub code_ttl_seconds: u32,
}

/// Asks for a one-time code to reset a forgotten password, sent to the phone by text message.
/// The answer is the same whether or not the number is registered. 422 where no text-message
/// sender is configured: a health station resets a password after an ID check.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses((status = 202, body = PasswordResetSent),
        (status = 400, body = Problem, description = "`phone` is not a mobile number"),
        (status = 422, body = Problem, description = "no text-message sender here"),
        (status = 429, body = Problem, description = "too many requests")))]
pub async fn request_reset(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    JsonBody(r): JsonBody<PasswordResetRequest>,
) -> HttpResult<(StatusCode, Json<PasswordResetSent>)> {
    let response = state
        .identity()
        .request_password_reset(pb::RequestPasswordResetRequest {
            phone: r.phone,
            client_address: addr,
        })
        .await?
        .into_inner();
    Ok((
        StatusCode::ACCEPTED,
        Json(PasswordResetSent {
            code_ttl_seconds: response.code_ttl_seconds,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordResetConfirm {
    #[schema(pattern = "^1[3-9][0-9]{9}$")]
    pub phone: String,
    /// The 6 digits sent.
    #[schema(pattern = "^[0-9]{6}$")]
    pub code: String,
    /// At least 8 characters with a letter and a digit.
    #[schema(
        min_length = 8,
        max_length = 128,
        pattern = "^([\\s\\S]*[A-Za-z][\\s\\S]*[0-9][\\s\\S]*|[\\s\\S]*[0-9][\\s\\S]*[A-Za-z][\\s\\S]*)$"
    )]
    pub new_password: String,
}

/// Sets a new password with the code. Every session of the account is signed out; sign in
/// with the new password. A wrong, expired or used-up code is 422 (`code`); five wrong codes
/// void it.
#[utoipa::path(post, path = "/v1/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses((status = 204),
        (status = 400, body = Problem, description = "a field is invalid"),
        (status = 403, body = Problem, description = "account suspended"),
        (status = 422, body = Problem, description = "the code is wrong, expired, used or void (`code`)"),
        (status = 429, body = Problem, description = "too many attempts")))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    JsonBody(r): JsonBody<PasswordResetConfirm>,
) -> HttpResult<StatusCode> {
    state
        .identity()
        .confirm_password_reset(pb::ConfirmPasswordResetRequest {
            phone: r.phone,
            code: r.code,
            new_password: r.new_password,
            client_address: addr,
        })
        .await?;
    Ok(no_content())
}

/// How many pages (of 200) of each list an export reads at most.
const MAX_PAGES: usize = 250;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `json` (default) or `csv` (one table: section, time, what, points, book, reference,
    /// detail).
    #[serde(default)]
    pub format: Option<String>,
}

/// One book's points history.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookHistory {
    pub book: String,
    pub transactions: Vec<TransactionView>,
}

/// Everything the programme holds about me, as I can read it (PIPL Article 45).
#[derive(Debug, Serialize, ToSchema)]
pub struct MyData {
    /// RFC 3339.
    pub exported_at: String,
    /// False when a list could not be read in full (a mall that did not answer is named in
    /// `unavailable`; a list longer than 50,000 lines is cut there).
    pub complete: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
    /// ID and phone numbers masked, as everywhere.
    pub profile: ResidentView,
    pub balances: Vec<BalanceView>,
    pub points_history: Vec<BookHistory>,
    /// Every behaviour reported, with its outcome.
    pub behaviours: Vec<OutcomeView>,
    pub orders: Vec<OrderView>,
    pub consents: Vec<ConsentView>,
    /// Who read or changed my data.
    pub access_log: Vec<AccessEntryView>,
    pub notifications: Vec<NotificationView>,
}

/// Reads a list to its end (or [`MAX_PAGES`]): `page` answers one page and the next cursor.
async fn every_page<T, F, Fut>(complete: &mut bool, mut page: F) -> HttpResult<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = HttpResult<(Vec<T>, Option<String>)>>,
{
    let mut all = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let (items, next) = page(cursor.take()).await?;
        all.extend(items);
        match next {
            Some(c) if !c.is_empty() => cursor = Some(c),
            _ => return Ok(all),
        }
    }
    *complete = false;
    Ok(all)
}

/// Every order of mine in every mall, and the malls that did not answer (then `complete` is
/// false).
async fn all_orders(
    state: &AppState,
    me: &Resident,
    complete: &mut bool,
) -> HttpResult<(Vec<OrderView>, Vec<String>)> {
    let unavailable = std::sync::Mutex::new(Vec::new());
    let orders = every_page(complete, |cursor| {
        let q = OrdersQuery {
            mall: None,
            cursor,
            page_size: Some(200),
        };
        let (st, me) = (State(state.clone()), me.clone());
        let unavailable = &unavailable;
        async move {
            let Json(p) = mall::my_orders(st, me, Params(q)).await?;
            unavailable
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(p.unavailable);
            Ok((p.orders, p.next_cursor))
        }
    })
    .await?;
    let mut unavailable = unavailable
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    unavailable.sort();
    unavailable.dedup();
    *complete &= unavailable.is_empty();
    Ok((orders, unavailable))
}

/// Downloads everything the programme holds about me: profile (masked), balances, points
/// history of every book, behaviours and their outcomes, orders, consents, who read my data,
/// and my messages — as JSON, or with `format=csv` as one table.
#[utoipa::path(get, path = "/v1/me/export", tag = "resident", security(("bearer" = [])), params(ExportQuery),
    responses((status = 200, content((MyData = "application/json"), (String = "text/csv")), description = "my data; with `format=csv`, one table"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 429, body = Problem, description = "exported too often (`http.rate_limits.export`)")))]
pub async fn export(
    State(state): State<AppState>,
    me: Resident,
    Params(q): Params<ExportQuery>,
) -> HttpResult<Response> {
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::invalid("format", "must be json or csv").into()),
    };
    state.throttle().admit_export(me.id)?;
    let mut complete = true;
    let st = || State(state.clone());
    let Json(profile) = super::me::me(st(), me.clone()).await?;
    let Json(balances) = points::balances(st(), me.clone()).await?;
    let mut points_history = Vec::new();
    for b in &balances.balances {
        let transactions = every_page(&mut complete, |cursor| {
            let q = TransactionsQuery {
                book: Some(b.book.clone()),
                kind: None,
                cursor,
                page_size: Some(200),
            };
            let (st, me) = (st(), me.clone());
            async move {
                let Json(p) = points::transactions(st, me, Params(q)).await?;
                Ok((p.transactions, p.next_cursor))
            }
        })
        .await?;
        points_history.push(BookHistory {
            book: b.book.clone(),
            transactions,
        });
    }
    let behaviours = every_page(&mut complete, |cursor| {
        let q = behaviours::PageQuery {
            cursor,
            page_size: Some(200),
        };
        let (st, me) = (st(), me.clone());
        async move {
            let Json(p) = behaviours::behaviours(st, me, Params(q)).await?;
            Ok((p.outcomes, p.next_cursor))
        }
    })
    .await?;
    let (orders, unavailable) = all_orders(&state, &me, &mut complete).await?;
    let Json(consents) = consent::list(st(), me.clone()).await?;
    let access_log = every_page(&mut complete, |cursor| {
        let q = AccessQuery {
            partner_id: None,
            resident_id: None,
            station: None,
            from: None,
            to: None,
            cursor,
            page_size: Some(200),
        };
        let (st, me) = (st(), me.clone());
        async move {
            let Json(p) = consent::mine(st, me, Params(q)).await?;
            Ok((p.entries, p.next_cursor))
        }
    })
    .await?;
    let notifications = every_page(&mut complete, |cursor| {
        let q = NotificationsQuery {
            unread: None,
            cursor,
            page_size: Some(200),
        };
        let (st, me) = (st(), me.clone());
        async move {
            let Json(p) = notify::notifications(st, me, Params(q)).await?;
            Ok((p.notifications, p.next_cursor))
        }
    })
    .await?;
    let data = MyData {
        exported_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        complete,
        unavailable,
        profile,
        balances: balances.balances,
        points_history,
        behaviours,
        orders,
        consents: consents.consents,
        access_log,
        notifications,
    };
    tracing::info!(complete = data.complete, "a resident downloaded their data");
    if !csv {
        return Ok(([(header::CACHE_CONTROL, "no-store")], Json(data)).into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"healthpoints-my-data.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        table(&data),
    )
        .into_response())
}

/// My data as one CSV table: a line per fact, its section first.
fn table(d: &MyData) -> String {
    let mut out = String::from("section,at,what,points,book,reference,detail\n");
    let mut line = |cells: [&str; 7]| {
        let cells: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    };
    let p = &d.profile;
    for (what, value) in [
        ("resident_id", p.resident_id.as_str()),
        ("name", &p.name),
        ("id_number", &p.id_number_masked),
        ("phone", &p.phone_masked),
        ("birth_date", &p.birth_date),
        ("residence_district", &p.residence_district),
        ("residence_type", &p.residence_type),
        ("status", &p.status),
    ] {
        line(["profile", &p.registered_at, what, "", "", "", value]);
    }
    if let Some(f) = &p.family_doctor {
        line([
            "profile",
            "",
            "family_doctor",
            "",
            "",
            &f.institution_code,
            &f.institution_name,
        ]);
    }
    for b in &d.balances {
        let posted = b.posted.to_string();
        line([
            "balance",
            &d.exported_at,
            "posted",
            &posted,
            &b.book,
            "",
            "",
        ]);
    }
    for h in &d.points_history {
        for t in &h.transactions {
            let points = t.points.to_string();
            line([
                "points",
                &t.at,
                &t.kind,
                &points,
                &h.book,
                &t.transfer_id,
                &t.reason,
            ]);
        }
    }
    for o in &d.behaviours {
        let points = o.points.to_string();
        let at = o.occurred_at.clone().unwrap_or_default();
        let book = o.book.clone().unwrap_or_default();
        let detail = format!("{} {}", o.behaviour, o.reason.clone().unwrap_or_default());
        line([
            "behaviour",
            &at,
            &o.outcome,
            &points,
            &book,
            &o.record_id,
            detail.trim(),
        ]);
    }
    for o in &d.orders {
        let points = o.points.to_string();
        let at = o.created_at.clone().unwrap_or_default();
        let detail = format!("{} × {}", o.product_title, o.quantity);
        line([
            "order",
            &at,
            &o.status,
            &points,
            &o.mall,
            &o.order_id,
            &detail,
        ]);
    }
    for c in &d.consents {
        let at = c.granted_at.clone().unwrap_or_default();
        let what = if c.active { "granted" } else { "revoked" };
        line(["consent", &at, what, "", "", &c.partner_id, &c.category]);
    }
    for a in &d.access_log {
        let at = a.at.clone().unwrap_or_default();
        let records = a.records.to_string();
        line(["access", &at, &a.action, &records, "", &a.actor, &a.detail]);
    }
    for n in &d.notifications {
        let data = n.data.to_string();
        line([
            "message",
            &n.created_at,
            &n.kind,
            "",
            "",
            &n.notification_id,
            &data,
        ]);
    }
    out
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CloseAccount {
    #[schema(min_length = 1, pattern = "\\S")]
    pub password: String,
    /// Cancel my vouchers not used yet (their points come back first); left out or false, they
    /// stay usable at the counter until they expire.
    #[serde(default)]
    pub cancel_open_orders: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountClosed {
    /// RFC 3339.
    pub closed_at: String,
    /// RFC 3339: when my personal data is erased.
    pub erase_after: String,
    /// The orders cancelled on my request.
    pub cancelled_orders: Vec<String>,
    /// Vouchers still open: usable at the counter until they expire (points come back then).
    pub open_orders: Vec<String>,
    /// The consents withdrawn with the account (each partner hears `consent.revoked`).
    pub consents_revoked: u32,
    /// False when a mall or the exchange did not answer: some orders may be in neither list, or
    /// a consent not yet withdrawn — `unavailable` says which; an admin can finish it.
    pub complete: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
}

/// Closes my account (with my password): no more sign-ins, earning or orders, every session
/// signed out, every consent withdrawn; my vouchers stay usable, or are cancelled right after
/// the close when I ask; my personal data is erased after the retention period
/// (`erase_after`). The ledger keeps its entries under my pseudonymous id, so the books still
/// balance.
#[utoipa::path(post, path = "/v1/me/close", tag = "resident", security(("bearer" = [])), request_body = CloseAccount,
    responses((status = 200, body = AccountClosed),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "`password` is not the account's, or the account is not active"),
        (status = 423, body = Problem, description = "locked after repeated wrong passwords"),
        (status = 429, body = Problem, description = "too many attempts")))]
pub async fn close(
    State(state): State<AppState>,
    me: Resident,
    ClientAddr(addr): ClientAddr,
    JsonBody(r): JsonBody<CloseAccount>,
) -> HttpResult<Json<AccountClosed>> {
    // The vouchers still open, read while the account is: the access token outlives the close
    // by minutes, and a cancellation needs no more.
    let mut complete = true;
    let (orders, mut unavailable) = all_orders(&state, &me, &mut complete).await?;
    let open: Vec<OrderView> = orders
        .into_iter()
        .filter(|o| o.status == "reserved")
        .collect();
    let Json(consents) = consent::list(State(state.clone()), me.clone()).await?;
    let closed = state
        .identity()
        .close_account(me.caller.request(pb::CloseAccountRequest {
            password: r.password,
            client_address: addr,
        }))
        .await?
        .into_inner();
    let (mut cancelled_orders, mut open_orders) = (Vec::new(), Vec::new());
    for o in open {
        if r.cancel_open_orders
            && mall::cancel(
                State(state.clone()),
                me.clone(),
                Segments(o.order_id.clone()),
            )
            .await
            .is_ok()
        {
            cancelled_orders.push(o.order_id);
        } else {
            open_orders.push(o.order_id);
        }
    }
    // Nobody reads a closed account's data any more: every partner hears it at once.
    let mut consents_revoked = 0;
    for c in consents.consents.into_iter().filter(|c| c.active) {
        let which = Segments((c.partner_id, c.category));
        match consent::revoke(State(state.clone()), me.clone(), which).await {
            Ok(_) => consents_revoked += 1,
            Err(_) => unavailable.push("exchange".to_owned()),
        }
    }
    unavailable.sort();
    unavailable.dedup();
    complete &= unavailable.is_empty();
    let time = |t| super::views::rfc3339(t).ok_or_else(ApiError::internal);
    Ok(Json(AccountClosed {
        closed_at: time(closed.closed_at)?,
        erase_after: time(closed.erase_after)?,
        cancelled_orders,
        open_orders,
        consents_revoked,
        complete,
        unavailable,
    }))
}
