//! Residents: registration (every field checked at once, nothing stored on a refusal), reading
//! and resolving a resident (by id, ID number or its keyed hash) under who may see whom, the
//! admin list, the family-doctor contract, suspension and reinstatement.

use super::*;

/// A person's checked fields, to register or import.
pub(super) struct Person {
    pub name: String,
    pub id_number: IdNumber,
    pub phone: Phone,
    pub district: DistrictCode,
    pub residence_type: ResidenceType,
}

/// Checks a person's fields (all of them, each mistake into `v`).
pub(super) fn check_person(
    v: &mut Violations,
    r: &Registration,
    now: DateTime<Utc>,
) -> Option<Person> {
    let name = v.check("name", check_name(&r.name));
    let id_number = v.check(
        "id_number",
        IdNumber::parse(&r.id_number, shanghai_today(now)),
    );
    let phone = v.check("phone", Phone::parse(&r.phone));
    let district = v.check(
        "residence_district",
        DistrictCode::parse(&r.residence_district)
            .map_err(|_| "must be one of the city's district codes"),
    );
    let residence_type = v.check(
        "residence_type",
        ResidenceType::parse(&r.residence_type)
            .ok_or("must be \"registered\" or \"permanent_migrant\""),
    );
    Some(Person {
        name: name?,
        id_number: id_number?,
        phone: phone?,
        district: district?,
        residence_type: residence_type?,
    })
}

impl Identity {
    /// Registers a resident of an enrolled district. Public.
    pub async fn register(&self, r: Registration) -> Result<Uuid> {
        let now = self.now();
        let mut v = Violations::default();
        let person = check_person(&mut v, &r, now);
        v.check("password", check_password(&r.password));
        v.finish()?;
        let person = person.ok_or_else(|| IdentityError::fault("validated fields missing"))?;
        if !self.store.district(person.district).await?.enrolled {
            return Err(IdentityError::DistrictNotEnrolled(person.district));
        }
        let new = self.sealed(person, String::new(), now)?;
        if self.store.id_number_taken(&new.id_number_hash).await? {
            return Err(IdentityError::IdNumberTaken);
        }
        if self.store.phone_taken(&new.phone_hash).await? {
            return Err(IdentityError::PhoneTaken);
        }
        let new = NewResident {
            password_hash: hash_password(r.password).await?,
            ..new
        };
        let (id, district) = (new.id, new.residence_district);
        self.store.insert_resident(new).await?;
        tracing::info!(resident_id = %id, district = %district, "resident registered");
        Ok(id)
    }

    /// A checked person as stored: numbers encrypted, keyed-hashed and masked, a new id.
    pub(super) fn sealed(
        &self,
        p: Person,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<NewResident> {
        Ok(NewResident {
            id: Uuid::now_v7(),
            id_number_enc: self.crypto.encrypt_pii("id_number", p.id_number.as_str())?,
            id_number_hash: self.crypto.lookup_hash("id_number", p.id_number.as_str()),
            id_number_masked: p.id_number.masked(),
            phone_enc: self.crypto.encrypt_pii("phone", p.phone.as_str())?,
            phone_hash: self.crypto.lookup_hash("phone", p.phone.as_str()),
            phone_masked: p.phone.masked(),
            birth_date: p.id_number.birth_date(),
            name: p.name,
            password_hash,
            residence_district: p.district,
            residence_type: p.residence_type,
            registered_at: now,
        })
    }

    /// One resident, if the caller may see them: the resident themself, an admin of their
    /// district, or a service. Other residents are told it does not exist.
    pub async fn resident(&self, caller: &Principal, id: ResidentId) -> Result<Resident> {
        let id = id.uuid();
        if let Principal::Resident { resident_id } = caller
            && *resident_id != id
        {
            return Err(IdentityError::NotFound("resident"));
        }
        let resident = self.store.resident(id).await?;
        self.authorize_resident_read(caller, &resident)?;
        Ok(resident)
    }

    fn authorize_resident_read(&self, caller: &Principal, r: &Resident) -> Result<()> {
        match caller {
            Principal::Resident { resident_id } if *resident_id == r.id => Ok(()),
            Principal::Service { .. } => Ok(()),
            p if p.administers(r.residence_district) => Ok(()),
            p if p.is_admin() => Err(IdentityError::Forbidden(
                "this resident belongs to another district",
            )),
            _ => Err(IdentityError::NotFound("resident")),
        }
    }

    fn authorize_resident_admin(&self, caller: &Principal, r: &Resident) -> Result<()> {
        if caller.administers(r.residence_district) {
            Ok(())
        } else if caller.is_admin() {
            Err(IdentityError::Forbidden(
                "this resident belongs to another district",
            ))
        } else {
            Err(IdentityError::Forbidden(
                "only an admin of the resident's district may do this",
            ))
        }
    }

    /// Resolves a resident for a service that received a partner record. Services only.
    pub async fn resolve(&self, caller: &Principal, by: ResidentRef) -> Result<(Resident, bool)> {
        if !caller.is_service() {
            return Err(IdentityError::Forbidden(
                "only a mesh service may resolve residents",
            ));
        }
        let resident = match by {
            ResidentRef::Id(id) => self.store.resident(id.uuid()).await?,
            ResidentRef::IdNumber(raw) => {
                let id = IdNumber::parse(&raw, shanghai_today(self.now()))
                    .map_err(|e| IdentityError::invalid("id_number", e))?;
                self.store
                    .resident_by_id_hash(&self.crypto.lookup_hash("id_number", id.as_str()))
                    .await?
            }
            ResidentRef::IdNumberHash(hash) => {
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(IdentityError::invalid(
                        "id_number_hash",
                        "must be 64 hex digits",
                    ));
                }
                self.store
                    .resident_by_id_hash(&hash.to_ascii_lowercase())
                    .await?
            }
            ResidentRef::StationCode(code) => {
                self.store.resident(self.open_station_code(&code)?).await?
            }
        };
        let enrolled = self
            .store
            .district(resident.residence_district)
            .await?
            .enrolled;
        Ok((resident, enrolled))
    }

    /// [`Self::resolve`] for many references at once (at most 1,000): one answer per reference,
    /// in order, `None` where nobody is registered under it or it is not well-formed. Services
    /// only. Three reads whatever the count (residents by id, by ID number hash, districts).
    pub async fn resolve_many(
        &self,
        caller: &Principal,
        refs: Vec<Option<ResidentRef>>,
    ) -> Result<Vec<Option<(Resident, bool)>>> {
        if !caller.is_service() {
            return Err(IdentityError::Forbidden(
                "only a mesh service may resolve residents",
            ));
        }
        if refs.len() > imports::IMPORT_BATCH {
            return Err(IdentityError::invalid(
                "residents",
                format!("at most {} at a time", imports::IMPORT_BATCH),
            ));
        }
        let today = shanghai_today(self.now());
        // Each reference as an id or a hash to look up, or nothing to find.
        enum Key {
            Id(Uuid),
            Hash(String),
            None,
        }
        let keys: Vec<Key> = refs
            .into_iter()
            .map(|r| match r {
                Some(ResidentRef::Id(id)) => Key::Id(id.uuid()),
                Some(ResidentRef::IdNumber(raw)) => IdNumber::parse(&raw, today)
                    .map(|id| Key::Hash(self.crypto.lookup_hash("id_number", id.as_str())))
                    .unwrap_or(Key::None),
                Some(ResidentRef::IdNumberHash(hash))
                    if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    Key::Hash(hash.to_ascii_lowercase())
                }
                Some(ResidentRef::StationCode(code)) => self
                    .open_station_code(&code)
                    .map(Key::Id)
                    .unwrap_or(Key::None),
                _ => Key::None,
            })
            .collect();
        let ids = keys
            .iter()
            .filter_map(|k| match k {
                Key::Id(id) => Some(*id),
                _ => None,
            })
            .collect();
        let hashes = keys
            .iter()
            .filter_map(|k| match k {
                Key::Hash(h) => Some(h.clone()),
                _ => None,
            })
            .collect();
        let (by_id, by_hash) = self.store.residents_by_refs(ids, hashes).await?;
        let enrolled: std::collections::HashMap<DistrictCode, bool> = self
            .store
            .districts()
            .await?
            .into_iter()
            .map(|d| (d.code, d.enrolled))
            .collect();
        Ok(keys
            .into_iter()
            .map(|k| {
                let found = match k {
                    Key::Id(id) => by_id.get(&id),
                    Key::Hash(h) => by_hash.get(&h),
                    Key::None => None,
                }?;
                let on = enrolled
                    .get(&found.residence_district)
                    .copied()
                    .unwrap_or(false);
                Some((found.clone(), on))
            })
            .collect())
    }

    /// Residents of a district, in registration order. City admins, or that district's admin.
    pub async fn list_residents(
        &self,
        caller: &Principal,
        district: &str,
        cursor: &str,
        page_size: u32,
    ) -> Result<(Vec<Resident>, Option<String>)> {
        let district = parse_district("district", district)?;
        if !caller.administers(district) {
            return Err(IdentityError::Forbidden(
                "you may list only your own district's residents",
            ));
        }
        let after = healthpoints_types::uuid_cursor(cursor)
            .map_err(|e| IdentityError::invalid("cursor", e.0))?;
        let limit = match page_size {
            0 => 50,
            n => n.min(500),
        };
        let residents = self
            .store
            .residents_in(district, after, u64::from(limit))
            .await?;
        let next = (residents.len() == limit as usize)
            .then(|| residents.last().map(|r| r.id.to_string()))
            .flatten();
        Ok((residents, next))
    }

    /// Signs, changes or ends a family-doctor contract.
    pub async fn set_contract(
        &self,
        caller: &Principal,
        id: ResidentId,
        action: ContractAction,
    ) -> Result<Resident> {
        let id = id.uuid();
        let contract = match action {
            ContractAction::End => None,
            ContractAction::Set {
                institution_code,
                institution_name,
                district,
                signed_on,
                valid_until,
            } => {
                let mut v = Violations::default();
                let code = v.check("institution_code", non_blank(&institution_code, 64));
                let name = v.check("institution_name", non_blank(&institution_name, 100));
                let district = v.check(
                    "district",
                    DistrictCode::parse(&district)
                        .map_err(|_| "must be one of the city's district codes"),
                );
                let signed = v.check("signed_on", parse_date(&signed_on));
                let until = v.check("valid_until", parse_date(&valid_until));
                if let (Some(s), Some(u)) = (signed, until) {
                    if u < s {
                        v.check::<(), &str>("valid_until", Err("must not be before signed_on"));
                    }
                    if s > shanghai_today(self.now()) {
                        v.check::<(), &str>("signed_on", Err("must not be in the future"));
                    }
                }
                v.finish()?;
                match (code, name, district, signed, until) {
                    (Some(c), Some(n), Some(d), Some(s), Some(u)) => Some(FamilyDoctorContract {
                        institution_code: c,
                        institution_name: n,
                        district: d,
                        signed_on: s,
                        valid_until: u,
                    }),
                    _ => return Err(IdentityError::fault("validated fields missing")),
                }
            }
        };
        let resident = self.store.resident(id).await?;
        if !caller.is_service() {
            self.authorize_resident_admin(caller, &resident)?;
        }
        if contract.is_none() && resident.family_doctor.is_none() {
            return Err(IdentityError::Precondition(
                "the resident has no family-doctor contract to end",
            ));
        }
        let updated = self
            .store
            .set_contract(id, contract.as_ref(), self.now())
            .await?;
        tracing::info!(resident_id = %id, role = ?caller.role(), ended = contract.is_none(), "family-doctor contract changed");
        Ok(updated)
    }

    /// Suspends an active resident with a reason.
    pub async fn suspend(
        &self,
        caller: &Principal,
        id: ResidentId,
        reason: &str,
    ) -> Result<Resident> {
        let id = id.uuid();
        let reason = non_blank(reason, 500).map_err(|e| IdentityError::invalid("reason", e))?;
        let resident = self.store.resident(id).await?;
        self.authorize_resident_admin(caller, &resident)?;
        if !self
            .store
            .change_status(
                id,
                ResidentStatus::Active,
                ResidentStatus::Suspended,
                Some(reason),
                self.now(),
            )
            .await?
        {
            return Err(IdentityError::Precondition(
                "only an active resident can be suspended",
            ));
        }
        tracing::info!(resident_id = %id, "resident suspended");
        self.store.resident(id).await
    }

    /// Lifts a suspension.
    pub async fn reinstate(&self, caller: &Principal, id: ResidentId) -> Result<Resident> {
        let id = id.uuid();
        let resident = self.store.resident(id).await?;
        self.authorize_resident_admin(caller, &resident)?;
        if !self
            .store
            .change_status(
                id,
                ResidentStatus::Suspended,
                ResidentStatus::Active,
                None,
                self.now(),
            )
            .await?
        {
            return Err(IdentityError::Precondition(
                "only a suspended resident can be reinstated",
            ));
        }
        tracing::info!(resident_id = %id, "resident reinstated");
        self.store.resident(id).await
    }
}
