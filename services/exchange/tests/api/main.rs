//! The exchange domain on its real store — SQLite, or PostgreSQL when `HP_TEST_DATABASE_URL` is
//! set — with identity and intake stood in by recording fakes: the partner registry, behaviour
//! records (listed behaviours, resolution, consent, idempotent forwarding), consent, the
//! family-doctor contracts feed, statistics, the points summary and the access log. The mesh
//! tests run the same code behind the gateway and its gRPC adapter; these pin each rule down
//! where it lives.

mod contracts;
mod helpers;
mod partners;
mod publish;
mod reads;
mod records;
