//! A failure inside a service that is not the caller's to fix — the database failed, a stored
//! row is corrupt, a peer answered nonsense — with the error that caused it kept as its
//! [`source`](std::error::Error::source), so the log shows the whole chain while the caller is
//! told only "internal error".

use std::{borrow::Cow, error::Error as StdError, fmt};

type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong (`what`), and why (`source`), if an error caused it.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct Fault {
    what: Cow<'static, str>,
    #[source]
    source: Option<Cause>,
    /// Whether the same request may succeed shortly (the database was unreachable, or
    /// failing over): callers are then told `unavailable`, which they retry.
    transient: bool,
}

impl Fault {
    /// A fault found by the service itself (a broken invariant, a corrupt row).
    pub fn new(what: impl Into<Cow<'static, str>>) -> Self {
        Self {
            what: what.into(),
            source: None,
            transient: false,
        }
    }

    /// A fault caused by another error, which stays reachable as the source.
    pub fn caused_by(
        what: impl Into<Cow<'static, str>>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self {
            what: what.into(),
            source: Some(Box::new(source)),
            transient: false,
        }
    }

    /// Marks the fault transient: a retry may succeed shortly.
    pub fn transient(mut self) -> Self {
        self.transient = true;
        self
    }

    /// Whether a retry may succeed shortly.
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// The fault and every cause under it, for a log line: `storage failure: …: …`.
    pub fn chain(&self) -> Chain<'_> {
        Chain(self)
    }
}

/// Displays an error followed by its sources, separated by `": "`.
#[derive(Debug)]
pub struct Chain<'a>(&'a Fault);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = StdError::source(self.0);
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connection reset")]
    struct Reset;

    #[test]
    fn a_fault_keeps_its_cause_as_the_source_and_logs_the_chain() {
        let fault = Fault::caused_by("storage failure", Reset);
        assert_eq!(fault.to_string(), "storage failure");
        assert_eq!(
            StdError::source(&fault).map(ToString::to_string).as_deref(),
            Some("connection reset")
        );
        assert_eq!(
            fault.chain().to_string(),
            "storage failure: connection reset"
        );
        assert_eq!(
            Fault::new("stored time is not valid").chain().to_string(),
            "stored time is not valid"
        );
    }
}
