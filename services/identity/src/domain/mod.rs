//! The identity domain: residents, staff, clients, districts, sessions and tokens. No transport
//! types here; the gRPC adapter converts at the edge and maps [`IdentityError`] once.

pub mod error;
pub mod model;
pub mod rate_limit;
pub mod service;
pub mod tokens;
pub mod values;

pub use error::IdentityError;
pub use service::{
    ClientSpec, ContractAction, Identity, Policy, Registration, ResidentRef, StaffSpec, TokenPair,
};
