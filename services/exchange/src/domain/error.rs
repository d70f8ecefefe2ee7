//! The exchange domain's errors; the gRPC adapter maps them to status codes in one place.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ExchangeError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// Not allowed; the sentence says which scope or role was missing.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// Already there (a partner id or client taken): ALREADY_EXISTS, as in every service.
    #[error("{0}")]
    AlreadyExists(String),
    /// Not possible in the state things are in (a suspended resident at the counter).
    #[error("{0}")]
    Refused(String),
    /// A peer (identity, intake) did not answer; retrying is safe.
    #[error("{0}; retry shortly")]
    Unavailable(String),
    /// Not the caller's to fix: storage failed, a stored row is corrupt, a peer answered
    /// nonsense. Displayed with its causes (a log line says why); the cause also stays
    /// reachable as the source.
    #[error("{}", .0.chain())]
    Internal(#[from] healthpoints_errors::Fault),
}

impl ExchangeError {
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

pub type Result<T, E = ExchangeError> = std::result::Result<T, E>;
