//! The mall domain, free of tonic and sea-orm types: merchants and their catalogue, orders with
//! their vouchers, write-off, cancel, expiry, refunds and settlement, and the ports it needs —
//! who a resident is ([`service::Residents`]) and where points move ([`service::PointsLedger`]).

pub mod error;
pub mod model;
pub mod service;
