//! The identity domain, free of transport, storage and I/O: residents, staff, clients,
//! districts and sessions, the checks on names, numbers and passwords, and the login rate
//! limits. The store persists these types; [`crate::service`] works with them, and the gRPC
//! adapter converts at the edge and maps [`IdentityError`] once.

pub mod error;
pub mod model;
pub mod rate_limit;
pub mod values;

pub use error::IdentityError;
