//! The exchange domain, free of transport, storage and I/O: partners, records and their
//! outcomes, consent and its categories, the health-station counter, the FHIR mapping, contracts, statistics cells and
//! access-log entries, with the checks that need nothing but the input, and the ports to the
//! peers. The store persists these types; [`crate::service`] works with them.

pub mod audit;
pub mod consent;
pub mod contracts;
pub mod error;
pub mod fhir;
pub mod notify;
pub mod partners;
pub mod products;
pub mod records;
pub mod station;
pub mod statistics;
