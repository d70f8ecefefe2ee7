//! Schema migrations of the identity database. Append-only: never edit one that has shipped.

use sea_orm_migration::{async_trait::async_trait, prelude::*, sea_orm::DbBackend};

/// Applies the identity schema.
#[derive(Debug)]
pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M20261122_000001Init),
            Box::new(M20261206_000001SecretRotation),
            Box::new(M20261207_000001StationStaff),
            Box::new(super::passwords::M20261209_000001PasswordResets),
            Box::new(super::closing::M20261209_000002ClosedAccounts),
        ]
    }
}

struct M20261122_000001Init;

impl MigrationName for M20261122_000001Init {
    fn name(&self) -> &str {
        "m20261122_000001_init"
    }
}

fn text(name: &'static str) -> ColumnDef {
    let mut c = ColumnDef::new(Alias::new(name));
    c.string().not_null();
    c
}
fn text_null(name: &'static str) -> ColumnDef {
    let mut c = ColumnDef::new(Alias::new(name));
    c.string().null();
    c
}
fn time(name: &'static str) -> ColumnDef {
    let mut c = ColumnDef::new(Alias::new(name));
    c.timestamp_with_time_zone().not_null();
    c
}
fn time_null(name: &'static str) -> ColumnDef {
    let mut c = ColumnDef::new(Alias::new(name));
    c.timestamp_with_time_zone().null();
    c
}
fn bytes(name: &'static str) -> ColumnDef {
    let mut c = ColumnDef::new(Alias::new(name));
    c.var_binary(1024).not_null();
    c
}
fn uuid(name: &'static str) -> ColumnDef {
    let mut c = ColumnDef::new(Alias::new(name));
    c.uuid().not_null();
    c
}
fn uuid_null(name: &'static str) -> ColumnDef {
    let mut c = ColumnDef::new(Alias::new(name));
    c.uuid().null();
    c
}
fn int(name: &'static str) -> ColumnDef {
    let mut c = ColumnDef::new(Alias::new(name));
    c.integer().not_null().default(0);
    c
}
fn boolean(name: &'static str) -> ColumnDef {
    let mut c = ColumnDef::new(Alias::new(name));
    c.boolean().not_null().default(false);
    c
}

#[async_trait]
impl MigrationTrait for M20261122_000001Init {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("districts"))
                .col(text("code").primary_key())
                .col(boolean("enrolled"))
                .col(time_null("enrolled_since"))
                .col(time("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("residents"))
                .col(uuid("id").primary_key())
                .col(text("name"))
                .col(bytes("id_number_enc"))
                .col(text("id_number_hash").unique_key())
                .col(text("id_number_masked"))
                .col(bytes("phone_enc"))
                .col(text("phone_hash").unique_key())
                .col(text("phone_masked"))
                .col(text("birth_date"))
                .col(text("password_hash"))
                .col(text("residence_district"))
                .col(text("residence_type"))
                .col(text("status"))
                .col(text_null("status_reason"))
                .col(text_null("fd_institution_code"))
                .col(text_null("fd_institution_name"))
                .col(text_null("fd_district"))
                .col(text_null("fd_signed_on"))
                .col(text_null("fd_valid_until"))
                .col(int("failed_logins"))
                .col(time_null("locked_until"))
                .col(time("created_at"))
                .col(time("updated_at"))
                .check(Expr::cust("status IN ('active', 'suspended', 'closed')"))
                .check(Expr::cust(
                    "residence_type IN ('registered', 'permanent_migrant')",
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("residents_by_district")
                .table(Alias::new("residents"))
                .col(Alias::new("residence_district"))
                .col(Alias::new("id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("staff"))
                .col(uuid("id").primary_key())
                .col(text("username").unique_key())
                .col(text("password_hash"))
                .col(text("role"))
                .col(text_null("district"))
                .col(uuid_null("merchant_id"))
                .col(text_null("mall"))
                .col(int("failed_logins"))
                .col(time_null("locked_until"))
                .col(uuid_null("created_by"))
                .col(time("created_at"))
                .check(Expr::cust(
                    "role IN ('city_admin', 'district_admin', 'merchant_operator')",
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("clients"))
                .col(text("client_id").primary_key())
                .col(text("secret_hash"))
                .col(text("kind"))
                .col(text("name"))
                .col(text_null("partner_id"))
                .col(text_null("department"))
                .col(text("scopes"))
                .col(text_null("service"))
                .col(text_null("district"))
                .col(uuid_null("merchant_id"))
                .col(text_null("mall"))
                .col(boolean("disabled"))
                .col(time("created_at"))
                .check(Expr::cust("kind IN ('partner', 'merchant', 'service')"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("signing_keys"))
                .col(text("kid").primary_key())
                .col(bytes("private_key_enc"))
                .col(bytes("public_key"))
                .col(time("created_at"))
                .col(time_null("retired_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("refresh_tokens"))
                .col(text("token_hash").primary_key())
                .col(uuid("family_id"))
                .col(text("owner_kind"))
                .col(uuid("owner_id"))
                .col(time("issued_at"))
                .col(time("expires_at"))
                .col(time_null("used_at"))
                .col(time_null("revoked_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("refresh_tokens_by_family")
                .table(Alias::new("refresh_tokens"))
                .col(Alias::new("family_id"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}

struct M20261206_000001SecretRotation;

impl MigrationName for M20261206_000001SecretRotation {
    fn name(&self) -> &str {
        "m20261206_000001_secret_rotation"
    }
}

/// A client's previous secret, accepted for a grace period after a rotation. One column per
/// statement: SQLite adds one at a time.
#[async_trait]
impl MigrationTrait for M20261206_000001SecretRotation {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            text_null("previous_secret_hash"),
            time_null("previous_secret_valid_until"),
        ] {
            let mut column = column;
            m.alter_table(
                Table::alter()
                    .table(Alias::new("clients"))
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

struct M20261207_000001StationStaff;

impl MigrationName for M20261207_000001StationStaff {
    fn name(&self) -> &str {
        "m20261207_000001_station_staff"
    }
}

/// The staff columns as the first migration made them, with `institution_code` after them.
const STAFF_COLUMNS: &str = "id, username, password_hash, role, district, merchant_id, mall, \
     failed_logins, locked_until, created_by, created_at";

/// Health-station staff: a fourth role, bound to one institution (`institution_code`, set for
/// them and only them) of one district. PostgreSQL replaces the role check in place; SQLite
/// cannot alter a check, so the table is rebuilt (create, copy, drop, rename) in the
/// migration's transaction.
#[async_trait]
impl MigrationTrait for M20261207_000001StationStaff {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let roles =
            "role IN ('city_admin', 'district_admin', 'merchant_operator', 'station_staff')";
        let bound = "(role = 'station_staff') = (institution_code IS NOT NULL) \
                     AND (role <> 'station_staff' OR district IS NOT NULL)";
        let db = m.get_connection();
        if m.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(&format!(
                "ALTER TABLE staff ADD COLUMN institution_code varchar NULL; \
                 ALTER TABLE staff DROP CONSTRAINT staff_role_check; \
                 ALTER TABLE staff ADD CONSTRAINT staff_role_check CHECK ({roles}); \
                 ALTER TABLE staff ADD CONSTRAINT staff_station_check CHECK ({bound})"
            ))
            .await?;
            return Ok(());
        }
        m.create_table(
            Table::create()
                .table(Alias::new("staff_rebuilt"))
                .col(uuid("id").primary_key())
                .col(text("username").unique_key())
                .col(text("password_hash"))
                .col(text("role"))
                .col(text_null("district"))
                .col(uuid_null("merchant_id"))
                .col(text_null("mall"))
                .col(int("failed_logins"))
                .col(time_null("locked_until"))
                .col(uuid_null("created_by"))
                .col(time("created_at"))
                .col(text_null("institution_code"))
                .check(Expr::cust(roles))
                .check(Expr::cust(bound))
                .to_owned(),
        )
        .await?;
        for statement in [
            format!(
                "INSERT INTO staff_rebuilt ({STAFF_COLUMNS}, institution_code) \
                 SELECT {STAFF_COLUMNS}, NULL FROM staff"
            ),
            "DROP TABLE staff".to_owned(),
            "ALTER TABLE staff_rebuilt RENAME TO staff".to_owned(),
        ] {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
}
