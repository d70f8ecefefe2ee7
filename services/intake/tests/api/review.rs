use std::sync::atomic::Ordering;

use chrono::Duration;
use healthpoints_intake::{
    domain::{error::IntakeError, model::OutcomeKind},
    service::Velocity,
};

use crate::helpers::*;

fn kinds(outcomes: &[healthpoints_intake::domain::model::Outcome]) -> Vec<(OutcomeKind, &str)> {
    outcomes
        .iter()
        .map(|o| (o.kind, o.reason.as_ref().map_or("", |(c, _)| c.as_str())))
        .collect()
}

#[tokio::test]
async fn reports_beyond_the_velocity_limit_are_held_until_a_reviewer_decides() {
    let f = intake_with(
        "intake_velocity",
        Velocity {
            resident_per_hour: 3,
            source_per_day: 100,
        },
    )
    .await;
    f.residents.add("r1", false, true);
    let batch: Vec<_> = (0..5)
        .map(|i| article(&format!("a{i}"), "r1", noon() - Duration::days(i)))
        .collect();
    let outcomes = f.intake.submit(batch.clone()).await.unwrap();
    assert_eq!(
        kinds(&outcomes),
        [
            (OutcomeKind::Awarded, ""),
            (OutcomeKind::Awarded, ""),
            (OutcomeKind::Awarded, ""),
            (OutcomeKind::Held, "velocity_resident"),
            (OutcomeKind::Held, "under_review"),
        ]
    );
    assert_eq!(outcomes[3].points, 5, "held points are decided, not lost");
    assert_eq!(city_balance(&f, "r1").await, 15, "held points wait");
    // A resubmission answers the stored outcomes; nothing moves.
    assert_eq!(f.intake.submit(batch).await.unwrap(), outcomes);

    // The queue: city admins and the resident's district admin see it; another district's
    // admin may not ask for it, and by default sees their own (empty) queue.
    let queue = f
        .intake
        .review_queue(&city_admin(), "", "", 0)
        .await
        .unwrap();
    assert_eq!(queue.held.len(), 2);
    let own = f
        .intake
        .review_queue(&district_admin("310118"), "", "", 1)
        .await
        .unwrap();
    assert_eq!(own.held.len(), 1, "a page of one");
    assert!(own.next_cursor.is_some());
    let other = f
        .intake
        .review_queue(&district_admin("310110"), "310118", "", 0)
        .await;
    assert!(matches!(other, Err(IntakeError::Forbidden(_))), "{other:?}");
    let mine = f
        .intake
        .review_queue(&district_admin("310110"), "", "", 0)
        .await
        .unwrap();
    assert!(mine.held.is_empty());
    let wrong = f
        .intake
        .resolve_review(
            &district_admin("310110"),
            &outcomes[3].event_id.to_string(),
            true,
            "",
        )
        .await;
    assert!(matches!(wrong, Err(IntakeError::Forbidden(_))), "{wrong:?}");

    // Release one (paid now, exactly once), reject the other (nothing paid, says why).
    let released = f
        .intake
        .resolve_review(
            &district_admin("310118"),
            &outcomes[3].event_id.to_string(),
            true,
            "confirmed with the platform",
        )
        .await
        .unwrap();
    assert_eq!((released.kind, released.points), (OutcomeKind::Awarded, 5));
    assert_eq!(city_balance(&f, "r1").await, 20);
    let again = f
        .intake
        .resolve_review(&city_admin(), &outcomes[3].event_id.to_string(), false, "")
        .await;
    assert!(matches!(again, Err(IntakeError::NotFound(_))), "{again:?}");
    let rejected = f
        .intake
        .resolve_review(&city_admin(), &outcomes[4].event_id.to_string(), false, "")
        .await
        .unwrap();
    assert_eq!((rejected.kind, rejected.points), (OutcomeKind::Rejected, 0));
    assert_eq!(rejected.reason.unwrap().0, "review_rejected");
    assert_eq!(city_balance(&f, "r1").await, 20);

    // The last held outcome resolved, the flag cleared: an hour later reports earn again.
    assert!(!f.intake.store().is_flagged("r1").await.unwrap());
    f.now.fetch_add(
        Duration::hours(2).num_microseconds().unwrap(),
        Ordering::SeqCst,
    );
    let later = f
        .intake
        .submit(vec![article("a9", "r1", noon() - Duration::days(9))])
        .await
        .unwrap();
    assert_eq!(kinds(&later), [(OutcomeKind::Awarded, "")]);
    assert_eq!(city_balance(&f, "r1").await, 25);
}

#[tokio::test]
async fn one_source_reporting_a_resident_too_often_holds_its_reports() {
    let f = intake_with(
        "intake_source_velocity",
        Velocity {
            resident_per_hour: 100,
            source_per_day: 2,
        },
    )
    .await;
    f.residents.add("r1", false, true);
    let outcomes = f
        .intake
        .submit(
            (0..3)
                .map(|i| article(&format!("a{i}"), "r1", noon() - Duration::days(i)))
                .collect(),
        )
        .await
        .unwrap();
    assert_eq!(
        kinds(&outcomes),
        [
            (OutcomeKind::Awarded, ""),
            (OutcomeKind::Awarded, ""),
            (OutcomeKind::Held, "velocity_source"),
        ]
    );
}

#[tokio::test]
async fn an_admin_flag_holds_awards_and_lifting_it_lets_them_through() {
    let f = intake("intake_flag").await;
    f.residents.add("r1", false, true);
    let refused = f
        .intake
        .flag_resident(&city_admin(), "r1", " ", false)
        .await;
    assert!(
        matches!(&refused, Err(IntakeError::Invalid { field, .. }) if field == "reason"),
        "{refused:?}"
    );
    let foreign = f
        .intake
        .flag_resident(&district_admin("310110"), "r1", "odd pattern", false)
        .await;
    assert!(
        matches!(foreign, Err(IntakeError::Forbidden(_))),
        "{foreign:?}"
    );
    f.intake
        .flag_resident(&district_admin("310118"), "r1", "odd pattern", false)
        .await
        .unwrap();
    let held = f
        .intake
        .submit(vec![article("a1", "r1", noon())])
        .await
        .unwrap();
    assert_eq!(kinds(&held), [(OutcomeKind::Held, "under_review")]);
    f.intake
        .flag_resident(&city_admin(), "r1", "", true)
        .await
        .unwrap();
    let free = f
        .intake
        .submit(vec![article("a2", "r1", noon() - Duration::days(1))])
        .await
        .unwrap();
    assert_eq!(kinds(&free), [(OutcomeKind::Awarded, "")]);
    // The earlier held outcome still waits for its reviewer.
    let queue = f
        .intake
        .review_queue(&city_admin(), "310118", "", 0)
        .await
        .unwrap();
    assert_eq!(queue.held.len(), 1);
    assert_eq!(city_balance(&f, "r1").await, 5);
}
