//! The intake domain, free of transport and storage types.

pub mod calendar;
pub mod catalogue;
pub mod error;
pub mod judge;
pub mod model;
pub mod resident;
pub mod rules;
pub mod service;
