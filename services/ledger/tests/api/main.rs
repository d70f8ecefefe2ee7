//! The ledger on a fresh database per test (SQLite, or PostgreSQL when `HP_TEST_DATABASE_URL`
//! is set): its rules through the domain, its invariants under random and concurrent load, and
//! the service over real gRPC with real tokens.

mod concurrency;
mod figures;
mod helpers;
mod lots;
mod notices;
mod opening;
mod property;
mod service;
mod store;
