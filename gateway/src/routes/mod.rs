//! The public HTTP API v1 (DESIGN.md §10) and its OpenAPI document.

pub mod admin;
pub mod auth;
pub mod behaviours;
pub mod consent;
pub mod mall;
pub mod mall_admin;
pub mod me;
pub mod merchant;
pub mod ops;
pub mod partners;
pub mod play;
pub mod points;
pub mod statistics;

use axum::{
    Router,
    routing::{delete, get, post, put},
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::AppState;

/// The OpenAPI document served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "healthpoints API", version = "1", description = "The public HTTP API of the city health points programme. Errors are application/problem+json with a machine-readable `code` and, for bad input, the offending `field`."),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout, auth::client_token, auth::jwks,
        me::me, points::balances, points::transactions, points::book_stats,
        admin::create_staff, admin::create_client, admin::set_enrolment, admin::districts,
        admin::list_residents, admin::get_resident, admin::set_family_doctor, admin::end_family_doctor,
        admin::suspend, admin::reinstate, admin::rotate_key,
        behaviours::check_in, behaviours::behaviours, behaviours::rules, behaviours::changelog,
        behaviours::save_draft, behaviours::simulate, behaviours::publish,
        partners::register, partners::list, partners::submit_behaviours, partners::submit_contracts,
        partners::submit_fhir, partners::update,
        consent::list, consent::grant, consent::revoke, consent::mine, consent::audit,
        consent::points_summary, statistics::partner, statistics::admin,
        play::my_challenges, play::join, play::create_challenge, play::leaderboard, play::set_opt_in,
        play::award_honour, play::review_queue, play::resolve_review, play::flag, play::unflag,
        mall::my_mall, mall::malls, mall::merchants, mall::products, mall::create_order,
        mall::my_orders, mall::my_order, mall::cancel, merchant::my_products, merchant::create_product,
        merchant::update_product, merchant::voucher, merchant::write_off, merchant::merchant_orders, merchant::merchant_settlements,
        mall_admin::admit, mall_admin::set_merchant_status, mall_admin::admin_orders, mall_admin::refund,
        mall_admin::admin_settlements, mall_admin::close, mall_admin::stats,
        ops::healthz, ops::readyz,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, sessions and client credentials"),
        (name = "resident", description = "A resident's own data"),
        (name = "admin", description = "City and district administration"),
        (name = "mall", description = "Redemption: the router, orders and vouchers"),
        (name = "merchant", description = "A merchant's catalogue, counter and statements"),
        (name = "partner", description = "Partner departments' data exchange (client credentials)"),
        (name = "public", description = "Open data, no token"),
        (name = "operations", description = "Probes"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
        }
    }
}

/// Every route of the gateway.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/openapi.json", get(ops::openapi))
        .route("/.well-known/jwks.json", get(auth::jwks))
        .route("/v1/auth/register", post(auth::register))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/refresh", post(auth::refresh))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/auth/token", post(auth::client_token))
        .route("/v1/me", get(me::me))
        .route("/v1/me/balances", get(points::balances))
        .route("/v1/me/transactions", get(points::transactions))
        .route("/v1/me/checkins", post(behaviours::check_in))
        .route("/v1/me/behaviours", get(behaviours::behaviours))
        .route("/v1/me/challenges", get(play::my_challenges))
        .route("/v1/me/challenges/{id}/join", post(play::join))
        .route("/v1/me/leaderboard", put(play::set_opt_in))
        .route("/v1/leaderboards", get(play::leaderboard))
        .route("/v1/admin/challenges", post(play::create_challenge))
        .route("/v1/admin/honours", post(play::award_honour))
        .route("/v1/admin/review-queue", get(play::review_queue))
        .route(
            "/v1/admin/review-queue/{event_id}",
            post(play::resolve_review),
        )
        .route(
            "/v1/admin/residents/{id}/review-flag",
            post(play::flag).delete(play::unflag),
        )
        .route("/v1/rules", get(behaviours::rules))
        .route("/v1/rules/changelog", get(behaviours::changelog))
        .route("/v1/admin/rules/drafts", post(behaviours::save_draft))
        .route(
            "/v1/admin/rules/drafts/simulate",
            post(behaviours::simulate),
        )
        .route("/v1/admin/rules/drafts/publish", post(behaviours::publish))
        .route("/v1/partners", get(partners::list))
        .route("/v1/admin/partners", post(partners::register))
        .route("/v1/admin/partners/{id}", put(partners::update))
        .route("/v1/partner/behaviours", post(partners::submit_behaviours))
        .route("/v1/partner/fhir", post(partners::submit_fhir))
        .route(
            "/v1/partner/family-doctor-contracts",
            post(partners::submit_contracts),
        )
        .route("/v1/me/consents", get(consent::list).put(consent::grant))
        .route(
            "/v1/me/consents/{partner_id}/{category}",
            delete(consent::revoke),
        )
        .route("/v1/me/access-log", get(consent::mine))
        .route(
            "/v1/partner/residents/{id}/points-summary",
            get(consent::points_summary),
        )
        .route("/v1/admin/access-log", get(consent::audit))
        .route("/v1/partner/statistics", get(statistics::partner))
        .route("/v1/admin/statistics", get(statistics::admin))
        .route("/v1/admin/books/{book}/stats", get(points::book_stats))
        .route("/v1/districts", get(admin::districts))
        .route("/v1/admin/staff", post(admin::create_staff))
        .route("/v1/admin/clients", post(admin::create_client))
        .route("/v1/admin/districts/{code}", put(admin::set_enrolment))
        .route("/v1/admin/residents", get(admin::list_residents))
        .route("/v1/admin/residents/{id}", get(admin::get_resident))
        .route(
            "/v1/admin/residents/{id}/family-doctor",
            put(admin::set_family_doctor).delete(admin::end_family_doctor),
        )
        .route("/v1/admin/residents/{id}/suspend", post(admin::suspend))
        .route("/v1/admin/residents/{id}/reinstate", post(admin::reinstate))
        .route("/v1/admin/signing-keys/rotate", post(admin::rotate_key))
        .route("/v1/mall", get(mall::my_mall))
        .route("/v1/malls", get(mall::malls))
        .route("/v1/malls/{mall}/merchants", get(mall::merchants))
        .route("/v1/malls/{mall}/products", get(mall::products))
        .route("/v1/malls/{mall}/orders", post(mall::create_order))
        .route("/v1/me/orders", get(mall::my_orders))
        .route("/v1/me/orders/{id}", get(mall::my_order))
        .route("/v1/me/orders/{id}/cancel", post(mall::cancel))
        .route(
            "/v1/merchant/products",
            get(merchant::my_products).post(merchant::create_product),
        )
        .route("/v1/merchant/products/{id}", put(merchant::update_product))
        .route("/v1/merchant/vouchers/{code}", get(merchant::voucher))
        .route(
            "/v1/merchant/vouchers/{code}/write-off",
            post(merchant::write_off),
        )
        .route("/v1/merchant/orders", get(merchant::merchant_orders))
        .route(
            "/v1/merchant/settlements",
            get(merchant::merchant_settlements),
        )
        .route("/v1/admin/malls/{mall}/merchants", post(mall_admin::admit))
        .route(
            "/v1/admin/malls/{mall}/merchants/{id}/status",
            put(mall_admin::set_merchant_status),
        )
        .route(
            "/v1/admin/malls/{mall}/orders",
            get(mall_admin::admin_orders),
        )
        .route(
            "/v1/admin/malls/{mall}/orders/{id}/refund",
            post(mall_admin::refund),
        )
        .route(
            "/v1/admin/malls/{mall}/settlements",
            get(mall_admin::admin_settlements),
        )
        .route(
            "/v1/admin/malls/{mall}/settlements/{merchant_id}/{period}/close",
            post(mall_admin::close),
        )
        .route("/v1/admin/malls/{mall}/stats", get(mall_admin::stats))
}
