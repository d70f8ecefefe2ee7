//! Accounts residents close (PIPL Article 47): closed in one transaction with every session
//! revoked, and — after the retention period — their personal data erased in place. The
//! resident's id stays: the ledger's entries, orders and records elsewhere keep it, and nothing
//! links it to a person any more.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::Expr,
};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::*};
use uuid::Uuid;

use super::{
    Store,
    entities::{refresh_token, resident},
    passwords::password_reset,
};
use crate::domain::{error::Result, model::ResidentStatus};

/// When an account was closed and when its data was erased.
pub(super) struct M20261209_000002ClosedAccounts;

impl MigrationName for M20261209_000002ClosedAccounts {
    fn name(&self) -> &str {
        "m20261209_000002_closed_accounts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M20261209_000002ClosedAccounts {
    async fn up(&self, m: &SchemaManager) -> std::result::Result<(), DbErr> {
        for column in ["closed_at", "erased_at"] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("residents"))
                    .add_column(
                        ColumnDef::new(Alias::new(column))
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

impl Store {
    /// Closes an active resident's account and revokes every session of it, in one
    /// transaction. False when the account was not active (nothing is written).
    pub async fn close_account(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
        let txn = self.db.begin().await?;
        let closed = resident::Entity::update_many()
            .col_expr(
                resident::Column::Status,
                Expr::value(ResidentStatus::Closed.as_str()),
            )
            .col_expr(
                resident::Column::StatusReason,
                Expr::value("closed by the resident"),
            )
            .col_expr(resident::Column::ClosedAt, Expr::value(Some(now)))
            .col_expr(resident::Column::UpdatedAt, Expr::value(now))
            .filter(resident::Column::Id.eq(id))
            .filter(resident::Column::Status.eq(ResidentStatus::Active.as_str()))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if !closed {
            txn.rollback().await?;
            return Ok(false);
        }
        refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(Some(now)))
            .filter(refresh_token::Column::OwnerKind.eq("resident"))
            .filter(refresh_token::Column::OwnerId.eq(id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        password_reset::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Closed accounts not erased yet that were closed before `closed_before`, oldest first.
    pub async fn erasure_due(&self, closed_before: DateTime<Utc>, limit: u64) -> Result<Vec<Uuid>> {
        Ok(resident::Entity::find()
            .select_only()
            .column(resident::Column::Id)
            .filter(resident::Column::Status.eq(ResidentStatus::Closed.as_str()))
            .filter(resident::Column::ErasedAt.is_null())
            .filter(resident::Column::ClosedAt.lt(closed_before))
            .order_by_asc(resident::Column::ClosedAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// Erases a closed account's personal data in place: name, ID and phone numbers (their
    /// lookup hashes too, so the person may register again), birth date, password, family
    /// doctor. Idempotent.
    pub async fn erase(&self, id: Uuid, now: DateTime<Utc>) -> Result<()> {
        let gone = format!("erased:{id}");
        resident::Entity::update_many()
            .col_expr(resident::Column::Name, Expr::value(""))
            .col_expr(resident::Column::IdNumberEnc, Expr::value(Vec::<u8>::new()))
            .col_expr(
                resident::Column::IdNumberHash,
                Expr::value(format!("{gone}:id")),
            )
            .col_expr(resident::Column::IdNumberMasked, Expr::value(""))
            .col_expr(resident::Column::PhoneEnc, Expr::value(Vec::<u8>::new()))
            .col_expr(
                resident::Column::PhoneHash,
                Expr::value(format!("{gone}:phone")),
            )
            .col_expr(resident::Column::PhoneMasked, Expr::value(""))
            // The year alone stays, for the age statistics already published.
            .col_expr(
                resident::Column::BirthDate,
                Expr::cust("substr(birth_date, 1, 4) || '-01-01'"),
            )
            .col_expr(resident::Column::PasswordHash, Expr::value(""))
            .col_expr(
                resident::Column::FdInstitutionCode,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                resident::Column::FdInstitutionName,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                resident::Column::FdDistrict,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                resident::Column::FdSignedOn,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                resident::Column::FdValidUntil,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                resident::Column::StatusReason,
                Expr::value("closed; personal data erased"),
            )
            .col_expr(resident::Column::ErasedAt, Expr::value(Some(now)))
            .col_expr(resident::Column::UpdatedAt, Expr::value(now))
            .filter(resident::Column::Id.eq(id))
            .filter(resident::Column::Status.eq(ResidentStatus::Closed.as_str()))
            .filter(resident::Column::ErasedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
