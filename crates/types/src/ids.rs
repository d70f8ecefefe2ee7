//! The ids and amounts a request names, parsed once at a service's edge: whose order, which
//! product, how many points, under which idempotency key. A use case that takes a [`ProductId`]
//! cannot be handed a resident's id by mistake, and never sees the string it came from.

use std::fmt;

use uuid::Uuid;

use crate::{ParseError, parse_uuid};

macro_rules! uuid_ids {
    ($($(#[$doc:meta])* $name:ident;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// Parses a UUID, surrounding blanks ignored.
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                parse_uuid(s).map(Self)
            }

            /// Parses an optional id: empty text is "not given".
            pub fn parse_optional(s: &str) -> Result<Option<Self>, ParseError> {
                match s.trim() {
                    "" => Ok(None),
                    s => Self::parse(s).map(Some),
                }
            }

            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl PartialEq<Uuid> for $name {
            fn eq(&self, other: &Uuid) -> bool {
                self.0 == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )+};
}

uuid_ids! {
    /// A resident, as identity registered them.
    ResidentId;
    /// A merchant admitted to a mall.
    MerchantId;
    /// A product a merchant sells in a mall.
    ProductId;
    /// An order placed in a mall.
    OrderId;
}

/// The key a client sends so that a retried request is answered, not repeated: 1 to 128
/// printable ASCII characters, surrounding blanks ignored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let key = raw.trim();
        if key.is_empty() || key.len() > Self::MAX_LEN {
            return Err(ParseError(format!(
                "must be 1 to {} characters",
                Self::MAX_LEN
            )));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(ParseError("must be printable ASCII characters".into()));
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Points per yuan: 100 points buy ¥1, so one point is one fen.
pub const POINTS_PER_YUAN: u64 = 100;

/// An amount of points, never negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Points(u64);

impl Points {
    pub const ZERO: Self = Self(0);

    pub const fn new(points: u64) -> Self {
        Self(points)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    /// `quantity` of this amount; `None` if it does not fit.
    pub fn times(self, quantity: u32) -> Option<Self> {
        self.0.checked_mul(u64::from(quantity)).map(Self)
    }

    /// The amount in yuan as a resident reads it, e.g. 1234 points → "¥12.34".
    pub fn yuan(self) -> String {
        format!(
            "¥{}.{:02}",
            self.0 / POINTS_PER_YUAN,
            self.0 % POINTS_PER_YUAN
        )
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_once_and_say_why_not() {
        let id = Uuid::now_v7();
        assert_eq!(ResidentId::parse(&format!(" {id} ")).unwrap(), id);
        assert_eq!(OrderId::parse("x").unwrap_err().0, "must be a UUID");
        assert_eq!(MerchantId::parse_optional(" ").unwrap(), None);
        assert!(ProductId::parse_optional("nope").is_err());
    }

    #[test]
    fn idempotency_keys_are_short_printable_ascii() {
        assert_eq!(
            IdempotencyKey::parse(" order-1 ").unwrap().as_str(),
            "order-1"
        );
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("键").is_err());
        assert!(IdempotencyKey::parse("a\u{0}b").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(129)).is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(128)).is_ok());
    }

    #[test]
    fn points_read_in_yuan_and_refuse_overflow() {
        assert_eq!(Points::new(1234).yuan(), "¥12.34");
        assert_eq!(Points::new(5).yuan(), "¥0.05");
        assert_eq!(Points::new(7).times(3), Some(Points::new(21)));
        assert_eq!(Points::new(u64::MAX).times(2), None);
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_names_why(s in proptest::prelude::any::<String>()) {
            let named = |e: ParseError| !e.0.is_empty();
            proptest::prop_assert!(ResidentId::parse(&s).err().is_none_or(named));
            proptest::prop_assert!(IdempotencyKey::parse(&s).err().is_none_or(named));
        }
    }
}
