//! Times in requests, read the same way by every service: a timestamp out of range is the
//! caller's error, named by its field.

use chrono::{DateTime, Utc};
use healthpoints_errors::ApiError;
use prost_types::Timestamp;
use tonic::Status;

pub use healthpoints_proto::time::{datetime, timestamp};

/// The instant of a required field, or INVALID_ARGUMENT naming it.
pub fn read(field: &str, t: &Timestamp) -> Result<DateTime<Utc>, Status> {
    datetime(t).ok_or_else(|| ApiError::invalid(field, "is not a valid time").into())
}

/// The instant of an optional field (`None` when absent), or INVALID_ARGUMENT naming it.
pub fn read_optional(field: &str, t: Option<&Timestamp>) -> Result<Option<DateTime<Utc>>, Status> {
    t.map(|t| read(field, t)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_out_of_range_is_refused_by_field() {
        let bad = Timestamp {
            seconds: 0,
            nanos: -1,
        };
        let err = read_optional("to", Some(&bad)).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert_eq!(ApiError::from_status(&err).violations[0].field, "to");
        assert_eq!(read_optional("to", None).unwrap(), None);
        let now = Utc::now();
        assert_eq!(read("from", &timestamp(now)).unwrap(), now);
    }
}
