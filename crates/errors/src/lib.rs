//! The one closed set of error codes of the healthpoints mesh, and the error value that carries
//! them across gRPC and HTTP.
//!
//! Services turn their domain errors into an [`ApiError`] in exactly one place; it becomes a
//! `tonic::Status` whose details carry the machine-readable code (`google.rpc.ErrorInfo`) and
//! the offending fields (`google.rpc.BadRequest`). The gateway reads those details back with
//! [`ApiError::from_status`] and renders the same truth as `application/problem+json`, so a
//! client sees the same code whichever hop refused it. FHIR clients get the same refusals as
//! FHIR's own error body ([`fhir`]). A failure that is not the caller's to fix is a [`Fault`],
//! which keeps its cause as its source for the log.

pub mod fault;
pub mod fhir;

pub use fault::Fault;

use std::{collections::BTreeMap, fmt, time::Duration};

use http::StatusCode;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// The `ErrorInfo.domain` of every error raised by this mesh.
pub const ERROR_DOMAIN: &str = "healthpoints";

/// Every error the mesh reports. Closed: adding a variant forces every `match` to decide its
/// gRPC code, HTTP status and log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A request field is missing or malformed; the violations say which and why.
    InvalidArgument,
    /// No credentials, or credentials that are not valid (bad or expired token).
    Unauthenticated,
    /// Login or client credentials do not match.
    InvalidCredentials,
    /// Authenticated, but not allowed to do this to this object.
    PermissionDenied,
    /// The resident's account is suspended or closed.
    AccountSuspended,
    /// Too many failed logins: the account is locked for a while.
    AccountLocked,
    /// The object does not exist (or the caller may not know it exists).
    NotFound,
    /// The object exists already (one person, one account).
    AlreadyExists,
    /// The same idempotency key or id was used with a different request.
    Conflict,
    /// The district has not joined the programme.
    DistrictNotEnrolled,
    /// The request is well-formed but the system is not in a state to accept it.
    FailedPrecondition,
    /// The request body is larger than the route accepts.
    PayloadTooLarge,
    /// The route exists but does not take this method.
    MethodNotAllowed,
    /// Too many requests; retry later.
    RateLimited,
    /// A dependency is down or overloaded; retry later.
    Unavailable,
    /// The deadline passed before the work finished; safe to retry with the same key.
    DeadlineExceeded,
    /// A bug or an unexpected failure; details are in the server's log, not in the response.
    Internal,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 17] = [
        Self::InvalidArgument,
        Self::Unauthenticated,
        Self::InvalidCredentials,
        Self::PermissionDenied,
        Self::AccountSuspended,
        Self::AccountLocked,
        Self::NotFound,
        Self::AlreadyExists,
        Self::Conflict,
        Self::DistrictNotEnrolled,
        Self::FailedPrecondition,
        Self::PayloadTooLarge,
        Self::MethodNotAllowed,
        Self::RateLimited,
        Self::Unavailable,
        Self::DeadlineExceeded,
        Self::Internal,
    ];

    /// The machine-readable code shown to clients (`code` in problem+json).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid_argument",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::PermissionDenied => "forbidden",
            Self::AccountSuspended => "account_suspended",
            Self::AccountLocked => "account_locked",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::Conflict => "conflict",
            Self::DistrictNotEnrolled => "district_not_enrolled",
            Self::FailedPrecondition => "failed_precondition",
            Self::PayloadTooLarge => "payload_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Internal => "internal",
        }
    }

    /// Parses [`ErrorCode::as_str`] back.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The gRPC status code.
    pub fn grpc(self) -> Code {
        match self {
            Self::InvalidArgument | Self::PayloadTooLarge => Code::InvalidArgument,
            Self::Unauthenticated | Self::InvalidCredentials => Code::Unauthenticated,
            Self::PermissionDenied | Self::AccountSuspended => Code::PermissionDenied,
            Self::NotFound => Code::NotFound,
            Self::AlreadyExists => Code::AlreadyExists,
            Self::Conflict => Code::Aborted,
            Self::DistrictNotEnrolled | Self::FailedPrecondition | Self::AccountLocked => {
                Code::FailedPrecondition
            }
            Self::RateLimited => Code::ResourceExhausted,
            Self::MethodNotAllowed => Code::Unimplemented,
            Self::Unavailable => Code::Unavailable,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::Internal => Code::Internal,
        }
    }

    /// The HTTP status the gateway answers with.
    pub fn http(self) -> StatusCode {
        match self {
            Self::InvalidArgument => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied | Self::AccountSuspended => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::AlreadyExists | Self::Conflict => StatusCode::CONFLICT,
            Self::DistrictNotEnrolled | Self::FailedPrecondition => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::AccountLocked => StatusCode::LOCKED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short title for problem+json.
    pub fn title(self) -> &'static str {
        match self {
            Self::InvalidArgument => "Invalid request",
            Self::Unauthenticated => "Authentication required",
            Self::InvalidCredentials => "Invalid credentials",
            Self::PermissionDenied => "Forbidden",
            Self::AccountSuspended => "Account suspended",
            Self::AccountLocked => "Account locked",
            Self::NotFound => "Not found",
            Self::AlreadyExists => "Already exists",
            Self::Conflict => "Conflict",
            Self::DistrictNotEnrolled => "District not enrolled",
            Self::FailedPrecondition => "Not possible now",
            Self::PayloadTooLarge => "Request too large",
            Self::MethodNotAllowed => "Method not allowed",
            Self::RateLimited => "Too many requests",
            Self::Unavailable => "Service unavailable",
            Self::DeadlineExceeded => "Timed out",
            Self::Internal => "Internal error",
        }
    }

    /// Whether the fault is the server's (logged at error level) rather than the caller's.
    pub fn is_server_fault(self) -> bool {
        match self {
            Self::Unavailable | Self::DeadlineExceeded | Self::Internal => true,
            Self::InvalidArgument
            | Self::Unauthenticated
            | Self::InvalidCredentials
            | Self::PermissionDenied
            | Self::AccountSuspended
            | Self::AccountLocked
            | Self::NotFound
            | Self::AlreadyExists
            | Self::Conflict
            | Self::DistrictNotEnrolled
            | Self::FailedPrecondition
            | Self::PayloadTooLarge
            | Self::MethodNotAllowed
            | Self::RateLimited => false,
        }
    }

    /// The code for a status that carries no `ErrorInfo` (transport failures, other meshes).
    fn from_grpc(code: Code) -> Self {
        match code {
            Code::InvalidArgument | Code::OutOfRange => Self::InvalidArgument,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::PermissionDenied => Self::PermissionDenied,
            Code::NotFound => Self::NotFound,
            Code::AlreadyExists => Self::AlreadyExists,
            Code::Aborted => Self::Conflict,
            Code::FailedPrecondition => Self::FailedPrecondition,
            Code::ResourceExhausted => Self::RateLimited,
            Code::Unavailable | Code::Cancelled => Self::Unavailable,
            Code::DeadlineExceeded => Self::DeadlineExceeded,
            Code::Ok | Code::Unknown | Code::Unimplemented | Code::Internal | Code::DataLoss => {
                Self::Internal
            }
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One bad field: its name as the caller spelled it (`id_number`, `contract.district`) and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    pub field: String,
    pub reason: String,
}

/// An error as callers see it: a code, a sentence, and for bad input the fields that were wrong.
/// The message never carries ID numbers, phone numbers, passwords or tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub violations: Vec<Violation>,
    /// For rate limits and locks: when trying again makes sense.
    pub retry_after: Option<Duration>,
    /// Machine-readable facts about the refusal, e.g. the state that won a race
    /// (`order_status: written_off`, `written_off_at: …`): `ErrorInfo.metadata` over gRPC,
    /// extension members of the problem over HTTP. Keys are snake_case and never collide
    /// with problem+json's own members.
    pub context: BTreeMap<String, String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            violations: Vec::new(),
            retry_after: None,
            context: BTreeMap::new(),
        }
    }

    /// A bad field: `invalid("phone", "must be an 11-digit mainland mobile number")`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let (field, reason) = (field.into(), reason.into());
        Self {
            code: ErrorCode::InvalidArgument,
            message: format!("{field}: {reason}"),
            violations: vec![Violation { field, reason }],
            retry_after: None,
            context: BTreeMap::new(),
        }
    }

    /// Several bad fields at once; `None` when the list is empty.
    pub fn invalid_fields(violations: Vec<Violation>) -> Option<Self> {
        let message = violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.reason))
            .collect::<Vec<_>>()
            .join("; ");
        (!violations.is_empty()).then_some(Self {
            code: ErrorCode::InvalidArgument,
            message,
            violations,
            retry_after: None,
            context: BTreeMap::new(),
        })
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// What a caller hears of a [`Fault`] in `context` (`ledger request failed`), logged with its
    /// chain: `unavailable` (retry shortly) when it is transient — the database unreachable or
    /// failing over — at warn level; otherwise `internal`, at error level.
    pub fn from_fault(context: &str, fault: &Fault) -> Self {
        if fault.is_transient() {
            tracing::warn!(error = %fault.chain(), "{context}");
            Self::new(
                ErrorCode::Unavailable,
                "storage is unavailable for a moment; retry shortly",
            )
        } else {
            tracing::error!(error = %fault.chain(), "{context}");
            Self::internal()
        }
    }

    /// An internal failure: the caller sees a fixed sentence, never the cause.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }

    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Adds a machine-readable fact (see [`ApiError::context`]).
    pub fn with_context(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.insert(key.into(), value.into());
        self
    }

    /// The first offending field, for problem+json's `field`.
    pub fn field(&self) -> Option<&str> {
        self.violations.first().map(|v| v.field.as_str())
    }

    /// Reads an error back from a status produced by any hop of the mesh (or by the transport).
    pub fn from_status(status: &Status) -> Self {
        let details = status.get_error_details();
        let code = details
            .error_info()
            .filter(|info| info.domain == ERROR_DOMAIN)
            .and_then(|info| ErrorCode::from_name(&info.reason))
            .unwrap_or_else(|| {
                if cut_off(status) {
                    ErrorCode::Unavailable
                } else {
                    ErrorCode::from_grpc(status.code())
                }
            });
        let violations = details
            .bad_request()
            .map(|br| {
                br.field_violations
                    .iter()
                    .map(|v| Violation {
                        field: v.field.clone(),
                        reason: v.description.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let retry_after = details.retry_info().and_then(|r| r.retry_delay);
        let context = details
            .error_info()
            .filter(|info| info.domain == ERROR_DOMAIN)
            .map(|info| info.metadata.clone().into_iter().collect())
            .unwrap_or_default();
        // Transport-level failures carry library text; show a stable sentence instead.
        let message = if details.error_info().is_none() && code.is_server_fault() {
            match code {
                ErrorCode::DeadlineExceeded => "a backend did not answer in time".to_owned(),
                _ => "a backend service is unavailable".to_owned(),
            }
        } else {
            status.message().to_owned()
        };
        Self {
            code,
            message,
            violations,
            retry_after,
            context,
        }
    }
}

/// Whether a status is this side's transport reporting a call cut off mid-way — an HTTP/2
/// stream reset or a dropped connection when the peer was killed — rather than an answer the
/// peer sent. tonic reports such a cut as `UNKNOWN` or `INTERNAL` and keeps the transport error
/// as the status's source; a status read from a peer's trailers has none. A cut call reads as
/// unavailable, so callers retry it with the same ids (every call of the mesh is idempotent
/// on them); a peer's own `INTERNAL` stays an internal error.
fn cut_off(status: &Status) -> bool {
    matches!(status.code(), Code::Unknown | Code::Internal)
        && std::error::Error::source(status).is_some()
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        let mut details = ErrorDetails::with_error_info(
            err.code.as_str(),
            ERROR_DOMAIN,
            err.context
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
        if !err.violations.is_empty() {
            details.set_bad_request(
                err.violations
                    .into_iter()
                    .map(|v| FieldViolation::new(v.field, v.reason))
                    .collect::<Vec<_>>(),
            );
        }
        if let Some(after) = err.retry_after {
            details.set_retry_info(Some(after));
        }
        Status::with_error_details(err.code.grpc(), err.message, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_a_status() {
        for code in ErrorCode::ALL {
            let status: Status = ApiError::new(code, "why").into();
            assert_eq!(status.code(), code.grpc());
            let back = ApiError::from_status(&status);
            assert_eq!(back.code, code);
            assert_eq!(back.message, "why");
            assert_eq!(ErrorCode::from_name(code.as_str()), Some(code));
        }
    }

    #[test]
    fn field_violations_survive_the_hop() {
        let err = ApiError::invalid("id_number", "check digit does not match")
            .with_retry_after(Duration::from_secs(3))
            .with_context("order_status", "written_off");
        let back = ApiError::from_status(&Status::from(err.clone()));
        assert_eq!(back, err);
        assert_eq!(back.field(), Some("id_number"));
        assert_eq!(back.code.http(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn transport_failures_read_as_unavailable_without_library_text() {
        let back = ApiError::from_status(&Status::unavailable("tcp connect error: refused"));
        assert_eq!(back.code, ErrorCode::Unavailable);
        assert_eq!(back.code.http(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!back.message.contains("tcp"));
        // A peer killed mid-call: tonic reports the cut as UNKNOWN with the transport error as
        // its source.
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        let cut = Status::from_error(Box::new(reset));
        assert_eq!(cut.code(), Code::Unknown);
        let back = ApiError::from_status(&cut);
        assert_eq!(back.code, ErrorCode::Unavailable, "{cut:?}");
        assert!(!back.message.contains("reset"));
        // A peer's own answer stays what it said: the mesh's INTERNAL (a bug, a caught panic)
        // and another implementation's UNKNOWN or INTERNAL are not retried.
        let own = ApiError::from_status(&Status::from(ApiError::internal()));
        assert_eq!(own.code, ErrorCode::Internal);
        for answered in [Status::internal("a bug elsewhere"), Status::unknown("?")] {
            assert_eq!(ApiError::from_status(&answered).code, ErrorCode::Internal);
        }
    }
}
