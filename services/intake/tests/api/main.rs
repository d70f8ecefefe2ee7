//! Intake on a real database (SQLite, or PostgreSQL when `HP_TEST_DATABASE_URL` is set) with a
//! real ledger in-process: outcomes, caps counted from the store, max-not-sum steps, and
//! exactly-once awards when the ledger fails mid-way; fraud review, challenges, leaderboards and
//! honours.

mod helpers;
mod judge;
mod outbox;
mod play;
mod review;
mod rules;
mod simulate;
mod submit;
