//! The intake domain, free of transport and storage types.

pub mod calendar;
pub mod catalogue;
pub mod judge;
