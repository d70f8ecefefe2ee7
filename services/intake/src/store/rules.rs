//! The catalogue's tables: published rule versions, drafts, and the public changelog.

use chrono::{DateTime, Utc};
use healthpoints_types::DistrictCode;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
    sea_query::{ExprTrait, OnConflict},
};
use uuid::Uuid;

use super::{
    Store, corrupt,
    entities::{rule_change, rule_draft, rule_version},
    time,
};
use crate::domain::{
    catalogue::Rule,
    error::{IntakeError, Result},
    rules::{ChangeKind, Draft, Publication, RuleChange},
};

fn district_key(d: Option<DistrictCode>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

fn body(rule: &Rule) -> Result<String> {
    serde_json::to_string(rule)
        .map_err(|e| IntakeError::Internal(healthpoints_errors::Fault::caused_by("rule body", e)))
}

fn parse_rule(body: &str) -> Result<Rule> {
    serde_json::from_str(body).map_err(|_| corrupt("rule"))
}

fn to_change(m: rule_change::Model) -> Result<RuleChange> {
    Ok(RuleChange {
        id: m.id,
        code: m.code,
        district: (!m.district.is_empty())
            .then(|| DistrictCode::parse(&m.district).map_err(|_| corrupt("district")))
            .transpose()?,
        version: u32::try_from(m.version).map_err(|_| corrupt("rule version"))?,
        change: ChangeKind::parse(&m.change).ok_or_else(|| corrupt("change"))?,
        summary: m.summary,
        changed_by: m.changed_by,
        published_at: time(m.published_at_us)?,
        effective_from: time(m.effective_from_us)?,
    })
}

pub(super) fn change_row(c: &RuleChange) -> rule_change::ActiveModel {
    rule_change::ActiveModel {
        id: Set(c.id),
        code: Set(c.code.clone()),
        district: Set(district_key(c.district)),
        version: Set(i64::from(c.version)),
        change: Set(c.change.as_str().to_owned()),
        summary: Set(c.summary.clone()),
        changed_by: Set(c.changed_by.clone()),
        published_at_us: Set(c.published_at.timestamp_micros()),
        effective_from_us: Set(c.effective_from.timestamp_micros()),
    }
}

fn version_row(rule: &Rule, by: &str, at: DateTime<Utc>) -> Result<rule_version::ActiveModel> {
    Ok(rule_version::ActiveModel {
        code: Set(rule.code.clone()),
        district: Set(district_key(rule.district)),
        version: Set(i64::from(rule.version)),
        body: Set(body(rule)?),
        effective_from_us: Set(rule.effective_from.timestamp_micros()),
        effective_until_us: Set(rule.effective_until.map(|t| t.timestamp_micros())),
        published_by: Set(by.to_owned()),
        published_at_us: Set(at.timestamp_micros()),
    })
}

impl Store {
    /// Every published rule version.
    pub async fn rules(&self) -> Result<Vec<Rule>> {
        rule_version::Entity::find()
            .order_by_asc(rule_version::Column::Code)
            .order_by_asc(rule_version::Column::District)
            .order_by_asc(rule_version::Column::Version)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                let mut rule = parse_rule(&m.body)?;
                // The columns are the truth for what publishing changes later.
                rule.effective_until = m.effective_until_us.map(time).transpose()?;
                Ok(rule)
            })
            .collect()
    }

    /// Loads `rules` as the first content of an empty catalogue; does nothing if any rule is
    /// stored. Safe on several replicas at once: rows and changelog entries are keyed.
    pub async fn seed_rules(&self, rules: &[Rule], now: DateTime<Utc>) -> Result<bool> {
        if rule_version::Entity::find().count(&self.db).await? > 0 {
            return Ok(false);
        }
        let txn = self.db.begin().await?;
        for rule in rules {
            rule_version::Entity::insert(version_row(rule, "system", now)?)
                .on_conflict(
                    OnConflict::columns([
                        rule_version::Column::Code,
                        rule_version::Column::District,
                        rule_version::Column::Version,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
            let change = RuleChange {
                id: seed_change_id(rule),
                code: rule.code.clone(),
                district: rule.district,
                version: rule.version,
                change: ChangeKind::Created,
                summary: "part of the default catalogue".into(),
                changed_by: "system".into(),
                published_at: now,
                effective_from: rule.effective_from,
            };
            rule_change::Entity::insert(change_row(&change))
                .on_conflict(
                    OnConflict::column(rule_change::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(true)
    }

    pub async fn insert_draft(&self, draft: &Draft) -> Result<()> {
        rule_draft::Entity::insert(rule_draft::ActiveModel {
            id: Set(draft.id),
            code: Set(draft.rule.code.clone()),
            district: Set(district_key(draft.rule.district)),
            body: Set(body(&draft.rule)?),
            created_by: Set(draft.created_by.clone()),
            created_at_us: Set(draft.created_at.timestamp_micros()),
            published_version: Set(None),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// The drafts with these ids, in the order asked; unknown ids are left out.
    pub async fn drafts(&self, ids: &[Uuid]) -> Result<Vec<Draft>> {
        let rows = rule_draft::Entity::find()
            .filter(rule_draft::Column::Id.is_in(ids.to_vec()))
            .all(&self.db)
            .await?;
        let mut drafts = Vec::with_capacity(rows.len());
        for id in ids {
            if let Some(m) = rows.iter().find(|m| m.id == *id) {
                drafts.push(Draft {
                    id: m.id,
                    rule: parse_rule(&m.body)?,
                    created_by: m.created_by.clone(),
                    created_at: time(m.created_at_us)?,
                    published_version: m
                        .published_version
                        .map(|v| u32::try_from(v).map_err(|_| corrupt("rule version")))
                        .transpose()?,
                });
            }
        }
        Ok(drafts)
    }

    /// Publishes new versions in one transaction: each closes the version it replaces,
    /// is stored, marks its draft published and is entered in the changelog. A version number
    /// taken meanwhile (a concurrent publication) fails the whole publication.
    pub async fn publish(&self, publications: &[Publication]) -> Result<()> {
        let txn = self.db.begin().await?;
        for p in publications {
            if let Some(previous) = p.replaces {
                let closed = rule_version::Entity::update_many()
                    .col_expr(
                        rule_version::Column::EffectiveUntilUs,
                        sea_orm::sea_query::Expr::value(p.rule.effective_from.timestamp_micros()),
                    )
                    .filter(rule_version::Column::Code.eq(p.rule.code.as_str()))
                    .filter(rule_version::Column::District.eq(district_key(p.rule.district)))
                    .filter(rule_version::Column::Version.eq(i64::from(previous)))
                    .filter(rule_version::Column::EffectiveUntilUs.is_null())
                    .exec(&txn)
                    .await?;
                if closed.rows_affected != 1 {
                    return Err(IntakeError::Precondition(
                        "the rule changed meanwhile; review the drafts and publish again".into(),
                    ));
                }
            }
            let inserted = rule_version::Entity::insert(version_row(
                &p.rule,
                &p.change.changed_by,
                p.change.published_at,
            )?)
            .on_conflict(
                OnConflict::columns([
                    rule_version::Column::Code,
                    rule_version::Column::District,
                    rule_version::Column::Version,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
            if inserted != 1 {
                return Err(IntakeError::Precondition(
                    "the rule changed meanwhile; review the drafts and publish again".into(),
                ));
            }
            rule_change::Entity::insert(change_row(&p.change))
                .exec_without_returning(&txn)
                .await?;
            if let Some(draft) = p.draft {
                rule_draft::Entity::update_many()
                    .col_expr(
                        rule_draft::Column::PublishedVersion,
                        sea_orm::sea_query::Expr::value(i64::from(p.rule.version)),
                    )
                    .filter(rule_draft::Column::Id.eq(draft))
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok(())
    }

    /// The changelog, newest first, `limit` entries after the cursor (an entry id).
    pub async fn rule_changes(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<RuleChange>> {
        let mut query = rule_change::Entity::find()
            .order_by_desc(rule_change::Column::PublishedAtUs)
            .order_by_desc(rule_change::Column::Id);
        if let Some(after) = after {
            let Some(at) = rule_change::Entity::find_by_id(after)
                .select_only()
                .column(rule_change::Column::PublishedAtUs)
                .into_tuple::<i64>()
                .one(&self.db)
                .await?
            else {
                return Ok(Vec::new());
            };
            query = query.filter(
                rule_change::Column::PublishedAtUs
                    .lt(at)
                    .or(rule_change::Column::PublishedAtUs
                        .eq(at)
                        .and(rule_change::Column::Id.lt(after))),
            );
        }
        query
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_change)
            .collect()
    }
}

/// The changelog id of a default rule's entry: fixed, so seeding twice enters it once.
fn seed_change_id(rule: &Rule) -> Uuid {
    let key = format!(
        "healthpoints.intake.seed/v1\n{}\n{}\n{}",
        rule.code,
        district_key(rule.district),
        rule.version
    );
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d.as_ref()[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}
