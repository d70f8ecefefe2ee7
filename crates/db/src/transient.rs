//! Which storage failures are worth a retry. A database that cannot be reached, a connection
//! cut, a pool with no connection to give, or a server shutting down, restarting or still a
//! read-only standby (a failover under way) fails this request but may serve the next: the
//! caller is told `unavailable` and retries. Anything else (a constraint, a bad statement, a
//! corrupt row) is a bug or a broken invariant, `internal`.

use healthpoints_errors::Fault;
use sea_orm::{DbErr, RuntimeErr, sqlx};

/// PostgreSQL error codes of a server that is going away, not yet accepting writes, or out of
/// connections: `57P01` admin shutdown, `57P02` crash shutdown, `57P03` cannot connect now,
/// `25006` read-only transaction (a standby not yet promoted), `53300` too many connections.
/// Class `08` (connection exception) is transient as a whole.
const TRANSIENT_CODES: &[&str] = &["57P01", "57P02", "57P03", "25006", "53300"];

/// Whether `err` is a failure of reaching the database rather than of the request.
pub fn is_transient(err: &DbErr) -> bool {
    let runtime = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(runtime) | DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
        _ => return false,
    };
    let RuntimeErr::SqlxError(error) = runtime else {
        return matches!(err, DbErr::Conn(_));
    };
    match error.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || TRANSIENT_CODES.contains(&code.as_ref())),
        _ => false,
    }
}

/// A storage failure as the service's [`Fault`], transient when [`is_transient`].
pub fn storage_fault(err: DbErr) -> Fault {
    let transient = is_transient(&err);
    let fault = Fault::caused_by("storage failure", err);
    if transient { fault.transient() } else { fault }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_is_transient_and_a_bad_statement_is_not() {
        let io = DbErr::Conn(RuntimeErr::SqlxError(std::sync::Arc::new(sqlx::Error::Io(
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        ))));
        assert!(storage_fault(io).is_transient());
        let timed_out = DbErr::Exec(RuntimeErr::SqlxError(std::sync::Arc::new(
            sqlx::Error::PoolTimedOut,
        )));
        assert!(is_transient(&timed_out));
        let bad = DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(
            sqlx::Error::RowNotFound,
        )));
        assert!(!is_transient(&bad));
        assert!(!storage_fault(DbErr::Custom("corrupt".into())).is_transient());
    }
}
