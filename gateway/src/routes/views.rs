//! How the API shows what every audience sees the same way: times as RFC 3339 (UTC, whole
//! seconds), yuan with two decimals, empty strings as absent fields, protobuf enum names in
//! lower case. Route files format through these, never through each other.

use chrono::{DateTime, SecondsFormat, Utc};
use healthpoints_errors::ApiError;
use healthpoints_proto::common::v1::PointsLevel;
use prost_types::Timestamp;
use utoipa::ToSchema;

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

/// Most items in one page of any listing; `page_size` beyond it is refused, not cut.
pub(crate) const PAGE_MAX: u32 = 500;

/// Most entries of a leaderboard.
pub(crate) const LEADERBOARD_MAX: u32 = 100;

fn bounded<'de, D: serde::Deserializer<'de>>(d: D, max: u32) -> Result<Option<u32>, D::Error> {
    use serde::{Deserialize as _, de::Error as _};
    match Option::<u32>::deserialize(d)? {
        Some(n) if !(1..=max).contains(&n) => Err(D::Error::custom(format!(
            "out of range, expected a whole number from 1 to {max}"
        ))),
        n => Ok(n),
    }
}

/// `page_size`: 1 to [`PAGE_MAX`]; absent, the listing's default (50).
pub(crate) fn page_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    bounded(d, PAGE_MAX)
}

/// A leaderboard's `limit`: 1 to [`LEADERBOARD_MAX`]; absent, 10.
pub(crate) fn leaderboard_limit<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u32>, D::Error> {
    bounded(d, LEADERBOARD_MAX)
}

/// The closed sets a request names by text, as schemas: a field keeps its `String` type (the
/// services parse it and name it when it is wrong) and the document lists what it takes with
/// `#[schema(value_type = …)]`.
pub(crate) mod names {
    #![allow(dead_code)]

    use serde::Serialize;
    use utoipa::ToSchema;

    macro_rules! names {
        ($($(#[$doc:meta])* $name:ident { $($value:ident),+ $(,)? })+) => {$(
            $(#[$doc])*
            #[derive(Debug, Serialize, ToSchema)]
            #[serde(rename_all = "snake_case")]
            pub(crate) enum $name { $($value),+ }
        )+};
    }

    names! {
        /// A staff account's role.
        StaffRole { CityAdmin, DistrictAdmin, MerchantOperator, StationStaff }
        /// What a client-credentials client is for.
        ClientKind { Partner, Merchant, Service }
        /// A reviewer's decision on a held record.
        Decision { Release, Reject }
        /// A rule's category.
        RuleCategory { Learning, Lifestyle, PublicHealthService, PublicWelfare }
        /// A product's category.
        ProductCategory { HealthService, HealthProduct }
        /// A category of data a resident consents to share.
        ConsentCategory { StepsExercise, Sleep, ChronicDisease, Vaccination, Screening, PointsSummary }
        /// Whether a partner may act.
        PartnerStatus { Active, Suspended }
        /// A department (no per-resident consent needed) or a commercial partner.
        PartnerKind { Commercial, Department }
        /// How a resident lives in the city.
        ResidenceType { Registered, PermanentMigrant }
        /// The one grant `POST /v1/auth/token` takes.
        GrantType { ClientCredentials }
        /// Which points a challenge or honour pays.
        Level { City, District }
        /// Whether a merchant sells.
        MerchantStatus { Pending, Active, Suspended }
        /// Whether a product is on sale.
        ProductStatus { Active, Inactive }
        /// The window of a per-resident limit.
        LimitPeriod { Day, Week, Month, Year }
        /// How a FHIR Bundle's entries are taken.
        BundleType { Batch, Transaction }
    }

    /// What a partner's client may do (a scope of its token).
    #[derive(Debug, Serialize, ToSchema)]
    pub(crate) enum Scope {
        #[serde(rename = "behaviours:submit")]
        BehavioursSubmit,
        #[serde(rename = "fhir:submit")]
        FhirSubmit,
        #[serde(rename = "contracts:submit")]
        ContractsSubmit,
        #[serde(rename = "statistics:read")]
        StatisticsRead,
        #[serde(rename = "points-summary:read")]
        PointsSummaryRead,
    }
}

/// A GB/T 2260 code of one of the city's districts, for request fields
/// (`#[schema(value_type = District)]`); a test holds the pattern to `DISTRICTS`.
#[derive(Debug, ToSchema)]
#[schema(
    pattern = "^(310101|310104|310105|310106|310107|310109|310110|310112|310113|310114|310115|310116|310117|310118|310120|310151)$"
)]
pub(crate) struct District(#[allow(dead_code)] String);

/// A book of the ledger, for request fields (`#[schema(value_type = BookName)]`): `city`, or
/// `district:` and one of the city's districts; a test holds the pattern to `DISTRICTS`.
#[derive(Debug, ToSchema)]
#[schema(
    pattern = "^(city|district:(310101|310104|310105|310106|310107|310109|310110|310112|310113|310114|310115|310116|310117|310118|310120|310151))$"
)]
pub(crate) struct BookName(#[allow(dead_code)] String);

/// One CSV cell: quoted when it holds a comma, a quote or a line break; a text a spreadsheet
/// would run as a formula (`=`, `+`, `@`, a tab or a carriage return first, or a `-` that is
/// not a number) is kept text with a leading `'`.
pub(crate) fn csv_field(v: &str) -> String {
    let formula = v.starts_with(['=', '+', '@', '\t', '\r'])
        || (v.starts_with('-') && v.parse::<f64>().is_err());
    let v = if formula {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema as _;

    #[test]
    fn the_district_pattern_is_the_citys_districts() {
        let codes: Vec<_> = healthpoints_types::DISTRICTS
            .iter()
            .map(|(c, _)| *c)
            .collect();
        let schema = serde_json::to_value(super::District::schema()).unwrap();
        assert_eq!(schema["pattern"], format!("^({})$", codes.join("|")));
        let schema = serde_json::to_value(super::BookName::schema()).unwrap();
        assert_eq!(
            schema["pattern"],
            format!("^(city|district:({}))$", codes.join("|"))
        );
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("a,b"), "\"a,b\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(super::csv_field("@cmd"), "'@cmd");
        assert_eq!(
            super::csv_field("-300"),
            "-300",
            "negative points stay numbers"
        );
        assert_eq!(super::csv_field("-2+3"), "'-2+3");
    }
}
