//! Consent, PIPL-style: a resident grants or revokes, per partner and per data category, with
//! a purpose and a time. A **commercial** partner's records in a category that needs consent are
//! refused while consent is absent or revoked; a **department** reports under its statutory
//! duty. Reading a resident's data out (the points summary) always needs their consent.
//! Revoking never removes points already earned.

use super::error::{ExchangeError, Result};
use chrono::{DateTime, Utc};

macro_rules! categories {
    ($($variant:ident => $text:literal),+ $(,)?) => {
        /// A data category a resident consents to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Category { $($variant),+ }

        impl Category {
            pub const ALL: &'static [Category] = &[$(Category::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Category::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Category::$variant),)+ _ => None }
            }
        }
    };
}

categories!(
    StepsExercise => "steps_exercise",
    Sleep => "sleep",
    ChronicDisease => "chronic_disease",
    Vaccination => "vaccination",
    Screening => "screening",
    PointsSummary => "points_summary",
);

/// The category a behaviour's records belong to, if it is personal data that needs consent.
pub fn category_of(behaviour: &str) -> Option<Category> {
    Some(match behaviour {
        "steps.daily" | "exercise.session" => Category::StepsExercise,
        "sleep.healthy" => Category::Sleep,
        "chronic.follow_up" => Category::ChronicDisease,
        "vaccination" => Category::Vaccination,
        "screening" | "elderly.health_check" | "prenatal.check" | "student.check" => {
            Category::Screening
        }
        _ => return None,
    })
}

/// Who a partner is, for consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerKind {
    /// A city department: reports under its statutory duty.
    Department,
    /// An app, a wearable maker, an insurer: needs the resident's consent per category.
    Commercial,
}

impl PartnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Department => "department",
            Self::Commercial => "commercial",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "department" => Some(Self::Department),
            "commercial" => Some(Self::Commercial),
            _ => None,
        }
    }
}

/// One consent, current or revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub resident_id: String,
    pub partner_id: String,
    pub category: Category,
    pub purpose: String,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Consent {
    pub fn active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

pub(crate) fn category(raw: Option<Category>) -> Result<Category> {
    raw.ok_or_else(|| {
        ExchangeError::invalid(
            "category",
            "must be steps_exercise, sleep, chronic_disease, vaccination, screening or points_summary",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which records need a resident's consent when a commercial partner sends them: every
    /// behaviour that is personal health data, in its category (docs/exchange.md, "Consent").
    #[test]
    fn personal_health_data_has_its_category_and_nothing_else_does() {
        use Category::*;
        for (behaviour, category) in [
            ("steps.daily", StepsExercise),
            ("exercise.session", StepsExercise),
            ("sleep.healthy", Sleep),
            ("chronic.follow_up", ChronicDisease),
            ("vaccination", Vaccination),
            ("screening", Screening),
            ("elderly.health_check", Screening),
            ("prenatal.check", Screening),
            ("student.check", Screening),
        ] {
            assert_eq!(category_of(behaviour), Some(category), "{behaviour}");
        }
        for public in [
            "blood.donation",
            "community.lecture",
            "learning.article",
            "steps",
            "",
        ] {
            assert_eq!(category_of(public), None, "{public}");
        }
    }

    #[test]
    fn a_consent_is_active_until_revoked() {
        let now = Utc::now();
        let mut consent = Consent {
            resident_id: "r".into(),
            partner_id: "p".into(),
            category: Category::Sleep,
            purpose: "coaching".into(),
            granted_at: now,
            revoked_at: None,
        };
        assert!(consent.active());
        consent.revoked_at = Some(now);
        assert!(!consent.active());
    }
}
