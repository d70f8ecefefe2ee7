//! What a mall's outbox publishes: each event judged on its own, so one the exchange refuses
//! (a bug, or a kind it does not know yet) does not hold back the events behind it.

use healthpoints_auth::Principal;
use healthpoints_exchange::domain::notify::Event;
use serde_json::json;

use crate::helpers::{fixture, resident};

fn city_mall() -> Principal {
    Principal::Service {
        client_id: "city-mall".into(),
        service: "city-mall".into(),
        district: None,
    }
}

fn voucher_expiring(resident_id: &str, kind: &str) -> Event {
    Event {
        id: uuid::Uuid::now_v7(),
        kind: kind.into(),
        at: chrono::Utc::now(),
        resident_id: Some(resident_id.into()),
        partner_id: None,
        merchant: None,
        data: json!({"order_id": uuid::Uuid::now_v7().to_string()}),
    }
}

#[tokio::test]
async fn a_malformed_event_is_refused_on_its_own_and_what_may_come_right_waits() {
    let fx = fixture("exchange_publish").await;
    let someone = uuid::Uuid::now_v7().to_string();
    let inbox = || async {
        fx.x.notifications(&resident(&someone), false, "", 50)
            .await
            .unwrap()
            .0
            .len()
    };
    // A bug in one event: it is answered back, and the others are recorded.
    let mut from_a_partner = voucher_expiring(&someone, "voucher.expiring");
    from_a_partner.partner_id = Some("insurer".into());
    let events = vec![
        (0, voucher_expiring(&someone, "voucher.expiring")),
        (1, voucher_expiring("not-a-uuid", "voucher.expiring")),
        (2, from_a_partner),
        (3, voucher_expiring(&someone, "voucher.expiring")),
    ];
    let refused = fx.x.publish_events(&city_mall(), events).await.unwrap();
    let refused: Vec<_> = refused
        .iter()
        .map(|r| (r.position, r.field.as_str()))
        .collect();
    assert_eq!(
        refused,
        [(1, "events[1].resident_id"), (2, "events[2].partner_id")]
    );
    assert_eq!(inbox().await, 2, "the two good events arrived");

    // A kind this exchange does not know yet refuses the whole call: the mall keeps the events
    // until the exchange is upgraded, and nothing of the call is recorded.
    let events = vec![
        (0, voucher_expiring(&someone, "voucher.expiring")),
        (1, voucher_expiring(&someone, "voucher.vanished")),
    ];
    assert!(fx.x.publish_events(&city_mall(), events).await.is_err());
    assert_eq!(inbox().await, 2);

    // An event dated ahead of the exchange's clock is taken, dated now.
    let mut ahead = voucher_expiring(&someone, "voucher.expiring");
    ahead.at += chrono::Duration::hours(1);
    let refused =
        fx.x.publish_events(&city_mall(), vec![(0, ahead)])
            .await
            .unwrap();
    assert!(refused.is_empty());
    assert_eq!(inbox().await, 3);

    // Who may publish at all is the whole call's answer.
    let batch = vec![(0, voucher_expiring(&someone, "voucher.expiring"))];
    assert!(
        fx.x.publish_events(&resident(&someone), batch)
            .await
            .is_err()
    );
}
