//! The intake domain, free of transport and storage types.

pub mod calendar;
pub mod catalogue;
pub mod error;
pub mod judge;
pub mod model;
pub mod play;
pub mod resident;
pub mod review;
pub mod rules;
pub mod service;
pub mod statistics;
