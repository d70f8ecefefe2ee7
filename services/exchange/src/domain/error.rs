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
    /// A peer (identity, intake) did not answer; retrying is safe.
    #[error("{0}; retry shortly")]
    Unavailable(String),
    #[error("storage failure: {0}")]
    Store(String),
}

impl ExchangeError {
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = ExchangeError> = std::result::Result<T, E>;
