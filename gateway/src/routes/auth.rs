//! `/v1/auth/*` and the JWKS: registration, sessions, client credentials.

use axum::{
    Json,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use healthpoints_errors::ApiError;
use healthpoints_proto::identity::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::oauth::{self, OAuthError};
use crate::body::{JsonBody, from_json, is_json, media_type, unreadable};
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
    /// A client's token: the scopes it carries, space-separated (RFC 6749 §5.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
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
    /// Space-separated scopes the client holds, for a token that carries only them; left out,
    /// all of them.
    #[serde(default)]
    pub scope: Option<String>,
}

pub(super) fn token_response(tokens: Option<pb::TokenPair>) -> HttpResult<Json<TokenResponse>> {
    let t = tokens.ok_or_else(ApiError::internal)?;
    Ok(Json(TokenResponse {
        access_token: t.access_token,
        refresh_token: (!t.refresh_token.is_empty()).then_some(t.refresh_token),
        token_type: t.token_type,
        expires_in: t.expires_in,
        scope: None,
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

/// The client-credentials grant in the form encoding (RFC 6749 §4.4); the client authenticates
/// with HTTP Basic or with `client_id` and `client_secret` here, not both.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ClientTokenForm {
    #[schema(value_type = super::views::names::GrantType)]
    grant_type: String,
    /// Space-separated scopes the client holds; left out, all of them.
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The client-credentials grant for partner, merchant and service clients: the OAuth2 form
/// (`application/x-www-form-urlencoded`, HTTP Basic or `client_secret_post`, RFC 6749 errors) or
/// the same fields as JSON (problem+json errors). Never cached (`Cache-Control: no-store`).
#[utoipa::path(post, path = "/v1/auth/token", tag = "auth",
    request_body(content(
        (ClientTokenForm = "application/x-www-form-urlencoded"),
        (ClientTokenRequest = "application/json"),
    )),
    responses((status = 200, body = TokenResponse),
        (status = 400, content((OAuthError = "application/json"), (Problem = "application/problem+json")),
            description = "the form: `invalid_request`, `unsupported_grant_type`, `invalid_scope`; JSON: a problem"),
        (status = 401, content((OAuthError = "application/json"), (Problem = "application/problem+json")),
            description = "the form: `invalid_client` (with `WWW-Authenticate: Basic` after Basic); JSON: a problem")))]
pub async fn client_token(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HttpResult<Response> {
    let body = body.map_err(unreadable)?;
    let form = media_type(&headers).as_deref() == Some("application/x-www-form-urlencoded");
    if form {
        return Ok(match oauth_grant(&state, addr, &headers, &body).await {
            Ok(tokens) => tokens.into_response(),
            Err(Ok(refusal)) => refusal.into_response(),
            // A limit, an outage or a fault: the problem every route answers, with Retry-After.
            Err(Err(problem)) => crate::error::HttpError::from(problem).into_response(),
        });
    }
    if !is_json(&headers) {
        return Err(ApiError::invalid(
            "body",
            "send the grant as application/x-www-form-urlencoded (OAuth2) or application/json",
        )
        .into());
    }
    let r: ClientTokenRequest = from_json(&body, "")?;
    if r.grant_type != "client_credentials" {
        return Err(ApiError::invalid("grant_type", "must be \"client_credentials\"").into());
    }
    let scopes = oauth::scopes(r.scope.as_deref().unwrap_or_default());
    let tokens = issue(&state, r.client_id, r.client_secret, addr, scopes).await?;
    Ok(tokens.into_response())
}

/// A token answer that no cache keeps.
struct Tokens(TokenResponse);

impl IntoResponse for Tokens {
    fn into_response(self) -> Response {
        let mut response = Json(self.0).into_response();
        oauth::no_store(response.headers_mut());
        response
    }
}

async fn issue(
    state: &AppState,
    client_id: String,
    client_secret: String,
    client_address: String,
    scopes: Vec<String>,
) -> Result<Tokens, ApiError> {
    let response = state
        .identity()
        .issue_client_token(pb::IssueClientTokenRequest {
            client_id,
            client_secret,
            client_address,
            scopes,
        })
        .await
        .map_err(|s| ApiError::from_status(&s))?
        .into_inner();
    let Json(mut tokens) = token_response(response.tokens).map_err(|e| e.0)?;
    tokens.scope = (!response.scopes.is_empty()).then(|| response.scopes.join(" "));
    Ok(Tokens(tokens))
}

async fn oauth_grant(
    state: &AppState,
    addr: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Tokens, Result<oauth::Refusal, ApiError>> {
    let grant = oauth::read(headers, body).map_err(Ok)?;
    issue(
        state,
        grant.client_id,
        grant.client_secret,
        addr,
        grant.scope,
    )
    .await
    .map_err(oauth::Refusal::of)
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
