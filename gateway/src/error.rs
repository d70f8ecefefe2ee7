//! Errors as clients see them: `application/problem+json` (RFC 9457) carrying the mesh's
//! machine-readable `code` and, for bad input, the offending `field`.

use axum::{
    extract::rejection::JsonRejection,
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

impl From<JsonRejection> for HttpError {
    fn from(rejection: JsonRejection) -> Self {
        Self(json_problem(&rejection))
    }
}

/// Turns a JSON body rejection into a field-level error where serde named the field.
fn json_problem(rejection: &JsonRejection) -> ApiError {
    let text = rejection.body_text();
    let quoted = |marker: &str| {
        text.split_once(marker)
            .and_then(|(_, rest)| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(field) = quoted("missing field `") {
        return ApiError::invalid(field, "is required");
    }
    if let Some(field) = quoted("unknown field `") {
        return ApiError::invalid(field, "is not a known field");
    }
    let reason = match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "the body must be JSON with Content-Type: application/json".to_owned()
        }
        JsonRejection::JsonSyntaxError(_) => "the body is not valid JSON".to_owned(),
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            "the body is too large".to_owned()
        }
        // e.g. "invalid type: integer `5`, expected a string at line 1 column 9"
        _ => text
            .split_once(": ")
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_else(|| text.clone()),
    };
    ApiError::new(ErrorCode::InvalidArgument, reason)
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
        response
    }
}

/// 404 for routes that do not exist, in the same problem shape.
pub async fn not_found() -> HttpError {
    HttpError(ApiError::not_found("no such route"))
}

pub type HttpResult<T> = Result<T, HttpError>;

/// A status with an empty body, e.g. 204.
pub fn no_content() -> StatusCode {
    StatusCode::NO_CONTENT
}
