//! Registering and updating partners and their clients, and finding the partner a caller acts
//! for (the registry's types and ports: [`crate::domain::partners`]).

use healthpoints_auth::Principal;
use healthpoints_types::text::{Lines, free_text};

use super::Exchange;
use crate::domain::partners::{Identity, Intake, Partner, PartnerSpec, PartnerStatus, SCOPES};
use crate::domain::station::STATION_SOURCE;
use crate::domain::{
    consent::PartnerKind,
    error::{ExchangeError, Result},
};

use crate::domain::partners::slug;

fn require_city_admin(caller: &Principal) -> Result<()> {
    if caller.is_city_admin() {
        Ok(())
    } else {
        Err(ExchangeError::Forbidden(
            "only a city admin keeps the partner registry".into(),
        ))
    }
}

/// Checks behaviours against the catalogue — each must exist and accept records from this
/// partner, or every record of it would be refused `source_not_allowed` — and scopes against
/// the known list. Behaviours in `kept` (already registered) are not checked again, so a
/// catalogue change cannot stop an admin from suspending or renaming a partner.
async fn check_lists(
    intake: &impl Intake,
    partner_id: &str,
    behaviours: &[String],
    kept: &[String],
    scopes: &[String],
) -> Result<()> {
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
    if behaviours.iter().any(|b| !kept.contains(b)) {
        let catalogue = intake.behaviour_sources().await?;
        for (i, b) in behaviours.iter().enumerate() {
            if kept.contains(b) {
                continue;
            }
            let Some(sources) = catalogue.get(b) else {
                return Err(ExchangeError::invalid(
                    &format!("behaviours[{i}]"),
                    "no rule of the catalogue has this behaviour code",
                ));
            };
            if !sources.contains(partner_id) {
                let from: Vec<&str> = sources
                    .iter()
                    .map(String::as_str)
                    .filter(|s| *s != "self")
                    .collect();
                return Err(ExchangeError::invalid(
                    &format!("behaviours[{i}]"),
                    format!(
                        "the rule catalogue accepts {b} records only from {}; register this partner under one of those partner ids, or publish a rule change that adds {partner_id} to the rule's sources first",
                        if from.is_empty() {
                            "the resident's own check-in".to_owned()
                        } else {
                            from.join(", ")
                        }
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl<I: Identity, N: Intake, L> Exchange<I, N, L> {
    /// Registers a partner and creates its client: the id is reserved first, so two registrations
    /// of one id cannot both get a client, and released again if identity refuses.
    pub async fn register_partner(
        &self,
        caller: &Principal,
        spec: PartnerSpec,
    ) -> Result<(Partner, String, String)> {
        require_city_admin(caller)?;
        let name = free_text(&spec.name, 100, true, Lines::One)
            .map_err(|e| ExchangeError::invalid("name", e.0))?;
        let name = name.as_str();
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
        // The sources of a resident's own check-ins and of health-station counters are not
        // partners: a partner under either name could report what only they may.
        if ["self", STATION_SOURCE, "challenge", "honour"].contains(&partner_id.as_str()) {
            return Err(ExchangeError::invalid(
                "partner_id",
                "self, station, challenge and honour are the sources of residents' own check-ins, health-station counters and the programme's own grants, not partner ids",
            ));
        }
        free_text(&spec.contact, 200, false, Lines::One)
            .map_err(|e| ExchangeError::invalid("contact", e.0))?;
        // Checked as sent, so a refusal names the entry the admin wrote.
        check_lists(
            &self.intake,
            &partner_id,
            &spec.behaviours,
            &[],
            &spec.scopes,
        )
        .await?;
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
            registered_at: self.now(),
            // Privacy by default (PIPL Art. 29, 51): without the city admin's explicit choice of
            // `department`, a partner needs each resident's consent per data category.
            kind: spec.kind.unwrap_or(PartnerKind::Commercial),
        };
        if !self.store.reserve(&partner).await? {
            return Err(ExchangeError::AlreadyExists(format!(
                "partner id {} is taken; choose another partner_id",
                partner.partner_id
            )));
        }
        let (client_id, secret) = match self.identity.create_partner_client(&partner).await {
            Ok(c) => c,
            Err(e) => {
                self.store.release(&partner.partner_id).await?;
                return Err(e);
            }
        };
        self.store.activate(&partner.partner_id, &client_id).await?;
        partner.status = PartnerStatus::Active;
        partner.client_id = Some(client_id.clone());
        tracing::info!(partner = %partner.partner_id, "partner registered");
        Ok((partner, client_id, secret))
    }

    /// Changes a partner's name, contact, behaviours, scopes, status or (when given) kind. The
    /// scopes in force are the ones kept here: a client's token cannot do more than the registry
    /// allows.
    pub async fn update_partner(
        &self,
        caller: &Principal,
        changed: Partner,
        kind: Option<PartnerKind>,
    ) -> Result<Partner> {
        require_city_admin(caller)?;
        let Some(mut partner) = self.store.partner(&changed.partner_id).await? else {
            return Err(ExchangeError::NotFound("partner".into()));
        };
        if partner.status == PartnerStatus::Registering {
            return Err(ExchangeError::AlreadyExists(
                "the partner is still being registered".into(),
            ));
        }
        if changed.status == PartnerStatus::Registering {
            return Err(ExchangeError::invalid(
                "partner.status",
                "must be active or suspended",
            ));
        }
        check_lists(
            &self.intake,
            &partner.partner_id,
            &changed.behaviours,
            &partner.behaviours,
            &changed.scopes,
        )
        .await?;
        partner.name = free_text(&changed.name, 100, true, Lines::One)
            .map_err(|e| ExchangeError::invalid("partner.name", e.0))?;
        partner.contact = free_text(&changed.contact, 200, false, Lines::One)
            .map_err(|e| ExchangeError::invalid("partner.contact", e.0))?;
        partner.behaviours = changed.behaviours;
        partner.scopes = changed.scopes;
        partner.status = changed.status;
        if let Some(kind) = kind {
            partner.kind = kind;
        }
        self.store.update(&partner).await?;
        tracing::info!(partner = %partner.partner_id, status = partner.status.as_str(), "partner updated");
        Ok(partner)
    }

    /// Creates another client-credentials client of a registered partner (a second server, or a
    /// new secret before the old one is retired). It holds the partner's department and its
    /// registered scopes; what it may do follows the registry, as for the first client.
    pub async fn add_partner_client(
        &self,
        caller: &Principal,
        partner_id: &str,
        department: &str,
        scopes: &[String],
    ) -> Result<(String, String)> {
        require_city_admin(caller)?;
        if partner_id.trim().is_empty() {
            return Err(ExchangeError::invalid(
                "partner_id",
                "must name a registered partner",
            ));
        }
        let partner = self
            .store
            .partner(partner_id.trim())
            .await?
            .filter(|p| p.status != PartnerStatus::Registering)
            .ok_or_else(|| ExchangeError::NotFound("partner".into()))?;
        if !department.trim().is_empty() && department.trim() != partner.department {
            return Err(ExchangeError::invalid(
                "department",
                "a partner's clients hold its registered department",
            ));
        }
        if let Some(i) = scopes.iter().position(|s| !partner.scopes.contains(s)) {
            return Err(ExchangeError::invalid(
                &format!("scopes[{i}]"),
                "a partner's clients hold its registered scopes; change them with PUT /v1/admin/partners/{id}",
            ));
        }
        let (client_id, secret) = self.identity.create_partner_client(&partner).await?;
        self.store
            .add_client(&partner.partner_id, &client_id, self.now())
            .await?;
        tracing::info!(partner = %partner.partner_id, "partner client added");
        Ok((client_id, secret))
    }
}

impl<I, N, L> Exchange<I, N, L> {
    /// The partner behind a partner client's token, checked: registered with this client, active,
    /// holding `scope` both in the token and in the registry.
    pub async fn acting_partner(&self, caller: &Principal, scope: &str) -> Result<Partner> {
        let partner = self.registered_partner(caller).await?;
        if !caller.has_scope(scope) || !partner.scopes.iter().any(|s| s == scope) {
            return Err(ExchangeError::Forbidden(format!("missing scope {scope}")));
        }
        Ok(partner)
    }

    /// The calling client's partner, registered and active (any scope).
    pub async fn registered_partner(&self, caller: &Principal) -> Result<Partner> {
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
        let not_registered = || ExchangeError::Forbidden("the partner is not registered".into());
        let partner = self
            .store
            .partner(partner_id)
            .await?
            .ok_or_else(not_registered)?;
        if partner.client_id.as_deref() != Some(client_id.as_str())
            && !self.store.is_client_of(partner_id, client_id).await?
        {
            return Err(not_registered());
        }
        if partner.status != PartnerStatus::Active {
            return Err(ExchangeError::Forbidden("the partner is suspended".into()));
        }
        Ok(partner)
    }
}
