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
    /// A resident as a health-station counter acts for them: the delegated token the exchange
    /// got for this one action, never shown to the counter.
    pub fn delegated(resident_id: Uuid, token: String) -> Self {
        Self {
            principal: Principal::Resident { resident_id },
            token,
        }
    }

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
        // Already verified by the audience's gate.
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

/// Staff at a health-station counter, with their district and institution (see [`Resident`]).
#[derive(Debug, Clone)]
pub struct StationStaff {
    pub caller: Caller,
}

/// The caller, or 401; then the caller as the extractor stands for them, or 403 saying who the
/// route is for.
async fn with_role<T>(
    parts: &mut Parts,
    state: &AppState,
    audience: Audience,
    role: impl FnOnce(Caller) -> Option<T>,
) -> Result<T, HttpError> {
    let caller = Caller::from_request_parts(parts, state).await?;
    if !audience.allows(&caller.principal) {
        return Err(audience.refusal());
    }
    role(caller).ok_or_else(|| audience.refusal())
}

impl FromRequestParts<AppState> for Resident {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        with_role(parts, state, Audience::Residents, |caller| {
            match caller.principal {
                Principal::Resident { resident_id } => Some(Self {
                    caller,
                    id: resident_id,
                }),
                _ => None,
            }
        })
        .await
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        with_role(parts, state, Audience::Admins, |caller| Some(Self(caller))).await
    }
}

impl FromRequestParts<AppState> for PartnerClient {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        with_role(parts, state, Audience::Partners, |caller| {
            Some(Self(caller))
        })
        .await
    }
}

impl FromRequestParts<AppState> for MerchantOperator {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        with_role(parts, state, Audience::Merchants, |caller| {
            match caller.principal {
                Principal::Merchant {
                    merchant_id, mall, ..
                } => Some(Self {
                    caller,
                    merchant_id,
                    mall,
                }),
                _ => None,
            }
        })
        .await
    }
}

impl FromRequestParts<AppState> for StationStaff {
    type Rejection = HttpError;

    /// The staff member, then one request from the counter's budget (`http.rate_limits.station`).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let staff = with_role(parts, state, Audience::Stations, |caller| {
            match caller.principal {
                Principal::StationStaff { .. } => Some(Self { caller }),
                _ => None,
            }
        })
        .await?;
        let ClientAddr(client) = ClientAddr::from_request_parts(parts, state).await?;
        let ip = client
            .parse()
            .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        state.throttle().admit_station(ip)?;
        Ok(staff)
    }
}

/// Who a route is for. Each route declares its audience in the route table
/// ([`crate::routes`]); the router of an audience refuses everyone else ([`gate`]) before a
/// handler reads its query or body, and the handler's extractor ([`Resident`],
/// [`MerchantOperator`], [`PartnerClient`], [`Admin`], [`StationStaff`]) says the same in its
/// signature. The paths tell the audience too (`/v1/me…`, `/v1/merchant/…`, `/v1/partner/…`,
/// `/v1/admin/…`, `/v1/station/…`),
/// which the throttle relies on before routing; a test holds the table to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// No token needed (a handler may still take an optional or a required [`Caller`]).
    Public,
    Residents,
    Merchants,
    Partners,
    Admins,
    /// Staff at a health-station counter.
    Stations,
}

/// The FHIR endpoint's CapabilityStatement (`[base]/metadata`), open to everyone.
pub const FHIR_METADATA: &str = "/v1/partner/fhir/metadata";

impl Audience {
    /// The audience a path belongs to, by whole path segments. The FHIR endpoint's
    /// CapabilityStatement is open: FHIR clients read it before they authenticate (it says how).
    pub fn of_path(path: &str) -> Self {
        if path == FHIR_METADATA {
            return Self::Public;
        }
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        [
            Self::Residents,
            Self::Merchants,
            Self::Partners,
            Self::Admins,
            Self::Stations,
        ]
        .into_iter()
        .find(|a| a.prefix().is_some_and(under))
        .unwrap_or(Self::Public)
    }

    /// Where this audience's routes live.
    pub const fn prefix(self) -> Option<&'static str> {
        match self {
            Self::Public => None,
            Self::Residents => Some("/v1/me"),
            Self::Merchants => Some("/v1/merchant"),
            Self::Partners => Some("/v1/partner"),
            Self::Admins => Some("/v1/admin"),
            Self::Stations => Some("/v1/station"),
        }
    }

    /// Whether a caller belongs to this audience.
    pub fn allows(self, p: &Principal) -> bool {
        match self {
            Self::Public => true,
            Self::Residents => matches!(p, Principal::Resident { .. }),
            Self::Merchants => matches!(p, Principal::Merchant { .. }),
            Self::Partners => matches!(p, Principal::Partner { .. }),
            Self::Admins => p.is_admin(),
            Self::Stations => matches!(p, Principal::StationStaff { .. }),
        }
    }

    /// The audience in a refusal: "this route is for {who}".
    pub const fn who(self) -> &'static str {
        match self {
            Self::Public => "everyone",
            Self::Residents => "residents",
            Self::Merchants => "merchants",
            Self::Partners => "partner clients",
            Self::Admins => "city and district admins",
            Self::Stations => "health-station staff",
        }
    }

    fn refusal(self) -> HttpError {
        ApiError::forbidden(format!("this route is for {}", self.who())).into()
    }
}

/// The gate of an audience's router: a missing or bad token is 401 and a caller outside the
/// audience 403, before the handler reads anything, so what a route would say about a request
/// never reaches a caller who may not use it. The verified caller is handed on to the handler.
pub async fn gate(
    State((state, audience)): State<(AppState, Audience)>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match Caller::from_request_parts(&mut parts, &state).await {
        Err(e) => e.into_response(),
        Ok(caller) if !audience.allows(&caller.principal) => audience.refusal().into_response(),
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
    fn audiences_are_told_by_whole_path_segments() {
        let resident = Principal::Resident {
            resident_id: Uuid::nil(),
        };
        let admin = Principal::CityAdmin {
            staff_id: Uuid::nil(),
        };
        let of = Audience::of_path;
        assert_eq!(of("/v1/me"), Audience::Residents);
        assert_eq!(of("/v1/me/orders/x/cancel"), Audience::Residents);
        assert_eq!(of("/v1/merchant/products"), Audience::Merchants);
        assert_eq!(of("/v1/partner/fhir"), Audience::Partners);
        assert_eq!(of("/v1/partner/fhir/metadata"), Audience::Public);
        assert_eq!(of("/v1/partner/fhir/metadata/x"), Audience::Partners);
        assert_eq!(of("/v1/admin/staff"), Audience::Admins);
        assert_eq!(of("/v1/station/lookup"), Audience::Stations);
        for open in [
            "/v1/mall",
            "/v1/malls/city/orders",
            "/v1/meals",
            "/v1/partners",
            "/v1/stations",
            "/v1/leaderboards",
            "/healthz",
        ] {
            assert_eq!(of(open), Audience::Public, "{open}");
        }
        assert!(Audience::Residents.allows(&resident) && !Audience::Residents.allows(&admin));
        assert!(Audience::Admins.allows(&admin) && !Audience::Admins.allows(&resident));
        assert!(Audience::Public.allows(&resident));
    }
}
