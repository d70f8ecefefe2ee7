//! Identity started on port 0 with its own fresh database (SQLite, or PostgreSQL when
//! `HP_TEST_DATABASE_URL` is set), exercised over real gRPC.

mod admin;
mod helpers;
mod imports;
mod passwords;
mod registration;
mod sessions;
mod station;
