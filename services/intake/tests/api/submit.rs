use std::sync::atomic::Ordering;

use chrono::Duration;
use healthpoints_intake::domain::{error::IntakeError, model::OutcomeKind};

use crate::helpers::*;

#[tokio::test]
async fn a_resubmission_after_the_ledger_failed_awards_exactly_once() {
    let f = intake("intake_once").await;
    f.residents.add("r1", false, true);
    let batch = vec![
        event(
            "health-education",
            "e1",
            "r1",
            "learning.checkin",
            noon(),
            1,
        ),
        event("sports", "s1", "r1", "steps.daily", noon(), 9_000),
    ];
    // The ledger stores the awards, then the answer is lost.
    f.ledger.fail_after.store(1, Ordering::SeqCst);
    let failed = f.intake.submit(batch.clone()).await;
    assert!(
        matches!(failed, Err(IntakeError::Unavailable(_))),
        "{failed:?}"
    );
    let stored = f
        .intake
        .store()
        .by_source("sports", "s1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.kind, stored.points), (OutcomeKind::Pending, 20));

    // The partner retries the same batch: the same transfers are sent, the ledger answers
    // with the originals, and the outcomes become awarded.
    let outcomes = f.intake.submit(batch.clone()).await.unwrap();
    let kinds: Vec<_> = outcomes.iter().map(|o| (o.kind, o.points)).collect();
    assert_eq!(
        kinds,
        [(OutcomeKind::Awarded, 5), (OutcomeKind::Awarded, 20)]
    );
    assert_eq!(outcomes[1].event_id, stored.event_id);
    assert_eq!(outcomes[1].transfer_id, stored.transfer_id);
    // And once more: the stored outcomes, nothing new.
    let again = f.intake.submit(batch).await.unwrap();
    assert_eq!(again, outcomes);
    assert_eq!(city_balance(&f, "r1").await, 25, "awarded exactly once");
}

#[tokio::test]
async fn an_unconfirmed_award_is_finished_without_a_resubmission() {
    let f = intake("intake_finish").await;
    f.residents.add("r1", false, true);
    f.ledger.fail_after.store(1, Ordering::SeqCst);
    let batch = vec![event("self", "c1", "r1", "learning.checkin", noon(), 1)];
    assert!(f.intake.submit(batch).await.is_err());
    // Within the grace period a submission may still be finishing it: left alone.
    assert_eq!(f.intake.finish_pending().await.unwrap(), 0);
    f.now.store(
        (noon() + Duration::minutes(1)).timestamp_micros(),
        Ordering::SeqCst,
    );
    assert_eq!(f.intake.finish_pending().await.unwrap(), 1);
    let o = f
        .intake
        .store()
        .by_source("self", "c1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((o.kind, o.points), (OutcomeKind::Awarded, 5));
    assert_eq!(f.intake.finish_pending().await.unwrap(), 0);
    assert_eq!(city_balance(&f, "r1").await, 5, "awarded exactly once");
}

#[tokio::test]
async fn steps_from_several_sources_count_once_at_the_highest() {
    let f = intake("intake_steps").await;
    f.residents.add("r1", false, true);
    f.now.store(
        (noon() + Duration::hours(3)).timestamp_micros(),
        Ordering::SeqCst,
    );
    let morning = noon() - Duration::hours(3);
    let o = f
        .intake
        .submit(vec![
            event("wearables", "w1", "r1", "steps.daily", morning, 6_000),
            // The sports app saw more of the same day: it tops up the difference only.
            event("sports", "s1", "r1", "steps.daily", noon(), 12_000),
            // A lower count from the wearable later that day earns nothing more.
            event(
                "wearables",
                "w2",
                "r1",
                "steps.daily",
                noon() + Duration::hours(2),
                8_500,
            ),
        ])
        .await
        .unwrap();
    let got: Vec<_> = o
        .iter()
        .map(|o| (o.kind, o.points, o.cap.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (OutcomeKind::Awarded, 10, None),
            (OutcomeKind::Awarded, 20, None),
            (OutcomeKind::Capped, 0, Some("day_best".to_owned())),
        ]
    );
    assert_eq!(
        city_balance(&f, "r1").await,
        30,
        "the day's best tier, once"
    );
}

#[tokio::test]
async fn caps_hold_across_batches_and_the_same_fact_is_a_duplicate() {
    let f = intake("intake_caps").await;
    f.residents.add("r1", false, true);
    // 01:00 the next day, Asia/Shanghai.
    f.now.store(
        (noon() + Duration::hours(13)).timestamp_micros(),
        Ordering::SeqCst,
    );
    let first = f
        .intake
        .submit(vec![event(
            "self",
            "c1",
            "r1",
            "learning.checkin",
            noon(),
            1,
        )])
        .await
        .unwrap();
    assert_eq!(first[0].kind, OutcomeKind::Awarded);
    // A second check-in the same Shanghai day, in another batch: the daily cap bound.
    let second = f
        .intake
        .submit(vec![event(
            "health-education",
            "c2",
            "r1",
            "learning.checkin",
            noon() + Duration::hours(1),
            1,
        )])
        .await
        .unwrap();
    assert_eq!(
        (
            second[0].kind,
            second[0].points,
            second[0].cap.as_deref(),
            second[0].points_cut
        ),
        (OutcomeKind::Capped, 0, Some("per_day"), 5)
    );
    // The same check-in re-exported under a new record id: a duplicate of the first.
    let copy = f
        .intake
        .submit(vec![event(
            "health-education",
            "c3",
            "r1",
            "learning.checkin",
            noon(),
            1,
        )])
        .await
        .unwrap();
    assert_eq!(
        (copy[0].kind, copy[0].duplicate_of),
        (OutcomeKind::Duplicate, Some(first[0].event_id))
    );
    // The next Shanghai day starts at 16:00 UTC: a fresh cap.
    let next_day = f
        .intake
        .submit(vec![event(
            "self",
            "c4",
            "r1",
            "learning.checkin",
            noon() + Duration::hours(12),
            1,
        )])
        .await
        .unwrap();
    assert_eq!(next_day[0].kind, OutcomeKind::Awarded);
    assert_eq!(city_balance(&f, "r1").await, 10);
}

#[tokio::test]
async fn every_rejection_says_why_and_awards_nothing() {
    let f = intake("intake_reject").await;
    f.residents.add("r1", false, true);
    f.residents.add("gone", true, true);
    f.residents.add("outside", false, false);
    let o = f
        .intake
        .submit(vec![
            event("self", "a", "nobody", "learning.checkin", noon(), 1),
            event("self", "b", "gone", "learning.checkin", noon(), 1),
            event("self", "c", "outside", "learning.checkin", noon(), 1),
            event(
                "self",
                "d",
                "r1",
                "learning.checkin",
                noon() + Duration::hours(1),
                1,
            ),
            event(
                "self",
                "e",
                "r1",
                "learning.checkin",
                noon() - Duration::days(31),
                1,
            ),
            event("self", "f", "r1", "levitation", noon(), 1),
            event("self", "g", "r1", "steps.daily", noon(), 9_000),
            event("sports", "h", "r1", "steps.daily", noon(), 250_000),
        ])
        .await
        .unwrap();
    let reasons: Vec<_> = o
        .iter()
        .map(|o| {
            assert_eq!((o.kind, o.points), (OutcomeKind::Rejected, 0), "{o:?}");
            o.reason.as_ref().unwrap().0.clone()
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "resident_unknown",
            "resident_suspended",
            "resident_not_enrolled",
            "occurred_in_future",
            "too_old",
            "unknown_behaviour",
            "source_not_allowed",
            "implausible_quantity",
        ]
    );
    assert_eq!(city_balance(&f, "r1").await, 0);
}

#[tokio::test]
async fn a_malformed_batch_names_the_field_and_records_nothing() {
    let f = intake("intake_invalid").await;
    f.residents.add("r1", false, true);
    let mut bad = event("self", "", "r1", "learning.checkin", noon(), 1);
    bad.source_event_id = " ".into();
    let err = f
        .intake
        .submit(vec![
            event("self", "ok", "r1", "learning.checkin", noon(), 1),
            bad,
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, IntakeError::Invalid { field, .. } if field == "events[1].source_event_id"),
        "{err:?}"
    );
    assert!(
        f.intake
            .store()
            .by_source("self", "ok")
            .await
            .unwrap()
            .is_none()
    );
    let _ = &f.now;
}

/// A small deterministic generator (SplitMix64), so the sequences are the same on every run.
struct Mix(u64);

impl Mix {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % below
    }
}

#[tokio::test]
async fn a_batch_is_judged_exactly_as_its_events_one_by_one() {
    // Mixed residents, behaviours, days (some repeated facts, several sources of steps): the
    // batch path keeps what earlier events of the batch earned in memory, the one-by-one path
    // reads it back from the store each time; both must decide every event the same way.
    for seed in [1u64, 7, 42] {
        let mut mix = Mix(seed);
        let mut events = Vec::new();
        for i in 0..80 {
            let resident = ["r1", "r2", "r3"][mix.next(3) as usize];
            let at =
                noon() - Duration::days(mix.next(4) as i64) - Duration::hours(mix.next(3) as i64);
            let e = match mix.next(4) {
                0 => event(
                    ["sports", "wearables"][mix.next(2) as usize],
                    &format!("s{i}"),
                    resident,
                    "steps.daily",
                    at,
                    3_000 + 1_000 * mix.next(12),
                ),
                1 => article(&format!("a{i}"), resident, at),
                2 => event(
                    "health-education",
                    &format!("c{i}"),
                    resident,
                    "learning.checkin",
                    at,
                    1,
                ),
                _ => event(
                    "sports",
                    &format!("x{i}"),
                    resident,
                    "exercise.session",
                    at,
                    10 * mix.next(10),
                ),
            };
            events.push(e);
        }
        let batch = intake(&format!("intake_batch_{seed}")).await;
        let single = intake(&format!("intake_single_{seed}")).await;
        for f in [&batch, &single] {
            for r in ["r1", "r2", "r3"] {
                f.residents.add(r, false, true);
            }
        }
        let together = batch.intake.submit(events.clone()).await.unwrap();
        let mut apart = Vec::new();
        for e in events {
            apart.extend(single.intake.submit(vec![e]).await.unwrap());
        }
        let view = |o: &healthpoints_intake::domain::model::Outcome| {
            (
                o.source_event_id.clone(),
                o.kind,
                o.points,
                o.cap.clone(),
                o.points_cut,
            )
        };
        assert_eq!(
            together.iter().map(view).collect::<Vec<_>>(),
            apart.iter().map(view).collect::<Vec<_>>(),
            "seed {seed}"
        );
        for r in ["r1", "r2", "r3"] {
            assert_eq!(
                city_balance(&batch, r).await,
                city_balance(&single, r).await
            );
        }
    }
}

#[tokio::test]
async fn all_or_none_records_nothing_when_one_event_would_be_rejected() {
    let f = intake("intake_all_or_none").await;
    f.residents.add("r1", false, true);
    let good = event("sports", "s1", "r1", "steps.daily", noon(), 9_000);
    let unknown = event("sports", "s2", "nobody", "steps.daily", noon(), 9_000);
    let (outcomes, recorded) = f
        .intake
        .submit_events(vec![good.clone(), unknown.clone()], true)
        .await
        .unwrap();
    assert!(!recorded);
    assert_eq!(outcomes[1].kind, OutcomeKind::Rejected);
    assert_eq!(outcomes[1].reason.as_ref().unwrap().0, "resident_unknown");
    assert_eq!(
        outcomes[0].kind,
        OutcomeKind::Pending,
        "what it would have been"
    );
    // Nothing was stored, nothing awarded.
    for id in ["s1", "s2"] {
        assert!(
            f.intake
                .store()
                .by_source("sports", id)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(city_balance(&f, "r1").await, 0);

    // Without the bad event it is recorded, and awarded once.
    let (outcomes, recorded) = f
        .intake
        .submit_events(vec![good.clone()], true)
        .await
        .unwrap();
    assert!(recorded);
    assert_eq!(outcomes[0].kind, OutcomeKind::Awarded);
    let paid = city_balance(&f, "r1").await;
    assert!(paid > 0);

    // A rejection stored earlier (sent without all_or_none) refuses a batch that repeats it.
    let (_, recorded) = f
        .intake
        .submit_events(vec![unknown.clone()], false)
        .await
        .unwrap();
    assert!(recorded);
    let fresh = event(
        "sports",
        "s3",
        "r1",
        "steps.daily",
        noon() - Duration::days(1),
        9_000,
    );
    let (outcomes, recorded) = f
        .intake
        .submit_events(vec![fresh, unknown], true)
        .await
        .unwrap();
    assert!(!recorded);
    assert_eq!(outcomes[1].kind, OutcomeKind::Rejected);
    assert!(
        f.intake
            .store()
            .by_source("sports", "s3")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(city_balance(&f, "r1").await, paid);
}

#[tokio::test]
async fn all_or_none_awards_go_to_the_ledger_linked_so_a_budget_takes_all_or_none() {
    let f = intake("intake_all_or_none_budget").await;
    f.residents.add("r1", false, true);
    let day = |n: i64, id: &str| {
        event(
            "sports",
            id,
            "r1",
            "steps.daily",
            noon() - Duration::days(n),
            9_000,
        )
    };
    f.intake.submit(vec![day(3, "s0")]).await.unwrap();
    let each = city_balance(&f, "r1").await;
    // Room for one more award, not two.
    f.ledger
        .ledger
        .set_budget(&city_admin(), "city", Some(each * 2 + each / 2))
        .await
        .unwrap();
    let (outcomes, recorded) = f
        .intake
        .submit_events(vec![day(1, "s1"), day(2, "s2")], true)
        .await
        .unwrap();
    assert!(
        recorded,
        "decided and recorded; the ledger refused the pair"
    );
    assert!(
        outcomes.iter().all(|o| o.kind == OutcomeKind::Rejected
            && o.reason.as_ref().unwrap().0 == "budget_exhausted"),
        "{outcomes:?}"
    );
    assert_eq!(city_balance(&f, "r1").await, each, "neither was paid");
    // Not linked, the one that fits is paid.
    f.intake
        .submit(vec![day(4, "s3"), day(5, "s4")])
        .await
        .unwrap();
    assert_eq!(city_balance(&f, "r1").await, each * 2);
}

#[tokio::test]
async fn an_all_or_none_hand_off_cut_short_is_finished_linked() {
    let f = intake("intake_all_or_none_finish").await;
    f.residents.add("r1", false, true);
    let day = |n: i64, id: &str| {
        event(
            "sports",
            id,
            "r1",
            "steps.daily",
            noon() - Duration::days(n),
            9_000,
        )
    };
    // The ledger keeps the pair, then its answer is lost.
    f.ledger.fail_after.store(1, Ordering::SeqCst);
    assert!(
        f.intake
            .submit_events(vec![day(1, "s1"), day(2, "s2")], true)
            .await
            .is_err()
    );
    let stored = f
        .intake
        .store()
        .by_source("sports", "s1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.kind, OutcomeKind::Pending);
    let group = stored.link_group.expect("recorded with its group");
    let other = f
        .intake
        .store()
        .by_source("sports", "s2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.link_group, Some(group));
    f.now.store(
        (noon() + Duration::minutes(1)).timestamp_micros(),
        Ordering::SeqCst,
    );
    assert_eq!(
        f.intake.finish_pending().await.unwrap(),
        2,
        "the group, together"
    );
    for id in ["s1", "s2"] {
        let o = f
            .intake
            .store()
            .by_source("sports", id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.kind, OutcomeKind::Awarded);
    }
    assert_eq!(f.intake.finish_pending().await.unwrap(), 0);
}
