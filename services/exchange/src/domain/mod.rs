//! The exchange domain, free of transport and storage types.

pub mod audit;
pub mod consent;
pub mod contracts;
pub mod error;
pub mod fhir;
pub mod partners;
pub mod products;
pub mod records;
pub mod statistics;
