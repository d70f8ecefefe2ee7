//! The identity repository: sea-orm over SQLite or PostgreSQL. Rows become domain records here,
//! and database constraint violations become domain errors here, nowhere else.

mod clients;
mod closing;
mod entities;
mod migration;
mod passwords;

pub use clients::ClientRecord;
pub use passwords::ResetCode;

use chrono::{DateTime, NaiveDate, Utc};
use healthpoints_types::{DistrictCode, MallId, PILOT_DISTRICTS};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use std::collections::HashMap;
use uuid::Uuid;

use crate::domain::{
    error::{IdentityError, Result},
    model::{
        District, FamilyDoctorContract, NewResident, ResidenceType, Resident, ResidentStatus,
        SessionOwner, Staff, StaffRole,
    },
};
use entities::{district, refresh_token, resident, signing_key, staff};
pub use migration::Migrator;

/// Password, lock state and status of one login, read for a login attempt.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub owner: SessionOwner,
    pub password_hash: String,
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
    /// Residents only; staff are always active.
    pub status: ResidentStatus,
}

/// A stored signing key, private part still encrypted.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub kid: String,
    pub private_key_enc: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// A stored refresh token.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub family_id: Uuid,
    pub owner: SessionOwner,
    pub expires_at: DateTime<Utc>,
    /// When it was rotated (spent).
    pub used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// A refresh token about to be issued.
#[derive(Debug, Clone)]
pub struct NewRefresh {
    pub hash: String,
    pub family_id: Uuid,
    pub owner: SessionOwner,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<sea_orm::DbErr> for IdentityError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Internal(healthpoints_db::storage_fault(err))
    }
}

/// The identity repository.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
}

fn corrupt(what: &str) -> IdentityError {
    IdentityError::fault(format!("stored {what} is not valid"))
}

fn date(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| corrupt("date"))
}

fn to_resident(m: resident::Model) -> Result<Resident> {
    let family_doctor = match (
        m.fd_institution_code,
        m.fd_institution_name,
        m.fd_district,
        m.fd_signed_on,
        m.fd_valid_until,
    ) {
        (Some(code), Some(name), Some(d), Some(signed), Some(until)) => {
            Some(FamilyDoctorContract {
                institution_code: code,
                institution_name: name,
                district: DistrictCode::parse(&d).map_err(|_| corrupt("contract district"))?,
                signed_on: date(&signed)?,
                valid_until: date(&until)?,
            })
        }
        _ => None,
    };
    Ok(Resident {
        id: m.id,
        name: m.name,
        id_number_masked: m.id_number_masked,
        phone_masked: m.phone_masked,
        residence_district: DistrictCode::parse(&m.residence_district)
            .map_err(|_| corrupt("district"))?,
        residence_type: ResidenceType::parse(&m.residence_type)
            .ok_or_else(|| corrupt("residence type"))?,
        status: ResidentStatus::parse(&m.status).ok_or_else(|| corrupt("status"))?,
        status_reason: m.status_reason,
        family_doctor,
        birth_date: date(&m.birth_date)?,
        registered_at: m.created_at,
    })
}

/// A stored district code, if any.
fn district_of(raw: Option<&str>) -> Result<Option<DistrictCode>> {
    raw.map(DistrictCode::parse)
        .transpose()
        .map_err(|_| corrupt("district"))
}

/// A stored mall id, if any.
fn mall_of(raw: Option<&str>) -> Result<Option<MallId>> {
    raw.map(MallId::parse)
        .transpose()
        .map_err(|_| corrupt("mall"))
}

fn to_staff(m: &staff::Model) -> Result<Staff> {
    Ok(Staff {
        id: m.id,
        username: m.username.clone(),
        role: StaffRole::parse(&m.role).ok_or_else(|| corrupt("role"))?,
        district: district_of(m.district.as_deref())?,
        merchant_id: m.merchant_id,
        mall: mall_of(m.mall.as_deref())?,
        institution_code: m.institution_code.clone(),
    })
}

fn to_district(m: district::Model) -> Result<District> {
    Ok(District {
        code: DistrictCode::parse(&m.code).map_err(|_| corrupt("district"))?,
        enrolled: m.enrolled,
        enrolled_since: m.enrolled_since,
    })
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    // === districts ===

    /// Adds every district of the city that is not stored yet; pilots start enrolled.
    pub async fn ensure_districts(&self, now: DateTime<Utc>) -> Result<()> {
        let known: Vec<String> = district::Entity::find()
            .select_only()
            .column(district::Column::Code)
            .into_tuple()
            .all(&self.db)
            .await?;
        for code in DistrictCode::all().filter(|c| !known.iter().any(|k| k == c.as_str())) {
            let pilot = PILOT_DISTRICTS.contains(&code.as_str());
            let row = district::ActiveModel {
                code: Set(code.to_string()),
                enrolled: Set(pilot),
                enrolled_since: Set(pilot.then_some(now)),
                updated_at: Set(now),
            };
            if let Err(e) = district::Entity::insert(row).exec(&self.db).await {
                // Another replica seeded it first.
                if !healthpoints_db::is_unique_violation(&e) {
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    pub async fn districts(&self) -> Result<Vec<District>> {
        district::Entity::find()
            .order_by_asc(district::Column::Code)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_district)
            .collect()
    }

    pub async fn district(&self, code: DistrictCode) -> Result<District> {
        district::Entity::find_by_id(code.to_string())
            .one(&self.db)
            .await?
            .map(to_district)
            .transpose()?
            .ok_or(IdentityError::NotFound("district"))
    }

    /// Enrols or withdraws a district; enrolling again keeps the original date.
    pub async fn set_enrolment(
        &self,
        code: DistrictCode,
        enrolled: bool,
        now: DateTime<Utc>,
    ) -> Result<District> {
        let current = self.district(code).await?;
        let since = match (enrolled, current.enrolled) {
            (true, true) => current.enrolled_since,
            (true, false) => Some(now),
            (false, _) => None,
        };
        district::Entity::update(district::ActiveModel {
            code: Set(code.to_string()),
            enrolled: Set(enrolled),
            enrolled_since: Set(since),
            updated_at: Set(now),
        })
        .exec(&self.db)
        .await?;
        self.district(code).await
    }

    // === residents ===

    /// Stores a new resident; one person (ID number) and one phone, one account.
    pub async fn insert_resident(&self, r: NewResident) -> Result<()> {
        resident::Entity::insert(resident_row(r))
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(|e| {
                if healthpoints_db::is_unique_violation(&e) {
                    if e.to_string().contains("phone_hash") {
                        IdentityError::PhoneTaken
                    } else {
                        IdentityError::IdNumberTaken
                    }
                } else {
                    e.into()
                }
            })
    }

    /// Stores the residents whose ID number and phone are both new, in one statement, and
    /// answers who is now registered under each ID number asked (a row's own id when it was
    /// stored; another when the number was registered before; none when only its phone was).
    pub async fn import_residents(&self, rows: Vec<NewResident>) -> Result<HashMap<String, Uuid>> {
        if rows.is_empty() {
            return Ok(HashMap::new());
        }
        let hashes: Vec<String> = rows.iter().map(|r| r.id_number_hash.clone()).collect();
        resident::Entity::insert_many(rows.into_iter().map(resident_row))
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .exec_without_returning(&self.db)
            .await?;
        Ok(resident::Entity::find()
            .select_only()
            .columns([resident::Column::IdNumberHash, resident::Column::Id])
            .filter(resident::Column::IdNumberHash.is_in(hashes))
            .into_tuple::<(String, Uuid)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect())
    }

    pub async fn id_number_taken(&self, hash: &str) -> Result<bool> {
        Ok(resident::Entity::find()
            .filter(resident::Column::IdNumberHash.eq(hash))
            .count(&self.db)
            .await?
            > 0)
    }

    pub async fn phone_taken(&self, hash: &str) -> Result<bool> {
        Ok(resident::Entity::find()
            .filter(resident::Column::PhoneHash.eq(hash))
            .count(&self.db)
            .await?
            > 0)
    }

    pub async fn resident(&self, id: Uuid) -> Result<Resident> {
        self.one_resident(resident::Column::Id.eq(id)).await
    }

    pub async fn resident_by_id_hash(&self, hash: &str) -> Result<Resident> {
        self.one_resident(resident::Column::IdNumberHash.eq(hash))
            .await
    }

    /// The residents among `ids`, and those whose ID number hash is among `hashes` (by hash):
    /// at most two reads.
    pub async fn residents_by_refs(
        &self,
        ids: Vec<Uuid>,
        hashes: Vec<String>,
    ) -> Result<(HashMap<Uuid, Resident>, HashMap<String, Resident>)> {
        let mut by_id = HashMap::new();
        if !ids.is_empty() {
            for row in resident::Entity::find()
                .filter(resident::Column::Id.is_in(ids))
                .all(&self.db)
                .await?
            {
                let r = to_resident(row)?;
                by_id.insert(r.id, r);
            }
        }
        let mut by_hash = HashMap::new();
        if !hashes.is_empty() {
            for row in resident::Entity::find()
                .filter(resident::Column::IdNumberHash.is_in(hashes))
                .all(&self.db)
                .await?
            {
                let hash = row.id_number_hash.clone();
                by_hash.insert(hash, to_resident(row)?);
            }
        }
        Ok((by_id, by_hash))
    }

    async fn one_resident(&self, filter: sea_orm::sea_query::SimpleExpr) -> Result<Resident> {
        resident::Entity::find()
            .filter(filter)
            .one(&self.db)
            .await?
            .map(to_resident)
            .transpose()?
            .ok_or(IdentityError::NotFound("resident"))
    }

    /// Residents of a district in registration order, after `after`.
    pub async fn residents_in(
        &self,
        district: DistrictCode,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<Resident>> {
        let mut q = resident::Entity::find()
            .filter(resident::Column::ResidenceDistrict.eq(district.as_str()))
            .order_by_asc(resident::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            q = q.filter(resident::Column::Id.gt(after));
        }
        q.all(&self.db)
            .await?
            .into_iter()
            .map(to_resident)
            .collect()
    }

    /// Replaces (or with `None` ends) a resident's family-doctor contract.
    pub async fn set_contract(
        &self,
        id: Uuid,
        contract: Option<&FamilyDoctorContract>,
        now: DateTime<Utc>,
    ) -> Result<Resident> {
        let fmt = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        let result = resident::Entity::update_many()
            .col_expr(
                resident::Column::FdInstitutionCode,
                Expr::value(contract.map(|c| c.institution_code.clone())),
            )
            .col_expr(
                resident::Column::FdInstitutionName,
                Expr::value(contract.map(|c| c.institution_name.clone())),
            )
            .col_expr(
                resident::Column::FdDistrict,
                Expr::value(contract.map(|c| c.district.to_string())),
            )
            .col_expr(
                resident::Column::FdSignedOn,
                Expr::value(contract.map(|c| fmt(c.signed_on))),
            )
            .col_expr(
                resident::Column::FdValidUntil,
                Expr::value(contract.map(|c| fmt(c.valid_until))),
            )
            .col_expr(resident::Column::UpdatedAt, Expr::value(now))
            .filter(resident::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        if result.rows_affected == 0 {
            return Err(IdentityError::NotFound("resident"));
        }
        self.resident(id).await
    }

    /// Moves a resident from `from` to `to` status; false when they were not in `from`.
    pub async fn change_status(
        &self,
        id: Uuid,
        from: ResidentStatus,
        to: ResidentStatus,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let result = resident::Entity::update_many()
            .col_expr(resident::Column::Status, Expr::value(to.as_str()))
            .col_expr(resident::Column::StatusReason, Expr::value(reason))
            .col_expr(resident::Column::UpdatedAt, Expr::value(now))
            .filter(resident::Column::Id.eq(id))
            .filter(resident::Column::Status.eq(from.as_str()))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    // === logins ===

    pub async fn resident_login(&self, phone_hash: &str) -> Result<Option<LoginRecord>> {
        let row = resident::Entity::find()
            .filter(resident::Column::PhoneHash.eq(phone_hash))
            .one(&self.db)
            .await?;
        row.map(|m| {
            Ok(LoginRecord {
                owner: SessionOwner::Resident(m.id),
                status: ResidentStatus::parse(&m.status).ok_or_else(|| corrupt("status"))?,
                password_hash: m.password_hash,
                failed_logins: m.failed_logins,
                locked_until: m.locked_until,
            })
        })
        .transpose()
    }

    pub async fn staff_login(&self, username: &str) -> Result<Option<(Staff, LoginRecord)>> {
        let row = staff::Entity::find()
            .filter(staff::Column::Username.eq(username))
            .one(&self.db)
            .await?;
        row.map(|m| {
            Ok((
                to_staff(&m)?,
                LoginRecord {
                    owner: SessionOwner::Staff(m.id),
                    status: ResidentStatus::Active,
                    password_hash: m.password_hash,
                    failed_logins: m.failed_logins,
                    locked_until: m.locked_until,
                },
            ))
        })
        .transpose()
    }

    /// Counts a failed login; at `max_failures` in a row the account locks until `lock_until`
    /// and the count starts again. Returns whether this failure locked the account.
    pub async fn record_login_failure(
        &self,
        owner: SessionOwner,
        max_failures: i32,
        lock_until: DateTime<Utc>,
    ) -> Result<bool> {
        macro_rules! bump {
            ($entity:ident, $id:expr) => {{
                $entity::Entity::update_many()
                    .col_expr(
                        $entity::Column::FailedLogins,
                        Expr::col($entity::Column::FailedLogins).add(1),
                    )
                    .filter($entity::Column::Id.eq($id))
                    .exec(&self.db)
                    .await?;
                let locked = $entity::Entity::update_many()
                    .col_expr($entity::Column::FailedLogins, Expr::value(0))
                    .col_expr($entity::Column::LockedUntil, Expr::value(Some(lock_until)))
                    .filter($entity::Column::Id.eq($id))
                    .filter($entity::Column::FailedLogins.gte(max_failures))
                    .exec(&self.db)
                    .await?;
                Ok(locked.rows_affected == 1)
            }};
        }
        match owner {
            SessionOwner::Resident(id) => bump!(resident, id),
            SessionOwner::Staff(id) => bump!(staff, id),
        }
    }

    /// Clears the failure count and any lock after a successful login.
    pub async fn record_login_success(&self, owner: SessionOwner) -> Result<()> {
        macro_rules! clear {
            ($entity:ident, $id:expr) => {{
                $entity::Entity::update_many()
                    .col_expr($entity::Column::FailedLogins, Expr::value(0))
                    .col_expr(
                        $entity::Column::LockedUntil,
                        Expr::value(Option::<DateTime<Utc>>::None),
                    )
                    .filter($entity::Column::Id.eq($id))
                    .exec(&self.db)
                    .await?;
            }};
        }
        match owner {
            SessionOwner::Resident(id) => clear!(resident, id),
            SessionOwner::Staff(id) => clear!(staff, id),
        }
        Ok(())
    }

    // === staff ===

    pub async fn insert_staff(
        &self,
        s: &Staff,
        password_hash: String,
        created_by: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let row = staff::ActiveModel {
            id: Set(s.id),
            username: Set(s.username.clone()),
            password_hash: Set(password_hash),
            role: Set(s.role.as_str().to_owned()),
            district: Set(s.district.map(|d| d.to_string())),
            merchant_id: Set(s.merchant_id),
            mall: Set(s.mall.map(|m| m.to_string())),
            failed_logins: Set(0),
            locked_until: Set(None),
            created_by: Set(created_by),
            created_at: Set(now),
            institution_code: Set(s.institution_code.clone()),
        };
        staff::Entity::insert(row)
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(|e| {
                if healthpoints_db::is_unique_violation(&e) {
                    IdentityError::UsernameTaken
                } else {
                    e.into()
                }
            })
    }

    pub async fn staff(&self, id: Uuid) -> Result<Staff> {
        staff::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(|m| to_staff(&m))
            .transpose()?
            .ok_or(IdentityError::NotFound("staff"))
    }

    pub async fn has_city_admin(&self) -> Result<bool> {
        Ok(staff::Entity::find()
            .filter(staff::Column::Role.eq(StaffRole::CityAdmin.as_str()))
            .count(&self.db)
            .await?
            > 0)
    }

    // === signing keys ===

    pub async fn insert_key(&self, k: &KeyRecord) -> Result<()> {
        let row = signing_key::ActiveModel {
            kid: Set(k.kid.clone()),
            private_key_enc: Set(k.private_key_enc.clone()),
            public_key: Set(k.public_key.clone()),
            created_at: Set(k.created_at),
            retired_at: Set(k.retired_at),
        };
        signing_key::Entity::insert(row).exec(&self.db).await?;
        Ok(())
    }

    /// Keys newest first.
    pub async fn keys(&self) -> Result<Vec<KeyRecord>> {
        Ok(signing_key::Entity::find()
            .order_by_desc(signing_key::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| KeyRecord {
                kid: m.kid,
                private_key_enc: m.private_key_enc,
                public_key: m.public_key,
                created_at: m.created_at,
                retired_at: m.retired_at,
            })
            .collect())
    }

    /// Retires every active key except `keep`.
    pub async fn retire_keys_except(&self, keep: &str, now: DateTime<Utc>) -> Result<()> {
        signing_key::Entity::update_many()
            .col_expr(signing_key::Column::RetiredAt, Expr::value(Some(now)))
            .filter(signing_key::Column::Kid.ne(keep))
            .filter(signing_key::Column::RetiredAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    // === refresh tokens ===

    pub async fn insert_refresh(&self, new: NewRefresh) -> Result<()> {
        refresh_token::Entity::insert(refresh_row(new))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Rotates a refresh token in one transaction: the old one is spent and its successor
    /// stored. False when the old token was spent or revoked meanwhile (a concurrent rotation
    /// won; nothing is written).
    pub async fn rotate_refresh(&self, old_hash: &str, new: NewRefresh) -> Result<bool> {
        let txn = self.db.begin().await?;
        let spent = refresh_token::Entity::update_many()
            .col_expr(
                refresh_token::Column::UsedAt,
                Expr::value(Some(new.issued_at)),
            )
            .filter(refresh_token::Column::TokenHash.eq(old_hash))
            .filter(refresh_token::Column::UsedAt.is_null())
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if !spent {
            txn.rollback().await?;
            return Ok(false);
        }
        refresh_token::Entity::insert(refresh_row(new))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(true)
    }

    /// A stored refresh token. It counts as revoked when any token of its family is: every
    /// revocation (logout, reuse, a password change, a close) is meant for the whole family,
    /// and on PostgreSQL a rotation racing a password change can store its successor just
    /// after the change revoked the owner's tokens — the spent predecessor is revoked all the
    /// same, and through it the successor.
    pub async fn refresh(&self, hash: &str) -> Result<Option<RefreshRecord>> {
        let Some(m) = refresh_token::Entity::find_by_id(hash.to_owned())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let owner = match m.owner_kind.as_str() {
            "resident" => SessionOwner::Resident(m.owner_id),
            "staff" => SessionOwner::Staff(m.owner_id),
            _ => return Err(corrupt("session owner")),
        };
        let revoked = m.revoked_at.is_some()
            || refresh_token::Entity::find()
                .filter(refresh_token::Column::FamilyId.eq(m.family_id))
                .filter(refresh_token::Column::RevokedAt.is_not_null())
                .one(&self.db)
                .await?
                .is_some();
        Ok(Some(RefreshRecord {
            family_id: m.family_id,
            owner,
            expires_at: m.expires_at,
            used_at: m.used_at,
            revoked,
        }))
    }

    /// Revokes every token of a family (logout, or reuse detected).
    pub async fn revoke_family(&self, family_id: Uuid, now: DateTime<Utc>) -> Result<()> {
        refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(Some(now)))
            .filter(refresh_token::Column::FamilyId.eq(family_id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

fn resident_row(r: NewResident) -> resident::ActiveModel {
    resident::ActiveModel {
        id: Set(r.id),
        name: Set(r.name),
        id_number_enc: Set(r.id_number_enc),
        id_number_hash: Set(r.id_number_hash),
        id_number_masked: Set(r.id_number_masked),
        phone_enc: Set(r.phone_enc),
        phone_hash: Set(r.phone_hash),
        phone_masked: Set(r.phone_masked),
        birth_date: Set(r.birth_date.format("%Y-%m-%d").to_string()),
        password_hash: Set(r.password_hash),
        residence_district: Set(r.residence_district.to_string()),
        residence_type: Set(r.residence_type.as_str().to_owned()),
        status: Set(ResidentStatus::Active.as_str().to_owned()),
        status_reason: Set(None),
        fd_institution_code: Set(None),
        fd_institution_name: Set(None),
        fd_district: Set(None),
        fd_signed_on: Set(None),
        fd_valid_until: Set(None),
        failed_logins: Set(0),
        locked_until: Set(None),
        created_at: Set(r.registered_at),
        updated_at: Set(r.registered_at),
        closed_at: Set(None),
        erased_at: Set(None),
    }
}

fn refresh_row(new: NewRefresh) -> refresh_token::ActiveModel {
    let (kind, id) = match new.owner {
        SessionOwner::Resident(id) => ("resident", id),
        SessionOwner::Staff(id) => ("staff", id),
    };
    refresh_token::ActiveModel {
        token_hash: Set(new.hash),
        family_id: Set(new.family_id),
        owner_kind: Set(kind.to_owned()),
        owner_id: Set(id),
        issued_at: Set(new.issued_at),
        expires_at: Set(new.expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
    }
}
