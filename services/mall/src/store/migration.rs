//! Schema of a mall database (the city mall's and every district mall's are alike).
//! Append-only: never edit a migration that has shipped.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

/// Applies the mall schema.
#[derive(Debug)]
pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M20261125_000001Mall),
            Box::new(M20261203_000001WriteOffKey),
            Box::new(healthpoints_db::outbox::Migration),
            Box::new(healthpoints_db::outbox::PartnerAndCursors),
        ]
    }
}

struct M20261125_000001Mall;

impl MigrationName for M20261125_000001Mall {
    fn name(&self) -> &str {
        "m20261125_000001_mall"
    }
}

fn col(name: &'static str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

fn index(name: &str, table: &str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(Alias::new(table));
    for c in columns {
        i.col(Alias::new(*c));
    }
    i.to_owned()
}

/// Merchants, products, orders (with their vouchers and the ledger steps they are in) and
/// closed settlement statements. The database refuses negative stock and a second order under
/// one resident's idempotency key; the order status names the ledger step in progress.
#[async_trait]
impl MigrationTrait for M20261125_000001Mall {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("merchants"))
                .col(col("merchant_id").uuid().not_null().primary_key())
                .col(col("name").string().not_null())
                .col(col("licence_no").string().not_null().unique_key())
                .col(col("contact").string().not_null())
                .col(col("status").string().not_null())
                .col(col("status_reason").string().not_null())
                .col(col("admitted_at_us").big_integer().not_null())
                .check(Expr::cust("status IN ('pending', 'active', 'suspended')"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("products"))
                .col(col("product_id").uuid().not_null().primary_key())
                .col(col("merchant_id").uuid().not_null())
                .col(col("title").string().not_null())
                .col(col("description").text().not_null())
                .col(col("category").string().not_null())
                .col(col("price_points").big_integer().not_null())
                .col(col("stock").big_integer().null())
                .col(col("per_resident_limit").integer().null())
                .col(col("limit_period").string().not_null())
                .col(col("available_from_us").big_integer().null())
                .col(col("available_until_us").big_integer().null())
                .col(col("min_age").integer().null())
                .col(col("status").string().not_null())
                .col(col("updated_at_us").big_integer().not_null())
                .check(Expr::cust("stock IS NULL OR stock >= 0"))
                .check(Expr::cust("price_points > 0"))
                .foreign_key(
                    ForeignKey::create()
                        .from(Alias::new("products"), Alias::new("merchant_id"))
                        .to(Alias::new("merchants"), Alias::new("merchant_id")),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index("products_by_merchant", "products", &["merchant_id"]))
            .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("orders"))
                .col(col("order_id").uuid().not_null().primary_key())
                .col(col("idempotency_key").string().not_null())
                .col(col("resident_id").uuid().not_null())
                .col(col("merchant_id").uuid().not_null())
                .col(col("product_id").uuid().not_null())
                .col(col("product_title").string().not_null())
                .col(col("quantity").integer().not_null())
                .col(col("points").big_integer().not_null())
                .col(col("status").string().not_null())
                .col(col("voucher_code").string().not_null().unique_key())
                .col(col("expires_at_us").big_integer().not_null())
                .col(col("created_at_us").big_integer().not_null())
                .col(col("updated_at_us").big_integer().not_null())
                .col(col("resolved_at_us").big_integer().null())
                .col(col("resolve_transfer_id").uuid().null())
                .col(col("written_off_at_us").big_integer().null())
                .col(col("settle_period").string().null())
                .col(col("refund_transfer_id").uuid().null())
                .col(col("refund_reason").string().null())
                .col(col("refund_source").string().null())
                .col(col("refund_period").string().null())
                .col(col("refunded_at_us").big_integer().null())
                .check(Expr::cust(
                    "status IN ('reserving', 'reserved', 'writing_off', 'written_off', \
                     'cancelling', 'cancelled', 'expiring', 'expired', 'refunding', 'refunded')",
                ))
                .check(Expr::cust("quantity > 0 AND points > 0"))
                .foreign_key(
                    ForeignKey::create()
                        .from(Alias::new("orders"), Alias::new("product_id"))
                        .to(Alias::new("products"), Alias::new("product_id")),
                )
                .to_owned(),
        )
        .await?;
        let mut key = index(
            "orders_by_idempotency_key",
            "orders",
            &["resident_id", "idempotency_key"],
        );
        m.create_index(key.unique().to_owned()).await?;
        for (name, columns) in [
            ("orders_by_resident", &["resident_id", "created_at_us"][..]),
            ("orders_by_merchant", &["merchant_id", "created_at_us"]),
            ("orders_by_status", &["status", "expires_at_us"]),
            ("orders_by_settlement", &["merchant_id", "settle_period"]),
            (
                "orders_by_limit",
                &["resident_id", "product_id", "created_at_us"],
            ),
        ] {
            m.create_index(index(name, "orders", columns)).await?;
        }
        m.create_table(
            Table::create()
                .table(Alias::new("statements"))
                .col(col("merchant_id").uuid().not_null())
                .col(col("period").string().not_null())
                .col(col("status").string().not_null())
                .col(col("written_off").integer().not_null())
                .col(col("refunded").integer().not_null())
                .col(col("redeemed_points").big_integer().not_null())
                .col(col("refunded_points").big_integer().not_null())
                .col(col("clawed_back").integer().not_null())
                .col(col("clawed_back_points").big_integer().not_null())
                .col(col("transfer_id").uuid().not_null())
                .col(col("closed_at_us").big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(Alias::new("merchant_id"))
                        .col(Alias::new("period")),
                )
                .check(Expr::cust("status IN ('closing', 'closed')"))
                .check(Expr::cust("redeemed_points >= refunded_points"))
                .to_owned(),
        )
        .await
    }
}

struct M20261203_000001WriteOffKey;

impl MigrationName for M20261203_000001WriteOffKey {
    fn name(&self) -> &str {
        "m20261203_000001_write_off_key"
    }
}

/// The key of the write-off that took a voucher: a point of sale's retry with the same key
/// answers the first result, and the database refuses one key on two of a merchant's vouchers.
#[async_trait]
impl MigrationTrait for M20261203_000001WriteOffKey {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("orders"))
                .add_column(col("write_off_key").string().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "orders_merchant_write_off_key",
                "orders",
                &["merchant_id", "write_off_key"],
            )
            .unique()
            .to_owned(),
        )
        .await
    }
}
