//! Who is calling: the bearer token, verified here (the gateway rejects bad tokens early) and
//! forwarded to the backends, which verify it again themselves.

use std::net::SocketAddr;

use axum::{
    body::Body,
    extract::{ConnectInfo, FromRequestParts, State},
    http::{Request, header, request::Parts},
    middleware::Next,
    response::{IntoResponse as _, Response},
};
use healthpoints_auth::Principal;
use healthpoints_errors::ApiError;
use healthpoints_types::MallId;
use uuid::Uuid;

use crate::{AppState, error::HttpError};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    token: String,
}

impl Caller {
    /// A gRPC request carrying the caller's token.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = format!("Bearer {}", self.token).parse() {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Already verified by the route-family gate.
        if let Some(caller) = parts.extensions.get::<Self>() {
            return Ok(caller.clone());
        }
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthenticated("this route needs Authorization: Bearer <access token>")
        })?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthenticated("authorization must be `Bearer <access token>`")
            })?
            .to_owned();
        let principal = state.verifier.verify(&token).await?;
        Ok(Self { principal, token })
    }
}

/// A resident, calling for themselves: a handler that takes one is for residents only, and any
/// other caller is refused (403) before the handler reads its query or body.
#[derive(Debug, Clone)]
pub struct Resident {
    pub caller: Caller,
    pub id: Uuid,
}

/// A city or district admin (see [`Resident`] for when the refusal comes).
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

/// A partner department's or company's client (client credentials; see [`Resident`]).
#[derive(Debug, Clone)]
pub struct PartnerClient(pub Caller);

/// A merchant's operator, with their merchant and its mall (see [`Resident`]).
#[derive(Debug, Clone)]
pub struct MerchantOperator {
    pub caller: Caller,
    pub merchant_id: Uuid,
    pub mall: MallId,
}

/// The caller, or 401; then the role the extractor stands for, or 403 saying who the route is for.
async fn with_role<T>(
    parts: &mut Parts,
    state: &AppState,
    who: &str,
    role: impl FnOnce(Caller) -> Result<T, Caller>,
) -> Result<T, HttpError> {
    let caller = Caller::from_request_parts(parts, state).await?;
    role(caller).map_err(|_| ApiError::forbidden(format!("this route is for {who}")).into())
}

impl FromRequestParts<AppState> for Resident {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        with_role(parts, state, "residents", |caller| match caller.principal {
            Principal::Resident { resident_id } => Ok(Self {
                caller,
                id: resident_id,
            }),
            _ => Err(caller),
        })
        .await
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        with_role(parts, state, "city and district admins", |caller| {
            if caller.principal.is_admin() {
                Ok(Self(caller))
            } else {
                Err(caller)
            }
        })
        .await
    }
}

impl FromRequestParts<AppState> for PartnerClient {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        with_role(parts, state, "partner clients", |caller| {
            if matches!(caller.principal, Principal::Partner { .. }) {
                Ok(Self(caller))
            } else {
                Err(caller)
            }
        })
        .await
    }
}

impl FromRequestParts<AppState> for MerchantOperator {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        with_role(parts, state, "merchants", |caller| match caller.principal {
            Principal::Merchant {
                merchant_id, mall, ..
            } => Ok(Self {
                caller,
                merchant_id,
                mall,
            }),
            _ => Err(caller),
        })
        .await
    }
}

/// Whether a principal has the role a route family needs.
type RoleCheck = fn(&Principal) -> bool;

/// Who a family of routes is for, by its path: `/v1/me…` residents, `/v1/merchant/…` merchant
/// operators, `/v1/partner/…` partner clients, `/v1/admin/…` city and district admins.
fn family(path: &str) -> Option<(RoleCheck, &'static str)> {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if under("/v1/me") {
        Some((|p| matches!(p, Principal::Resident { .. }), "residents"))
    } else if under("/v1/merchant") {
        Some((|p| matches!(p, Principal::Merchant { .. }), "merchants"))
    } else if under("/v1/partner") {
        Some((
            |p| matches!(p, Principal::Partner { .. }),
            "partner clients",
        ))
    } else if under("/v1/admin") {
        Some((Principal::is_admin, "city and district admins"))
    } else {
        None
    }
}

/// Whether a path belongs to a route family that needs a token (see [`family`]).
pub(crate) fn needs_token(path: &str) -> bool {
    family(path).is_some()
}

/// The role gate of every route family (see [`family`]): before a handler reads its body or
/// query, a missing or bad token is 401 and a token of another role 403, so what a route
/// would say about a request never reaches a caller who may not use it. The verified caller is
/// handed on to the handler.
pub async fn gate(State(state): State<AppState>, request: Request<Body>, next: Next) -> Response {
    let Some((allowed, who)) = family(request.uri().path()) else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    match Caller::from_request_parts(&mut parts, &state).await {
        Err(e) => e.into_response(),
        Ok(caller) if !allowed(&caller.principal) => {
            HttpError::from(ApiError::forbidden(format!("this route is for {who}"))).into_response()
        }
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, body)).await
        }
    }
}

/// The client's network address, for identity's per-address login limits: the peer, or — when
/// the peer is a trusted proxy — the rightmost `X-Forwarded-For` hop no trusted proxy wrote
/// ([`crate::throttle`]).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(Self(String::new()));
        };
        Ok(Self(
            state
                .throttle()
                .client_ip(peer.ip(), &parts.headers)
                .to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn route_families_are_told_by_whole_path_segments() {
        let resident = Principal::Resident {
            resident_id: Uuid::nil(),
        };
        let admin = Principal::CityAdmin {
            staff_id: Uuid::nil(),
        };
        let who = |path: &str| family(path).map(|(_, who)| who);
        assert_eq!(who("/v1/me"), Some("residents"));
        assert_eq!(who("/v1/me/orders/x/cancel"), Some("residents"));
        assert_eq!(who("/v1/merchant/products"), Some("merchants"));
        assert_eq!(who("/v1/partner/fhir"), Some("partner clients"));
        assert_eq!(who("/v1/admin/staff"), Some("city and district admins"));
        for open in [
            "/v1/mall",
            "/v1/malls/city/orders",
            "/v1/meals",
            "/v1/partners",
            "/v1/leaderboards",
            "/healthz",
        ] {
            assert_eq!(who(open), None, "{open}");
        }
        let (resident_only, _) = family("/v1/me/balances").unwrap();
        assert!(resident_only(&resident) && !resident_only(&admin));
        let (admin_only, _) = family("/v1/admin/statistics").unwrap();
        assert!(admin_only(&admin) && !admin_only(&resident));
    }
}
