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
        let mut all: Vec<Box<dyn MigrationTrait>> = vec![
            Box::new(M20261122_000001Events),
            Box::new(M20261123_000001Rules),
            Box::new(M20261124_000001Play),
            Box::new(M20261127_000001Cohorts),
            Box::new(M20261206_000001LinkGroups),
            Box::new(M20261207_000001ExpiryPolicies),
            Box::new(M20261214_000001KindIndexes),
        ];
        // The outbox the exchange pulls events from.
        all.extend(healthpoints_db::outbox::migrations());
        all
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

struct M20261123_000001Rules;

impl MigrationName for M20261123_000001Rules {
    fn name(&self) -> &str {
        "m20261123_000001_rules"
    }
}

/// The catalogue in the database: every published rule version (the shipped default catalogue
/// is its first content), drafts awaiting publication, and the public changelog; and the index
/// a resident's outcomes are listed by.
#[async_trait]
impl MigrationTrait for M20261123_000001Rules {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("rule_versions"))
                .col(col("code").string().not_null())
                // '' for city-wide rules.
                .col(col("district").string().not_null())
                .col(col("version").big_integer().not_null())
                .col(col("body").text().not_null())
                .col(col("effective_from_us").big_integer().not_null())
                .col(col("effective_until_us").big_integer().null())
                .col(col("published_by").string().not_null())
                .col(col("published_at_us").big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(Alias::new("code"))
                        .col(Alias::new("district"))
                        .col(Alias::new("version")),
                )
                .check(Expr::cust("version >= 1"))
                .check(Expr::cust(
                    "effective_until_us IS NULL OR effective_until_us > effective_from_us",
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("rule_drafts"))
                .col(col("id").uuid().not_null().primary_key())
                .col(col("code").string().not_null())
                .col(col("district").string().not_null())
                .col(col("body").text().not_null())
                .col(col("created_by").string().not_null())
                .col(col("created_at_us").big_integer().not_null())
                // Set once the draft is published (as that version).
                .col(col("published_version").big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("rule_changes"))
                .col(col("id").uuid().not_null().primary_key())
                .col(col("code").string().not_null())
                .col(col("district").string().not_null())
                .col(col("version").big_integer().not_null())
                .col(col("change").string().not_null())
                .col(col("summary").text().not_null())
                .col(col("changed_by").string().not_null())
                .col(col("published_at_us").big_integer().not_null())
                .col(col("effective_from_us").big_integer().not_null())
                .check(Expr::cust("change IN ('created', 'changed', 'retired')"))
                .to_owned(),
        )
        .await?;
        // A resident's outcomes, newest first ("why did I (not) get points?").
        m.create_index(
            Index::create()
                .name("events_by_resident_id")
                .table(Alias::new("events"))
                .col(Alias::new("resident_id"))
                .col(Alias::new("id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("rule_changes_by_time")
                .table(Alias::new("rule_changes"))
                .col(Alias::new("published_at_us"))
                .col(Alias::new("id"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}

struct M20261124_000001Play;

impl MigrationName for M20261124_000001Play {
    fn name(&self) -> &str {
        "m20261124_000001_play"
    }
}

/// Review flags (a flagged resident's awards are held), challenges and who joined them, and
/// leaderboard opt-ins with the masked name and district shown.
#[async_trait]
impl MigrationTrait for M20261124_000001Play {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("review_flags"))
                .col(col("resident_id").string().not_null().primary_key())
                // The resident's district when flagged ('' if unknown): whose reviewers see it.
                .col(col("district").string().not_null())
                .col(col("reason_code").string().not_null())
                .col(col("reason").string().not_null())
                .col(col("flagged_by").string().not_null())
                .col(col("flagged_at_us").big_integer().not_null())
                // Set when the last held outcome was resolved; a new flag clears it.
                .col(col("cleared_at_us").big_integer().null())
                .col(col("cleared_by").string().null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("challenges"))
                .col(col("id").uuid().not_null().primary_key())
                .col(col("title").string().not_null())
                // '' for city-wide challenges.
                .col(col("district").string().not_null())
                .col(col("behaviour_code").string().not_null())
                .col(col("daily_min_quantity").big_integer().not_null())
                .col(col("days_required").big_integer().not_null())
                .col(col("starts_at_us").big_integer().not_null())
                .col(col("ends_at_us").big_integer().not_null())
                .col(col("bonus_points").big_integer().not_null())
                .col(col("level").string().not_null())
                .col(col("created_by").string().not_null())
                .col(col("created_at_us").big_integer().not_null())
                .check(Expr::cust("ends_at_us > starts_at_us"))
                .check(Expr::cust("days_required >= 1 AND bonus_points >= 1"))
                .check(Expr::cust("level IN ('city', 'district')"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("challenge_members"))
                .col(col("challenge_id").uuid().not_null())
                .col(col("resident_id").string().not_null())
                .col(col("joined_at_us").big_integer().not_null())
                // The bonus event, once the goal was reached.
                .col(col("bonus_event_id").uuid().null())
                .primary_key(
                    Index::create()
                        .col(Alias::new("challenge_id"))
                        .col(Alias::new("resident_id")),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("challenge_members_by_resident")
                .table(Alias::new("challenge_members"))
                .col(Alias::new("resident_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("leaderboard_members"))
                .col(col("resident_id").string().not_null().primary_key())
                .col(col("opt_in").boolean().not_null())
                .col(col("name_masked").string().not_null())
                .col(col("district").string().not_null())
                .col(col("updated_at_us").big_integer().not_null())
                .to_owned(),
        )
        .await?;
        // Velocity guards count a resident's recent reports.
        m.create_index(
            Index::create()
                .name("events_by_resident_received")
                .table(Alias::new("events"))
                .col(Alias::new("resident_id"))
                .col(Alias::new("received_at_us"))
                .to_owned(),
        )
        .await?;
        // Leaderboards sum a period's awards.
        m.create_index(
            Index::create()
                .name("events_by_occurrence")
                .table(Alias::new("events"))
                .col(Alias::new("occurred_at_us"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}

/// What the de-identified statistics count awards by, fixed when the award is decided: the
/// behaviour's category and the resident's residence district, age band and residence type
/// (so a later move or birthday does not rewrite last month's figures).
struct M20261127_000001Cohorts;

impl MigrationName for M20261127_000001Cohorts {
    fn name(&self) -> &str {
        "m20261127_000001_cohorts"
    }
}

#[async_trait]
impl MigrationTrait for M20261127_000001Cohorts {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in ["category", "cohort_district", "age_band", "residence_type"] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("events"))
                    .add_column(ColumnDef::new(Alias::new(column)).string().null())
                    .to_owned(),
            )
            .await?;
        }
        // Statistics read a month of decisions.
        m.create_index(
            Index::create()
                .name("events_by_decision")
                .table(Alias::new("events"))
                .col(Alias::new("decided_at_us"))
                .to_owned(),
        )
        .await
    }
}

struct M20261206_000001LinkGroups;

impl MigrationName for M20261206_000001LinkGroups {
    fn name(&self) -> &str {
        "m20261206_000001_link_groups"
    }
}

/// The all-or-none batch an event was recorded with, so a hand-off to the ledger finished
/// later sends that batch's awards together again, linked.
#[async_trait]
impl MigrationTrait for M20261206_000001LinkGroups {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("events"))
                .add_column(ColumnDef::new(Alias::new("link_group")).uuid().null())
                .to_owned(),
        )
        .await
    }
}

struct M20261207_000001ExpiryPolicies;

impl MigrationName for M20261207_000001ExpiryPolicies {
    fn name(&self) -> &str {
        "m20261207_000001_expiry_policies"
    }
}

/// Published versions of each book's points expiry policy (the configured one is version 0 and
/// is not stored); one row per (book, version), never changed.
#[async_trait]
impl MigrationTrait for M20261207_000001ExpiryPolicies {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("expiry_policies"))
                .col(col("book").string().not_null())
                .col(col("version").big_integer().not_null())
                .col(col("policy").string().not_null())
                .col(col("effective_from_us").big_integer().not_null())
                .col(col("published_by").string().not_null())
                .col(col("published_at_us").big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(Alias::new("book"))
                        .col(Alias::new("version")),
                )
                .check(Expr::cust("version > 0"))
                .to_owned(),
        )
        .await
    }
}

/// The index on `kind` alone goes: nearly every event is awarded, so it selects little, yet the
/// planner combined it with the resident indexes (a bitmap of the whole table per velocity
/// count, growing with every event ever stored). What looks events up by kind reads few rows:
/// the awards still pending (the retry sweep, oldest decision first) and those held for review.
struct M20261214_000001KindIndexes;

impl MigrationName for M20261214_000001KindIndexes {
    fn name(&self) -> &str {
        "m20261214_000001_kind_indexes"
    }
}

#[async_trait]
impl MigrationTrait for M20261214_000001KindIndexes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX events_by_kind").await?;
        db.execute_unprepared(
            "CREATE INDEX events_pending ON events (decided_at_us) WHERE kind = 'pending'",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX events_held ON events (id) WHERE kind = 'held'")
            .await?;
        Ok(())
    }
}
