//! Behaviour intake of the healthpoints mesh: turns reports of healthy behaviour into points,
//! fairly, explainably and exactly once. This crate holds the versioned rule catalogue (with
//! the default catalogue shipped as a data file, `catalogue/default.toml`), the Asia/Shanghai
//! calendar that caps are counted in, and the pure judge that decides what one event earns
//! under a rule given what the resident already earned; the store of events and their one
//! outcome each; and `SubmitBehaviours` ([`domain::service::Intake`]), which hands awards to
//! the ledger exactly once.
//!
//! Work in progress (see the intake issue): the gRPC service and its binary, identity and
//! ledger clients, fraud guards and gamification build on this.

pub mod domain;
pub mod store;
