//! Staff and clients: the bootstrap admin, the services' own clients, staff accounts (who may
//! create which role where) and API clients (partners, merchants' tills, services); and the
//! districts' enrolment.

use super::*;

impl Identity {
    /// Creates the first city admin when none exists (from configuration). Returns whether one
    /// was created.
    pub async fn bootstrap_admin(&self, username: &str, password: &str) -> Result<bool> {
        if self.store.has_city_admin().await? {
            return Ok(false);
        }
        let username = check_username(username)
            .map_err(|e| IdentityError::invalid("bootstrap_admin.username", e))?;
        check_password(password)
            .map_err(|e| IdentityError::invalid("bootstrap_admin.password", e))?;
        let staff = Staff {
            id: Uuid::now_v7(),
            username,
            role: StaffRole::CityAdmin,
            district: None,
            merchant_id: None,
            mall: None,
            institution_code: None,
        };
        self.store
            .insert_staff(
                &staff,
                hash_password(password.to_owned()).await?,
                None,
                self.now(),
            )
            .await?;
        tracing::info!("bootstrap city admin created");
        Ok(true)
    }

    /// Creates or updates a service client named in configuration, so each mesh service can
    /// obtain its own token with the secret it was deployed with.
    pub async fn provision_service_client(
        &self,
        client_id: &str,
        secret: &str,
        service: &str,
        district: Option<&str>,
    ) -> Result<()> {
        let mut v = Violations::default();
        let id_ok = !client_id.is_empty()
            && client_id.len() <= 64
            && client_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            v.check::<(), &str>(
                "service_clients",
                Err("client ids are 1-64 characters of a-z, 0-9, '-' and '_'"),
            );
        }
        if secret.len() < 24 {
            v.check::<(), &str>(
                &format!("service_clients.{client_id}.secret"),
                Err("must be at least 24 characters"),
            );
        }
        let service = v.check(
            &format!("service_clients.{client_id}.service"),
            SERVICES
                .iter()
                .find(|s| **s == service)
                .map(|s| (*s).to_owned())
                .ok_or("must name a mesh service"),
        );
        let district = match district {
            Some(d) => v.check(
                &format!("service_clients.{client_id}.district"),
                DistrictCode::parse(d)
                    .map(Some)
                    .map_err(|_| "must be a district code"),
            ),
            None => Some(None),
        };
        v.finish()?;
        let client = Client {
            client_id: client_id.to_owned(),
            kind: ClientKind::Service,
            name: format!("{} service", service.as_deref().unwrap_or_default()),
            partner_id: None,
            department: None,
            scopes: Vec::new(),
            service,
            district: district.flatten(),
            merchant_id: None,
            mall: None,
        };
        self.store
            .upsert_service_client(&client, self.crypto.token_hash(secret), self.now())
            .await
    }

    /// Creates a staff account. City admins create any role; district admins create merchant
    /// operators of their own district's mall and station staff of their own district only.
    pub async fn create_staff(&self, caller: &Principal, spec: StaffSpec) -> Result<Uuid> {
        let mut v = Violations::default();
        let username = v.check("username", check_username(&spec.username));
        v.check("password", check_password(&spec.password));
        let role = v.check(
            "role",
            StaffRole::parse(&spec.role)
                .ok_or("must be city_admin, district_admin, merchant_operator or station_staff"),
        );
        let district = match role {
            Some(StaffRole::DistrictAdmin | StaffRole::StationStaff) => v.check(
                "district",
                DistrictCode::parse(&spec.district).map_err(
                    |_| "district admins and station staff need one of the city's district codes",
                ),
            ),
            _ => None,
        };
        let institution_code = match role {
            Some(StaffRole::StationStaff) => v.check(
                "institution_code",
                non_blank(&spec.institution_code, 64)
                    .map_err(|e| format!("station staff serve one institution: {e}")),
            ),
            _ => None,
        };
        let (merchant_id, mall) = match role {
            Some(StaffRole::MerchantOperator) => (
                v.check(
                    "merchant_id",
                    Uuid::parse_str(spec.merchant_id.trim())
                        .map_err(|_| "a merchant operator needs the merchant's UUID"),
                ),
                v.check(
                    "mall",
                    MallId::parse(&spec.mall).map_err(
                        |_| "a merchant operator needs a mall: \"city\" or a district code",
                    ),
                ),
            ),
            _ => (None, None),
        };
        v.finish()?;
        let (Some(username), Some(role)) = (username, role) else {
            return Err(IdentityError::fault("validated fields missing"));
        };
        match caller {
            Principal::CityAdmin { .. } => {}
            Principal::DistrictAdmin { district: own, .. } => {
                let own_mall =
                    role == StaffRole::MerchantOperator && mall == Some(MallId::District(*own));
                let own_station = role == StaffRole::StationStaff && district == Some(*own);
                if !own_mall && !own_station {
                    return Err(IdentityError::Forbidden(
                        "a district admin may create only merchant operators of their own district's mall and station staff of their own district",
                    ));
                }
            }
            _ => {
                return Err(IdentityError::Forbidden(
                    "only admins may create staff accounts",
                ));
            }
        }
        let staff = Staff {
            id: Uuid::now_v7(),
            username,
            role,
            district,
            merchant_id,
            mall,
            institution_code,
        };
        let created_by = match caller {
            Principal::CityAdmin { staff_id } | Principal::DistrictAdmin { staff_id, .. } => {
                Some(*staff_id)
            }
            _ => None,
        };
        self.store
            .insert_staff(
                &staff,
                hash_password(spec.password).await?,
                created_by,
                self.now(),
            )
            .await?;
        tracing::info!(staff_id = %staff.id, role = role.as_str(), "staff account created");
        Ok(staff.id)
    }

    /// Creates a client-credentials client; the secret is returned once.
    pub async fn create_client(
        &self,
        caller: &Principal,
        spec: ClientSpec,
    ) -> Result<(String, String)> {
        let mut v = Violations::default();
        let kind = v.check(
            "kind",
            ClientKind::parse(&spec.kind).ok_or("must be partner, merchant or service"),
        );
        let name = v.check("name", non_blank(&spec.name, 100));
        let mut client = Client {
            client_id: String::new(),
            kind: kind.unwrap_or(ClientKind::Partner),
            name: name.unwrap_or_default(),
            partner_id: None,
            department: None,
            scopes: Vec::new(),
            service: None,
            district: None,
            merchant_id: None,
            mall: None,
        };
        match kind {
            Some(ClientKind::Partner) => {
                client.partner_id = v.check("partner_id", non_blank(&spec.partner_id, 64));
                client.department = v.check("department", non_blank(&spec.department, 64));
                for scope in &spec.scopes {
                    if !PARTNER_SCOPES.contains(&scope.as_str()) {
                        v.check::<(), &str>("scopes", Err("contains an unknown scope"));
                    }
                }
                client.scopes = spec.scopes.clone();
            }
            Some(ClientKind::Merchant) => {
                client.merchant_id = v.check(
                    "merchant_id",
                    Uuid::parse_str(spec.merchant_id.trim()).map_err(|_| "must be a UUID"),
                );
                client.mall = v.check(
                    "mall",
                    MallId::parse(&spec.mall).map_err(|_| "must be \"city\" or a district code"),
                );
            }
            Some(ClientKind::Service) => {
                client.service = v.check(
                    "service",
                    SERVICES
                        .iter()
                        .find(|s| **s == spec.service)
                        .map(|s| (*s).to_owned())
                        .ok_or("must name a mesh service"),
                );
                if spec.service == "district-mall" || !spec.district.is_empty() {
                    client.district = v.check(
                        "district",
                        DistrictCode::parse(&spec.district)
                            .map_err(|_| "a district mall's client needs its district code"),
                    );
                }
            }
            None => {}
        }
        v.finish()?;
        match caller {
            Principal::CityAdmin { .. } => {}
            Principal::Service { service, .. }
                if service == "exchange" && client.kind == ClientKind::Partner => {}
            _ => {
                return Err(IdentityError::Forbidden(
                    "only a city admin may create clients",
                ));
            }
        }
        let prefix = client.kind.as_str();
        client.client_id = format!("{prefix}-{}", self.crypto.random_token(12)?);
        let secret = self.crypto.random_token(32)?;
        self.store
            .insert_client(&client, self.crypto.token_hash(&secret), self.now())
            .await?;
        tracing::info!(kind = prefix, "client created");
        Ok((client.client_id, secret))
    }

    /// Gives one of a partner's clients a new secret (returned once). The secret it replaces
    /// stays valid for `grace` (the configured grace period when none is asked; zero revokes it
    /// at once, for a leaked secret), so the partner's servers can change over without
    /// downtime; a secret replaced earlier and still in its grace is revoked now. With no
    /// `client_id`, the partner's one enabled client. City admin.
    pub async fn rotate_partner_secret(
        &self,
        caller: &Principal,
        partner_id: &str,
        client_id: &str,
        grace: Option<Duration>,
    ) -> Result<RotatedSecret> {
        require_city_admin(caller)?;
        let partner_id = non_blank(partner_id, 64).map_err(|e| IdentityError::invalid("id", e))?;
        let grace = grace.unwrap_or(self.policy.client_secret_grace);
        if grace > MAX_SECRET_GRACE {
            return Err(IdentityError::invalid(
                "grace_period_seconds",
                format!("must be at most {}", MAX_SECRET_GRACE.as_secs()),
            ));
        }
        let clients = self.store.partner_clients(&partner_id).await?;
        if clients.is_empty() {
            return Err(IdentityError::NotFound("partner"));
        }
        let client_id = client_id.trim();
        let chosen = if client_id.is_empty() {
            let mut enabled = clients.iter().filter(|c| !c.disabled);
            match (enabled.next(), enabled.next()) {
                (Some(one), None) => one,
                (None, _) => return Err(IdentityError::NotFound("enabled client of this partner")),
                (Some(_), Some(_)) => {
                    return Err(IdentityError::invalid(
                        "client_id",
                        "the partner has several clients: name the one whose secret changes",
                    ));
                }
            }
        } else {
            let named = clients
                .iter()
                .find(|c| c.client.client_id == client_id)
                .ok_or(IdentityError::NotFound("client of this partner"))?;
            if named.disabled {
                return Err(IdentityError::Precondition(
                    "this client is disabled: a new secret would not work",
                ));
            }
            named
        };
        let secret = self.crypto.random_token(32)?;
        let previous_valid_until = (!grace.is_zero())
            .then(|| chrono::Duration::from_std(grace).map(|g| self.now() + g))
            .transpose()
            .map_err(|_| IdentityError::fault("grace period out of range"))?;
        let rotated = self
            .store
            .rotate_client_secret(
                &chosen.client.client_id,
                &chosen.secret_hash,
                self.crypto.token_hash(&secret),
                previous_valid_until,
            )
            .await?;
        if !rotated {
            return Err(IdentityError::Precondition(
                "the client's secret was changed meanwhile (another rotation): rotate again",
            ));
        }
        tracing::info!(
            partner_id = %partner_id,
            client_id = %chosen.client.client_id,
            staff_id = ?match caller {
                Principal::CityAdmin { staff_id } => Some(*staff_id),
                _ => None,
            },
            grace_seconds = grace.as_secs(),
            "partner client secret rotated"
        );
        Ok(RotatedSecret {
            client_id: chosen.client.client_id.clone(),
            client_secret: secret,
            previous_valid_until,
        })
    }

    // === districts ===

    pub async fn districts(&self) -> Result<Vec<District>> {
        self.store.districts().await
    }

    /// Enrols or withdraws a district. City admin.
    pub async fn set_enrolment(
        &self,
        caller: &Principal,
        code: &str,
        enrolled: bool,
    ) -> Result<District> {
        let code = parse_district("code", code)?;
        require_city_admin(caller)?;
        let district = self.store.set_enrolment(code, enrolled, self.now()).await?;
        tracing::info!(district = %code, enrolled, "district enrolment changed");
        Ok(district)
    }
}
