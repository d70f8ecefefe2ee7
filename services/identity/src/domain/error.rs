//! Everything that can go wrong in the identity domain. Converted to the mesh's `ApiError` in
//! exactly one place (the gRPC adapter).

use std::time::Duration;

use healthpoints_errors::Violation;
use healthpoints_types::DistrictCode;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("invalid input")]
    Invalid(Vec<Violation>),
    #[error("district {0} has not joined the programme")]
    DistrictNotEnrolled(DistrictCode),
    #[error("a resident with this ID number is already registered")]
    IdNumberTaken,
    #[error("this phone number is already registered")]
    PhoneTaken,
    #[error("this username is taken")]
    UsernameTaken,
    #[error("login or password is wrong")]
    InvalidCredentials,
    #[error("client id or secret is wrong")]
    InvalidClientCredentials,
    #[error("too many failed logins; the account is locked")]
    AccountLocked { retry_after: Duration },
    #[error("too many attempts; slow down")]
    RateLimited { retry_after: Duration },
    #[error("this account is suspended")]
    Suspended,
    #[error("this account was closed by its owner")]
    Closed,
    #[error("refresh token is not valid")]
    RefreshTokenInvalid,
    /// A spent refresh token presented after the reuse grace: its session (the token's family)
    /// was revoked, wherever it was shared; the person's other sessions are untouched.
    #[error(
        "this refresh token was already used, so its session has been signed out on every device that shared it; log in again (other sessions are not affected)"
    )]
    RefreshTokenReused,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("this call needs a bearer token")]
    Unauthenticated,
    #[error("{0}")]
    Precondition(&'static str),
    /// A well-formed value the account refuses (a wrong current password, a wrong or expired
    /// code): 422 naming the field.
    #[error("{field}: {reason}")]
    Refused {
        field: &'static str,
        reason: &'static str,
    },
    /// Not the caller's to fix: storage failed, a stored row is corrupt, a peer answered
    /// nonsense. Displayed with its causes (a log line says why); the cause also stays
    /// reachable as the source.
    #[error("{}", .0.chain())]
    Internal(#[from] healthpoints_errors::Fault),
    #[error("crypto failure: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
}

impl IdentityError {
    /// A fault the service found itself (a broken invariant, a corrupt row).
    pub fn fault(what: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self::Internal(healthpoints_errors::Fault::new(what))
    }

    /// One bad field.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid(vec![Violation {
            field: field.to_owned(),
            reason: reason.into(),
        }])
    }
}

pub type Result<T, E = IdentityError> = std::result::Result<T, E>;
