//! What can go wrong in the ledger beyond per-transfer results (those are values, not errors).

use healthpoints_errors::Violation;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("invalid input")]
    Invalid(Vec<Violation>),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("this call needs a bearer token")]
    Unauthenticated,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Precondition(&'static str),
    #[error("the ledger is shutting down")]
    ShuttingDown,
    #[error("storage failure: {0}")]
    Store(String),
}

impl LedgerError {
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid(vec![Violation {
            field: field.to_owned(),
            reason: reason.into(),
        }])
    }
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
