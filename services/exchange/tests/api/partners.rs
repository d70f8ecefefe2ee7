use healthpoints_exchange::domain::{
    consent::PartnerKind, error::ExchangeError, partners::PartnerStatus,
};

use crate::helpers::*;

fn field_of(e: &ExchangeError) -> &str {
    match e {
        ExchangeError::Invalid { field, .. } => field,
        other => panic!("not a field error: {other}"),
    }
}

/// Every refusal names the field and leaves the registry and identity untouched.
#[tokio::test]
async fn a_registration_the_catalogue_would_refuse_stores_nothing() {
    let f = fixture("exchange_register").await;
    let register = async |caller, spec| f.x.register_partner(&caller, spec).await;
    let refused = register(
        resident(&uuid::Uuid::now_v7().to_string()),
        spec("sports", None, &["steps.daily"]),
    )
    .await;
    assert!(
        matches!(refused, Err(ExchangeError::Forbidden(_))),
        "{refused:?}"
    );

    let mut bad = spec("sports", None, &["steps.daily"]);
    bad.department = "Sports Bureau".into();
    assert_eq!(
        field_of(&register(city_admin(), bad).await.unwrap_err()),
        "department"
    );
    let unknown = register(
        city_admin(),
        spec("sports", None, &["steps.daily", "flying"]),
    )
    .await;
    assert_eq!(field_of(&unknown.unwrap_err()), "behaviours[1]");
    // The catalogue takes vaccinations only from the health commission.
    let wrong_source = register(city_admin(), spec("sports", None, &["vaccination"]))
        .await
        .unwrap_err();
    assert_eq!(field_of(&wrong_source), "behaviours[0]");
    assert!(
        wrong_source.to_string().contains("only from health"),
        "{wrong_source}"
    );
    let mut scopes = spec("sports", None, &["steps.daily"]);
    scopes.scopes.push("everything".into());
    assert_eq!(
        field_of(&register(city_admin(), scopes).await.unwrap_err()),
        "scopes[1]"
    );

    assert!(f.x.store().partners().await.unwrap().is_empty());
    assert_eq!(*f.peers.clients_created.lock().unwrap(), 0);
}

#[tokio::test]
async fn partners_need_consent_unless_the_admin_says_department() {
    let f = fixture("exchange_kinds").await;
    let wearco = f.register(spec("wearco", None, &["steps.daily"])).await;
    assert_eq!(wearco.kind, PartnerKind::Commercial);
    assert_eq!(wearco.status, PartnerStatus::Active);
    assert_eq!(wearco.client_id.as_deref(), Some("partner-wearco"));
    let sports = f
        .register(spec("sports", Some("department"), &["steps.daily"]))
        .await;
    assert_eq!(sports.kind, PartnerKind::Department);
    let stored = f.x.store().partner("sports").await.unwrap().unwrap();
    assert_eq!(
        (stored.kind, stored.client_id, stored.behaviours),
        (sports.kind, sports.client_id, sports.behaviours)
    );
}

#[tokio::test]
async fn one_partner_id_gets_one_client_and_a_failed_registration_frees_it() {
    let f = fixture("exchange_twice").await;
    *f.peers.refuse_clients.lock().unwrap() = true;
    let failed =
        f.x.register_partner(&city_admin(), spec("sports", None, &["steps.daily"]))
            .await;
    assert!(
        matches!(failed, Err(ExchangeError::Unavailable(_))),
        "{failed:?}"
    );
    assert!(
        f.x.store().partner("sports").await.unwrap().is_none(),
        "the id is released"
    );
    *f.peers.refuse_clients.lock().unwrap() = false;
    f.register(spec("sports", None, &["steps.daily"])).await;
    let again =
        f.x.register_partner(&city_admin(), spec("sports", None, &["steps.daily"]))
            .await;
    assert!(
        matches!(again, Err(ExchangeError::AlreadyExists(_))),
        "{again:?}"
    );
    assert_eq!(*f.peers.clients_created.lock().unwrap(), 1);
}

/// An update checks only what it adds: a catalogue change since registration does not stop an
/// admin from suspending the partner, and a suspended partner's client can do nothing.
#[tokio::test]
async fn updates_check_what_they_add_and_suspension_stops_the_client() {
    let f = fixture("exchange_update").await;
    let sports = f.register(spec("sports", None, &["steps.daily"])).await;
    f.peers.catalogue.lock().unwrap().remove("steps.daily");
    let mut changed = sports.clone();
    changed.status = PartnerStatus::Suspended;
    let suspended =
        f.x.update_partner(&city_admin(), changed.clone(), None)
            .await
            .unwrap();
    assert_eq!(suspended.status, PartnerStatus::Suspended);
    changed.behaviours.push("vaccination".into());
    let refused =
        f.x.update_partner(&city_admin(), changed, None)
            .await
            .unwrap_err();
    assert_eq!(field_of(&refused), "behaviours[1]");
    let acting =
        f.x.acting_partner(&partner_client(&sports), "behaviours:submit")
            .await;
    assert!(
        matches!(&acting, Err(ExchangeError::Forbidden(m)) if m.contains("suspended")),
        "{acting:?}"
    );
}
