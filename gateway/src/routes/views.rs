//! How the API shows what every audience sees the same way: times as RFC 3339 (UTC, whole
//! seconds), yuan with two decimals, empty strings as absent fields, protobuf enum names in
//! lower case. Route files format through these, never through each other.

use chrono::{DateTime, SecondsFormat, Utc};
use healthpoints_errors::ApiError;
use healthpoints_proto::common::v1::PointsLevel;
use prost_types::Timestamp;

/// A protobuf time as RFC 3339, or `None` when absent or out of range.
pub(crate) fn rfc3339(t: Option<Timestamp>) -> Option<String> {
    let t = t?;
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// An RFC 3339 time from a request, or 400 naming `field`.
pub(crate) fn timestamp(field: &str, raw: &str) -> Result<Timestamp, ApiError> {
    let t = DateTime::parse_from_rfc3339(raw.trim())
        .map_err(|_| ApiError::invalid(field, "must be an RFC 3339 time"))?
        .with_timezone(&Utc);
    Ok(Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or_default(),
    })
}

/// `None` for an empty string (proto3 has no absent strings).
pub(crate) fn some(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// A protobuf enum name without its prefix, in lower case (`POINTS_LEVEL_CITY` → `city`).
pub(crate) fn enum_name(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_ascii_lowercase()
}

/// Points as yuan: "12.34".
pub(crate) fn yuan(points: u64) -> String {
    format!("{}.{:02}", points / 100, points % 100)
}

/// `city` or `district`, as the API names a points level.
pub(crate) fn level_name(level: i32) -> String {
    PointsLevel::try_from(level)
        .map(|l| enum_name(l.as_str_name(), "POINTS_LEVEL_"))
        .unwrap_or_default()
}

/// The wire level of `city` or `district`; anything else is refused naming `field`.
pub(crate) fn level_from_name(field: &str, name: &str) -> Result<PointsLevel, ApiError> {
    match name {
        "city" => Ok(PointsLevel::City),
        "district" => Ok(PointsLevel::District),
        _ => Err(ApiError::invalid(field, "must be city or district")),
    }
}
