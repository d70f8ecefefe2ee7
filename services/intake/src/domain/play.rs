//! The fun part: challenges (a goal on a behaviour over a window; join, progress, a bonus on
//! completion, exactly once), leaderboards (opt-in, masked names) and honours ("health star" of
//! the month, awarded by admins with points and a citation).
//!
//! Bonuses and honours are **grants**: points decided by the programme rather than a rule,
//! recorded as an outcome under a key of their own (`challenge:<id>:<resident>`,
//! `honour:<honour>:<period>:<scope>:<resident>`), so, like any event, a grant is made once
//! however often it is asked for, and its ledger transfer id derives from that key.

use chrono::{DateTime, Utc};
use healthpoints_types::{Book, DistrictCode};
use uuid::Uuid;

use super::{catalogue::Level, model::Outcome};

/// Source of challenge bonuses.
pub const CHALLENGE_SOURCE: &str = "challenge";
/// Source of honours.
pub const HONOUR_SOURCE: &str = "honour";
/// The largest challenge bonus or honour: 10,000 points (¥100).
pub const MAX_GRANT: u64 = 10_000;

/// A challenge: reach `daily_min_quantity` of a behaviour on `days_required` (Asia/Shanghai)
/// days within `[starts_at, ends_at)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub id: Uuid,
    pub title: String,
    /// `None`: city-wide.
    pub district: Option<DistrictCode>,
    pub behaviour_code: String,
    pub daily_min_quantity: u64,
    pub days_required: u32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub bonus_points: u64,
    pub level: Level,
    pub created_by: String,
}

impl Challenge {
    pub(crate) fn book(&self) -> Option<Book> {
        match self.level {
            Level::City => Some(Book::City),
            Level::District => self.district.map(Book::District),
        }
    }

    pub(crate) fn bonus_key(&self, resident_id: &str) -> String {
        format!("challenge:{}:{resident_id}", self.id)
    }
}

/// A resident's standing in a challenge.
#[derive(Debug, Clone)]
pub struct Progress {
    pub challenge: Challenge,
    pub joined: bool,
    pub days_done: u32,
    pub bonus: Option<Outcome>,
}

/// One leaderboard line as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderboardRow {
    pub resident_id: String,
    pub name_masked: String,
    pub district: Option<DistrictCode>,
    pub points: u64,
}

/// A ranked leaderboard line (equal points share a rank: 1, 1, 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    pub rank: u32,
    pub name_masked: String,
    pub district: Option<DistrictCode>,
    pub points: u64,
}

/// An honour to award.
#[derive(Debug, Clone)]
pub struct Honour {
    pub resident_id: String,
    /// e.g. `health-star`.
    pub honour: String,
    /// `2026-11`.
    pub period: String,
    /// `None`: a city honour (municipal points); else the district's (its points).
    pub district: Option<DistrictCode>,
    pub points: u64,
    pub citation: String,
}
