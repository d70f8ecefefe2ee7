//! The mall's domain against a real ledger (in process, its own database) and a real store, on
//! SQLite or — with `HP_TEST_DATABASE_URL` — PostgreSQL.

mod counter;
mod faults;
mod flash;
mod helpers;
mod orders;
mod property;
mod rights;
mod settlement;
