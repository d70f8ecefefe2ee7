use chrono::Duration;
use healthpoints_intake::domain::{
    catalogue::Level,
    error::IntakeError,
    model::OutcomeKind,
    play::{Challenge, Honour},
};
use healthpoints_types::{Book, DistrictCode};
use uuid::Uuid;

use crate::helpers::*;

const R1: &str = "0193b0a0-0000-7000-8000-000000000001";
const R2: &str = "0193b0a0-0000-7000-8000-000000000002";
const R3: &str = "0193b0a0-0000-7000-8000-000000000003";

fn steps_challenge(level: Level, district: Option<&str>) -> Challenge {
    Challenge {
        id: Uuid::nil(),
        title: "8,000 steps on 3 days".into(),
        district: district.map(|d| DistrictCode::parse(d).unwrap()),
        behaviour_code: "steps.daily".into(),
        daily_min_quantity: 8_000,
        days_required: 3,
        starts_at: noon() - Duration::days(5),
        ends_at: noon() + Duration::days(10),
        bonus_points: 100,
        level,
        created_by: String::new(),
    }
}

#[tokio::test]
async fn a_completed_challenge_pays_its_bonus_exactly_once() {
    let f = intake("intake_challenge").await;
    f.residents.add(R1, false, true);
    let admin = city_admin();
    // Bad input names the field; a district admin may not pay municipal points.
    let mut bad = steps_challenge(Level::City, None);
    bad.days_required = 99;
    let refused = f.intake.create_challenge(&admin, bad).await;
    assert!(
        matches!(&refused, Err(IntakeError::Invalid { field, .. }) if field == "challenge.days_required"),
        "{refused:?}"
    );
    let city_by_district = f
        .intake
        .create_challenge(
            &district_admin("310118"),
            steps_challenge(Level::City, Some("310118")),
        )
        .await;
    assert!(
        matches!(city_by_district, Err(IntakeError::Forbidden(_))),
        "{city_by_district:?}"
    );
    let foreign = f
        .intake
        .create_challenge(
            &district_admin("310110"),
            steps_challenge(Level::District, Some("310118")),
        )
        .await;
    assert!(
        matches!(foreign, Err(IntakeError::Forbidden(_))),
        "{foreign:?}"
    );

    let challenge = f
        .intake
        .create_challenge(&admin, steps_challenge(Level::City, None))
        .await
        .unwrap();
    // Another district's challenge is not offered to a Qingpu resident.
    let yangpu = f
        .intake
        .create_challenge(
            &district_admin("310110"),
            steps_challenge(Level::District, Some("310110")),
        )
        .await
        .unwrap();
    let me = resident(R1);
    let listed = f.intake.challenges(&me, "").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].joined);
    let not_mine = f
        .intake
        .join_challenge(&me, "", &yangpu.id.to_string())
        .await;
    assert!(
        matches!(not_mine, Err(IntakeError::NotFound(_))),
        "{not_mine:?}"
    );
    let other = f.intake.challenges(&resident(R2), R1).await;
    assert!(matches!(other, Err(IntakeError::Forbidden(_))), "{other:?}");

    // One day before joining counts; a day under the goal does not.
    let steps = |id: &str, days_back: i64, quantity: u64| {
        event(
            "sports",
            id,
            R1,
            "steps.daily",
            noon() - Duration::days(days_back),
            quantity,
        )
    };
    f.intake.submit(vec![steps("s1", 1, 9_000)]).await.unwrap();
    let joined = f
        .intake
        .join_challenge(&me, "", &challenge.id.to_string())
        .await
        .unwrap();
    assert_eq!(
        (joined.joined, joined.days_done, joined.bonus.is_some()),
        (true, 1, false)
    );
    f.intake
        .submit(vec![steps("s2", 2, 7_000), steps("s3", 3, 12_000)])
        .await
        .unwrap();
    let progress = f.intake.challenges(&me, "").await.unwrap();
    assert_eq!(
        (progress[0].days_done, progress[0].bonus.is_some()),
        (2, false)
    );
    // The third day completes it: the bonus comes with that submission.
    f.intake.submit(vec![steps("s4", 4, 8_000)]).await.unwrap();
    let balance_then = city_balance(&f, R1).await;
    // More days, repeated lists and a rejoin pay nothing more.
    f.intake.submit(vec![steps("s5", 0, 15_000)]).await.unwrap();
    f.intake.submit(vec![steps("s4", 4, 8_000)]).await.unwrap();
    let rejoined = f
        .intake
        .join_challenge(&me, "", &challenge.id.to_string())
        .await
        .unwrap();
    let listed = f.intake.challenges(&me, "").await.unwrap();
    let bonus = listed[0].bonus.clone().expect("completed");
    assert_eq!((bonus.kind, bonus.points), (OutcomeKind::Awarded, 100));
    assert_eq!(rejoined.bonus.unwrap().event_id, bonus.event_id);
    assert_eq!(listed[0].days_done, 4);
    let (outcomes, _) = f.intake.outcomes(&me, "", "", 100).await.unwrap();
    let bonuses = outcomes
        .iter()
        .filter(|o| o.source_id == "challenge")
        .count();
    assert_eq!(bonuses, 1, "the bonus is one outcome");
    // Steps: 9,000 → 20, 7,000 → 10, 12,000 → 30, 8,000 → 20, 15,000 → 30; plus the bonus.
    assert_eq!(balance_then, 20 + 10 + 30 + 20 + 100);
    assert_eq!(city_balance(&f, R1).await, 20 + 10 + 30 + 20 + 30 + 100);
}

#[tokio::test]
async fn leaderboards_rank_only_residents_who_opted_in_under_masked_names() {
    let f = intake("intake_leaderboard").await;
    for r in [R1, R2, R3] {
        f.residents.add(r, false, true);
    }
    let checkins = |r: &str, n: i64| {
        (0..n)
            .map(|i| {
                event(
                    "health-education",
                    &format!("{r}-{i}"),
                    r,
                    "learning.checkin",
                    noon() - Duration::days(i),
                    1,
                )
            })
            .collect::<Vec<_>>()
    };
    f.intake.submit(checkins(R1, 3)).await.unwrap();
    f.intake.submit(checkins(R2, 5)).await.unwrap();
    f.intake.submit(checkins(R3, 7)).await.unwrap();
    f.intake
        .set_leaderboard_opt_in(&resident(R1), "", true)
        .await
        .unwrap();
    f.intake
        .set_leaderboard_opt_in(&resident(R2), "", true)
        .await
        .unwrap();
    let forbidden = f
        .intake
        .set_leaderboard_opt_in(&resident(R1), R3, true)
        .await;
    assert!(
        matches!(forbidden, Err(IntakeError::Forbidden(_))),
        "{forbidden:?}"
    );

    let board = f.intake.leaderboard("city", "2026-03", 0).await.unwrap();
    let lines: Vec<_> = board
        .iter()
        .map(|e| (e.rank, e.name_masked.as_str(), e.points))
        .collect();
    assert_eq!(
        lines,
        [(1, "测*2", 25), (2, "测*1", 15)],
        "R3 did not opt in"
    );
    assert_eq!(
        board[0].district,
        Some(DistrictCode::parse("310118").unwrap())
    );
    let qingpu = f.intake.leaderboard("310118", "2026-03", 0).await.unwrap();
    assert_eq!(qingpu.len(), 2);
    assert!(
        f.intake
            .leaderboard("310110", "2026-03", 0)
            .await
            .unwrap()
            .is_empty()
    );
    // The week of 2026-03-10 (a Tuesday) holds only part of the check-ins.
    let week = f.intake.leaderboard("city", "2026-W11", 0).await.unwrap();
    assert_eq!(week.iter().map(|e| e.points).collect::<Vec<_>>(), [10, 10]);
    assert_eq!(
        week.iter().map(|e| e.rank).collect::<Vec<_>>(),
        [1, 1],
        "ties share a rank"
    );
    let bad = f.intake.leaderboard("city", "March", 0).await;
    assert!(
        matches!(&bad, Err(IntakeError::Invalid { field, .. }) if field == "period"),
        "{bad:?}"
    );

    f.intake
        .set_leaderboard_opt_in(&resident(R2), "", false)
        .await
        .unwrap();
    let board = f.intake.leaderboard("city", "2026-03", 0).await.unwrap();
    assert_eq!(board.iter().map(|e| e.points).collect::<Vec<_>>(), [15]);
}

#[tokio::test]
async fn an_honour_pays_its_points_once_into_the_districts_book() {
    let f = intake("intake_honour").await;
    f.residents.add(R1, false, true);
    let honour = |points: u64, citation: &str| Honour {
        resident_id: R1.into(),
        honour: "health-star".into(),
        period: "2026-03".into(),
        district: Some(DistrictCode::parse("310118").unwrap()),
        points,
        citation: citation.into(),
    };
    let bad = f.intake.award_honour(&city_admin(), honour(500, "")).await;
    assert!(
        matches!(&bad, Err(IntakeError::Invalid { field, .. }) if field == "citation"),
        "{bad:?}"
    );
    let foreign = f
        .intake
        .award_honour(
            &district_admin("310110"),
            honour(500, "ran the community walk"),
        )
        .await;
    assert!(
        matches!(foreign, Err(IntakeError::Forbidden(_))),
        "{foreign:?}"
    );
    let by_resident = f
        .intake
        .award_honour(&resident(R1), honour(500, "me"))
        .await;
    assert!(
        matches!(by_resident, Err(IntakeError::Forbidden(_))),
        "{by_resident:?}"
    );

    let star = f
        .intake
        .award_honour(
            &district_admin("310118"),
            honour(500, "ran the community walk"),
        )
        .await
        .unwrap();
    assert_eq!((star.kind, star.points), (OutcomeKind::Awarded, 500));
    assert_eq!(star.reason.as_ref().unwrap().1, "ran the community walk");
    let again = f
        .intake
        .award_honour(&city_admin(), honour(500, "ran the community walk"))
        .await
        .unwrap();
    assert_eq!(
        again.event_id, star.event_id,
        "once per resident, honour and month"
    );
    let qingpu = Book::District(DistrictCode::parse("310118").unwrap());
    assert_eq!(balance(&f, R1, qingpu).await, 500);
    assert_eq!(city_balance(&f, R1).await, 0);
}
