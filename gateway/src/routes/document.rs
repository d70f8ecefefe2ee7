//! What every operation of the OpenAPI document says beyond its handler's own annotation, so
//! that a client generated from it (or schemathesis) can trust it: a unique `operationId`;
//! every error as `application/problem+json` with the `Problem` schema; and the error statuses
//! the gateway itself answers on a route of that kind, whatever the handler does:
//!
//! | status | on | why |
//! |---|---|---|
//! | 400 | every route that takes a parameter or a body | a field is missing or malformed |
//! | 401, 403 | routes for an audience, and routes that read a token | no or a bad token; another role |
//! | 404 | routes that take a parameter or a body | nothing of that id (a mall, an order, …) |
//! | 413 | routes with a body | over the body limit |
//! | 429 | public routes (the probes aside) and the station counters' | the per-address and total budgets (`throttle`) |
//! | 500, 503, 504 | every route | a fault; a backend down; the request timeout |
//!
//! Statuses a handler documents itself (409, 422, …) are kept; only their content type is
//! made `application/problem+json`.
//!
//! Parameters mean the same wherever they appear, so their schema is given here once, by name
//! ([`parameter`]): an `id` is a UUID (a partner's is its slug), `mall` is `city` or one of the
//! city's district codes, `page_size` is 1 to 500, and so on. A generator then sends only what
//! the server takes, and a fuzzer learns what it refuses.

use healthpoints_types::{DISTRICTS, MallId};
use utoipa::openapi::{
    ContentBuilder, KnownFormat, ObjectBuilder, OpenApi, Ref, RefOr, Required, Schema,
    SchemaFormat, Type,
    path::{Operation, ParameterIn},
    response::{Response, ResponseBuilder},
    schema::AnyOfBuilder,
};

use super::views::{LEADERBOARD_MAX, PAGE_MAX};
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

/// The probes (and the reference's files) answer without a backend, a token or a budget.
const PROBES: &[&str] = &["/healthz", "/docs", "/docs/", "/docs/{file}"];

/// Completes every operation of `doc` that the table declares, and the free-text fields of
/// the request bodies ([`FREE_TEXT`]).
pub(super) fn complete(doc: &mut OpenApi, routes: &[Declared]) {
    free_text(doc);
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
    for p in op.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = p
            && let Some(schema) = parameter(route.path, &p.name, &p.parameter_in)
        {
            // An optional query parameter given empty is one not given (`body::Params`), and
            // the services read a blank id as none.
            let optional = matches!(p.parameter_in, ParameterIn::Query)
                && !matches!(p.required, Required::True);
            p.schema = Some(RefOr::T(if optional { or_empty(schema) } else { schema }));
        }
    }
    for (status, response) in &mut op.responses.responses {
        if !status.starts_with('2')
            && let RefOr::T(response) = response
        {
            as_problem(response);
        }
    }
    let has_body = op.request_body.is_some();
    let has_params = has_body || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let reads_token =
        route.audience != Audience::Public || op.security.as_ref().is_some_and(|s| !s.is_empty());
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
    if route.path.contains('{') || has_params {
        add("404", "Nothing of that id (or nothing the caller may see).");
    }
    if has_body {
        add("413", "The body is over the limit.");
    }
    // The throttled classes: public routes and the health-station counters.
    if matches!(route.audience, Audience::Public | Audience::Stations)
        && !probe
        && route.path != "/readyz"
    {
        add(
            "429",
            "Over the rate limit for this address or in total; see `Retry-After`.",
        );
    }
    add(
        "500",
        "An internal fault; nothing was changed that was not reported.",
    );
    if !probe {
        add(
            "503",
            "A service behind the gateway is unavailable; retry shortly.",
        );
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

/// Says a handler's own error response is a problem document (an error in another shape, such
/// as OAuth's `{"error"}` of `POST /v1/auth/token`, keeps its media type).
fn as_problem(response: &mut Response) {
    let is_problem = |content: &RefOr<utoipa::openapi::Content>| match content {
        RefOr::T(c) => {
            matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem"))
        }
        RefOr::Ref(_) => false,
    };
    if response
        .content
        .get("application/json")
        .is_some_and(is_problem)
        && let Some(content) = response.content.shift_remove("application/json")
    {
        response.content.insert(PROBLEM.to_owned(), content);
    }
}

/// What a parameter of this name takes, wherever it appears (`None`: as the handler says).
fn parameter(path: &str, name: &str, place: &ParameterIn) -> Option<Schema> {
    let in_path = matches!(place, ParameterIn::Path);
    Some(match name {
        "id" if path.starts_with("/v1/admin/partners") => slug(),
        "id" | "event_id" | "merchant_id" | "resident_id" => uuid(),
        "partner_id" => slug(),
        "mall" | "scope" => text(&format!("^({})$", mall_names().join("|"))),
        "book" => text(&format!(
            "^(city|{})$",
            districts()
                .iter()
                .map(|d| format!("district:{d}"))
                .collect::<Vec<_>>()
                .join("|")
        )),
        "code" if path.starts_with("/v1/admin/districts") => district(),
        "district" => district(),
        // Typed (groups of four, dashes optional) or scanned (`HPV1:<mall>:<code>`).
        "code" => {
            text("^(HPV1:(city|[0-9]{6}):)?[0-9A-HJKMNP-TV-Z]{4}(-?[0-9A-HJKMNP-TV-Z]{4}){4}$")
        }
        "period" if in_path || path.contains("leaderboard") => {
            text("^[0-9]{4}-(0[1-9]|1[0-2]|W(0[1-9]|[1-4][0-9]|5[0-3]))$")
        }
        "month" => text("^[0-9]{4}-(0[1-9]|1[0-2])$"),
        "category" if in_path => names(&[
            "steps_exercise",
            "sleep",
            "chronic_disease",
            "vaccination",
            "screening",
            "points_summary",
        ]),
        // The last item's position in the journal, or the last item's (time-ordered) id.
        "cursor" if path == "/v1/me/transactions" => text("^[0-9]{1,18}$"),
        "cursor" => uuid(),
        "as_of" | "from" | "to" => ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .build()
            .into(),
        // 1 to 128 printable ASCII characters, no blanks around them.
        "Idempotency-Key" => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[!-~]([ -~]*[!-~])?$"))
            .max_length(Some(128))
            .build()
            .into(),
        "kind" if path == "/v1/me/transactions" => {
            names(&["award", "redeem", "refund", "expire", "adjust", "settle"])
        }
        "format" => names(&["json", "csv"]),
        "page_size" => whole(PAGE_MAX),
        "limit" => whole(LEADERBOARD_MAX),
        _ => return None,
    })
}

/// Blank text: nothing but Unicode White_Space (what Rust's `str::trim` removes).
const BLANK: &str =
    r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$";

/// A value, or the empty (or blank) text that stands for none.
fn or_empty(schema: Schema) -> Schema {
    let empty = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(BLANK))
        .build();
    AnyOfBuilder::new().item(schema).item(empty).build().into()
}

fn names(values: &[&str]) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
        .into()
}

fn districts() -> Vec<&'static str> {
    DISTRICTS.iter().map(|(code, _)| *code).collect()
}

fn mall_names() -> Vec<String> {
    std::iter::once(MallId::City.to_string())
        .chain(districts().into_iter().map(str::to_owned))
        .collect()
}

fn text(pattern: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .build()
        .into()
}

fn uuid() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .build()
        .into()
}

fn slug() -> Schema {
    text("^[a-z0-9_-]{1,64}$")
}

fn district() -> Schema {
    text(&format!("^({})$", districts().join("|")))
}

fn whole(max: u32) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(1))
        .maximum(Some(max))
        .build()
        .into()
}

/// The free-text fields of request bodies, as the services check them (`free_text` in
/// `crates/types`): (schema, property, most characters, may it be empty, may it break lines).
/// Trimmed, without control characters; a one-line field without line breaks either.
const FREE_TEXT: &[(&str, &str, usize, bool, bool)] = &[
    ("RegisterRequest", "name", 50, false, false),
    ("SuspendRequest", "reason", 500, false, false),
    ("FlagBody", "reason", 300, false, false),
    ("RefundBody", "reason", 500, false, false),
    ("MerchantStatusBody", "reason", 500, true, false),
    ("AdmitBody", "name", 120, false, false),
    ("AdmitBody", "licence_no", 64, false, false),
    ("AdmitBody", "contact", 200, false, false),
    ("GrantBody", "purpose", 200, true, false),
    ("ChallengeBody", "title", 100, false, false),
    ("ProductBody", "title", 80, false, false),
    ("ProductBody", "description", 2000, true, true),
    ("RegisterPartnerBody", "name", 100, false, false),
    ("RegisterPartnerBody", "contact", 200, true, false),
    ("UpdatePartnerBody", "name", 100, false, false),
    ("UpdatePartnerBody", "contact", 200, true, false),
    ("ReviewDecision", "note", 500, true, true),
];

fn free_text(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for (schema, property, max, empty, lines) in FREE_TEXT {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(*schema) else {
            continue;
        };
        let Some(RefOr::T(Schema::Object(field))) = object.properties.get_mut(*property) else {
            continue;
        };
        // A control character is any of C0, DEL and C1; tabs and line breaks are allowed in a
        // text that may break lines.
        let control = if *lines {
            r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
        } else {
            r"\x00-\x1f\x7f-\x9f"
        };
        field.pattern = Some(if *empty {
            format!("^[^{control}]*$")
        } else {
            format!(r"^[^{control}]*[^\s{control}][^{control}]*$")
        });
        field.max_length = Some(*max);
        if !*empty {
            field.min_length = Some(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_free_text_field_named_exists_and_gets_its_pattern() {
        let doc = serde_json::to_value(super::super::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        for (schema, property, max, _, _) in FREE_TEXT {
            let field = &schemas[*schema]["properties"][*property];
            assert!(field["pattern"].is_string(), "{schema}.{property}: {field}");
            assert_eq!(field["maxLength"], *max, "{schema}.{property}");
        }
        // A request body is an object, never a name-set that took its schema's name.
        assert_eq!(schemas["ReviewDecision"]["type"], "object");
    }
}
