//! Schema of the exchange database. Append-only: never edit a migration that has shipped.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

/// Applies the exchange schema.
#[derive(Debug)]
pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M20261123_000001Partners),
            Box::new(M20261126_000001Consent),
            Box::new(M20261203_000001PartnerClients),
            Box::new(M20261207_000001StationAccess),
            Box::new(M20261208_000001Notify),
        ]
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

struct M20261126_000001Consent;

impl MigrationName for M20261126_000001Consent {
    fn name(&self) -> &str {
        "m20261126_000001_consent"
    }
}

/// Consent, the access log and the contracts feed's answers: the partner's kind (a `department` reports under its statutory
/// duty; a `commercial` partner needs the resident's consent per data category), one row per
/// (resident, partner, category) consent, the append-only access log, and each contract
/// record's answer (so a resent record is answered the same).
#[async_trait]
impl MigrationTrait for M20261126_000001Consent {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("partners"))
                .add_column(col("kind").string().not_null().default("department"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("consents"))
                .col(col("resident_id").string().not_null())
                .col(col("partner_id").string().not_null())
                .col(col("category").string().not_null())
                .col(col("purpose").string().not_null())
                .col(col("granted_at_us").big_integer().not_null())
                .col(col("revoked_at_us").big_integer().null())
                .primary_key(
                    Index::create()
                        .col(Alias::new("resident_id"))
                        .col(Alias::new("partner_id"))
                        .col(Alias::new("category")),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("access_log"))
                .col(col("entry_id").uuid().not_null().primary_key())
                .col(col("at_us").big_integer().not_null())
                .col(col("actor").string().not_null())
                .col(col("partner_id").string().null())
                .col(col("action").string().not_null())
                .col(col("records").integer().not_null())
                .col(col("detail").string().not_null())
                .col(col("resident_id").string().null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("contract_records"))
                .col(col("partner_id").string().not_null())
                .col(col("record_id").string().not_null())
                .col(col("outcome").string().not_null())
                .col(col("points").big_integer().not_null())
                .col(col("reason_code").string().not_null())
                .col(col("reason").string().not_null())
                .col(col("received_at_us").big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(Alias::new("partner_id"))
                        .col(Alias::new("record_id")),
                )
                .to_owned(),
        )
        .await?;
        for (name, columns) in [
            ("access_log_by_resident", ["resident_id", "at_us"]),
            ("access_log_by_partner", ["partner_id", "at_us"]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Alias::new("access_log"));
            for c in columns {
                index.col(Alias::new(c));
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }
}

struct M20261203_000001PartnerClients;

impl MigrationName for M20261203_000001PartnerClients {
    fn name(&self) -> &str {
        "m20261203_000001_partner_clients"
    }
}

/// A registered partner's further clients, each with its own secret in identity.
#[async_trait]
impl MigrationTrait for M20261203_000001PartnerClients {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("partner_clients"))
                .col(col("client_id").string().not_null().primary_key())
                .col(col("partner_id").string().not_null())
                .col(col("created_at_us").big_integer().not_null())
                .to_owned(),
        )
        .await
    }
}

struct M20261207_000001StationAccess;

impl MigrationName for M20261207_000001StationAccess {
    fn name(&self) -> &str {
        "m20261207_000001_station_access"
    }
}

/// Which health station (`<district>/<institution>`) an access-log entry was made at, so a
/// district admin reads each station's activity.
#[async_trait]
impl MigrationTrait for M20261207_000001StationAccess {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("access_log"))
                .add_column(col("station").string().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("access_log_by_station")
                .table(Alias::new("access_log"))
                .col(Alias::new("station"))
                .col(Alias::new("at_us"))
                .to_owned(),
        )
        .await
    }
}

struct M20261208_000001Notify;

impl MigrationName for M20261208_000001Notify {
    fn name(&self) -> &str {
        "m20261208_000001_notify"
    }
}

/// Notifications and webhooks: `events` (the exchange's outbox, written in the transaction of
/// the change that causes them, and the events the other services' outboxes publish; each id
/// once), `notifications` (residents' inboxes), `webhooks` (partners' and merchants'
/// registrations, by `owner`: `partner:<id>` or `merchant:<mall>:<merchant id>`) and
/// `deliveries` (one event on its way to one webhook, with its log; the worker finds the due
/// ones by `(status, next_attempt_at_us)`).
#[async_trait]
impl MigrationTrait for M20261208_000001Notify {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("events"))
                .col(col("event_id").uuid().not_null().primary_key())
                .col(col("kind").string().not_null())
                .col(col("at_us").big_integer().not_null())
                .col(col("resident_id").string().null())
                .col(col("partner_id").string().null())
                .col(col("merchant_id").string().null())
                .col(col("mall").string().null())
                .col(col("data").text().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("notifications"))
                .col(col("notification_id").uuid().not_null().primary_key())
                .col(col("resident_id").string().not_null())
                .col(col("kind").string().not_null())
                .col(col("data").text().not_null())
                .col(col("created_at_us").big_integer().not_null())
                .col(col("read_at_us").big_integer().null())
                .col(col("sent_at_us").big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("webhooks"))
                .col(col("webhook_id").uuid().not_null().primary_key())
                .col(col("owner").string().not_null())
                .col(col("url").text().not_null())
                .col(col("events").text().not_null())
                .col(col("secret").string().not_null())
                .col(col("created_at_us").big_integer().not_null())
                .col(col("deleted_at_us").big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("deliveries"))
                .col(col("delivery_id").uuid().not_null().primary_key())
                .col(col("webhook_id").uuid().not_null())
                .col(col("event_id").uuid().not_null())
                .col(col("kind").string().not_null())
                .col(col("status").string().not_null())
                .col(col("attempts").integer().not_null())
                .col(col("next_attempt_at_us").big_integer().not_null())
                .col(col("last_attempt_at_us").big_integer().null())
                .col(col("last_status").integer().null())
                .col(col("last_error").text().null())
                .col(col("created_at_us").big_integer().not_null())
                .check(Expr::cust("status IN ('pending', 'delivered', 'failed')"))
                .to_owned(),
        )
        .await?;
        for (name, table, cols, unique) in [
            (
                "notifications_by_resident",
                "notifications",
                &["resident_id", "notification_id"][..],
                false,
            ),
            (
                "notifications_unsent",
                "notifications",
                &["sent_at_us"][..],
                false,
            ),
            ("webhooks_by_owner", "webhooks", &["owner"][..], false),
            (
                "deliveries_once",
                "deliveries",
                &["webhook_id", "event_id"][..],
                true,
            ),
            (
                "deliveries_due",
                "deliveries",
                &["status", "next_attempt_at_us"][..],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Alias::new(table));
            for c in cols {
                index.col(Alias::new(*c));
            }
            if unique {
                index.unique();
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }
}
