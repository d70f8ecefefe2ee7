//! The mall's domain, free of tonic, sea-orm and I/O: merchants, products, orders with their
//! vouchers and statuses, settlement periods and statements, and the mall's errors. The store
//! persists these types; [`crate::service`] works with them.

pub mod error;
pub mod model;
