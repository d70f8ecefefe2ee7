//! Schema of the exchange database. Append-only: never edit a migration that has shipped.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

/// Applies the exchange schema.
#[derive(Debug)]
pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(M20261123_000001Partners)]
    }
}

struct M20261123_000001Partners;

impl MigrationName for M20261123_000001Partners {
    fn name(&self) -> &str {
        "m20261123_000001_partners"
    }
}

fn col(name: &'static str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

/// The partner registry: one row per partner department, with the behaviours it may report
/// and its scopes; `registering` while its identity client is being created.
#[async_trait]
impl MigrationTrait for M20261123_000001Partners {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("partners"))
                .col(col("partner_id").string().not_null().primary_key())
                .col(col("name").string().not_null())
                .col(col("department").string().not_null())
                .col(col("contact").string().not_null())
                .col(col("behaviours").text().not_null())
                .col(col("scopes").text().not_null())
                .col(col("status").string().not_null())
                .col(col("client_id").string().null())
                .col(col("registered_at_us").big_integer().not_null())
                .check(Expr::cust(
                    "status IN ('registering', 'active', 'suspended')",
                ))
                .check(Expr::cust("(status = 'registering') = (client_id IS NULL)"))
                .to_owned(),
        )
        .await
    }
}
