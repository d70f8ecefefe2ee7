//! The exchange repository on sea-orm (SQLite or PostgreSQL): the partner registry. Rows become
//! domain records here and nowhere else.

mod migration;
mod notify;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use crate::domain::{
    audit::{AccessEntry, AccessFilter},
    consent::{Category, Consent, PartnerKind},
    error::{ExchangeError, Result},
    notify::Event,
    partners::{Partner, PartnerStatus},
    records::{RecordOutcome, RecordResult},
};
pub use migration::Migrator;

impl From<sea_orm::DbErr> for ExchangeError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Internal(healthpoints_db::storage_fault(err))
    }
}

fn corrupt(what: &str) -> ExchangeError {
    ExchangeError::fault(format!("stored {what} is not valid"))
}

pub mod partner {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partners")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub partner_id: String,
        pub name: String,
        pub department: String,
        pub contact: String,
        /// JSON array of behaviour codes.
        pub behaviours: String,
        /// JSON array of scopes.
        pub scopes: String,
        pub status: String,
        pub client_id: Option<String>,
        pub registered_at_us: i64,
        /// `department` or `commercial`.
        pub kind: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Further client-credentials clients of a registered partner (a second server, a secret being
/// rotated); the first is `partners.client_id`.
pub mod partner_client {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "partner_clients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        pub partner_id: String,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

fn to_partner(m: partner::Model) -> Result<Partner> {
    Ok(Partner {
        partner_id: m.partner_id,
        name: m.name,
        department: m.department,
        contact: m.contact,
        behaviours: serde_json::from_str(&m.behaviours).map_err(|_| corrupt("behaviours"))?,
        scopes: serde_json::from_str(&m.scopes).map_err(|_| corrupt("scopes"))?,
        status: PartnerStatus::parse(&m.status).ok_or_else(|| corrupt("partner status"))?,
        client_id: m.client_id,
        registered_at: DateTime::from_timestamp_micros(m.registered_at_us)
            .ok_or_else(|| corrupt("time"))?,
        kind: PartnerKind::parse(&m.kind).ok_or_else(|| corrupt("partner kind"))?,
    })
}

fn json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// The exchange repository.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Reserves the partner id (status `registering`); `false` when it is taken.
    pub async fn reserve(&self, p: &Partner) -> Result<bool> {
        let inserted = partner::Entity::insert(partner::ActiveModel {
            partner_id: Set(p.partner_id.clone()),
            name: Set(p.name.clone()),
            department: Set(p.department.clone()),
            contact: Set(p.contact.clone()),
            behaviours: Set(json(&p.behaviours)),
            scopes: Set(json(&p.scopes)),
            status: Set(PartnerStatus::Registering.as_str().to_owned()),
            client_id: Set(None),
            registered_at_us: Set(p.registered_at.timestamp_micros()),
            kind: Set(p.kind.as_str().to_owned()),
        })
        .on_conflict(
            OnConflict::column(partner::Column::PartnerId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        Ok(inserted == 1)
    }

    /// Completes a registration with its client: the partner becomes active.
    pub async fn activate(&self, partner_id: &str, client_id: &str) -> Result<()> {
        partner::Entity::update_many()
            .col_expr(partner::Column::ClientId, Expr::value(client_id))
            .col_expr(
                partner::Column::Status,
                Expr::value(PartnerStatus::Active.as_str()),
            )
            .filter(partner::Column::PartnerId.eq(partner_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Drops a reservation whose client could not be created.
    pub async fn release(&self, partner_id: &str) -> Result<()> {
        partner::Entity::delete_many()
            .filter(partner::Column::PartnerId.eq(partner_id))
            .filter(partner::Column::Status.eq(PartnerStatus::Registering.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Changes what a partner may do (behaviours, scopes, status, contact).
    pub async fn update(&self, p: &Partner) -> Result<()> {
        partner::Entity::update_many()
            .col_expr(partner::Column::Name, Expr::value(p.name.clone()))
            .col_expr(partner::Column::Contact, Expr::value(p.contact.clone()))
            .col_expr(
                partner::Column::Behaviours,
                Expr::value(json(&p.behaviours)),
            )
            .col_expr(partner::Column::Scopes, Expr::value(json(&p.scopes)))
            .col_expr(partner::Column::Status, Expr::value(p.status.as_str()))
            .col_expr(partner::Column::Kind, Expr::value(p.kind.as_str()))
            .filter(partner::Column::PartnerId.eq(p.partner_id.clone()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn partner(&self, partner_id: &str) -> Result<Option<Partner>> {
        partner::Entity::find_by_id(partner_id.to_owned())
            .one(&self.db)
            .await?
            .map(to_partner)
            .transpose()
    }

    /// Records another client of a registered partner, created `at`.
    pub async fn add_client(
        &self,
        partner_id: &str,
        client_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        partner_client::Entity::insert(partner_client::ActiveModel {
            client_id: Set(client_id.to_owned()),
            partner_id: Set(partner_id.to_owned()),
            created_at_us: Set(at.timestamp_micros()),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// Whether `client_id` is one of the partner's further clients.
    pub async fn is_client_of(&self, partner_id: &str, client_id: &str) -> Result<bool> {
        Ok(partner_client::Entity::find_by_id(client_id.to_owned())
            .filter(partner_client::Column::PartnerId.eq(partner_id))
            .one(&self.db)
            .await?
            .is_some())
    }

    /// Registered partners (not those still registering), by id.
    pub async fn partners(&self) -> Result<Vec<Partner>> {
        partner::Entity::find()
            .filter(partner::Column::Status.ne(PartnerStatus::Registering.as_str()))
            .order_by_asc(partner::Column::PartnerId)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_partner)
            .collect()
    }
}

pub mod consent {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "consents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub resident_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub partner_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub category: String,
        pub purpose: String,
        pub granted_at_us: i64,
        pub revoked_at_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod access {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "access_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub entry_id: Uuid,
        pub at_us: i64,
        pub actor: String,
        pub partner_id: Option<String>,
        pub action: String,
        pub records: i32,
        pub detail: String,
        pub resident_id: Option<String>,
        /// `<district>/<institution>` for entries made at a health-station counter.
        pub station: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod contract_record {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "contract_records")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub partner_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub record_id: String,
        pub outcome: String,
        pub points: i64,
        pub reason_code: String,
        pub reason: String,
        pub received_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

fn time(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| corrupt("time"))
}

fn to_consent(m: consent::Model) -> Result<Consent> {
    Ok(Consent {
        category: Category::parse(&m.category).ok_or_else(|| corrupt("consent category"))?,
        resident_id: m.resident_id,
        partner_id: m.partner_id,
        purpose: m.purpose,
        granted_at: time(m.granted_at_us)?,
        revoked_at: m.revoked_at_us.map(time).transpose()?,
    })
}

fn to_entry(m: access::Model) -> Result<AccessEntry> {
    Ok(AccessEntry {
        entry_id: m.entry_id,
        at: time(m.at_us)?,
        actor: m.actor,
        partner_id: m.partner_id,
        action: m.action,
        records: m.records.unsigned_abs(),
        detail: m.detail,
        resident_id: m.resident_id,
        station: m.station,
    })
}

fn outcome_name(o: RecordOutcome) -> &'static str {
    o.as_str()
}

fn outcome_parse(s: &str) -> Option<RecordOutcome> {
    Some(match s {
        "awarded" => RecordOutcome::Awarded,
        "capped" => RecordOutcome::Capped,
        "duplicate" => RecordOutcome::Duplicate,
        "held" => RecordOutcome::Held,
        "rejected" => RecordOutcome::Rejected,
        "pending" => RecordOutcome::Pending,
        "applied" => RecordOutcome::Applied,
        "not_processed" => RecordOutcome::NotProcessed,
        _ => return None,
    })
}

impl Store {
    /// A resident's consents, current and revoked, newest first.
    pub async fn consents(&self, resident_id: &str) -> Result<Vec<Consent>> {
        consent::Entity::find()
            .filter(consent::Column::ResidentId.eq(resident_id))
            .order_by_desc(consent::Column::GrantedAtUs)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_consent)
            .collect()
    }

    /// Grants, or grants again after a revocation (a new grant time, the new purpose), with its
    /// event in the same transaction.
    pub async fn save_consent(&self, c: &Consent, event: &Event) -> Result<()> {
        let txn = self.db.begin().await?;
        consent::Entity::insert(consent::ActiveModel {
            resident_id: Set(c.resident_id.clone()),
            partner_id: Set(c.partner_id.clone()),
            category: Set(c.category.as_str().to_owned()),
            purpose: Set(c.purpose.clone()),
            granted_at_us: Set(c.granted_at.timestamp_micros()),
            revoked_at_us: Set(None),
        })
        .on_conflict(
            OnConflict::columns([
                consent::Column::ResidentId,
                consent::Column::PartnerId,
                consent::Column::Category,
            ])
            .update_columns([
                consent::Column::Purpose,
                consent::Column::GrantedAtUs,
                consent::Column::RevokedAtUs,
            ])
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        notify::record(&txn, std::slice::from_ref(event)).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Marks a consent revoked (once: revoking again keeps the first time, and writes no second
    /// event); the event of the revocation in the same transaction.
    pub async fn revoke_consent(
        &self,
        resident_id: &str,
        partner_id: &str,
        category: Category,
        at: DateTime<Utc>,
        event: impl FnOnce(&Consent) -> Event,
    ) -> Result<Option<Consent>> {
        let key = (
            resident_id.to_owned(),
            partner_id.to_owned(),
            category.as_str().to_owned(),
        );
        let txn = self.db.begin().await?;
        let changed = consent::Entity::update_many()
            .col_expr(
                consent::Column::RevokedAtUs,
                Expr::value(at.timestamp_micros()),
            )
            .filter(consent::Column::ResidentId.eq(resident_id))
            .filter(consent::Column::PartnerId.eq(partner_id))
            .filter(consent::Column::Category.eq(category.as_str()))
            .filter(consent::Column::RevokedAtUs.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        let found = consent::Entity::find_by_id(key)
            .one(&txn)
            .await?
            .map(to_consent)
            .transpose()?;
        if let (1, Some(c)) = (changed, &found) {
            notify::record(&txn, &[event(c)]).await?;
        }
        txn.commit().await?;
        Ok(found)
    }

    /// The (resident, category) pairs among `residents` with an active consent to `partner`.
    pub async fn active_consents(
        &self,
        partner_id: &str,
        residents: &[String],
    ) -> Result<Vec<(String, Category)>> {
        let mut out = Vec::new();
        for chunk in residents.chunks(500) {
            let rows = consent::Entity::find()
                .filter(consent::Column::PartnerId.eq(partner_id))
                .filter(consent::Column::ResidentId.is_in(chunk.iter().cloned()))
                .filter(consent::Column::RevokedAtUs.is_null())
                .all(&self.db)
                .await?;
            for r in rows {
                if let Some(c) = Category::parse(&r.category) {
                    out.push((r.resident_id, c));
                }
            }
        }
        Ok(out)
    }

    /// Appends entries to the access log.
    pub async fn append(&self, entries: &[AccessEntry]) -> Result<()> {
        for chunk in entries.chunks(1_000) {
            access::Entity::insert_many(chunk.iter().map(|e| access::ActiveModel {
                entry_id: Set(e.entry_id),
                at_us: Set(e.at.timestamp_micros()),
                actor: Set(e.actor.clone()),
                partner_id: Set(e.partner_id.clone()),
                action: Set(e.action.clone()),
                records: Set(i32::try_from(e.records).unwrap_or(i32::MAX)),
                detail: Set(e.detail.clone()),
                resident_id: Set(e.resident_id.clone()),
                station: Set(e.station.clone()),
            }))
            .exec_without_returning(&self.db)
            .await?;
        }
        Ok(())
    }

    /// Access-log entries newest first (entry ids are time-ordered), before the cursor.
    pub async fn access_log(
        &self,
        filter: &AccessFilter,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        before: Option<uuid::Uuid>,
        limit: u64,
    ) -> Result<Vec<AccessEntry>> {
        let mut q = access::Entity::find().order_by_desc(access::Column::EntryId);
        q = match filter {
            AccessFilter::Resident(r) => q.filter(access::Column::ResidentId.eq(r.clone())),
            AccessFilter::Partner(p) => q.filter(access::Column::PartnerId.eq(p.clone())),
            AccessFilter::Station {
                district,
                institution: Some(institution),
            } => q.filter(access::Column::Station.eq(format!("{district}/{institution}"))),
            // Every station of the district: the label's prefix (a district code has no
            // LIKE wildcards).
            AccessFilter::Station {
                district,
                institution: None,
            } => q.filter(access::Column::Station.starts_with(format!("{district}/"))),
            AccessFilter::All => q,
        };
        if let Some(from) = from {
            q = q.filter(access::Column::AtUs.gte(from.timestamp_micros()));
        }
        if let Some(to) = to {
            q = q.filter(access::Column::AtUs.lt(to.timestamp_micros()));
        }
        if let Some(before) = before {
            q = q.filter(access::Column::EntryId.lt(before));
        }
        q.limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_entry)
            .collect()
    }

    /// The stored answers to a partner's contract records, by record id.
    pub async fn contract_results(
        &self,
        partner_id: &str,
        record_ids: &[String],
    ) -> Result<Vec<RecordResult>> {
        contract_record::Entity::find()
            .filter(contract_record::Column::PartnerId.eq(partner_id))
            .filter(contract_record::Column::RecordId.is_in(record_ids.iter().cloned()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                Ok(RecordResult {
                    outcome: outcome_parse(&m.outcome).ok_or_else(|| corrupt("outcome"))?,
                    record_id: m.record_id,
                    points: u64::try_from(m.points).map_err(|_| corrupt("points"))?,
                    reason_code: m.reason_code,
                    reason: m.reason,
                })
            })
            .collect()
    }

    /// Keeps a contract record's answer, received `at` (the first one stays).
    pub async fn save_contract_result(
        &self,
        partner_id: &str,
        r: &RecordResult,
        at: DateTime<Utc>,
    ) -> Result<()> {
        contract_record::Entity::insert(contract_record::ActiveModel {
            partner_id: Set(partner_id.to_owned()),
            record_id: Set(r.record_id.clone()),
            outcome: Set(outcome_name(r.outcome).to_owned()),
            points: Set(i64::try_from(r.points).unwrap_or(i64::MAX)),
            reason_code: Set(r.reason_code.clone()),
            reason: Set(r.reason.clone()),
            received_at_us: Set(at.timestamp_micros()),
        })
        .on_conflict(
            OnConflict::columns([
                contract_record::Column::PartnerId,
                contract_record::Column::RecordId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }
}
