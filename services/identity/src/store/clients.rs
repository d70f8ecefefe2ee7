//! Client-credentials clients: partners', merchants' and the mesh services' own. A client has one
//! secret, and after a rotation the one before it, valid until its grace period ends.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr,
};

use super::{Store, corrupt, district_of, entities::client, mall_of};
use crate::domain::{
    error::{IdentityError, Result},
    model::{Client, ClientKind},
};

/// A stored client with its secret hashes.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub client: Client,
    pub secret_hash: String,
    /// The secret a rotation replaced, while its grace period lasts.
    pub previous_secret: Option<PreviousSecret>,
    pub disabled: bool,
}

/// A replaced secret's hash and the moment it stops being accepted.
#[derive(Debug, Clone)]
pub struct PreviousSecret {
    pub hash: String,
    pub valid_until: DateTime<Utc>,
}

impl ClientRecord {
    /// The hashes a presented secret may match at `now`: the current one, and the previous one
    /// until its grace period ends.
    pub fn accepted_hashes(&self, now: DateTime<Utc>) -> impl Iterator<Item = &str> {
        let previous = self
            .previous_secret
            .as_ref()
            .filter(|p| now < p.valid_until)
            .map(|p| p.hash.as_str());
        std::iter::once(self.secret_hash.as_str()).chain(previous)
    }
}

impl Store {
    pub async fn insert_client(
        &self,
        c: &Client,
        secret_hash: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let row = client::ActiveModel {
            client_id: Set(c.client_id.clone()),
            secret_hash: Set(secret_hash),
            previous_secret_hash: Set(None),
            previous_secret_valid_until: Set(None),
            kind: Set(c.kind.as_str().to_owned()),
            name: Set(c.name.clone()),
            partner_id: Set(c.partner_id.clone()),
            department: Set(c.department.clone()),
            scopes: Set(serde_json::to_string(&c.scopes).unwrap_or_else(|_| "[]".into())),
            service: Set(c.service.clone()),
            district: Set(c.district.map(|d| d.to_string())),
            merchant_id: Set(c.merchant_id),
            mall: Set(c.mall.map(|m| m.to_string())),
            disabled: Set(false),
            created_at: Set(now),
        };
        client::Entity::insert(row).exec(&self.db).await?;
        Ok(())
    }

    /// Creates a service client from configuration, or brings an existing one in line with it
    /// (its secret, service and district; enabled). The configured secret is the only one: a
    /// previous secret is dropped.
    pub async fn upsert_service_client(
        &self,
        c: &Client,
        secret_hash: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        match client::Entity::find_by_id(c.client_id.clone())
            .one(&self.db)
            .await?
        {
            None => self.insert_client(c, secret_hash, now).await,
            Some(existing) if existing.kind != ClientKind::Service.as_str() => {
                Err(IdentityError::Precondition(
                    "a configured service client id is taken by another kind of client",
                ))
            }
            Some(_) => {
                client::Entity::update_many()
                    .col_expr(client::Column::SecretHash, Expr::value(secret_hash))
                    .col_expr(
                        client::Column::PreviousSecretHash,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(
                        client::Column::PreviousSecretValidUntil,
                        Expr::value(Option::<DateTime<Utc>>::None),
                    )
                    .col_expr(client::Column::Service, Expr::value(c.service.clone()))
                    .col_expr(
                        client::Column::District,
                        Expr::value(c.district.map(|d| d.to_string())),
                    )
                    .col_expr(client::Column::Disabled, Expr::value(false))
                    .filter(client::Column::ClientId.eq(c.client_id.clone()))
                    .exec(&self.db)
                    .await?;
                Ok(())
            }
        }
    }

    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        client::Entity::find_by_id(client_id.to_owned())
            .one(&self.db)
            .await?
            .map(to_record)
            .transpose()
    }

    /// The clients of one partner, oldest first.
    pub async fn partner_clients(&self, partner_id: &str) -> Result<Vec<ClientRecord>> {
        client::Entity::find()
            .filter(client::Column::Kind.eq(ClientKind::Partner.as_str()))
            .filter(client::Column::PartnerId.eq(partner_id))
            .order_by_asc(client::Column::CreatedAt)
            .order_by_asc(client::Column::ClientId)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_record)
            .collect()
    }

    /// Gives a client a new secret in one statement: the current secret (`current`, as read)
    /// becomes the previous one, accepted until `previous_valid_until` (none: refused at once);
    /// a secret that was already previous is dropped. False when the client does not exist or
    /// its secret changed since it was read (a rotation at the same moment).
    pub async fn rotate_client_secret(
        &self,
        client_id: &str,
        current: &str,
        secret_hash: String,
        previous_valid_until: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let previous = match previous_valid_until {
            Some(_) => Expr::col(client::Column::SecretHash),
            None => Expr::value(Option::<String>::None),
        };
        let r = client::Entity::update_many()
            .col_expr(client::Column::PreviousSecretHash, previous)
            .col_expr(
                client::Column::PreviousSecretValidUntil,
                Expr::value(previous_valid_until),
            )
            .col_expr(client::Column::SecretHash, Expr::value(secret_hash))
            .filter(client::Column::ClientId.eq(client_id))
            .filter(client::Column::SecretHash.eq(current))
            .exec(&self.db)
            .await?;
        Ok(r.rows_affected == 1)
    }
}

fn to_record(m: client::Model) -> Result<ClientRecord> {
    let previous_secret = match (&m.previous_secret_hash, m.previous_secret_valid_until) {
        (Some(hash), Some(valid_until)) => Some(PreviousSecret {
            hash: hash.clone(),
            valid_until,
        }),
        _ => None,
    };
    Ok(ClientRecord {
        client: to_client(&m)?,
        secret_hash: m.secret_hash,
        previous_secret,
        disabled: m.disabled,
    })
}

fn to_client(m: &client::Model) -> Result<Client> {
    Ok(Client {
        client_id: m.client_id.clone(),
        kind: ClientKind::parse(&m.kind).ok_or_else(|| corrupt("client kind"))?,
        name: m.name.clone(),
        partner_id: m.partner_id.clone(),
        department: m.department.clone(),
        scopes: serde_json::from_str(&m.scopes).map_err(|_| corrupt("scopes"))?,
        service: m.service.clone(),
        district: district_of(m.district.as_deref())?,
        merchant_id: m.merchant_id,
        mall: mall_of(m.mall.as_deref())?,
    })
}
