//! What the exchange does, over its store and its peers (identity, intake and the ledger, each
//! behind a port trait of the domain): partners and their clients, behaviour records and FHIR
//! bundles sent in, the family-doctor contracts feed, consent, the points summary, the
//! de-identified statistics and the access log. Every call that touches a resident's data writes
//! its access-log entries here.

use chrono::{DateTime, Utc};

pub mod audit;
pub mod consent;
pub mod contracts;
pub mod fhir;
pub mod partners;
pub mod products;
pub mod records;
pub mod statistics;

/// The time the exchange's decisions are stamped with (grants, revocations, registrations,
/// access-log entries, the default statistics month).
fn now() -> DateTime<Utc> {
    Utc::now()
}
