//! The thin gRPC adapter of identity: each RPC checks its caller, converts its message
//! (`convert.rs`, also the one place a domain error becomes a `Status`), calls the service and
//! converts the answer.

use healthpoints_auth::optional_principal;
use healthpoints_errors::ApiError;
use healthpoints_grpc::{Ready, caller};
use healthpoints_proto::{
    common::v1 as common,
    identity::v1::{self as pb, identity_service_server::IdentityService},
};
use tonic::{Request, Response, Status};

use crate::{
    domain::values::mask_name,
    service::{ClientSpec, ContractAction, Identity, Registration, ResidentRef, StaffSpec},
};

use crate::convert::{
    client_kind_name, district_to_pb, residence_type_name, resident_id, resident_to_pb,
    staff_role_name, status, timestamp, tokens_to_pb,
};

/// The identity gRPC service. Answers UNAVAILABLE until the domain is ready (database migrated).
#[derive(Debug, Clone)]
pub struct IdentityGrpc {
    identity: Ready<Identity>,
}

impl IdentityGrpc {
    pub fn new(identity: Ready<Identity>) -> Self {
        Self { identity }
    }

    fn ready(&self) -> Result<&Identity, Status> {
        self.identity.get()
    }
}

#[tonic::async_trait]
impl IdentityService for IdentityGrpc {
    #[tracing::instrument(skip_all)]
    async fn register_resident(
        &self,
        request: Request<pb::RegisterResidentRequest>,
    ) -> Result<Response<pb::RegisterResidentResponse>, Status> {
        let r = request.into_inner();
        let id = self
            .ready()?
            .register(Registration {
                name: r.name,
                id_number: r.id_number,
                phone: r.phone,
                password: r.password,
                residence_district: r.residence_district,
                residence_type: residence_type_name(r.residence_type),
            })
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RegisterResidentResponse {
            resident_id: id.to_string(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let r = request.into_inner();
        let tokens = self
            .ready()?
            .login(&r.login, &r.password, &r.client_address)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::LoginResponse {
            tokens: Some(tokens_to_pb(tokens)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn refresh_token(
        &self,
        request: Request<pb::RefreshTokenRequest>,
    ) -> Result<Response<pb::RefreshTokenResponse>, Status> {
        let tokens = self
            .ready()?
            .refresh(&request.into_inner().refresh_token)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RefreshTokenResponse {
            tokens: Some(tokens_to_pb(tokens)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_refresh_token(
        &self,
        request: Request<pb::RevokeRefreshTokenRequest>,
    ) -> Result<Response<pb::RevokeRefreshTokenResponse>, Status> {
        self.ready()?
            .logout(&request.into_inner().refresh_token)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RevokeRefreshTokenResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let tokens = self
            .ready()?
            .change_password(&p, &r.current_password, &r.new_password, &r.client_address)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ChangePasswordResponse {
            tokens: Some(tokens_to_pb(tokens)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn request_password_reset(
        &self,
        request: Request<pb::RequestPasswordResetRequest>,
    ) -> Result<Response<pb::RequestPasswordResetResponse>, Status> {
        let r = request.into_inner();
        let ttl = self
            .ready()?
            .request_password_reset(&r.phone, &r.client_address)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RequestPasswordResetResponse {
            code_ttl_seconds: u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn confirm_password_reset(
        &self,
        request: Request<pb::ConfirmPasswordResetRequest>,
    ) -> Result<Response<pb::ConfirmPasswordResetResponse>, Status> {
        let r = request.into_inner();
        self.ready()?
            .confirm_password_reset(&r.phone, &r.code, &r.new_password, &r.client_address)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ConfirmPasswordResetResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn set_password_at_counter(
        &self,
        request: Request<pb::SetPasswordAtCounterRequest>,
    ) -> Result<Response<pb::SetPasswordAtCounterResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        self.ready()?
            .set_password_at_counter(&p, &r.resident_id, &r.new_password)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SetPasswordAtCounterResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn close_account(
        &self,
        request: Request<pb::CloseAccountRequest>,
    ) -> Result<Response<pb::CloseAccountResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let (closed_at, erase_after) = self
            .ready()?
            .close_account(&p, &r.password, &r.client_address)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CloseAccountResponse {
            closed_at: Some(healthpoints_grpc::time::timestamp(closed_at)),
            erase_after: Some(healthpoints_grpc::time::timestamp(erase_after)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn issue_client_token(
        &self,
        request: Request<pb::IssueClientTokenRequest>,
    ) -> Result<Response<pb::IssueClientTokenResponse>, Status> {
        let r = request.into_inner();
        let (tokens, scopes) = self
            .ready()?
            .client_token(&r.client_id, &r.client_secret, &r.client_address, &r.scopes)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::IssueClientTokenResponse {
            tokens: Some(tokens_to_pb(tokens)),
            scopes,
        }))
    }

    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        let keys = self.ready()?.jwks().await.map_err(status)?;
        Ok(Response::new(pb::GetJwksResponse { keys }))
    }

    #[tracing::instrument(skip_all)]
    async fn rotate_signing_key(
        &self,
        request: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
        let p = caller(&request)?;
        let kid = self.ready()?.rotate_key(&p).await.map_err(status)?;
        Ok(Response::new(pb::RotateSigningKeyResponse { kid }))
    }

    #[tracing::instrument(skip_all, fields(residents = request.get_ref().residents.len()))]
    async fn import_residents(
        &self,
        request: Request<pb::ImportResidentsRequest>,
    ) -> Result<Response<pb::ImportResidentsResponse>, Status> {
        use crate::service::imports::ImportOutcome;
        let p = caller(&request)?;
        let rows = request
            .into_inner()
            .residents
            .into_iter()
            .map(|r| Registration {
                name: r.name,
                id_number: r.id_number,
                phone: r.phone,
                password: String::new(),
                residence_district: r.residence_district,
                residence_type: residence_type_name(r.residence_type),
            })
            .collect();
        let outcomes = self
            .ready()?
            .import_residents(&p, rows)
            .await
            .map_err(status)?;
        let stored = |outcome: &str, id: uuid::Uuid| pb::ImportResult {
            outcome: outcome.into(),
            resident_id: id.to_string(),
            ..pb::ImportResult::default()
        };
        let results = outcomes
            .into_iter()
            .map(|o| match o {
                ImportOutcome::Created(id) => stored("created", id),
                ImportOutcome::Exists(id) => stored("exists", id),
                ImportOutcome::Refused { field, reason } => pb::ImportResult {
                    outcome: "refused".into(),
                    field,
                    reason,
                    ..pb::ImportResult::default()
                },
            })
            .collect();
        Ok(Response::new(pb::ImportResidentsResponse { results }))
    }

    #[tracing::instrument(skip_all, fields(id_numbers = request.get_ref().id_numbers.len()))]
    async fn find_residents(
        &self,
        request: Request<pb::FindResidentsRequest>,
    ) -> Result<Response<pb::FindResidentsResponse>, Status> {
        let p = caller(&request)?;
        let found = self
            .ready()?
            .find_residents(&p, &request.get_ref().id_numbers)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::FindResidentsResponse {
            resident_ids: found
                .into_iter()
                .map(|id| id.map(|id| id.to_string()).unwrap_or_default())
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(resident_id = %request.get_ref().resident_id))]
    async fn get_resident(
        &self,
        request: Request<pb::GetResidentRequest>,
    ) -> Result<Response<pb::GetResidentResponse>, Status> {
        let p = caller(&request)?;
        let identity = self.ready()?;
        let r = identity
            .resident(&p, resident_id(&request.get_ref().resident_id)?)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetResidentResponse {
            resident: Some(resident_to_pb(&r)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn resolve_resident(
        &self,
        request: Request<pb::ResolveResidentRequest>,
    ) -> Result<Response<pb::ResolveResidentResponse>, Status> {
        let p = caller(&request)?;
        let Some(by) = resident_ref(request.into_inner())? else {
            return Err(ApiError::invalid(
                "resident",
                "name the resident by id, id_number, id_number_hash or station_code",
            )
            .into());
        };
        let (r, enrolled) = self.ready()?.resolve(&p, by).await.map_err(status)?;
        Ok(Response::new(resolved(&r, enrolled)))
    }

    #[tracing::instrument(skip_all, fields(residents = request.get_ref().residents.len()))]
    async fn resolve_residents(
        &self,
        request: Request<pb::ResolveResidentsRequest>,
    ) -> Result<Response<pb::ResolveResidentsResponse>, Status> {
        let p = caller(&request)?;
        // A reference that is not well-formed finds nobody, like one nobody is registered under.
        let refs = request
            .into_inner()
            .residents
            .into_iter()
            .map(|r| resident_ref(r).ok().flatten())
            .collect();
        let found = self.ready()?.resolve_many(&p, refs).await.map_err(status)?;
        Ok(Response::new(pb::ResolveResidentsResponse {
            residents: found
                .into_iter()
                .map(|r| {
                    r.map(|(r, enrolled)| resolved(&r, enrolled))
                        .unwrap_or_default()
                })
                .collect(),
        }))
    }

    async fn issue_station_code(
        &self,
        request: Request<pb::IssueStationCodeRequest>,
    ) -> Result<Response<pb::IssueStationCodeResponse>, Status> {
        let p = caller(&request)?;
        let (code, until) = self.ready()?.issue_station_code(&p).await.map_err(status)?;
        Ok(Response::new(pb::IssueStationCodeResponse {
            code,
            expires_at: Some(timestamp(until)),
        }))
    }

    async fn issue_delegated_token(
        &self,
        request: Request<pb::IssueDelegatedTokenRequest>,
    ) -> Result<Response<pb::IssueDelegatedTokenResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let actor = healthpoints_auth::Actor {
            sub: r.staff_id,
            institution: r.institution_code,
        };
        let (access_token, expires_in) = self
            .ready()?
            .delegated_token(&p, resident_id(&r.resident_id)?, actor)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::IssueDelegatedTokenResponse {
            access_token,
            expires_in,
        }))
    }

    #[tracing::instrument(skip_all, fields(district = %request.get_ref().district))]
    async fn list_residents(
        &self,
        request: Request<pb::ListResidentsRequest>,
    ) -> Result<Response<pb::ListResidentsResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let page = r.page.unwrap_or_default();
        let (residents, next) = self
            .ready()?
            .list_residents(&p, &r.district, &page.cursor, page.page_size)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListResidentsResponse {
            residents: residents.iter().map(resident_to_pb).collect(),
            page: Some(common::PageInfo {
                next_cursor: next.unwrap_or_default(),
            }),
        }))
    }

    #[tracing::instrument(skip_all, fields(resident_id = %request.get_ref().resident_id))]
    async fn set_family_doctor_contract(
        &self,
        request: Request<pb::SetFamilyDoctorContractRequest>,
    ) -> Result<Response<pb::SetFamilyDoctorContractResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let action = match pb::ContractAction::try_from(r.action) {
            Ok(pb::ContractAction::End) => ContractAction::End,
            Ok(pb::ContractAction::Sign | pb::ContractAction::Change) => {
                let c = r.contract.ok_or_else(|| {
                    Status::from(ApiError::invalid(
                        "contract",
                        "is required to sign or change",
                    ))
                })?;
                ContractAction::Set {
                    institution_code: c.institution_code,
                    institution_name: c.institution_name,
                    district: c.district,
                    signed_on: c.signed_on,
                    valid_until: c.valid_until,
                }
            }
            _ => return Err(ApiError::invalid("action", "must be sign, change or end").into()),
        };
        let identity = self.ready()?;
        let resident = identity
            .set_contract(&p, resident_id(&r.resident_id)?, action)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SetFamilyDoctorContractResponse {
            resident: Some(resident_to_pb(&resident)),
        }))
    }

    #[tracing::instrument(skip_all, fields(resident_id = %request.get_ref().resident_id))]
    async fn suspend_resident(
        &self,
        request: Request<pb::SuspendResidentRequest>,
    ) -> Result<Response<pb::SuspendResidentResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let identity = self.ready()?;
        let resident = identity
            .suspend(&p, resident_id(&r.resident_id)?, &r.reason)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SuspendResidentResponse {
            resident: Some(resident_to_pb(&resident)),
        }))
    }

    #[tracing::instrument(skip_all, fields(resident_id = %request.get_ref().resident_id))]
    async fn reinstate_resident(
        &self,
        request: Request<pb::ReinstateResidentRequest>,
    ) -> Result<Response<pb::ReinstateResidentResponse>, Status> {
        let p = caller(&request)?;
        let identity = self.ready()?;
        let resident = identity
            .reinstate(&p, resident_id(&request.get_ref().resident_id)?)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ReinstateResidentResponse {
            resident: Some(resident_to_pb(&resident)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn create_staff(
        &self,
        request: Request<pb::CreateStaffRequest>,
    ) -> Result<Response<pb::CreateStaffResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let id = self
            .ready()?
            .create_staff(
                &p,
                StaffSpec {
                    username: r.username,
                    password: r.password,
                    role: staff_role_name(r.role),
                    district: r.district,
                    merchant_id: r.merchant_id,
                    mall: r.mall,
                    institution_code: r.institution_code,
                },
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CreateStaffResponse {
            staff_id: id.to_string(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn create_client(
        &self,
        request: Request<pb::CreateClientRequest>,
    ) -> Result<Response<pb::CreateClientResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let (client_id, client_secret) = self
            .ready()?
            .create_client(
                &p,
                ClientSpec {
                    kind: client_kind_name(r.kind),
                    name: r.name,
                    partner_id: r.partner_id,
                    department: r.department,
                    scopes: r.scopes,
                    service: r.service,
                    district: r.district,
                    merchant_id: r.merchant_id,
                    mall: r.mall,
                },
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CreateClientResponse {
            client_id,
            client_secret,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn rotate_partner_secret(
        &self,
        request: Request<pb::RotatePartnerSecretRequest>,
    ) -> Result<Response<pb::RotatePartnerSecretResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let rotated = self
            .ready()?
            .rotate_partner_secret(
                &p,
                &r.partner_id,
                &r.client_id,
                r.grace_period_seconds
                    .map(|s| std::time::Duration::from_secs(s.into())),
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RotatePartnerSecretResponse {
            client_id: rotated.client_id,
            client_secret: rotated.client_secret,
            previous_secret_valid_until: rotated.previous_valid_until.map(timestamp),
        }))
    }

    async fn list_districts(
        &self,
        _request: Request<pb::ListDistrictsRequest>,
    ) -> Result<Response<pb::ListDistrictsResponse>, Status> {
        let districts = self.ready()?.districts().await.map_err(status)?;
        Ok(Response::new(pb::ListDistrictsResponse {
            districts: districts.iter().map(district_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(district = %request.get_ref().code))]
    async fn set_district_enrolment(
        &self,
        request: Request<pb::SetDistrictEnrolmentRequest>,
    ) -> Result<Response<pb::SetDistrictEnrolmentResponse>, Status> {
        let p = optional_principal(&request).ok_or_else(|| {
            Status::from(ApiError::unauthenticated("this call needs a bearer token"))
        })?;
        let r = request.into_inner();
        let district = self
            .ready()?
            .set_enrolment(&p, &r.code, r.enrolled)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SetDistrictEnrolmentResponse {
            district: Some(district_to_pb(&district)),
        }))
    }
}

/// How a resolve request names its resident; `None` when it names nobody.
fn resident_ref(r: pb::ResolveResidentRequest) -> Result<Option<ResidentRef>, Status> {
    use pb::resolve_resident_request::Resident;
    Ok(Some(match r.resident {
        Some(Resident::ResidentId(id)) => ResidentRef::Id(resident_id(&id)?),
        Some(Resident::IdNumber(n)) => ResidentRef::IdNumber(n),
        Some(Resident::IdNumberHash(h)) => ResidentRef::IdNumberHash(h),
        Some(Resident::StationCode(c)) => ResidentRef::StationCode(c),
        None => return Ok(None),
    }))
}

/// A resolved resident as services see them: the name masked, no personal numbers.
fn resolved(r: &crate::domain::model::Resident, enrolled: bool) -> pb::ResolveResidentResponse {
    let wire = resident_to_pb(r);
    pb::ResolveResidentResponse {
        resident_id: wire.resident_id,
        status: wire.status,
        residence_district: wire.residence_district,
        district_enrolled: enrolled,
        family_doctor: wire.family_doctor,
        birth_date: wire.birth_date,
        name_masked: mask_name(&r.name),
        residence_type: wire.residence_type,
    }
}
