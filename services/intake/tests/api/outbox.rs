//! Intake's outbox (the exchange pulls it): an award, a hold and a partner's rejected record
//! each put one event there, in the transaction of the outcome; a resubmission or a second
//! hand-over adds nothing; a resident's own rejected report tells no partner; a reviewer's
//! rejection tells both the partner and the resident who was told of the hold.

use chrono::Duration;
use healthpoints_db::outbox::{OutboxEvent, mark_published, unpublished};
use healthpoints_intake::domain::model::{Outcome, OutcomeKind};

use crate::helpers::*;

async fn outbox(f: &Fixture) -> Vec<OutboxEvent> {
    let mut events = unpublished(f.intake.store().connection(), 1_000)
        .await
        .unwrap();
    events.sort_by_key(|e| (e.kind.clone(), e.data["record_id"].to_string()));
    events
}

fn summary(events: &[OutboxEvent]) -> Vec<(String, String, Option<String>, Option<String>)> {
    events
        .iter()
        .map(|e| {
            (
                e.kind.clone(),
                e.data["record_id"].as_str().unwrap_or_default().to_owned(),
                e.resident_id.clone(),
                e.partner_id.clone(),
            )
        })
        .collect()
}

/// Flags resident `r1` for review and submits `record_id` for them: held.
async fn hold(f: &Fixture, record_id: &str) -> Vec<Outcome> {
    f.intake
        .flag_resident(&district_admin("310118"), "r1", "odd pattern", false)
        .await
        .unwrap();
    let held = f
        .intake
        .submit(vec![article(record_id, "r1", noon() - Duration::hours(1))])
        .await
        .unwrap();
    assert_eq!(held[0].kind, OutcomeKind::Held);
    held
}

#[tokio::test]
async fn outcomes_put_their_events_in_the_outbox_once() {
    let f = intake("intake_outbox").await;
    f.residents.add("r1", false, true);
    let some = |s: &str| Some(s.to_owned());

    let awarded = f
        .intake
        .submit(vec![
            article("a1", "r1", noon()),
            // Nobody the city knows: the partner hears its record was rejected.
            article("a2", "nobody", noon()),
        ])
        .await
        .unwrap();
    assert_eq!(awarded[0].kind, OutcomeKind::Awarded);
    assert_eq!(awarded[1].kind, OutcomeKind::Rejected);
    // A resident's own report that is rejected is answered there and then: no event.
    let own = f
        .intake
        .submit(vec![event(
            "self",
            "s1",
            "r1",
            "no.such.behaviour",
            noon(),
            1,
        )])
        .await
        .unwrap();
    assert_eq!(own[0].kind, OutcomeKind::Rejected);
    // Sent again, and the hand-over finished again: nothing new.
    f.intake
        .submit(vec![
            article("a1", "r1", noon()),
            article("a2", "nobody", noon()),
        ])
        .await
        .unwrap();
    f.intake.finish_pending().await.unwrap();

    let events = outbox(&f).await;
    assert_eq!(
        summary(&events),
        [
            ("points.awarded".into(), "a1".into(), some("r1"), None),
            (
                "record.rejected".into(),
                "a2".into(),
                None,
                some("health-education")
            ),
        ]
    );
    assert_eq!(events[0].data["points"], 5);
    assert_eq!(events[0].data["book"], "city");
    assert_eq!(events[0].data["behaviour"], "learning.article");
    assert_eq!(events[1].data["reason_code"], "resident_unknown");
    let ids: Vec<_> = events.iter().map(|e| e.id).collect();
    mark_published(f.intake.store().connection(), &ids, noon())
        .await
        .unwrap();
    assert!(
        outbox(&f).await.is_empty(),
        "taken events are not read again"
    );

    // Held for review: the resident is told; rejected by the reviewer: the partner and the
    // resident are.
    let held = hold(&f, "a3").await;
    f.intake
        .resolve_review(&city_admin(), &held[0].event_id.to_string(), false, "")
        .await
        .unwrap();
    let events = outbox(&f).await;
    assert_eq!(
        summary(&events),
        [
            ("points.held".into(), "a3".into(), some("r1"), None),
            (
                "record.rejected".into(),
                "a3".into(),
                some("r1"),
                some("health-education")
            ),
        ]
    );
    assert_eq!(events[1].data["reason_code"], "review_rejected");
    for e in &events {
        let text = e.data.to_string();
        assert!(
            !text.contains("r1"),
            "an event's data never names the resident: {text}"
        );
    }
}

/// A held record a reviewer releases, then refused by the ledger because the book's budget is
/// spent: the resident, who was told it was held, hears it was rejected.
#[tokio::test]
async fn a_released_record_the_budget_refuses_is_told_to_the_resident() {
    let f = intake("intake_outbox_budget").await;
    f.residents.add("r1", false, true);
    f.intake
        .submit(vec![article("b1", "r1", noon())])
        .await
        .unwrap();
    let held = hold(&f, "b2").await;
    // The city book may issue no more than it has.
    f.ledger
        .ledger
        .set_budget(&city_admin(), "city", Some(5))
        .await
        .unwrap();
    let resolved = f
        .intake
        .resolve_review(&city_admin(), &held[0].event_id.to_string(), true, "")
        .await
        .unwrap();
    assert_eq!(resolved.kind, OutcomeKind::Rejected, "{resolved:?}");
    let events = outbox(&f).await;
    let rejected = events
        .iter()
        .find(|e| e.kind == "record.rejected")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(rejected.resident_id.as_deref(), Some("r1"));
    assert_eq!(rejected.data["reason_code"], "budget_exhausted");
}
