//! The mesh as separate OS processes (see `healthpoints_integration_tests::processes`): faults
//! injected from outside — `kill -9`, SIGTERM — and the invariants checked afterwards through
//! the gateway's HTTP API only. Run by `cargo test --workspace` after the service binaries are
//! built.

mod access;
mod commands;
mod failover;
mod faults;
mod journeys;
mod kills;
mod replicas;
mod slow;
mod support;
