//! The intake domain, free of transport, storage and I/O: the rule catalogue and the pure judge,
//! the Asia/Shanghai calendar, events and outcomes, and the types of challenges, check-ins,
//! review and rule drafts. The store persists these types; [`crate::service`] works with them.

pub mod calendar;
pub mod catalogue;
pub mod error;
pub mod expiry;
pub mod judge;
pub mod model;
pub mod play;
pub mod resident;
pub mod review;
pub mod rules;
