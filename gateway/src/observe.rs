//! Every HTTP request seen the same way: one span at INFO, `HTTP <method> <route>`, child of
//! the caller's W3C `traceparent` when it sends one (so the trace it injects into the gRPC calls
//! below is the caller's, and one request is one trace across the mesh at the default log
//! level), carrying the request's `x-request-id` (passed on to every gRPC call it makes, whose
//! spans show it too); one access-log line when it is answered
//! (method, route template, status, latency, request id — never the path's ids, the query or a
//! header's value); and its count and latency in the process's metrics, by route template.

use std::{sync::LazyLock, time::Instant};

use axum::{extract::Request, http::Method, middleware::Next, response::Response};
use healthpoints_telemetry::metrics::{HttpLabels, RouteLabels, metrics};
use tracing::Instrument as _;

use crate::routes::ROUTES;

/// Every declared route's method, template and the template's segments, split once.
static TEMPLATES: LazyLock<Vec<(&'static str, &'static str, Vec<&'static str>)>> =
    LazyLock::new(|| {
        ROUTES
            .iter()
            .map(|(m, t)| (*m, *t, t.trim_end_matches('/').split('/').collect()))
            .collect()
    });

/// The declared route `path` falls under (`/v1/me/orders/{id}`), or `unmatched`.
pub fn route_of(method: &str, path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let fits = |parts: &[&str]| {
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
    };
    // The method's own route first; a path served for several methods is one template anyway.
    TEMPLATES
        .iter()
        .find(|(m, _, parts)| *m == method && fits(parts))
        .or_else(|| TEMPLATES.iter().find(|(_, _, parts)| fits(parts)))
        .map_or("unmatched", |(_, t, _)| *t)
}

/// Drops a client's `x-request-id` that is not a UUID, before a fresh one is set: any other
/// text could carry a phone or ID number into every log line of the mesh.
pub async fn only_uuid_request_ids(mut request: Request, next: Next) -> Response {
    if request.headers().contains_key(REQUEST_ID)
        && healthpoints_telemetry::request_id_of(request.headers()).is_none()
    {
        request.headers_mut().remove(REQUEST_ID);
    }
    next.run(request).await
}

const REQUEST_ID: &str = healthpoints_telemetry::REQUEST_ID_HEADER;

/// A method as a metric label: the standard ones, anything else `OTHER` (a client may send any
/// token as a method; each would be a new series).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The middleware (see the module docs).
pub async fn observe(request: Request, next: Next) -> Response {
    let method = method_label(request.method()).to_owned();
    let route = route_of(&method, request.uri().path());
    let request_id = healthpoints_telemetry::request_id_of(request.headers()).unwrap_or_default();
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format_args!("HTTP {method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = route,
        request_id = %request_id,
    );
    healthpoints_telemetry::adopt_parent(&span, request.headers());
    let started = Instant::now();
    // At debug level, each request taken: a drain on shutdown can be seen to answer everything
    // it took (the access line below is the answer).
    span.in_scope(|| tracing::debug!("request taken"));
    // The backends' calls carry the id on, and their spans show it.
    let response = healthpoints_telemetry::with_request_id(
        Some(request_id.clone()),
        next.run(request).instrument(span.clone()),
    )
    .await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            route,
            status,
            latency_ms = elapsed.as_millis() as u64,
            request_id = %request_id,
            "request answered"
        );
    });
    let m = metrics();
    m.http_requests
        .get_or_create(&HttpLabels {
            method: method.clone(),
            route: route.to_owned(),
            status: status.to_string(),
        })
        .inc();
    m.http_duration
        .get_or_create(&RouteLabels {
            method,
            route: route.to_owned(),
        })
        .observe(elapsed.as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_told_by_their_route_template() {
        assert_eq!(route_of("GET", "/v1/me"), "/v1/me");
        assert_eq!(
            route_of("GET", "/v1/me/orders/0190a5e2-0000-7000-8000-000000000001"),
            "/v1/me/orders/{id}"
        );
        assert_eq!(
            route_of("POST", "/v1/me/orders/x/cancel"),
            "/v1/me/orders/{id}/cancel"
        );
        assert_eq!(
            route_of("POST", "/v1/admin/partners/sports/secrets"),
            "/v1/admin/partners/{id}/secrets"
        );
        assert_eq!(route_of("GET", "/v1/me/orders/"), "/v1/me/orders");
        assert_eq!(route_of("GET", "/etc/passwd"), "unmatched");
        assert_eq!(route_of("GET", "/v1/me/orders//cancel"), "unmatched");
    }
}
