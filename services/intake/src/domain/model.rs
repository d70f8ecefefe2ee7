//! Reported events and their outcomes, as the domain sees them.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use healthpoints_types::{Book, DistrictCode, calendar};
use uuid::Uuid;

use super::catalogue::Category;

/// Who an event is about: intake's callers know a resident by id, or a partner by the keyed
/// hash of the ID number (resolved through identity; the number itself never reaches intake).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResidentRef {
    Id(String),
    IdNumberHash(String),
}

/// One reported behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Partner id, or `self` for the resident's own check-in.
    pub source_id: String,
    /// The source's own id for the record: with `source_id`, the dedupe key.
    pub source_event_id: String,
    pub resident: ResidentRef,
    pub behaviour_code: String,
    pub occurred_at: DateTime<Utc>,
    pub quantity: u64,
    /// Where it happened (district-level rules award that district's points).
    pub district: Option<DistrictCode>,
    pub attributes: BTreeMap<String, String>,
}

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    /// Points decided and on their way to the ledger; a retry finishes the hand-off.
    Pending,
    Awarded,
    /// A cap bound: awarded less, or nothing.
    Capped,
    /// The same fact was already reported (see `duplicate_of`).
    Duplicate,
    /// Awaiting review; the points are not lost.
    Held,
    Rejected,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Awarded => "awarded",
            Self::Capped => "capped",
            Self::Duplicate => "duplicate",
            Self::Held => "held",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "awarded" => Self::Awarded,
            "capped" => Self::Capped,
            "duplicate" => Self::Duplicate,
            "held" => Self::Held,
            "rejected" => Self::Rejected,
            _ => return None,
        })
    }
}

/// The one stored outcome of an event: what it earned and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Intake's id for the event.
    pub event_id: Uuid,
    pub source_id: String,
    pub source_event_id: String,
    /// Unset when the resident could not be resolved.
    pub resident_id: Option<String>,
    pub behaviour_code: String,
    pub occurred_at: DateTime<Utc>,
    pub kind: OutcomeKind,
    /// Points awarded (or on their way, or held).
    pub points: u64,
    /// The rule version that judged it.
    pub rule: Option<(String, u32)>,
    /// The cap that bound (`per_day` … `per_lifetime`, `min_interval`, `day_best`).
    pub cap: Option<String>,
    pub points_cut: u64,
    /// Why it earned nothing (rejections): a stable code and a sentence.
    pub reason: Option<(String, String)>,
    pub duplicate_of: Option<Uuid>,
    /// The ledger transfer that carries the points.
    pub transfer_id: Option<Uuid>,
    pub book: Option<Book>,
    pub received_at: DateTime<Utc>,
    /// Set on judged events (and grants) of a known resident.
    pub cohort: Option<Cohort>,
    /// The all-or-none batch it was recorded with: the awards of one go to the ledger together,
    /// linked (all paid or none), also when a hand-off is finished later.
    pub link_group: Option<Uuid>,
}

/// A resident as intake needs to know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resident {
    pub resident_id: String,
    pub suspended: bool,
    /// Whether their district takes part in the programme.
    pub enrolled: bool,
    /// Residence district (challenges offered, leaderboards, whose reviewers see a flag).
    pub district: Option<DistrictCode>,
    /// The name as leaderboards show it, e.g. `张*明`.
    pub name_masked: String,
    /// For the age band of the statistics.
    pub birth_date: Option<NaiveDate>,
    /// `registered`, `permanent_migrant` or `unknown`, for the statistics.
    pub residence_type: &'static str,
}

impl Resident {
    /// The cohort an award for a behaviour of `category` that happened at `at` counts in.
    pub fn cohort(&self, category: Category, at: DateTime<Utc>) -> Cohort {
        Cohort {
            category,
            district: self.district,
            age_band: self.birth_date.map_or("unknown", |birth| {
                calendar::age_band(calendar::age_on(birth, calendar::local_date(at)))
            }),
            residence_type: self.residence_type,
        }
    }
}

/// What the de-identified statistics count an award by, fixed when it is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cohort {
    pub category: Category,
    /// The resident's residence district then.
    pub district: Option<DistrictCode>,
    /// `0-17`, `18-39`, `40-59`, `60+` or `unknown`.
    pub age_band: &'static str,
    pub residence_type: &'static str,
}

impl Cohort {
    /// The age bands and residence types a cohort may name.
    pub const AGE_BANDS: [&'static str; 5] = ["0-17", "18-39", "40-59", "60+", "unknown"];
    pub const RESIDENCE_TYPES: [&'static str; 3] = ["registered", "permanent_migrant", "unknown"];

    /// A cohort as stored: names outside the known ones read as `unknown`.
    pub fn from_names(
        category: Category,
        district: Option<&str>,
        age_band: &str,
        residence_type: &str,
    ) -> Self {
        let known = |names: &[&'static str], name: &str| {
            names
                .iter()
                .copied()
                .find(|n| *n == name)
                .unwrap_or("unknown")
        };
        Self {
            category,
            district: district.and_then(|d| DistrictCode::parse(d).ok()),
            age_band: known(&Self::AGE_BANDS, age_band),
            residence_type: known(&Self::RESIDENCE_TYPES, residence_type),
        }
    }
}

/// Awards of one cohort in one book over a month: distinct residents and points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortFigures {
    pub book: Book,
    pub cohort: Cohort,
    pub residents: u64,
    pub points: u64,
}

/// Distinct residents and points awarded in one book over a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookFigures {
    pub book: Book,
    pub residents: u64,
    pub points: u64,
}

/// Why an event was rejected before or apart from the judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    UnknownBehaviour,
    ResidentUnknown,
    ResidentSuspended,
    ResidentNotEnrolled,
    OccurredInFuture,
    TooOld,
    DistrictRequired,
    BudgetExhausted,
}

impl Rejection {
    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownBehaviour => "unknown_behaviour",
            Self::ResidentUnknown => "resident_unknown",
            Self::ResidentSuspended => "resident_suspended",
            Self::ResidentNotEnrolled => "resident_not_enrolled",
            Self::OccurredInFuture => "occurred_in_future",
            Self::TooOld => "too_old",
            Self::DistrictRequired => "district_required",
            Self::BudgetExhausted => "budget_exhausted",
        }
    }

    pub fn sentence(self) -> &'static str {
        match self {
            Self::UnknownBehaviour => "no rule for this behaviour was in force when it occurred",
            Self::ResidentUnknown => "the resident is not registered",
            Self::ResidentSuspended => "the resident's participation is suspended",
            Self::ResidentNotEnrolled => "the resident's district does not take part yet",
            Self::OccurredInFuture => "the event is dated in the future",
            Self::TooOld => "the event is older than the reporting window",
            Self::DistrictRequired => "a district-level rule needs the district where it happened",
            Self::BudgetExhausted => "the points budget of this book is used up",
        }
    }
}

/// One award for the ledger: from the book's issuance account to the resident's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwardOrder {
    /// Derived from the event, so every retry sends the same transfer.
    pub transfer_id: Uuid,
    pub book: Book,
    pub resident_id: String,
    pub points: u64,
    pub event_id: Uuid,
    pub rule_code: String,
    pub rule_version: u32,
    /// Shown in the resident's history.
    pub reason: String,
    /// The day the points expire on (the book's policy when the behaviour occurred); `None`:
    /// never.
    pub expires_on: Option<NaiveDate>,
}

/// The ledger's answer to one award.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwardAnswer {
    /// Stored (now, or by an earlier attempt).
    Done,
    /// The book's issuance budget would be exceeded.
    BudgetExhausted,
}

/// The ledger transfer id of an event's award: a v8 UUID from the SHA-256 of the event's
/// dedupe key, so even a resubmission to a fresh intake database sends the same transfer.
pub fn award_transfer_id(source_id: &str, source_event_id: &str) -> Uuid {
    let input = format!(
        "healthpoints.intake.award/v1\n{}:{source_id}\n{}:{source_event_id}",
        source_id.len(),
        source_event_id.len()
    );
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d.as_ref()[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}
