//! What every operation of the OpenAPI document says beyond its handler's own annotation, so
//! that a client generated from it (or schemathesis) can trust it: a unique `operationId`;
//! every error as `application/problem+json` with the `Problem` schema; and the error statuses
//! the gateway itself answers on a route of that kind, whatever the handler does:
//!
//! | status | on | why |
//! |---|---|---|
//! | 400 | every route that takes a parameter or a body | a field is missing or malformed |
//! | 401, 403 | routes for an audience, and routes that read a token | no or a bad token; another role |
//! | 404 | routes with a path parameter | nothing of that id |
//! | 413 | routes with a body | over the body limit |
//! | 429 | public routes (the probes aside) | the per-address and total budgets (`throttle`) |
//! | 500, 503, 504 | every route | a fault; a backend down; the request timeout |
//!
//! Statuses a handler documents itself (409, 422, …) are kept; only their content type is
//! made `application/problem+json`.

use utoipa::openapi::{
    ContentBuilder, OpenApi, Ref, RefOr,
    path::Operation,
    response::{Response, ResponseBuilder},
};

use crate::auth::Audience;

/// A route as the table declares it.
#[derive(Debug)]
pub(super) struct Declared {
    pub(super) method: &'static str,
    pub(super) path: &'static str,
    pub(super) audience: Audience,
    pub(super) module: &'static str,
    pub(super) handler: &'static str,
}

const PROBLEM: &str = "application/problem+json";

/// The probes answer without a backend, a token or a budget.
const PROBES: &[&str] = &["/healthz"];

/// Completes every operation of `doc` that the table declares.
pub(super) fn complete(doc: &mut OpenApi, routes: &[Declared]) {
    for route in routes {
        let Some(item) = doc.paths.paths.get_mut(route.path) else {
            continue;
        };
        let operation = match route.method {
            "GET" => item.get.as_mut(),
            "POST" => item.post.as_mut(),
            "PUT" => item.put.as_mut(),
            "DELETE" => item.delete.as_mut(),
            _ => None,
        };
        if let Some(operation) = operation {
            complete_operation(operation, route);
        }
    }
}

fn complete_operation(op: &mut Operation, route: &Declared) {
    // `register` and `list` are handler names in more than one module.
    op.operation_id = Some(format!("{}_{}", route.module, route.handler));
    for (status, response) in &mut op.responses.responses {
        if !status.starts_with('2')
            && let RefOr::T(response) = response
        {
            as_problem(response);
        }
    }
    let has_body = op.request_body.is_some();
    let has_params = has_body || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let reads_token = route.audience != Audience::Public
        || op.security.as_ref().is_some_and(|s| !s.is_empty());
    let probe = PROBES.contains(&route.path);
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem(description)));
    };
    if has_params {
        add("400", "A field is missing or malformed; `field` names it.");
    }
    if reads_token {
        add("401", "No access token, or one that is not valid.");
        add("403", "The token's role or scope may not use this route.");
    }
    if route.path.contains('{') {
        add("404", "Nothing of that id (or nothing the caller may see).");
    }
    if has_body {
        add("413", "The body is over the limit.");
    }
    if route.audience == Audience::Public && !probe && route.path != "/readyz" {
        add(
            "429",
            "Over the rate limit for this address or in total; see `Retry-After`.",
        );
    }
    add("500", "An internal fault; nothing was changed that was not reported.");
    if !probe {
        add("503", "A service behind the gateway is unavailable; retry shortly.");
        add("504", "The request ran past its deadline.");
    }
}

/// An error response with the `Problem` body.
fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// Says a handler's own error response is a problem document.
fn as_problem(response: &mut Response) {
    if let Some(content) = response.content.shift_remove("application/json") {
        response.content.insert(PROBLEM.to_owned(), content);
    }
}
