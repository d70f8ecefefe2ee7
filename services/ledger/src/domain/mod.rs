//! The ledger domain, free of transport, storage and I/O: accounts and immutable transfers with
//! TigerBeetle's semantics, decided by the pure [`engine`] and chained per book by the
//! [`journal`]. The store persists them; [`crate::service::Ledger`]'s single writer writes them
//! in groups.

pub mod engine;
pub mod error;
pub mod journal;
pub mod lots;
pub mod model;

pub use error::LedgerError;
