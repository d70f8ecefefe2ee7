//! The family-doctor contracts feed: each record changes the resident's contract in identity,
//! a signing earns points through intake, resends get their first answer, and one malformed
//! record refuses the batch.

use chrono::{TimeZone, Utc};
use healthpoints_exchange::domain::{
    audit::AccessQuery,
    contracts::{ContractAction, ContractRecord},
    error::ExchangeError,
    records::{Person, RecordOutcome},
};

use crate::helpers::*;

fn contract(id: &str, id_number: &str, action: &str) -> ContractRecord {
    ContractRecord {
        record_id: id.into(),
        person: Person::IdNumber(id_number.into()),
        action: action.into(),
        institution_code: " QP-CHC-01 ".into(),
        institution_name: "青浦区赵巷社区卫生服务中心".into(),
        district: "310118".into(),
        signed_on: "2026-11-02".into(),
        valid_until: "2027-11-01".into(),
    }
}

/// Sign, change and end reach identity with their fields trimmed; only a signing is reported
/// to intake (noon of the signing day in Shanghai, the institution as evidence) and earns
/// points; nobody under an ID number, or identity refusing, is that record's rejection. A
/// resent batch gets the same answers and changes nothing again. The call is in the access
/// log of each resident it touched.
#[tokio::test]
async fn contract_records_change_identity_and_a_signing_earns_points_once() {
    let f = fixture("exchange_contracts").await;
    let commission = f
        .register(department(
            "health-commission",
            &["family_doctor.contract"],
            &["contracts:submit"],
        ))
        .await;
    let zhang = f.person("310118199003071238");
    let li = f.person("310110195501010027");
    f.peers
        .refuse_contracts_of
        .lock()
        .unwrap()
        .insert(li.clone());
    let batch = vec![
        contract("c-1", "310118199003071238", "sign"),
        contract("c-2", "310118199003071238", "change"),
        contract("c-3", "310118199003071238", "end"),
        contract("c-4", "110105194912310021", "sign"),
        contract("c-5", "310110195501010027", "sign"),
    ];
    let caller = partner_client(&commission);
    let first = f.x.submit_contracts(&caller, batch.clone()).await.unwrap();
    assert_eq!(
        first
            .iter()
            .map(|r| (
                r.record_id.as_str(),
                r.outcome,
                r.points,
                r.reason_code.as_str()
            ))
            .collect::<Vec<_>>(),
        vec![
            ("c-1", RecordOutcome::Applied, 10, ""),
            ("c-2", RecordOutcome::Applied, 0, ""),
            ("c-3", RecordOutcome::Applied, 0, ""),
            ("c-4", RecordOutcome::Rejected, 0, "resident_unknown"),
            ("c-5", RecordOutcome::Rejected, 0, "contract_refused"),
        ]
    );
    let applied = f.peers.contracts.lock().unwrap().clone();
    assert_eq!(
        applied
            .iter()
            .map(|(who, action, c)| (who.as_str(), *action, c.institution_code.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (zhang.as_str(), ContractAction::Sign, "QP-CHC-01"),
            (zhang.as_str(), ContractAction::Change, "QP-CHC-01"),
            (zhang.as_str(), ContractAction::End, "QP-CHC-01"),
        ]
    );
    let forwarded = f.peers.forwarded.lock().unwrap().clone();
    assert_eq!(forwarded.len(), 1, "only the signing: {forwarded:?}");
    let signing = &forwarded[0];
    assert_eq!(
        (
            signing.source_id.as_str(),
            signing.record_id.as_str(),
            signing.resident_id.as_str(),
            signing.behaviour.as_str(),
            signing.district.as_str(),
        ),
        (
            "health-commission",
            "contract:c-1",
            zhang.as_str(),
            "family_doctor.contract",
            "310118"
        )
    );
    assert_eq!(
        signing.occurred_at,
        Utc.with_ymd_and_hms(2026, 11, 2, 4, 0, 0).unwrap()
    );
    assert_eq!(signing.attributes["institution_code"], "QP-CHC-01");

    // The resend: the same answers, nothing applied or forwarded again.
    let again = f.x.submit_contracts(&caller, batch).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(f.peers.contracts.lock().unwrap().len(), 3);
    assert_eq!(f.peers.forwarded.lock().unwrap().len(), 1);

    // Zhang's access log holds the health commission's call with its three records; the
    // resend, answered from the store without looking the person up, is logged about no one.
    let (log, _) =
        f.x.access_log(&resident(&zhang), AccessQuery::default())
            .await
            .unwrap();
    assert_eq!(
        log.iter()
            .map(|e| (e.actor.as_str(), e.action.as_str(), e.records))
            .collect::<Vec<_>>(),
        vec![("health-commission", "submit_contracts", 3)]
    );
    let (lis, _) =
        f.x.access_log(&resident(&li), AccessQuery::default())
            .await
            .unwrap();
    assert_eq!(
        lis.len(),
        1,
        "identity refused, but the record was about Li"
    );
}

/// One bad field anywhere refuses the whole batch by name, and nothing is applied; only a
/// partner holding `contracts:submit` may send.
#[tokio::test]
async fn a_malformed_contract_record_refuses_the_batch() {
    let f = fixture("exchange_contracts_bad").await;
    let commission = f
        .register(department(
            "health-commission",
            &["family_doctor.contract"],
            &["contracts:submit"],
        ))
        .await;
    f.person("310118199003071238");
    let caller = partner_client(&commission);
    let good = || contract("c-1", "310118199003071238", "sign");
    type Spoil = fn(&mut ContractRecord);
    let cases: [(Spoil, &str); 9] = [
        (|c| c.record_id = " ".into(), "records[1].record_id"),
        (|c| c.record_id = "x".repeat(129), "records[1].record_id"),
        (
            |c| c.person = Person::IdNumber(" ".into()),
            "records[1].id_number",
        ),
        (
            |c| c.person = Person::ResidentId(String::new()),
            "records[1].resident_id",
        ),
        (|c| c.action = "renew".into(), "records[1].action"),
        (
            |c| c.institution_name = String::new(),
            "records[1].institution_name",
        ),
        (|c| c.district = "31".into(), "records[1].district"),
        (
            |c| c.signed_on = "2026/11/02".into(),
            "records[1].signed_on",
        ),
        (
            |c| c.valid_until = "2026-11-02".into(),
            "records[1].valid_until",
        ),
    ];
    for (spoil, field) in cases {
        let mut bad = contract("c-2", "310118199003071238", "change");
        spoil(&mut bad);
        let refused = f.x.submit_contracts(&caller, vec![good(), bad]);
        assert_eq!(refusal(refused.await), field);
    }
    assert_eq!(
        refusal(f.x.submit_contracts(&caller, vec![]).await),
        "records"
    );
    // An end needs no contract fields.
    let mut end = contract("c-3", "310118199003071238", "end");
    end.district = String::new();
    end.signed_on = String::new();
    // Without the scope: refused.
    let sports = f
        .register(department(
            "sports",
            &["steps.daily"],
            &["behaviours:submit"],
        ))
        .await;
    assert!(matches!(
        f.x.submit_contracts(&partner_client(&sports), vec![good()])
            .await,
        Err(ExchangeError::Forbidden(why)) if why == "missing scope contracts:submit"
    ));
    assert!(f.peers.contracts.lock().unwrap().is_empty());
    assert!(f.peers.forwarded.lock().unwrap().is_empty());

    // Nothing of the refused batches was kept: the good record is applied now, for the first time.
    let results =
        f.x.submit_contracts(&caller, vec![good(), end])
            .await
            .unwrap();
    assert_eq!(
        results.iter().map(|r| r.outcome).collect::<Vec<_>>(),
        vec![RecordOutcome::Applied; 2]
    );
    assert_eq!(f.peers.forwarded.lock().unwrap().len(), 1);
}
