//! The exchange domain on its real store — SQLite, or PostgreSQL when `HP_TEST_DATABASE_URL` is
//! set — with identity and intake stood in by recording fakes: the partner registry, behaviour
//! records (listed behaviours, resolution, consent, idempotent forwarding), consent and the
//! access log. The mesh tests run the same code behind the gateway; these pin each rule down
//! where it lives.

mod helpers;
mod partners;
mod records;
