//! Publishing a book's points expiry policy, and reading the policies in force (the domain:
//! [`crate::domain::expiry`]).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use healthpoints_auth::Principal;
use healthpoints_types::{Book, DistrictCode, calendar};
use uuid::Uuid;

use super::{Intake, PointsLedger, Residents, rules};
use crate::domain::{
    error::{IntakeError, Result},
    expiry::{ExpiryPolicies, ExpiryPolicy, PolicyVersion},
    rules::{ChangeKind, RuleChange},
};

/// The changelog's code for a policy change.
pub const EXPIRY_CODE: &str = "points.expiry";

/// How far ahead a new policy must take effect: every replica re-reads the policies within
/// `rules.reload_seconds`, so an award decided before it and retried after it never changes its
/// day; and residents learn of it before it applies.
pub const EXPIRY_NOTICE: Duration = Duration::hours(1);

/// A book's policy now, and the next one if one is published to come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookPolicy {
    pub book: Book,
    pub policy: ExpiryPolicy,
    /// 0: the configured policy.
    pub version: u32,
    /// When the version in force took effect (`None` for the configured one).
    pub effective_from: Option<DateTime<Utc>>,
    pub next: Option<PolicyVersion>,
}

impl<R: Residents, L: PointsLedger> Intake<R, L> {
    pub fn expiry_policies(&self) -> Arc<ExpiryPolicies> {
        self.expiry
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Every book's policy in force now and the one scheduled next.
    pub fn books_expiry(&self) -> Vec<BookPolicy> {
        let policies = self.expiry_policies();
        let now = self.now();
        std::iter::once(Book::City)
            .chain(DistrictCode::all().map(Book::District))
            .map(|book| {
                let (policy, version) = policies.in_force(book, now);
                BookPolicy {
                    book,
                    policy,
                    version,
                    effective_from: policies
                        .versions(book)
                        .find(|v| v.version == version)
                        .map(|v| v.effective_from),
                    next: policies.scheduled(book, now).cloned(),
                }
            })
            .collect()
    }

    /// Publishes a new policy for `book`, effective from `at` (unset: the next midnight in
    /// Asia/Shanghai at least [`EXPIRY_NOTICE`] away). City admins set the city book's, a
    /// district admin their district's.
    pub async fn publish_expiry_policy(
        &self,
        caller: &Principal,
        book: Book,
        policy: ExpiryPolicy,
        at: Option<DateTime<Utc>>,
    ) -> Result<PolicyVersion> {
        let by = rules::staff_id(caller)?;
        let own_book = match (caller, book) {
            (Principal::CityAdmin { .. }, Book::City) => true,
            (Principal::DistrictAdmin { district, .. }, Book::District(d)) => *district == d,
            _ => false,
        };
        if !own_book {
            return Err(IntakeError::Forbidden(
                "the city admin sets the city book's policy, a district admin their district's"
                    .into(),
            ));
        }
        let now = self.now();
        let earliest = now + EXPIRY_NOTICE;
        let at = match at {
            Some(at) if at < earliest => {
                return Err(IntakeError::Precondition(
                    "effective_from must be at least an hour ahead: points already earned keep \
                     their day"
                        .into(),
                ));
            }
            Some(at) => at,
            None => {
                let mut day = calendar::local_date(earliest);
                loop {
                    day = day.succ_opt().unwrap_or(day);
                    match calendar::local_midnight(day) {
                        Some(midnight) if midnight >= earliest => break midnight,
                        Some(_) => {}
                        None => return Err(IntakeError::fault("no next midnight")),
                    }
                }
            }
        };
        let policies = self.expiry_policies();
        if let Some(last) = policies.versions(book).last()
            && last.effective_from >= at
        {
            return Err(IntakeError::Precondition(format!(
                "version {} takes effect at {}; publish after that",
                last.version, last.effective_from
            )));
        }
        let (before, _) = policies.in_force(book, at);
        let version = PolicyVersion {
            book,
            version: policies.next_version(book),
            policy,
            effective_from: at,
            published_by: by.clone(),
            published_at: now,
        };
        let change = RuleChange {
            id: Uuid::now_v7(),
            code: EXPIRY_CODE.into(),
            district: match book {
                Book::City => None,
                Book::District(d) => Some(d),
            },
            version: version.version,
            change: ChangeKind::Changed,
            summary: format!("expiry of {book} points: {before} → {policy}"),
            changed_by: by,
            published_at: now,
            effective_from: at,
        };
        self.store()
            .publish_expiry_policy(&version, &change)
            .await?;
        self.reload_catalogue().await?;
        tracing::info!(%book, version = version.version, %policy, "expiry policy published");
        Ok(version)
    }
}
