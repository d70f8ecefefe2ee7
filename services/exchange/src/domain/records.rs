//! Behaviour records from partners: the scope and the partner's behaviour list are checked, the
//! person resolved (an ID number through identity's keyed-hash lookup; the number is not kept
//! here), and the batch forwarded to intake, which answers one outcome per record. Idempotent
//! per (partner, record id): intake keys every event by its source and the source's record id.

use super::error::{ExchangeError, Result};
use chrono::{DateTime, Utc};
use healthpoints_types::DistrictCode;
use std::{collections::BTreeMap, future::Future};

/// The most records one request may carry.
pub const MAX_RECORDS: usize = 1_000;

/// Who a record is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Person {
    IdNumber(String),
    ResidentId(String),
}

/// One record as a partner sends it.
#[derive(Debug, Clone)]
pub struct Record {
    pub record_id: String,
    pub person: Person,
    pub behaviour: String,
    pub occurred_at: DateTime<Utc>,
    pub quantity: u64,
    pub district: String,
    pub attributes: BTreeMap<String, String>,
}

/// A record ready for intake: the person resolved to a resident id.
#[derive(Debug, Clone)]
pub struct Forward {
    pub source_id: String,
    pub record_id: String,
    pub resident_id: String,
    pub behaviour: String,
    pub occurred_at: DateTime<Utc>,
    pub quantity: u64,
    pub district: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    Awarded,
    Capped,
    Duplicate,
    Held,
    Rejected,
    /// Points decided and on their way to the ledger.
    Pending,
    /// A contract record was applied.
    Applied,
    /// All or none was asked and another record was refused: this one was not recorded.
    NotProcessed,
}

impl RecordOutcome {
    /// Its name, as stored and as partners read it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Awarded => "awarded",
            Self::Capped => "capped",
            Self::Duplicate => "duplicate",
            Self::Held => "held",
            Self::Rejected => "rejected",
            Self::Pending => "pending",
            Self::Applied => "applied",
            Self::NotProcessed => "not_processed",
        }
    }
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordResult {
    pub record_id: String,
    pub outcome: RecordOutcome,
    pub points: u64,
    pub reason_code: String,
    pub reason: String,
}

impl RecordResult {
    /// A record of a refused all-or-none submission that was refused for another's sake.
    pub fn not_processed(record_id: &str) -> Self {
        Self {
            record_id: record_id.to_owned(),
            outcome: RecordOutcome::NotProcessed,
            points: 0,
            reason_code: String::new(),
            reason: String::new(),
        }
    }

    pub fn rejected(record_id: &str, code: &str, reason: &str) -> Self {
        Self {
            record_id: record_id.to_owned(),
            outcome: RecordOutcome::Rejected,
            points: 0,
            reason_code: code.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

/// What became of a batch: one result per record, in order, and whether the records were
/// recorded (false only when a batch sent all or none was refused: then nothing was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub results: Vec<RecordResult>,
    pub recorded: bool,
}

/// intake's `SubmitBehaviours`, seen from the exchange.
pub trait Behaviours: Send + Sync {
    /// One result per forwarded record, in order. `all_or_none`: every record is recorded or,
    /// when any would be rejected, none is.
    fn submit(
        &self,
        records: Vec<Forward>,
        all_or_none: bool,
    ) -> impl Future<Output = Result<Judged>> + Send;
}

/// Checks one record's fields, naming the first bad one as `records[i].<field>`.
pub fn check(i: usize, r: &Record) -> Result<()> {
    let prefix = format!("records[{i}].");
    check_fields(&prefix, r)?;
    let field = |name: &str| format!("{prefix}{name}");
    match &r.person {
        Person::IdNumber(n) if n.trim().is_empty() => Err(ExchangeError::invalid(
            &field("id_number"),
            "must not be empty",
        )),
        Person::ResidentId(id) if id.trim().is_empty() || id.len() > 64 => Err(
            ExchangeError::invalid(&field("resident_id"), "must be 1 to 64 characters"),
        ),
        _ => Ok(()),
    }
}

/// The checks of [`check`] but the person's, naming fields `<prefix><name>` (a health-station
/// record proves its person another way).
pub fn check_fields(prefix: &str, r: &Record) -> Result<()> {
    let field = |name: &str| format!("{prefix}{name}");
    if r.record_id.trim().is_empty()
        || r.record_id.len() > 128
        || r.record_id.chars().any(char::is_control)
    {
        return Err(ExchangeError::invalid(
            &field("record_id"),
            "must be 1 to 128 characters, without control characters",
        ));
    }
    if r.behaviour.trim().is_empty() || r.behaviour.len() > 64 {
        return Err(ExchangeError::invalid(
            &field("behaviour"),
            "must be 1 to 64 characters",
        ));
    }
    if !r.district.trim().is_empty() && DistrictCode::parse(r.district.trim()).is_err() {
        return Err(ExchangeError::invalid(
            &field("district"),
            "must be a district code (GB/T 2260, e.g. 310118)",
        ));
    }
    if i64::try_from(r.quantity).is_err() {
        return Err(ExchangeError::invalid(&field("quantity"), "is too large"));
    }
    if r.attributes.len() > 32
        || r.attributes
            .iter()
            .any(|(k, v)| k.is_empty() || k.len() > 64 || v.len() > 512)
    {
        return Err(ExchangeError::invalid(
            &field("attributes"),
            "at most 32 attributes, names of 1 to 64 and values of up to 512 characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            record_id: "r-1".into(),
            person: Person::ResidentId("0190f1a2-0000-7000-8000-000000000001".into()),
            behaviour: "steps.daily".into(),
            occurred_at: Utc::now(),
            quantity: 9_000,
            district: String::new(),
            attributes: BTreeMap::new(),
        }
    }

    /// The field `check` names, or "" when the record passes.
    fn refused(change: impl FnOnce(&mut Record)) -> String {
        let mut r = record();
        change(&mut r);
        match check(3, &r) {
            Ok(()) => String::new(),
            Err(ExchangeError::Invalid { field, .. }) => field,
            Err(e) => panic!("{e}"),
        }
    }

    /// Each bound holds exactly: the longest allowed passes, one more is refused by name.
    #[test]
    fn each_field_is_checked_at_its_exact_bounds() {
        let long = |n: usize| "x".repeat(n);
        assert_eq!(refused(|_| {}), "");
        assert_eq!(
            refused(|r| r.record_id = " ".into()),
            "records[3].record_id"
        );
        assert_eq!(refused(|r| r.record_id = long(128)), "");
        assert_eq!(refused(|r| r.record_id = long(129)), "records[3].record_id");
        assert_eq!(
            refused(|r| r.record_id = "a\u{7}b".into()),
            "records[3].record_id"
        );
        assert_eq!(
            refused(|r| r.behaviour = String::new()),
            "records[3].behaviour"
        );
        assert_eq!(refused(|r| r.behaviour = long(64)), "");
        assert_eq!(refused(|r| r.behaviour = long(65)), "records[3].behaviour");
        assert_eq!(refused(|r| r.district = "310118".into()), "");
        assert_eq!(
            refused(|r| r.district = "999999".into()),
            "records[3].district"
        );
        assert_eq!(refused(|r| r.quantity = i64::MAX as u64), "");
        assert_eq!(
            refused(|r| r.quantity = i64::MAX as u64 + 1),
            "records[3].quantity"
        );
        let attributes = |n: usize| (0..n).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert_eq!(refused(|r| r.attributes = attributes(32)), "");
        assert_eq!(
            refused(|r| r.attributes = attributes(33)),
            "records[3].attributes"
        );
        let one = |k: String, v: String| [(k, v)].into_iter().collect();
        assert_eq!(
            refused(|r| r.attributes = one(String::new(), "v".into())),
            "records[3].attributes"
        );
        assert_eq!(refused(|r| r.attributes = one(long(64), long(512))), "");
        assert_eq!(
            refused(|r| r.attributes = one(long(65), "v".into())),
            "records[3].attributes"
        );
        assert_eq!(
            refused(|r| r.attributes = one("k".into(), long(513))),
            "records[3].attributes"
        );
        assert_eq!(
            refused(|r| r.person = Person::IdNumber(" ".into())),
            "records[3].id_number"
        );
        assert_eq!(refused(|r| r.person = Person::IdNumber("3".into())), "");
        assert_eq!(
            refused(|r| r.person = Person::ResidentId(String::new())),
            "records[3].resident_id"
        );
        assert_eq!(refused(|r| r.person = Person::ResidentId(long(64))), "");
        assert_eq!(
            refused(|r| r.person = Person::ResidentId(long(65))),
            "records[3].resident_id"
        );
    }
}
