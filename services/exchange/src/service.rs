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

/// The exchange's one clock: grants, revocations, registrations, new clients, contract
/// answers, access-log entries and the default statistics month are all stamped with it; the
/// store reads no time of its own.
fn now() -> DateTime<Utc> {
    Utc::now()
}
