//! Behaviour intake of the healthpoints mesh: turns reports of healthy behaviour into points,
//! fairly, explainably and exactly once. This crate holds the versioned rule catalogue (with
//! the default catalogue shipped as a data file, `catalogue/default.toml`), the Asia/Shanghai
//! calendar that caps are counted in, and the pure judge that decides what one event earns
//! under a rule given what the resident already earned.
//!
//! Work in progress (see the intake issue): the store, the gRPC service, the ledger hand-off,
//! fraud guards and gamification build on this domain layer.

pub mod domain;
