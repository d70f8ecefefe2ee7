//! Passwords changed or reset: the new hash written and every session of the account revoked in
//! one transaction, and the one-time codes of forgotten-password resets (only their keyed hash
//! is kept).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::*};
use uuid::Uuid;

use super::{
    Store, corrupt,
    entities::{refresh_token, resident, staff},
};
use crate::domain::{
    error::Result,
    model::{ResidentStatus, SessionOwner},
};
use crate::store::LoginRecord;

pub(crate) mod password_reset {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "password_resets")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub resident_id: Uuid,
        /// `Crypto::token_hash` of the code.
        pub code_hash: String,
        pub sent_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub attempts: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The codes of password resets.
pub(super) struct M20261209_000001PasswordResets;

impl MigrationName for M20261209_000001PasswordResets {
    fn name(&self) -> &str {
        "m20261209_000001_password_resets"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M20261209_000001PasswordResets {
    async fn up(&self, m: &SchemaManager) -> std::result::Result<(), DbErr> {
        let col = |name: &'static str| ColumnDef::new(Alias::new(name));
        m.create_table(
            Table::create()
                .table(Alias::new("password_resets"))
                .col(col("resident_id").uuid().not_null().primary_key())
                .col(col("code_hash").string().not_null())
                .col(col("sent_at").timestamp_with_time_zone().not_null())
                .col(col("expires_at").timestamp_with_time_zone().not_null())
                .col(col("attempts").integer().not_null())
                .to_owned(),
        )
        .await
    }
}

/// A reset code waiting to be used.
#[derive(Debug, Clone)]
pub struct ResetCode {
    pub code_hash: String,
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub attempts: i32,
}

impl Store {
    /// The password and lock of an account, by its id.
    pub async fn login_record(&self, owner: SessionOwner) -> Result<LoginRecord> {
        match owner {
            SessionOwner::Resident(id) => {
                let m = resident::Entity::find_by_id(id)
                    .one(&self.db)
                    .await?
                    .ok_or_else(|| corrupt("session owner"))?;
                Ok(LoginRecord {
                    owner,
                    status: ResidentStatus::parse(&m.status).ok_or_else(|| corrupt("status"))?,
                    password_hash: m.password_hash,
                    failed_logins: m.failed_logins,
                    locked_until: m.locked_until,
                })
            }
            SessionOwner::Staff(id) => {
                let m = staff::Entity::find_by_id(id)
                    .one(&self.db)
                    .await?
                    .ok_or_else(|| corrupt("session owner"))?;
                Ok(LoginRecord {
                    owner,
                    status: ResidentStatus::Active,
                    password_hash: m.password_hash,
                    failed_logins: m.failed_logins,
                    locked_until: m.locked_until,
                })
            }
        }
    }

    /// Sets an account's password, clears its failures and lock, forgets any reset code, and
    /// revokes every session it has — in one transaction.
    pub async fn set_password(
        &self,
        owner: SessionOwner,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let txn = self.db.begin().await?;
        macro_rules! set {
            ($entity:ident, $id:expr) => {{
                $entity::Entity::update_many()
                    .col_expr($entity::Column::PasswordHash, Expr::value(password_hash))
                    .col_expr($entity::Column::FailedLogins, Expr::value(0))
                    .col_expr(
                        $entity::Column::LockedUntil,
                        Expr::value(Option::<DateTime<Utc>>::None),
                    )
                    .filter($entity::Column::Id.eq($id))
                    .exec(&txn)
                    .await?
            }};
        }
        let (kind, id) = match owner {
            SessionOwner::Resident(id) => {
                set!(resident, id);
                password_reset::Entity::delete_by_id(id).exec(&txn).await?;
                ("resident", id)
            }
            SessionOwner::Staff(id) => {
                set!(staff, id);
                ("staff", id)
            }
        };
        refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(Some(now)))
            .filter(refresh_token::Column::OwnerKind.eq(kind))
            .filter(refresh_token::Column::OwnerId.eq(id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The reset code waiting for a resident, if any.
    pub async fn reset_code(&self, resident_id: Uuid) -> Result<Option<ResetCode>> {
        Ok(password_reset::Entity::find_by_id(resident_id)
            .one(&self.db)
            .await?
            .map(|m| ResetCode {
                code_hash: m.code_hash,
                sent_at: m.sent_at,
                expires_at: m.expires_at,
                attempts: m.attempts,
            }))
    }

    /// A resident's new reset code (it replaces any earlier one).
    pub async fn put_reset_code(&self, resident_id: Uuid, code: &ResetCode) -> Result<()> {
        password_reset::Entity::insert(password_reset::ActiveModel {
            resident_id: Set(resident_id),
            code_hash: Set(code.code_hash.clone()),
            sent_at: Set(code.sent_at),
            expires_at: Set(code.expires_at),
            attempts: Set(code.attempts),
        })
        .on_conflict(
            OnConflict::column(password_reset::Column::ResidentId)
                .update_columns([
                    password_reset::Column::CodeHash,
                    password_reset::Column::SentAt,
                    password_reset::Column::ExpiresAt,
                    password_reset::Column::Attempts,
                ])
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// Takes one try of a resident's reset code, if it is still valid and has tries left:
    /// counted before it is compared, in one conditional update. Answers the code to compare.
    pub async fn take_reset_attempt(
        &self,
        resident_id: Uuid,
        max_attempts: i32,
        now: DateTime<Utc>,
    ) -> Result<Option<ResetCode>> {
        let taken = password_reset::Entity::update_many()
            .col_expr(
                password_reset::Column::Attempts,
                Expr::col(password_reset::Column::Attempts).add(1),
            )
            .filter(password_reset::Column::ResidentId.eq(resident_id))
            .filter(password_reset::Column::Attempts.lt(max_attempts))
            .filter(password_reset::Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await?
            .rows_affected
            == 1;
        if !taken {
            return Ok(None);
        }
        self.reset_code(resident_id).await
    }

    /// Forgets a resident's reset code (it could not be sent).
    pub async fn drop_reset_code(&self, resident_id: Uuid) -> Result<()> {
        password_reset::Entity::delete_by_id(resident_id)
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
