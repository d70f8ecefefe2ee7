//! The ledger domain: accounts and immutable transfers with TigerBeetle's semantics, decided by
//! the pure [`engine`], written in groups by the [`service::Ledger`]'s single writer, and
//! chained per book by the [`journal`].

pub mod engine;
pub mod error;
pub mod journal;
pub mod model;
pub mod service;

pub use error::LedgerError;
pub use service::{AccountSelector, Ledger, LedgerOptions};
