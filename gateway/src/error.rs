//! Errors as clients see them: `application/problem+json` (RFC 9457) carrying the mesh's
//! machine-readable `code` and, for bad input, the offending `field`.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use healthpoints_errors::{ApiError, ErrorCode, Violation};
use serde::Serialize;
use utoipa::ToSchema;

/// A problem report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:healthpoints:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Machine-readable, e.g. `invalid_argument`, `district_not_enrolled`.
    pub code: String,
    /// The first offending field, for bad input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every offending field with its reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Machine-readable facts about the refusal, as extension members (RFC 9457 §3.2): e.g.
    /// `order_id`, `order_status` and `written_off_at` when another request changed the order
    /// first.
    #[serde(flatten)]
    #[schema(additional_properties)]
    pub context: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

/// Any failure of a gateway handler.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl From<tonic::Status> for HttpError {
    fn from(status: tonic::Status) -> Self {
        Self(ApiError::from_status(&status))
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let err = self.0;
        let status = err.code.http();
        if err.code.is_server_fault() {
            tracing::warn!(code = %err.code, "request failed");
        }
        let problem = Problem {
            kind: format!("urn:healthpoints:problem:{}", err.code.as_str()),
            title: err.code.title().to_owned(),
            status: status.as_u16(),
            detail: err.message.clone(),
            code: err.code.as_str().to_owned(),
            field: err.field().map(str::to_owned),
            errors: err
                .violations
                .iter()
                .map(|Violation { field, reason }| FieldError {
                    field: field.clone(),
                    reason: reason.clone(),
                })
                .collect(),
            context: err.context.clone(),
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(after) = err.retry_after
            && let Ok(v) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        // RFC 9110 §15.5.2 and RFC 6750 §3: every 401 says how to authenticate.
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"healthpoints\""),
            );
        }
        response
    }
}

/// A backend's refusal with its field names as the HTTP request spells them: a gRPC request
/// may nest the body (`product.price_points`) or carry a header as a field (`idempotency_key`).
/// `from` is a field name, or a prefix ending in `.` that is replaced by `to`.
pub fn renamed(status: tonic::Status, from: &str, to: &str) -> HttpError {
    let mut err = ApiError::from_status(&status);
    let rename = |field: &str| -> Option<String> {
        if field == from {
            Some(to.to_owned())
        } else if from.ends_with('.') {
            field.strip_prefix(from).map(|rest| format!("{to}{rest}"))
        } else {
            None
        }
    };
    for v in &mut err.violations {
        if let Some(field) = rename(&v.field) {
            if let Some(rest) = err.message.strip_prefix(&format!("{}: ", v.field)) {
                err.message = format!("{field}: {rest}");
            }
            v.field = field;
        }
    }
    HttpError(err)
}

/// How a handler's panic is answered.
pub type PanicResponse = fn(Box<dyn std::any::Any + Send + 'static>) -> Response;

/// A handler's panic as the same 500 problem as any internal failure; the cause stays in the
/// log (written once, by the panic hook), never in the response.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    HttpError(ApiError::internal()).into_response()
}

/// 404 for routes that do not exist, in the same problem shape.
pub async fn not_found() -> HttpError {
    HttpError(ApiError::not_found("no such route"))
}

/// 405 for a route that exists without this method, in the same problem shape (the router
/// adds the `Allow` header).
pub async fn method_not_allowed() -> HttpError {
    HttpError(ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take this method; the Allow header lists the ones it takes",
    ))
}

pub type HttpResult<T> = Result<T, HttpError>;

/// A status with an empty body, e.g. 204.
pub fn no_content() -> StatusCode {
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, http::Request, routing::get};
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem_not_a_dropped_connection() {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async {
                    let id = "３１０１１８";
                    // The slice that once took identity down: not a character boundary.
                    let _ = &id[..2];
                    "unreachable"
                }),
            )
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                panic_response as PanicResponse,
            ));
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "internal");
        assert!(!String::from_utf8_lossy(&body).contains("boundary"));
    }
}
