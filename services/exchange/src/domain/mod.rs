//! The exchange domain, free of transport and storage types.

pub mod error;
pub mod partners;
pub mod records;
