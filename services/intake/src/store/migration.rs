//! Schema of the intake database. Append-only: never edit a migration that has shipped.
//!
//! One row per reported event, holding the event as received and its one outcome: the unique
//! key (source, source's event id) is what makes a resubmission return the stored outcome and
//! never award twice. A per-resident lock row serialises the judgement of one resident's events
//! (caps are read and extended in the same transaction) across intake replicas.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

/// Applies the intake schema.
#[derive(Debug)]
pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(M20261122_000001Events)]
    }
}

struct M20261122_000001Events;

impl MigrationName for M20261122_000001Events {
    fn name(&self) -> &str {
        "m20261122_000001_events"
    }
}

fn col(name: &'static str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

#[async_trait]
impl MigrationTrait for M20261122_000001Events {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("events"))
                .col(col("id").uuid().not_null().primary_key())
                .col(col("source_id").string().not_null())
                .col(col("source_event_id").string().not_null())
                .col(col("resident_id").string().null())
                .col(col("behaviour_code").string().not_null())
                .col(col("occurred_at_us").big_integer().not_null())
                .col(col("quantity").big_integer().not_null())
                .col(col("district").string().null())
                .col(col("attributes").text().not_null())
                .col(col("received_at_us").big_integer().not_null())
                .col(col("kind").string().not_null())
                .col(col("points").big_integer().not_null())
                .col(col("rule_code").string().null())
                .col(col("rule_version").big_integer().null())
                .col(col("cap").string().null())
                .col(col("points_cut").big_integer().not_null())
                .col(col("reason_code").string().null())
                .col(col("reason").string().null())
                .col(col("duplicate_of").uuid().null())
                .col(col("transfer_id").uuid().null())
                .col(col("book").string().null())
                .col(col("decided_at_us").big_integer().not_null())
                .check(Expr::cust(
                    "kind IN ('pending', 'awarded', 'capped', 'duplicate', 'held', 'rejected')",
                ))
                .check(Expr::cust("points >= 0 AND points_cut >= 0"))
                // Points are owed exactly when a transfer names them.
                .check(Expr::cust(
                    "(kind IN ('pending', 'awarded', 'held')) = (transfer_id IS NOT NULL)",
                ))
                .to_owned(),
        )
        .await?;
        for (name, cols, unique) in [
            (
                "events_by_source",
                &["source_id", "source_event_id"][..],
                true,
            ),
            (
                "events_by_resident_rule",
                &["resident_id", "rule_code", "occurred_at_us"][..],
                false,
            ),
            (
                "events_by_resident_behaviour",
                &["resident_id", "behaviour_code", "occurred_at_us"][..],
                false,
            ),
            ("events_by_kind", &["kind"][..], false),
        ] {
            let mut index = Index::create();
            index.name(name).table(Alias::new("events"));
            if unique {
                index.unique();
            }
            for c in cols {
                index.col(Alias::new(*c));
            }
            m.create_index(index.to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table(Alias::new("resident_locks"))
                .col(col("resident_id").string().not_null().primary_key())
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
