//! The mall domain's errors; the gRPC adapter maps them to status codes in one place.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MallError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The caller may not do this to this object.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The same idempotency key was used for a different order: CONFLICT, the one service error
    /// of that name (a state that forbids the call is `Refused` or `OrderState` here,
    /// `Precondition` elsewhere).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed, but the order cannot be placed or changed now: sold out, limit reached,
    /// not enough points, already written off, … The sentence says which.
    #[error("{0}")]
    Refused(String),
    /// Refused because of where the order stands — often because another request (a second
    /// counter, the resident's cancel, the expiry sweeper) got there first. The order travels
    /// with the refusal so the caller is told its state as data, not in a sentence.
    #[error("{reason}")]
    OrderState {
        reason: String,
        order: Box<crate::domain::model::Order>,
    },
    /// The resident's account is suspended.
    #[error("the resident's account is suspended")]
    Suspended,
    /// A dependency (identity, the ledger) did not answer; retrying with the same key is safe.
    #[error("{0}; retry shortly")]
    Unavailable(String),
    /// Not the caller's to fix: storage failed, a stored row is corrupt, a peer answered
    /// nonsense. Displayed with its causes (a log line says why); the cause also stays
    /// reachable as the source.
    #[error("{}", .0.chain())]
    Internal(#[from] healthpoints_errors::Fault),
}

impl MallError {
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

pub type Result<T, E = MallError> = std::result::Result<T, E>;
