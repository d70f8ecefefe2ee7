//! The what-if simulator: the stored events of a period replayed under the rules in force and
//! under drafts, per district and category, within its bounds.

use chrono::{DateTime, Duration, Utc};
use healthpoints_intake::domain::{
    catalogue::{Award, Catalogue, Category},
    error::IntakeError,
    model::{Event, OutcomeKind},
    rules::{Simulation, SimulationCell},
};
use healthpoints_types::DistrictCode;
use uuid::Uuid;

use crate::helpers::*;

/// 2026-03-08 12:00 Asia/Shanghai; the simulated period is the day that follows.
fn from() -> DateTime<Utc> {
    noon() - Duration::days(2)
}

/// Seeds the default catalogue, stores the period's events (and one on each side of it) and
/// saves a draft that makes articles worth 8 points, 16 a day. Returns the draft.
async fn period_and_draft(f: &Fixture) -> Uuid {
    let store = f.intake.store();
    store
        .seed_rules(
            Catalogue::default_catalogue().rules(),
            noon() - Duration::days(10),
        )
        .await
        .unwrap();
    f.intake.reload_catalogue().await.unwrap();
    f.residents.add("r1", false, true);
    f.residents.add("r2", false, true);
    let hour = Duration::hours(1);
    // The articles were read in Qingpu; where the meals were eaten is not known.
    let in_qingpu = |mut e: Event| {
        e.district = Some(DistrictCode::parse("310118").unwrap());
        e
    };
    let events = vec![
        in_qingpu(article("a0", "r1", from() - hour)),
        in_qingpu(article("a1", "r1", from())),
        in_qingpu(article("a2", "r1", from() + hour)),
        in_qingpu(article("a3", "r1", from() + hour * 2)),
        in_qingpu(article("a4", "r1", from() + hour * 3)),
        in_qingpu(article("a5", "r1", from() + Duration::days(1))),
        event("self", "d1", "r2", "diet.record", from() + hour, 1),
    ];
    let outcomes = f.intake.submit(events).await.unwrap();
    // As judged when they arrived: 15 article points a day, so a3 and a4 were capped.
    assert_eq!(
        outcomes.iter().map(|o| o.points).collect::<Vec<_>>(),
        vec![5, 5, 5, 0, 0, 5, 5]
    );
    assert_eq!(outcomes[3].kind, OutcomeKind::Capped);

    let admin = city_admin();
    let mut rule = f
        .intake
        .catalogue()
        .rule_for("learning.article", None, noon())
        .unwrap()
        .clone();
    rule.award = Award::Fixed(8);
    rule.caps.per_day = Some(16);
    f.intake.save_draft(&admin, rule).await.unwrap().id
}

async fn simulate(
    f: &Fixture,
    draft: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Simulation, IntakeError> {
    f.intake
        .simulate_drafts(&city_admin(), &[draft], from, to)
        .await
}

/// Inside `[from, to)` r1 read four articles in Qingpu (three earned 5 points, the fourth was capped)
/// and r2 recorded a day of meals; under the draft two articles earn 8 each. Caps count
/// awards inside the period only, so a0 (before it) does not use up r1's day.
#[tokio::test]
async fn a_what_if_replays_the_period_under_both_catalogues_per_district_and_category() {
    let f = intake("simulate_cells").await;
    let draft = period_and_draft(&f).await;
    let qingpu = DistrictCode::parse("310118").unwrap();
    let simulation = simulate(&f, draft, from(), from() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(
        simulation,
        Simulation {
            events_replayed: 5,
            cells: vec![
                SimulationCell {
                    district: None,
                    category: Some(Category::Lifestyle),
                    points_before: 5,
                    points_after: 5,
                },
                SimulationCell {
                    district: Some(qingpu),
                    category: Some(Category::Learning),
                    points_before: 15,
                    points_after: 16,
                },
            ],
        }
    );
    // Simulating changed nothing: the draft is not published, the rule still awards 5.
    assert_eq!(
        f.intake
            .catalogue()
            .rule_for("learning.article", None, noon())
            .unwrap()
            .award,
        Award::Fixed(5)
    );
}

/// The period is at least a microsecond and at most 366 days; the events in it at most the
/// configured limit (exactly the limit is replayed). Each refusal names its field.
#[tokio::test]
async fn a_what_if_is_bounded_in_time_and_in_events() {
    let f = intake_tuned("simulate_bounds", |o| o.max_simulated_events = 5).await;
    let draft = period_and_draft(&f).await;
    let (start, end) = (from(), from() + Duration::days(1));
    assert_eq!(invalid_field(simulate(&f, draft, start, start).await), "to");
    assert_eq!(invalid_field(simulate(&f, draft, end, start).await), "to");
    let longest = start + Duration::days(366);
    assert_eq!(
        invalid_field(simulate(&f, draft, start, longest + Duration::microseconds(1)).await),
        "to"
    );
    // Exactly 366 days: allowed, so its events are counted — six, more than five.
    assert_eq!(
        invalid_field(simulate(&f, draft, start, longest).await),
        "from"
    );
    // Exactly five events: replayed.
    let five = simulate(&f, draft, start, end).await.unwrap();
    assert_eq!(five.events_replayed, 5);
    // Six (a0 too): refused, naming the limit.
    match simulate(&f, draft, start - Duration::hours(1), end).await {
        Err(IntakeError::Invalid { field, reason }) => {
            assert_eq!(field, "from");
            assert!(reason.contains("more than 5 events"), "{reason}");
        }
        other => panic!("expected the event limit, got {other:?}"),
    }
}
