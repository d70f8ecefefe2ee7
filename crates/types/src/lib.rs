//! Validated value types that cross service boundaries in the healthpoints mesh.
//!
//! Every service parses wire strings into these at its edge (`DistrictCode::parse`,
//! `Book::parse`, …) so that a bare string never travels deeper than the adapter. They carry no
//! transport or storage types, only the rules of the programme: the city's districts (GB/T 2260),
//! the books of points, and the 100-points-per-yuan rate; and the Asia/Shanghai calendar
//! (`calendar`) every service counts days, months and ages by; how typed text is folded and
//! checked before any parser sees it (`text`); the ID number's check character
//! (`id_number`); and the ids, idempotency keys and amounts of points a request names (`ids`).

pub mod calendar;
pub mod id_number;
pub mod ids;
pub mod text;

pub use ids::{
    IdempotencyKey, MerchantId, OrderId, POINTS_PER_YUAN, Points, ProductId, ResidentId,
};

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a value failed to parse; the caller adds which field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// The districts of the city: GB/T 2260 code and English name.
pub const DISTRICTS: &[(&str, &str)] = &[
    ("310101", "Huangpu"),
    ("310104", "Xuhui"),
    ("310105", "Changning"),
    ("310106", "Jing'an"),
    ("310107", "Putuo"),
    ("310109", "Hongkou"),
    ("310110", "Yangpu"),
    ("310112", "Minhang"),
    ("310113", "Baoshan"),
    ("310114", "Jiading"),
    ("310115", "Pudong New Area"),
    ("310116", "Jinshan"),
    ("310117", "Songjiang"),
    ("310118", "Qingpu"),
    ("310120", "Fengxian"),
    ("310151", "Chongming"),
];

/// Districts enrolled out of the box: the pilots, Qingpu and Yangpu.
pub const PILOT_DISTRICTS: &[&str] = &["310118", "310110"];

/// A district of the city, by its six-digit GB/T 2260 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DistrictCode(&'static str);

impl DistrictCode {
    /// Parses a code; only the city's sixteen districts are accepted.
    pub fn parse(code: &str) -> Result<Self, ParseError> {
        let code = text::halfwidth(code);
        let code = code.trim();
        DISTRICTS
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(c, _)| Self(c))
            .ok_or_else(|| {
                if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
                    ParseError("not a district of this city".into())
                } else {
                    ParseError("must be a six-digit GB/T 2260 district code".into())
                }
            })
    }

    /// Every district of the city.
    pub fn all() -> impl Iterator<Item = Self> {
        DISTRICTS.iter().map(|(c, _)| Self(c))
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// The district's English name, e.g. "Qingpu".
    pub fn name(&self) -> &'static str {
        DISTRICTS
            .iter()
            .find(|(c, _)| *c == self.0)
            .map(|(_, n)| *n)
            .unwrap_or_default()
    }
}

impl fmt::Display for DistrictCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl TryFrom<String> for DistrictCode {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DistrictCode> for String {
    fn from(value: DistrictCode) -> Self {
        value.0.to_owned()
    }
}

impl FromStr for DistrictCode {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A book of points: municipal (`city`) or one district's (`district:<code>`). Points in
/// different books are not fungible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Book {
    City,
    District(DistrictCode),
}

impl Book {
    /// Parses `city` or `district:<code>`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s.trim() {
            "city" => Ok(Self::City),
            other => other
                .strip_prefix("district:")
                .ok_or_else(|| ParseError("must be \"city\" or \"district:<code>\"".into()))
                .and_then(DistrictCode::parse)
                .map(Self::District),
        }
    }
}

impl fmt::Display for Book {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::City => f.write_str("city"),
            Self::District(code) => write!(f, "district:{code}"),
        }
    }
}

/// A mall: the city mall or one district's mall, as named in URLs (`city` or a district code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MallId {
    City,
    District(DistrictCode),
}

impl MallId {
    /// Parses `city` or a district code.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s.trim() {
            "city" => Ok(Self::City),
            other => DistrictCode::parse(other)
                .map(Self::District)
                .map_err(|_| ParseError("must be \"city\" or a district code".into())),
        }
    }

    /// The book this mall redeems.
    pub fn book(&self) -> Book {
        match self {
            Self::City => Book::City,
            Self::District(code) => Book::District(*code),
        }
    }
}

impl fmt::Display for MallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::City => f.write_str("city"),
            Self::District(code) => f.write_str(code.as_str()),
        }
    }
}

/// Parses an id that must be a UUID (residents, staff, merchants, orders).
pub fn parse_uuid(s: &str) -> Result<Uuid, ParseError> {
    Uuid::parse_str(s.trim()).map_err(|_| ParseError("must be a UUID".into()))
}

/// Parses a page cursor of a listing keyed by time-ordered ids; empty is the first page.
pub fn uuid_cursor(s: &str) -> Result<Option<Uuid>, ParseError> {
    match s.trim() {
        "" => Ok(None),
        c => Uuid::parse_str(c)
            .map(Some)
            .map_err(|_| ParseError("is not a cursor this listing gave out".into())),
    }
}

/// Parses a page cursor of a listing keyed by a position (a journal sequence); empty is the
/// first page.
pub fn position_cursor(s: &str) -> Result<Option<u64>, ParseError> {
    match s.trim() {
        "" => Ok(None),
        c if c.bytes().all(|b| b.is_ascii_digit()) => c
            .parse()
            .map(Some)
            .map_err(|_| ParseError("is not a cursor this listing gave out".into())),
        _ => Err(ParseError("is not a cursor this listing gave out".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_districts_and_refuses_others() {
        assert_eq!(DistrictCode::parse("310118").unwrap().name(), "Qingpu");
        assert_eq!(
            DistrictCode::parse("３１０１１８").unwrap().name(),
            "Qingpu"
        );
        assert_eq!(DistrictCode::all().count(), 16);
        assert_eq!(
            DistrictCode::parse("110101").unwrap_err().0,
            "not a district of this city"
        );
        assert!(DistrictCode::parse("31011").is_err());
        assert!(DistrictCode::parse("abcdef").is_err());
    }

    #[test]
    fn books_round_trip_through_text() {
        for text in ["city", "district:310110"] {
            assert_eq!(Book::parse(text).unwrap().to_string(), text);
        }
        assert!(Book::parse("district:999999").is_err());
        assert!(Book::parse("310110").is_err());
    }

    #[test]
    fn mall_ids_name_their_book() {
        assert_eq!(MallId::parse("city").unwrap().book(), Book::City);
        assert_eq!(
            MallId::parse("310118").unwrap().book().to_string(),
            "district:310118"
        );
        assert!(MallId::parse("nowhere").is_err());
    }

    proptest::proptest! {
        #[test]
        fn district_books_and_malls_parse_any_text_without_panicking(s in proptest::prelude::any::<String>()) {
            let named = |e: ParseError| !e.0.is_empty();
            proptest::prop_assert!(DistrictCode::parse(&s).err().is_none_or(named));
            proptest::prop_assert!(Book::parse(&s).err().is_none_or(named));
            proptest::prop_assert!(MallId::parse(&s).err().is_none_or(named));
            proptest::prop_assert!(parse_uuid(&s).err().is_none_or(named));
            proptest::prop_assert!(uuid_cursor(&s).err().is_none_or(named));
            proptest::prop_assert!(position_cursor(&s).err().is_none_or(named));
        }
    }
}
