//! Published versions of the books' points expiry policies, each entered in the public
//! changelog in the same transaction.

use healthpoints_types::Book;
use sea_orm::{ActiveValue::Set, EntityTrait, TransactionTrait, sea_query::OnConflict};

use super::{
    Store, corrupt,
    entities::{expiry_policy, rule_change},
    rules::change_row,
    time,
};
use crate::domain::{
    error::{IntakeError, Result},
    expiry::{ExpiryPolicy, PolicyVersion},
    rules::RuleChange,
};

impl Store {
    /// Every published version of every book's policy.
    pub async fn expiry_policies(&self) -> Result<Vec<PolicyVersion>> {
        expiry_policy::Entity::find()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                Ok(PolicyVersion {
                    book: Book::parse(&m.book).map_err(|_| corrupt("book"))?,
                    version: u32::try_from(m.version).map_err(|_| corrupt("policy version"))?,
                    policy: ExpiryPolicy::parse(&m.policy).map_err(|_| corrupt("policy"))?,
                    effective_from: time(m.effective_from_us)?,
                    published_by: m.published_by,
                    published_at: time(m.published_at_us)?,
                })
            })
            .collect()
    }

    /// Stores a new version and its changelog entry; refused when that version exists already
    /// (published meanwhile on another replica).
    pub async fn publish_expiry_policy(
        &self,
        v: &PolicyVersion,
        change: &RuleChange,
    ) -> Result<()> {
        let txn = self.db.begin().await?;
        let inserted = expiry_policy::Entity::insert(expiry_policy::ActiveModel {
            book: Set(v.book.to_string()),
            version: Set(i64::from(v.version)),
            policy: Set(v.policy.to_string()),
            effective_from_us: Set(v.effective_from.timestamp_micros()),
            published_by: Set(v.published_by.clone()),
            published_at_us: Set(v.published_at.timestamp_micros()),
        })
        .on_conflict(
            OnConflict::columns([expiry_policy::Column::Book, expiry_policy::Column::Version])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if inserted != 1 {
            return Err(IntakeError::Precondition(
                "the policy changed meanwhile; read it and publish again".into(),
            ));
        }
        rule_change::Entity::insert(change_row(change))
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}
