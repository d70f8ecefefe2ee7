//! What a token says, and the typed principal it becomes.

use healthpoints_errors::ApiError;
use healthpoints_types::{DistrictCode, MallId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The kind of principal a token was issued to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Resident,
    CityAdmin,
    DistrictAdmin,
    /// A merchant operator (staff login) or a merchant's client; bound to one merchant.
    Merchant,
    /// A partner department's client; bound to one partner, with scopes.
    Partner,
    /// A mesh service; a district mall's is bound to its district.
    Service,
    /// Staff at a health-station counter; bound to one institution of one district.
    StationStaff,
}

/// Who acts for a resident in a delegated token (RFC 8693's `act` claim): the staff member at
/// a health-station counter, for one action, after the resident proved they are there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The staff member's id.
    pub sub: String,
    /// The institution's code.
    pub institution: String,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mall: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// A station staff member's institution code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
    /// Set on a resident token issued to a health-station counter acting for the resident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// Who is calling, with the bindings that limit what they may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Resident {
        resident_id: Uuid,
    },
    CityAdmin {
        staff_id: Uuid,
    },
    DistrictAdmin {
        staff_id: Uuid,
        district: DistrictCode,
    },
    Merchant {
        subject: String,
        merchant_id: Uuid,
        mall: MallId,
    },
    Partner {
        client_id: String,
        partner_id: String,
        department: String,
        scopes: Vec<String>,
    },
    Service {
        client_id: String,
        service: String,
        district: Option<DistrictCode>,
    },
    StationStaff {
        staff_id: Uuid,
        district: DistrictCode,
        institution: String,
    },
}

fn bad_claims(what: &str) -> ApiError {
    ApiError::unauthenticated(format!("token claims are invalid: {what}"))
}

impl TryFrom<Claims> for Principal {
    type Error = ApiError;

    fn try_from(c: Claims) -> Result<Self, ApiError> {
        let uuid = |s: &str| Uuid::parse_str(s).map_err(|_| bad_claims("sub"));
        let district = |d: &Option<String>| {
            d.as_deref()
                .map(DistrictCode::parse)
                .transpose()
                .map_err(|_| bad_claims("district"))
        };
        Ok(match c.role {
            Role::Resident => Self::Resident {
                resident_id: uuid(&c.sub)?,
            },
            Role::CityAdmin => Self::CityAdmin {
                staff_id: uuid(&c.sub)?,
            },
            Role::DistrictAdmin => Self::DistrictAdmin {
                staff_id: uuid(&c.sub)?,
                district: district(&c.district)?.ok_or_else(|| bad_claims("district"))?,
            },
            Role::Merchant => Self::Merchant {
                merchant_id: c
                    .merchant_id
                    .as_deref()
                    .and_then(|m| Uuid::parse_str(m).ok())
                    .ok_or_else(|| bad_claims("merchant_id"))?,
                mall: c
                    .mall
                    .as_deref()
                    .and_then(|m| MallId::parse(m).ok())
                    .ok_or_else(|| bad_claims("mall"))?,
                subject: c.sub,
            },
            Role::Partner => Self::Partner {
                partner_id: c.partner_id.ok_or_else(|| bad_claims("partner_id"))?,
                department: c.department.unwrap_or_default(),
                scopes: c.scopes,
                client_id: c.sub,
            },
            Role::Service => Self::Service {
                service: c.service.ok_or_else(|| bad_claims("service"))?,
                district: district(&c.district)?,
                client_id: c.sub,
            },
            Role::StationStaff => Self::StationStaff {
                staff_id: uuid(&c.sub)?,
                district: district(&c.district)?.ok_or_else(|| bad_claims("district"))?,
                institution: c
                    .institution
                    .filter(|i| !i.is_empty())
                    .ok_or_else(|| bad_claims("institution"))?,
            },
        })
    }
}

impl Principal {
    /// The role, for logs and metrics (never an id).
    pub fn role(&self) -> Role {
        match self {
            Self::Resident { .. } => Role::Resident,
            Self::CityAdmin { .. } => Role::CityAdmin,
            Self::DistrictAdmin { .. } => Role::DistrictAdmin,
            Self::Merchant { .. } => Role::Merchant,
            Self::Partner { .. } => Role::Partner,
            Self::Service { .. } => Role::Service,
            Self::StationStaff { .. } => Role::StationStaff,
        }
    }

    /// The resident's own id, when the caller is a resident.
    pub fn resident_id(&self) -> Option<Uuid> {
        match self {
            Self::Resident { resident_id } => Some(*resident_id),
            _ => None,
        }
    }

    pub fn is_city_admin(&self) -> bool {
        matches!(self, Self::CityAdmin { .. })
    }

    pub fn is_service(&self) -> bool {
        matches!(self, Self::Service { .. })
    }

    /// Whether the caller administers `district`: city admins every district, district admins
    /// their own only.
    pub fn administers(&self, district: DistrictCode) -> bool {
        match self {
            Self::CityAdmin { .. } => true,
            Self::DistrictAdmin { district: own, .. } => *own == district,
            _ => false,
        }
    }

    /// Whether the caller is any admin (city or district).
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::CityAdmin { .. } | Self::DistrictAdmin { .. })
    }

    /// Whether a partner holds `scope`; other principals hold no scopes.
    pub fn has_scope(&self, scope: &str) -> bool {
        match self {
            Self::Partner { scopes, .. } => scopes.iter().any(|s| s == scope),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(role: Role) -> Claims {
        Claims {
            iss: "i".into(),
            aud: "a".into(),
            sub: Uuid::nil().to_string(),
            exp: 0,
            nbf: 0,
            iat: 0,
            jti: "j".into(),
            role,
            district: None,
            merchant_id: None,
            mall: None,
            partner_id: None,
            department: None,
            service: None,
            scopes: vec![],
            institution: None,
            act: None,
        }
    }

    #[test]
    fn district_admin_needs_a_valid_district_and_administers_only_it() {
        assert!(Principal::try_from(claims(Role::DistrictAdmin)).is_err());
        let mut c = claims(Role::DistrictAdmin);
        c.district = Some("310118".into());
        let p = Principal::try_from(c).unwrap();
        assert!(p.administers(DistrictCode::parse("310118").unwrap()));
        assert!(!p.administers(DistrictCode::parse("310110").unwrap()));
    }

    #[test]
    fn partners_hold_only_their_scopes() {
        let mut c = claims(Role::Partner);
        c.partner_id = Some("sports".into());
        c.scopes = vec!["behaviours:submit".into()];
        let p = Principal::try_from(c).unwrap();
        assert!(p.has_scope("behaviours:submit"));
        assert!(!p.has_scope("statistics:read"));
        assert!(!p.is_city_admin());
    }

    #[test]
    fn station_staff_need_a_district_and_an_institution() {
        let mut c = claims(Role::StationStaff);
        c.district = Some("310118".into());
        assert!(Principal::try_from(c.clone()).is_err(), "no institution");
        c.institution = Some("QP-ZJJ-01".into());
        let p = Principal::try_from(c).unwrap();
        assert_eq!(p.role(), Role::StationStaff);
        assert!(!p.administers(DistrictCode::parse("310118").unwrap()));
    }

    #[test]
    fn residents_need_a_uuid_subject() {
        let mut c = claims(Role::Resident);
        c.sub = "not-a-uuid".into();
        assert!(Principal::try_from(c).is_err());
    }
}
