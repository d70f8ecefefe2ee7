//! The partner registry: the departments that send records in, the behaviours each may report
//! and the scopes its clients hold. City admins keep it; the list of names is public so
//! residents know whom they consent to.

use std::future::Future;

use chrono::{DateTime, Utc};
use healthpoints_auth::Principal;

use super::{
    consent::PartnerKind,
    error::{ExchangeError, Result},
};
use crate::store::Store;

/// Scopes a partner client may hold (DESIGN.md §10).
pub const SCOPES: &[&str] = &[
    "behaviours:submit",
    "fhir:submit",
    "contracts:submit",
    "statistics:read",
    "points-summary:read",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerStatus {
    /// Its identity client is being created; it can do nothing yet.
    Registering,
    Active,
    Suspended,
}

impl PartnerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registering => "registering",
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "registering" => Self::Registering,
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            _ => return None,
        })
    }
}

/// A registered partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    /// The id rules name in their sources, e.g. `sports`.
    pub partner_id: String,
    pub name: String,
    pub department: String,
    pub contact: String,
    /// Behaviour codes it may report.
    pub behaviours: Vec<String>,
    pub scopes: Vec<String>,
    pub status: PartnerStatus,
    /// Its client-credentials client in identity.
    pub client_id: Option<String>,
    pub registered_at: DateTime<Utc>,
    /// A department reports under its statutory duty; a commercial partner needs consent.
    pub kind: PartnerKind,
}

/// What an admin asks for.
#[derive(Debug, Clone, Default)]
pub struct PartnerSpec {
    pub partner_id: String,
    pub name: String,
    pub department: String,
    pub contact: String,
    pub behaviours: Vec<String>,
    pub scopes: Vec<String>,
    /// `None`: a department.
    pub kind: Option<PartnerKind>,
}

/// identity, seen from the exchange.
pub trait Identity: Send + Sync {
    /// Creates the partner's client-credentials client; returns (client id, secret).
    fn create_partner_client(
        &self,
        partner: &Partner,
    ) -> impl Future<Output = Result<(String, String)>> + Send;

    /// The resident registered under an ID number, if any (the number is not kept).
    fn resolve_id_number(
        &self,
        id_number: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
}

/// intake, seen from the exchange.
pub trait Intake: Send + Sync {
    /// Every behaviour code of the catalogue in force.
    fn behaviour_codes(&self) -> impl Future<Output = Result<Vec<String>>> + Send;
}

fn slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn require_city_admin(caller: &Principal) -> Result<()> {
    if caller.is_city_admin() {
        Ok(())
    } else {
        Err(ExchangeError::Forbidden(
            "only a city admin keeps the partner registry".into(),
        ))
    }
}

/// Checks behaviours against the catalogue and scopes against the known list.
async fn check_lists(intake: &impl Intake, behaviours: &[String], scopes: &[String]) -> Result<()> {
    if behaviours.is_empty() && scopes.iter().any(|s| s.ends_with(":submit")) {
        return Err(ExchangeError::invalid(
            "behaviours",
            "a partner that submits records needs at least one behaviour",
        ));
    }
    for (i, s) in scopes.iter().enumerate() {
        if !SCOPES.contains(&s.as_str()) {
            return Err(ExchangeError::invalid(
                &format!("scopes[{i}]"),
                format!("must be one of {}", SCOPES.join(", ")),
            ));
        }
    }
    if !behaviours.is_empty() {
        let known = intake.behaviour_codes().await?;
        for (i, b) in behaviours.iter().enumerate() {
            if !known.contains(b) {
                return Err(ExchangeError::invalid(
                    &format!("behaviours[{i}]"),
                    "no rule of the catalogue has this behaviour code",
                ));
            }
        }
    }
    Ok(())
}

/// Registers a partner and creates its client: the id is reserved first, so two registrations
/// of one id cannot both get a client, and released again if identity refuses.
pub async fn register(
    store: &Store,
    identity: &impl Identity,
    intake: &impl Intake,
    caller: &Principal,
    spec: PartnerSpec,
) -> Result<(Partner, String, String)> {
    require_city_admin(caller)?;
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ExchangeError::invalid("name", "must be 1-100 characters"));
    }
    let department = spec.department.trim();
    if !slug(department) {
        return Err(ExchangeError::invalid(
            "department",
            "must be 1-64 characters of a-z, 0-9, '-' and '_' (e.g. sports, health)",
        ));
    }
    let partner_id = match spec.partner_id.trim() {
        "" => department.to_owned(),
        id => id.to_owned(),
    };
    if !slug(&partner_id) {
        return Err(ExchangeError::invalid(
            "partner_id",
            "must be 1-64 characters of a-z, 0-9, '-' and '_'",
        ));
    }
    if spec.contact.chars().count() > 200 {
        return Err(ExchangeError::invalid(
            "contact",
            "must be at most 200 characters",
        ));
    }
    // Checked as sent, so a refusal names the entry the admin wrote.
    check_lists(intake, &spec.behaviours, &spec.scopes).await?;
    let mut behaviours = spec.behaviours;
    behaviours.sort();
    behaviours.dedup();
    let mut scopes = spec.scopes;
    scopes.sort();
    scopes.dedup();
    let mut partner = Partner {
        partner_id,
        name: name.to_owned(),
        department: department.to_owned(),
        contact: spec.contact.trim().to_owned(),
        behaviours,
        scopes,
        status: PartnerStatus::Registering,
        client_id: None,
        registered_at: crate::store::now(),
        kind: spec.kind.unwrap_or(PartnerKind::Department),
    };
    if !store.reserve(&partner).await? {
        return Err(ExchangeError::Conflict(format!(
            "partner id {} is taken; choose another partner_id",
            partner.partner_id
        )));
    }
    let (client_id, secret) = match identity.create_partner_client(&partner).await {
        Ok(c) => c,
        Err(e) => {
            store.release(&partner.partner_id).await?;
            return Err(e);
        }
    };
    store.activate(&partner.partner_id, &client_id).await?;
    partner.status = PartnerStatus::Active;
    partner.client_id = Some(client_id.clone());
    tracing::info!(partner = %partner.partner_id, "partner registered");
    Ok((partner, client_id, secret))
}

/// Changes a partner's name, contact, behaviours, scopes, status or (when given) kind. The
/// scopes in force are the ones kept here: a client's token cannot do more than the registry
/// allows.
pub async fn update(
    store: &Store,
    intake: &impl Intake,
    caller: &Principal,
    changed: Partner,
    kind: Option<PartnerKind>,
) -> Result<Partner> {
    require_city_admin(caller)?;
    let Some(mut partner) = store.partner(&changed.partner_id).await? else {
        return Err(ExchangeError::NotFound("partner".into()));
    };
    if partner.status == PartnerStatus::Registering {
        return Err(ExchangeError::Conflict(
            "the partner is still being registered".into(),
        ));
    }
    if changed.status == PartnerStatus::Registering {
        return Err(ExchangeError::invalid(
            "partner.status",
            "must be active or suspended",
        ));
    }
    check_lists(intake, &changed.behaviours, &changed.scopes).await?;
    partner.name = changed.name.trim().to_owned();
    partner.contact = changed.contact.trim().to_owned();
    partner.behaviours = changed.behaviours;
    partner.scopes = changed.scopes;
    partner.status = changed.status;
    if let Some(kind) = kind {
        partner.kind = kind;
    }
    store.update(&partner).await?;
    tracing::info!(partner = %partner.partner_id, status = partner.status.as_str(), "partner updated");
    Ok(partner)
}

/// The partner behind a partner client's token, checked: registered with this client, active,
/// holding `scope` both in the token and in the registry.
pub async fn acting_partner(store: &Store, caller: &Principal, scope: &str) -> Result<Partner> {
    let Principal::Partner {
        partner_id,
        client_id,
        ..
    } = caller
    else {
        return Err(ExchangeError::Forbidden(
            "this call is for partner clients (client credentials)".into(),
        ));
    };
    let partner = store
        .partner(partner_id)
        .await?
        .filter(|p| p.client_id.as_deref() == Some(client_id.as_str()))
        .ok_or_else(|| ExchangeError::Forbidden("the partner is not registered".into()))?;
    if partner.status != PartnerStatus::Active {
        return Err(ExchangeError::Forbidden("the partner is suspended".into()));
    }
    if !caller.has_scope(scope) || !partner.scopes.iter().any(|s| s == scope) {
        return Err(ExchangeError::Forbidden(format!("missing scope {scope}")));
    }
    Ok(partner)
}
