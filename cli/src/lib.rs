//! The composition root of healthpoints: the one crate that knows every service. `healthpoints
//! up` runs identity, the ledger, intake, the exchange, the city mall and the district malls in
//! one process — each on its own loopback port and database (SQLite files, or databases of one
//! PostgreSQL server: [`databases`]), talking real gRPC — with the gateway in front ([`mesh`]); `--demo` seeds a small world to try ([`demo`]). Who runs, whom
//! each calls and how each is configured is written once ([`plan`]); the process mesh of the
//! tests and the benchmarks read the same plan. Each service also runs alone from its own
//! binary; the gateway knows only the contracts.

pub mod backup;
pub mod chart;
pub mod databases;
pub mod demo;
pub mod import;
pub mod mesh;
pub mod plan;
