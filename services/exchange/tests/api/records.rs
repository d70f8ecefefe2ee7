use std::collections::BTreeMap;

use healthpoints_exchange::domain::{
    audit::AccessQuery,
    consent::Category,
    error::ExchangeError,
    records::{self, Person, Record, RecordOutcome},
};

use crate::helpers::*;

fn record(id: &str, person: Person, behaviour: &str) -> Record {
    Record {
        record_id: id.into(),
        person,
        behaviour: behaviour.into(),
        occurred_at: chrono::Utc::now() - chrono::Duration::hours(3),
        quantity: 9_000,
        district: String::new(),
        attributes: BTreeMap::new(),
    }
}

fn outcomes(results: &[records::RecordResult]) -> Vec<(RecordOutcome, &str)> {
    results
        .iter()
        .map(|r| (r.outcome, r.reason_code.as_str()))
        .collect()
}

/// Per record: not listed for the partner, not a valid ID number, nobody under it — each its
/// own rejection; the rest forwarded under the partner's id, and a resend is intake's
/// duplicate, never a second award.
#[tokio::test]
async fn each_record_is_judged_on_its_own_and_resends_are_duplicates() {
    let f = fixture("exchange_records").await;
    let sports = f
        .register(spec("sports", Some("department"), &["steps.daily"]))
        .await;
    let zhang = f.person("310118199003071238");
    let batch = vec![
        record(
            "r-1",
            Person::IdNumber("310118199003071238".into()),
            "steps.daily",
        ),
        record(
            "r-2",
            Person::IdNumber("310118199003071238".into()),
            "vaccination",
        ),
        record(
            "r-3",
            Person::IdNumber("31011819900307".into()),
            "steps.daily",
        ),
        record(
            "r-4",
            Person::IdNumber("110105194912310021".into()),
            "steps.daily",
        ),
        record("r-5", Person::ResidentId(zhang.clone()), "steps.daily"),
    ];
    let caller = partner_client(&sports);
    let first = f.x.submit_records(&caller, batch.clone()).await.unwrap();
    assert_eq!(
        outcomes(&first),
        [
            (RecordOutcome::Awarded, ""),
            (RecordOutcome::Rejected, "behaviour_not_listed"),
            (RecordOutcome::Rejected, "invalid_id_number"),
            (RecordOutcome::Rejected, "resident_unknown"),
            (RecordOutcome::Awarded, ""),
        ]
    );
    assert!(
        !first[2].reason.contains("31011819900307"),
        "a rejection never repeats the number: {}",
        first[2].reason
    );
    {
        let forwarded = f.peers.forwarded.lock().unwrap();
        assert_eq!(forwarded.len(), 2);
        assert!(
            forwarded
                .iter()
                .all(|r| r.source_id == "sports" && r.resident_id == zhang)
        );
    }
    let again = f.x.submit_records(&caller, batch).await.unwrap();
    assert_eq!(again[0].outcome, RecordOutcome::Duplicate);
    assert_eq!(again[4].outcome, RecordOutcome::Duplicate);
}

/// A bad field refuses the whole batch, naming it; nothing is forwarded or logged.
#[tokio::test]
async fn a_malformed_record_refuses_the_batch_and_forwards_nothing() {
    let f = fixture("exchange_malformed").await;
    let sports = f
        .register(spec("sports", Some("department"), &["steps.daily"]))
        .await;
    let zhang = f.person("310118199003071238");
    let mut bad = record("r-2", Person::ResidentId(zhang.clone()), "steps.daily");
    bad.quantity = u64::MAX;
    let batch = vec![
        record("r-1", Person::ResidentId(zhang.clone()), "steps.daily"),
        bad,
    ];
    let refused =
        f.x.submit_records(&partner_client(&sports), batch)
            .await
            .unwrap_err();
    assert!(
        matches!(&refused, ExchangeError::Invalid { field, .. } if field == "records[1].quantity"),
        "{refused}"
    );
    let empty =
        f.x.submit_records(&partner_client(&sports), vec![])
            .await
            .unwrap_err();
    assert!(matches!(&empty, ExchangeError::Invalid { field, .. } if field == "records"));
    assert!(f.peers.forwarded.lock().unwrap().is_empty());
    let (log, _) =
        f.x.access_log(&resident(&zhang), AccessQuery::default())
            .await
            .unwrap();
    assert!(log.is_empty(), "{log:?}");
    // The batch bound holds exactly: one record more than the most is refused whole, the most
    // is taken.
    let at = |n: usize| {
        (0..n)
            .map(|i| {
                record(
                    &format!("b-{i}"),
                    Person::ResidentId(zhang.clone()),
                    "steps.daily",
                )
            })
            .collect::<Vec<_>>()
    };
    let over =
        f.x.submit_records(&partner_client(&sports), at(records::MAX_RECORDS + 1))
            .await
            .unwrap_err();
    assert!(matches!(&over, ExchangeError::Invalid { field, .. } if field == "records"));
    let most =
        f.x.submit_records(&partner_client(&sports), at(records::MAX_RECORDS))
            .await
            .unwrap();
    assert_eq!(most.len(), records::MAX_RECORDS);
}

/// A commercial partner's steps pass only under the resident's active consent; revoking stops
/// the next record; a department needs none. Both are in the resident's access log.
#[tokio::test]
async fn commercial_records_follow_the_residents_consent() {
    let f = fixture("exchange_consent").await;
    let wearco = f.register(spec("wearco", None, &["steps.daily"])).await;
    let sports = f
        .register(spec("sports", Some("department"), &["steps.daily"]))
        .await;
    let li = f.person("310110195607200021");
    let me = resident(&li);
    let send = async |partner: &healthpoints_exchange::domain::partners::Partner, id: &str| {
        let batch = vec![record(id, Person::ResidentId(li.clone()), "steps.daily")];
        f.x.submit_records(&partner_client(partner), batch)
            .await
            .unwrap()
            .remove(0)
    };
    let without = send(&wearco, "w-1").await;
    assert_eq!(
        (without.outcome, without.reason_code.as_str()),
        (RecordOutcome::Rejected, "consent_required")
    );
    assert_eq!(send(&sports, "s-1").await.outcome, RecordOutcome::Awarded);

    // Consent is the resident's own: another caller cannot grant it.
    let other = resident(&uuid::Uuid::now_v7().to_string());
    let forged =
        f.x.grant_consent(&other, &li, "wearco", Some(Category::StepsExercise), "")
            .await;
    assert!(
        matches!(forged, Err(ExchangeError::Forbidden(_))),
        "{forged:?}"
    );
    let unknown =
        f.x.grant_consent(&me, "", "nobody", Some(Category::StepsExercise), "")
            .await;
    assert!(
        matches!(unknown, Err(ExchangeError::NotFound(_))),
        "{unknown:?}"
    );

    f.x.grant_consent(
        &me,
        "",
        "wearco",
        Some(Category::StepsExercise),
        "step rewards",
    )
    .await
    .unwrap();
    assert_eq!(send(&wearco, "w-2").await.outcome, RecordOutcome::Awarded);
    let revoked =
        f.x.revoke_consent(&me, "", "wearco", Some(Category::StepsExercise))
            .await
            .unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(send(&wearco, "w-3").await.reason_code, "consent_required");
    let listed = f.x.consents(&me, "").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].active());

    // The resident sees every partner that touched their data; another resident sees none of
    // it; a partner may not read the log; the city admin filters by partner.
    let (mine, _) = f.x.access_log(&me, AccessQuery::default()).await.unwrap();
    let by: std::collections::BTreeSet<_> = mine.iter().map(|e| e.actor.as_str()).collect();
    assert!(by.contains("wearco") && by.contains("sports"), "{mine:?}");
    assert!(
        mine.iter()
            .all(|e| e.resident_id.as_deref() == Some(li.as_str()))
    );
    let (theirs, _) =
        f.x.access_log(&other, AccessQuery::default())
            .await
            .unwrap();
    assert!(theirs.is_empty());
    let partner_reads =
        f.x.access_log(&partner_client(&wearco), AccessQuery::default())
            .await;
    assert!(matches!(partner_reads, Err(ExchangeError::Forbidden(_))));
    let (wearco_only, _) =
        f.x.access_log(
            &city_admin(),
            AccessQuery {
                partner_id: Some("wearco"),
                ..AccessQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(!wearco_only.is_empty());
    assert!(
        wearco_only
            .iter()
            .all(|e| e.partner_id.as_deref() == Some("wearco"))
    );
}

/// A partner's client may do only what both its token and the registry allow.
#[tokio::test]
async fn scopes_in_the_token_and_the_registry_both_count() {
    let f = fixture("exchange_scopes").await;
    let sports = f
        .register(spec("sports", Some("department"), &["steps.daily"]))
        .await;
    let zhang = f.person("310118199003071238");
    let batch = vec![record("r-1", Person::ResidentId(zhang), "steps.daily")];
    let mut no_scope = partner_client(&sports);
    if let healthpoints_auth::Principal::Partner { scopes, .. } = &mut no_scope {
        scopes.clear();
    }
    let refused = f.x.submit_records(&no_scope, batch.clone()).await;
    assert!(
        matches!(&refused, Err(ExchangeError::Forbidden(m)) if m.contains("behaviours:submit")),
        "{refused:?}"
    );
    let mut stranger = partner_client(&sports);
    if let healthpoints_auth::Principal::Partner { client_id, .. } = &mut stranger {
        *client_id = "partner-someone-else".into();
    }
    let refused = f.x.submit_records(&stranger, batch).await;
    assert!(
        matches!(refused, Err(ExchangeError::Forbidden(_))),
        "{refused:?}"
    );
    assert!(f.peers.forwarded.lock().unwrap().is_empty());
}
