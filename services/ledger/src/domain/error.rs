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
    /// Not the caller's to fix: storage failed, a stored row is corrupt, a peer answered
    /// nonsense. Displayed with its causes (a log line says why); the cause also stays
    /// reachable as the source.
    #[error("{}", .0.chain())]
    Internal(#[from] healthpoints_errors::Fault),
}

impl LedgerError {
    /// A fault the service found itself (a broken invariant, a corrupt row).
    pub fn fault(what: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self::Internal(healthpoints_errors::Fault::new(what))
    }

    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid(vec![Violation {
            field: field.to_owned(),
            reason: reason.into(),
        }])
    }
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
