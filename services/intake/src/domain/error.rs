//! The intake domain's errors; the gRPC adapter maps them to status codes in one place.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum IntakeError {
    /// The request as a whole is malformed (a bad event gets a rejected outcome instead).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The caller may not do this (which rule, district or resident says why).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// Not possible in the current state (e.g. a rule published meanwhile): FAILED_PRECONDITION,
    /// as `Precondition` means in every service.
    #[error("{0}")]
    Precondition(String),
    /// A dependency (identity, the ledger) did not answer; retrying is safe.
    #[error("{0}; retry shortly")]
    Unavailable(String),
    /// Not the caller's to fix: storage failed, a stored row is corrupt, a peer answered
    /// nonsense. Displayed with its causes (a log line says why); the cause also stays
    /// reachable as the source.
    #[error("{}", .0.chain())]
    Internal(#[from] healthpoints_errors::Fault),
}

impl IntakeError {
    /// A fault the service found itself (a broken invariant, a corrupt row).
    pub fn fault(what: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self::Internal(healthpoints_errors::Fault::new(what))
    }

    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = IntakeError> = std::result::Result<T, E>;
