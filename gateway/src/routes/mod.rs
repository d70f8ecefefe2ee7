//! The public HTTP API v1 (docs/api.md) and its OpenAPI document.

pub mod admin;
pub mod auth;
pub mod behaviours;
pub mod consent;
mod document;
pub mod expiry;
pub mod imports;
pub mod mall;
pub mod mall_admin;
pub mod me;
pub mod merchant;
pub mod notify;
pub mod oauth;
pub mod ops;
pub mod partners;
pub mod play;
pub mod points;
pub mod rights;
pub mod statements;
pub mod station;
pub mod statistics;
pub mod views;

use axum::{
    Router,
    routing::{delete, get, post, put},
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{AppState, auth::Audience};

/// The OpenAPI document's frame (info, security scheme, tags); its paths come from the route
/// table below. [`openapi`] is the whole document, served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "healthpoints API", version = "1", description = "The public HTTP API of the city health points programme. Errors are application/problem+json with a machine-readable `code` and, for bad input, the offending `field`."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, sessions and client credentials"),
        (name = "resident", description = "A resident's own data"),
        (name = "admin", description = "City and district administration"),
        (name = "mall", description = "Redemption: the router, orders and vouchers"),
        (name = "merchant", description = "A merchant's catalogue, counter and statements"),
        (name = "partner", description = "Partner departments' data exchange (client credentials)"),
        (name = "station", description = "The health-station counter: staff acting for residents who come in person"),
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

/// The OpenAPI document: the frame of [`ApiDoc`] with every route of the table, each
/// completed with the errors the gateway answers on it (`document`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(RoutePaths::openapi());
    document::complete(&mut doc, DECLARED);
    doc
}

/// The document itself, the one route it does not describe.
const OPENAPI_ROUTE: (&str, &str) = ("GET", "/openapi.json");

/// Declares every route once, with its audience: [`router`] serves it behind its audience's gate,
/// [`openapi`] describes it (from its handler's `#[utoipa::path]`) and [`ROUTES`] lists it for
/// the access matrix. A handler whose `#[utoipa::path]` names another path or method than its
/// line here fails the mesh test `openapi_describes_every_route`; a route declared for another
/// audience than its path says fails `every_route_lives_under_its_audience`.
macro_rules! routes {
    ($($audience:ident {
        $($method:ident $path:literal => $module:ident :: $handler:ident,)*
    })*) => {
        /// Every route of the gateway as (method, path template), in declaration order, the
        /// document's own route last.
        pub const ROUTES: &[(&str, &str)] =
            &[$($((stringify!($method), $path),)*)* OPENAPI_ROUTE];

        /// Every route as declared, for the document's completion and the audience test.
        const DECLARED: &[document::Declared] = &[$($(document::Declared {
            method: stringify!($method),
            path: $path,
            audience: Audience::$audience,
            module: stringify!($module),
            handler: stringify!($handler),
        },)*)*];

        /// Every route of the gateway: one router per audience, each behind its gate, merged.
        pub fn router(state: &AppState) -> Router<AppState> {
            Router::new()
                .route(OPENAPI_ROUTE.1, get(ops::openapi))
                $(.merge(gated(
                    state,
                    Audience::$audience,
                    Router::new()
                        $(.route($path, routes!(@method $method)($module::$handler)))*,
                )))*
        }

        /// The paths of the document, from the same table.
        #[derive(OpenApi)]
        #[openapi(paths($($($module::$handler),*),*))]
        struct RoutePaths;
    };
    (@method GET) => { get };
    (@method POST) => { post };
    (@method PUT) => { put };
    (@method DELETE) => { delete };
}

/// An audience's routes behind its gate (public routes have none).
fn gated(state: &AppState, audience: Audience, routes: Router<AppState>) -> Router<AppState> {
    match audience {
        Audience::Public => routes,
        _ => routes.route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), audience),
            crate::auth::gate,
        )),
    }
}

routes! {
    Public {
        GET "/healthz" => ops::healthz,
        GET "/readyz" => ops::readyz,
        GET "/metrics" => ops::metrics,
        GET "/docs" => ops::docs,
        GET "/docs/" => ops::docs_index,
        GET "/docs/{file}" => ops::docs_asset,
        GET "/.well-known/jwks.json" => auth::jwks,
        POST "/v1/auth/register" => auth::register,
        POST "/v1/auth/login" => auth::login,
        POST "/v1/auth/refresh" => auth::refresh,
        POST "/v1/auth/logout" => auth::logout,
        POST "/v1/auth/token" => auth::client_token,
        POST "/v1/auth/password-reset" => rights::request_reset,
        POST "/v1/auth/password-reset/confirm" => rights::confirm_reset,
        GET "/v1/leaderboards" => play::leaderboard,
        GET "/v1/rules" => behaviours::rules,
        GET "/v1/rules/changelog" => behaviours::changelog,
        GET "/v1/rules/expiry" => expiry::policies,
        GET "/v1/partners" => partners::list,
        GET "/v1/partner/fhir/metadata" => partners::fhir_metadata,
        GET "/v1/districts" => admin::districts,
        GET "/v1/mall" => mall::my_mall,
        GET "/v1/malls" => mall::malls,
        GET "/v1/malls/{mall}/merchants" => mall::merchants,
        GET "/v1/malls/{mall}/products" => mall::products,
        POST "/v1/malls/{mall}/orders" => mall::create_order,
    }
    Residents {
        GET "/v1/me" => me::me,
        PUT "/v1/me/password" => rights::change_password,
        GET "/v1/me/export" => rights::export,
        POST "/v1/me/close" => rights::close,
        GET "/v1/me/balances" => points::balances,
        GET "/v1/me/transactions" => points::transactions,
        GET "/v1/me/checkins" => behaviours::check_in_status,
        POST "/v1/me/checkins" => behaviours::check_in,
        GET "/v1/me/behaviours" => behaviours::behaviours,
        GET "/v1/me/challenges" => play::my_challenges,
        POST "/v1/me/challenges/{id}/join" => play::join,
        PUT "/v1/me/leaderboard" => play::set_opt_in,
        GET "/v1/me/consents" => consent::list,
        PUT "/v1/me/consents" => consent::grant,
        DELETE "/v1/me/consents/{partner_id}/{category}" => consent::revoke,
        GET "/v1/me/access-log" => consent::mine,
        GET "/v1/me/orders" => mall::my_orders,
        GET "/v1/me/orders/{id}" => mall::my_order,
        POST "/v1/me/orders/{id}/cancel" => mall::cancel,
        POST "/v1/me/station-code" => station::station_code,
        GET "/v1/me/notifications" => notify::notifications,
        POST "/v1/me/notifications/read" => notify::read,
    }
    Merchants {
        GET "/v1/merchant/products" => merchant::my_products,
        POST "/v1/merchant/products" => merchant::create_product,
        PUT "/v1/merchant/products/{id}" => merchant::update_product,
        GET "/v1/merchant/vouchers/{code}" => merchant::voucher,
        POST "/v1/merchant/vouchers/{code}/write-off" => merchant::write_off,
        GET "/v1/merchant/orders" => merchant::merchant_orders,
        GET "/v1/merchant/settlements" => merchant::merchant_settlements,
        POST "/v1/merchant/webhooks" => notify::merchant_register,
        GET "/v1/merchant/webhooks" => notify::merchant_list,
        DELETE "/v1/merchant/webhooks/{id}" => notify::merchant_delete,
        GET "/v1/merchant/webhooks/{id}/deliveries" => notify::merchant_deliveries,
        POST "/v1/merchant/webhooks/{id}/deliveries/{delivery_id}/replay" => notify::merchant_replay,
    }
    Partners {
        POST "/v1/partner/behaviours" => partners::submit_behaviours,
        POST "/v1/partner/fhir" => partners::submit_fhir,
        POST "/v1/partner/family-doctor-contracts" => partners::submit_contracts,
        GET "/v1/partner/residents/{id}/points-summary" => consent::points_summary,
        GET "/v1/partner/statistics" => statistics::partner,
        POST "/v1/partner/webhooks" => notify::register,
        GET "/v1/partner/webhooks" => notify::list,
        DELETE "/v1/partner/webhooks/{id}" => notify::delete,
        GET "/v1/partner/webhooks/{id}/deliveries" => notify::deliveries,
        POST "/v1/partner/webhooks/{id}/deliveries/{delivery_id}/replay" => notify::replay,
    }
    Stations {
        POST "/v1/station/lookup" => station::lookup,
        POST "/v1/station/behaviours" => station::record,
        POST "/v1/station/orders" => station::order,
        POST "/v1/station/password" => station::password,
    }
    Admins {
        POST "/v1/admin/imports/residents" => imports::residents,
        POST "/v1/admin/imports/balances" => imports::balances,
        POST "/v1/admin/challenges" => play::create_challenge,
        POST "/v1/admin/honours" => play::award_honour,
        GET "/v1/admin/review-queue" => play::review_queue,
        POST "/v1/admin/review-queue/{event_id}" => play::resolve_review,
        POST "/v1/admin/residents/{id}/review-flag" => play::flag,
        DELETE "/v1/admin/residents/{id}/review-flag" => play::unflag,
        POST "/v1/admin/rules/drafts" => behaviours::save_draft,
        POST "/v1/admin/rules/drafts/simulate" => behaviours::simulate,
        POST "/v1/admin/rules/drafts/publish" => behaviours::publish,
        PUT "/v1/admin/books/{book}/expiry-policy" => expiry::publish,
        POST "/v1/admin/partners" => partners::register,
        PUT "/v1/admin/partners/{id}" => partners::update,
        POST "/v1/admin/partners/{id}/secrets" => partners::rotate_secret,
        GET "/v1/admin/access-log" => consent::audit,
        GET "/v1/admin/statistics" => statistics::admin,
        GET "/v1/admin/books/{book}/stats" => points::book_stats,
        POST "/v1/admin/staff" => admin::create_staff,
        POST "/v1/admin/clients" => admin::create_client,
        PUT "/v1/admin/districts/{code}" => admin::set_enrolment,
        GET "/v1/admin/residents" => admin::list_residents,
        GET "/v1/admin/residents/{id}" => admin::get_resident,
        PUT "/v1/admin/residents/{id}/family-doctor" => admin::set_family_doctor,
        DELETE "/v1/admin/residents/{id}/family-doctor" => admin::end_family_doctor,
        POST "/v1/admin/residents/{id}/suspend" => admin::suspend,
        POST "/v1/admin/residents/{id}/reinstate" => admin::reinstate,
        POST "/v1/admin/signing-keys/rotate" => admin::rotate_key,
        POST "/v1/admin/malls/{mall}/merchants" => mall_admin::admit,
        PUT "/v1/admin/malls/{mall}/merchants/{id}/status" => mall_admin::set_merchant_status,
        GET "/v1/admin/malls/{mall}/orders" => mall_admin::admin_orders,
        POST "/v1/admin/malls/{mall}/orders/{id}/refund" => mall_admin::refund,
        GET "/v1/admin/malls/{mall}/settlements" => mall_admin::admin_settlements,
        POST "/v1/admin/malls/{mall}/settlements/{merchant_id}/{period}/close" => mall_admin::close,
        GET "/v1/admin/malls/{mall}/stats" => mall_admin::stats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_lives_under_its_audience() {
        for route in DECLARED {
            assert_eq!(
                Audience::of_path(route.path),
                route.audience,
                "{}",
                route.path
            );
        }
        assert_eq!(DECLARED.len() + 1, ROUTES.len());
    }

    #[test]
    fn every_operation_has_a_unique_id_and_problem_errors() {
        let doc = serde_json::to_value(openapi()).unwrap();
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap().to_owned();
                assert!(ids.insert(id.clone()), "{id} twice");
                for (status, response) in op["responses"].as_object().unwrap() {
                    // A problem is always application/problem+json; other error bodies (the
                    // readiness report, OAuth's errors) keep their own media type.
                    let problem = serde_json::json!({"$ref": "#/components/schemas/Problem"});
                    for (media, content) in response["content"].as_object().into_iter().flatten() {
                        if content["schema"] == problem {
                            assert_eq!(
                                media, "application/problem+json",
                                "{method} {path} {status}: {response}"
                            );
                        }
                    }
                }
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let name = p["name"].as_str().unwrap();
                    let templated = path.contains(&format!("{{{name}}}"));
                    assert_eq!(p["in"] == "path", templated, "{method} {path}: {p}");
                }
                let audience = Audience::of_path(path);
                if audience != Audience::Public {
                    for status in ["401", "403", "500", "503"] {
                        assert!(
                            op["responses"].get(status).is_some(),
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
        assert_eq!(ids.len() + 1, ROUTES.len());
    }
}
