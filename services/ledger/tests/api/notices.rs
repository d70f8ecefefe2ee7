//! Residents told of points about to expire: within the notice period (30 days), once per
//! account and day, the points of that day only, through the ledger's outbox — however often the
//! sweep runs, on whichever day; points further off, or never expiring, are not announced; when
//! the first day's points are gone the next day's are announced in turn.

use chrono::Days;
use healthpoints_db::outbox::{OutboxEvent, mark_published, unpublished};
use healthpoints_ledger::domain::model::{CreateResult, TransferKind};

use crate::helpers::*;

async fn taken(f: &Fixture) -> Vec<OutboxEvent> {
    let conn = f.ledger.store().connection();
    let events = unpublished(conn, 100).await.unwrap();
    let ids: Vec<_> = events.iter().map(|e| e.id).collect();
    mark_published(conn, &ids, chrono::Utc::now())
        .await
        .unwrap();
    events
}

#[tokio::test]
async fn residents_are_told_once_of_points_about_to_expire() {
    let f = ledger("ledger_notices").await;
    let admin = healthpoints_auth::Principal::CityAdmin {
        staff_id: uuid::Uuid::now_v7(),
    };
    f.ledger.set_budget(&admin, "city", None).await.ok();
    let (issuance, residents, merchant) = open_city(&f.ledger, 3).await;
    let today = || {
        let us = f.clock.load(std::sync::atomic::Ordering::SeqCst);
        healthpoints_types::calendar::local_date(
            chrono::DateTime::from_timestamp_micros(us).unwrap(),
        )
    };
    let start = today();
    let award = |to: usize, amount: u64, days: Option<u64>| {
        let mut t = transfer(issuance.id, residents[to].id, amount, TransferKind::Award);
        t.expires_on = days.map(|d| start.checked_add_days(Days::new(d)).unwrap());
        t
    };
    let results = create(
        &f.ledger,
        vec![
            award(0, 100, Some(10)),
            award(0, 40, Some(10)),
            award(0, 70, Some(20)),
            award(1, 500, Some(90)),
            award(2, 60, None),
        ],
    )
    .await;
    assert!(
        results.iter().all(|r| *r == CreateResult::Ok),
        "{results:?}"
    );

    assert_eq!(f.ledger.announce_expiring_once().await.unwrap(), 1);
    let told = taken(&f).await;
    assert_eq!(told.len(), 1);
    let e = &told[0];
    assert_eq!(e.kind, "points.expiring");
    assert_eq!(
        e.resident_id.as_deref(),
        Some(residents[0].owner_id.as_str())
    );
    assert_eq!(e.data["points"], 140, "the points of the first day only");
    assert_eq!(e.data["book"], "city");
    assert_eq!(
        e.data["on"],
        start.checked_add_days(Days::new(10)).unwrap().to_string()
    );

    // Again, and on the next days: nothing new (resident 1's points are 90 days off).
    assert_eq!(f.ledger.announce_expiring_once().await.unwrap(), 0);
    f.advance_secs(86_400);
    assert_eq!(f.ledger.announce_expiring_once().await.unwrap(), 0);
    assert!(taken(&f).await.is_empty());

    // Resident 0 spends the first day's points: the next day's are announced.
    let results = create(
        &f.ledger,
        vec![transfer(
            residents[0].id,
            merchant.id,
            140,
            TransferKind::Redeem,
        )],
    )
    .await;
    assert_eq!(results, [CreateResult::Ok]);
    assert_eq!(f.ledger.announce_expiring_once().await.unwrap(), 1);
    let told = taken(&f).await;
    assert_eq!(told[0].data["points"], 70);
    assert_ne!(told[0].id, e.id);

    // Sixty-one days on, resident 1's points come within the notice period.
    f.advance_secs(61 * 86_400);
    f.ledger.expire_lots_once().await.unwrap();
    assert_eq!(f.ledger.announce_expiring_once().await.unwrap(), 1);
    let told = taken(&f).await;
    assert_eq!(
        told[0].resident_id.as_deref(),
        Some(residents[1].owner_id.as_str())
    );
    assert_eq!(told[0].data["points"], 500);
    assert_eq!(f.ledger.announce_expiring_once().await.unwrap(), 0);
}
