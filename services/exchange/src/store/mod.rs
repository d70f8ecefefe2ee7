//! The exchange repository on sea-orm (SQLite or PostgreSQL): the partner registry. Rows become
//! domain records here and nowhere else.

mod migration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, OnConflict},
};

use crate::domain::{
    error::{ExchangeError, Result},
    partners::{Partner, PartnerStatus},
};
pub use migration::Migrator;

impl From<sea_orm::DbErr> for ExchangeError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Store(err.to_string())
    }
}

fn corrupt(what: &str) -> ExchangeError {
    ExchangeError::Store(format!("stored {what} is not valid"))
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

/// The current time, for registrations.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}
