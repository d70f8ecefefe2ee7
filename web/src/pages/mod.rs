//! The pages, by who uses them: [`auth`] (sign-in, registration, language), [`resident`]
//! (points, check-in, history), [`inbox`] (their messages), [`profile`] (challenges, leaderboard, profile, consent and
//! the access log, the station code), [`shop`] (the routed mall, orders and vouchers),
//! [`counter`] (the merchant's till), [`station`] (the health-station counter), [`office`] (officials' dashboard), [`manage`] (the review queue,
//! merchants, partners) and [`rules`] (the catalogue, a
//! draft, its what-if and publishing).

mod auth;
mod counter;
mod inbox;
mod manage;
mod office;
mod password;
mod profile;
mod resident;
mod rules;
mod shop;
mod station;

use axum::{
    Router,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};

use crate::{Web, ctx::Ctx};

/// Every page's route.
pub(crate) fn router() -> Router<Web> {
    Router::new()
        .route("/", get(root))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/register", get(auth::register_page).post(auth::register))
        .route(
            "/password-reset",
            get(password::reset_start).post(password::reset_send),
        )
        .route(
            "/password-reset/confirm",
            get(password::reset_confirm_page).post(password::reset_confirm),
        )
        .route(
            "/me/password",
            get(password::password_page).post(password::change_password),
        )
        .route("/me/export", get(password::export))
        .route("/me/close", post(password::close))
        .route("/lang", post(auth::language))
        .route("/me", get(resident::home))
        .route("/me/checkin", post(resident::check_in))
        .route("/me/history", get(resident::history))
        .route("/me/play", get(profile::play))
        .route("/me/play/join", post(profile::join))
        .route("/me/play/leaderboard", post(profile::leaderboard))
        .route("/me/profile", get(profile::profile))
        .route("/me/profile/consent", post(profile::consent))
        .route("/mall", get(shop::mall))
        .route("/mall/order", post(shop::order))
        .route("/orders", get(shop::orders))
        .route("/orders/{id}", get(shop::order_page))
        .route("/orders/{id}/cancel", post(shop::cancel))
        .route("/station", get(station::station))
        .route("/station/lookup", post(station::lookup))
        .route("/station/record", post(station::record))
        .route("/station/order", post(station::order))
        .route("/station/password", post(station::password))
        .route("/me/station-code", get(station::station_code))
        .route("/me/notifications", get(inbox::inbox))
        .route("/me/notifications/read", post(inbox::read_all))
        .route("/counter", get(counter::counter))
        .route("/counter/voucher", post(counter::voucher))
        .route("/counter/write-off", post(counter::write_off))
        .route("/counter/statement", get(counter::statement))
        .route("/counter/statement.csv", get(counter::statement_csv))
        .route("/office", get(office::dashboard))
        .route("/office/review", get(manage::review).post(manage::decide))
        .route(
            "/office/merchants",
            get(manage::merchants).post(manage::admit),
        )
        .route("/office/merchants/status", post(manage::merchant_status))
        .route(
            "/office/partners",
            get(manage::partners).post(manage::register_partner),
        )
        .route("/office/rules", get(rules::rules))
        .route(
            "/office/rules/draft",
            get(rules::draft_page).post(rules::draft),
        )
        .route("/office/rules/publish", post(rules::publish))
}

/// `/`: the signed-in person's start page, or sign-in.
async fn root(ctx: Ctx) -> Response {
    match ctx.user() {
        Some(u) => Redirect::to(u.role.home()).into_response(),
        None => Redirect::to("/login").into_response(),
    }
}
