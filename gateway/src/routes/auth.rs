//! `/v1/auth/*` and the JWKS: registration, sessions, client credentials.

use axum::{Json, extract::State, http::StatusCode};
use healthpoints_errors::ApiError;
use healthpoints_proto::identity::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::body::JsonBody;
use crate::{
    AppState,
    auth::ClientAddr,
    error::{HttpResult, Problem, no_content},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Real name as on the ID card.
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    /// 18-character PRC resident ID number.
    #[schema(pattern = "^[0-9]{17}[0-9Xx]$")]
    pub id_number: String,
    /// Mainland mobile number.
    #[schema(pattern = "^1[3-9][0-9]{9}$")]
    pub phone: String,
    /// At least 8 characters with a letter and a digit.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// GB/T 2260 code of an enrolled district, e.g. "310118".
    #[schema(value_type = super::views::District)]
    pub residence_district: String,
    /// `registered` or `permanent_migrant`.
    #[schema(value_type = super::views::names::ResidenceType)]
    pub residence_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    pub resident_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// A resident's phone number or a staff username.
    #[schema(min_length = 1, pattern = "\\S")]
    pub login: String,
    #[schema(min_length = 1, pattern = "\\S")]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    #[schema(min_length = 1, pattern = "\\S")]
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ClientTokenRequest {
    /// Must be `client_credentials`.
    #[schema(value_type = super::views::names::GrantType)]
    pub grant_type: String,
    #[schema(min_length = 1, pattern = "\\S")]
    pub client_id: String,
    #[schema(min_length = 1, pattern = "\\S")]
    pub client_secret: String,
}

fn token_response(tokens: Option<pb::TokenPair>) -> HttpResult<Json<TokenResponse>> {
    let t = tokens.ok_or_else(ApiError::internal)?;
    Ok(Json(TokenResponse {
        access_token: t.access_token,
        refresh_token: (!t.refresh_token.is_empty()).then_some(t.refresh_token),
        token_type: t.token_type,
        expires_in: t.expires_in,
    }))
}

/// Register a resident.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = RegisterResponse),
        (status = 400, body = Problem, description = "a field is invalid (see `field`)"),
        (status = 409, body = Problem, description = "ID number or phone already registered"),
        (status = 422, body = Problem, description = "district not enrolled")))]
pub async fn register(
    State(state): State<AppState>,
    JsonBody(r): JsonBody<RegisterRequest>,
) -> HttpResult<(StatusCode, Json<RegisterResponse>)> {
    let residence_type = match r.residence_type.as_str() {
        "registered" => pb::ResidenceType::Registered,
        "permanent_migrant" => pb::ResidenceType::PermanentMigrant,
        _ => {
            return Err(ApiError::invalid(
                "residence_type",
                "must be \"registered\" or \"permanent_migrant\"",
            )
            .into());
        }
    };
    let response = state
        .identity()
        .register_resident(pb::RegisterResidentRequest {
            name: r.name,
            id_number: r.id_number,
            phone: r.phone,
            password: r.password,
            residence_district: r.residence_district,
            residence_type: residence_type as i32,
        })
        .await?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(RegisterResponse {
            resident_id: response.resident_id,
        }),
    ))
}

/// Log in with a phone number (residents) or username (staff).
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse),
        (status = 401, body = Problem, description = "wrong login or password"),
        (status = 403, body = Problem, description = "account suspended"),
        (status = 423, body = Problem, description = "locked after repeated failures"),
        (status = 429, body = Problem, description = "too many attempts")))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    JsonBody(r): JsonBody<LoginRequest>,
) -> HttpResult<Json<TokenResponse>> {
    let response = state
        .identity()
        .login(pb::LoginRequest {
            login: r.login,
            password: r.password,
            client_address: addr,
        })
        .await?
        .into_inner();
    token_response(response.tokens)
}

/// Exchange a refresh token for a new pair; the old refresh token is spent.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem)))]
pub async fn refresh(
    State(state): State<AppState>,
    JsonBody(r): JsonBody<RefreshRequest>,
) -> HttpResult<Json<TokenResponse>> {
    let response = state
        .identity()
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: r.refresh_token,
        })
        .await?
        .into_inner();
    token_response(response.tokens)
}

/// Log out: revoke the refresh token and its whole family.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204), (status = 400, body = Problem)))]
pub async fn logout(
    State(state): State<AppState>,
    JsonBody(r): JsonBody<RefreshRequest>,
) -> HttpResult<StatusCode> {
    state
        .identity()
        .revoke_refresh_token(pb::RevokeRefreshTokenRequest {
            refresh_token: r.refresh_token,
        })
        .await?;
    Ok(no_content())
}

/// Client-credentials grant for partner, merchant and service clients.
#[utoipa::path(post, path = "/v1/auth/token", tag = "auth", request_body = ClientTokenRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem)))]
pub async fn client_token(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    JsonBody(r): JsonBody<ClientTokenRequest>,
) -> HttpResult<Json<TokenResponse>> {
    if r.grant_type != "client_credentials" {
        return Err(ApiError::invalid("grant_type", "must be \"client_credentials\"").into());
    }
    let response = state
        .identity()
        .issue_client_token(pb::IssueClientTokenRequest {
            client_id: r.client_id,
            client_secret: r.client_secret,
            client_address: addr,
        })
        .await?
        .into_inner();
    token_response(response.tokens)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JwkSet {
    pub keys: Vec<JwkOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JwkOut {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

/// The public keys that verify access tokens (RFC 7517).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, body = JwkSet)))]
pub async fn jwks(State(state): State<AppState>) -> HttpResult<Json<JwkSet>> {
    let keys = state
        .identity()
        .get_jwks(pb::GetJwksRequest {})
        .await?
        .into_inner()
        .keys;
    Ok(Json(JwkSet {
        keys: keys
            .into_iter()
            .map(|k| JwkOut {
                kty: k.kty,
                crv: k.crv,
                x: k.x,
                kid: k.kid,
                alg: k.alg,
                use_: k.r#use,
            })
            .collect(),
    }))
}
