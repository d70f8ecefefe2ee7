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
async fn a_refused_event_is_answered_on_its_own_and_the_others_are_recorded() {
    let fx = fixture("exchange_publish").await;
    let someone = uuid::Uuid::now_v7().to_string();
    let events = vec![
        (0, voucher_expiring(&someone, "voucher.expiring")),
        (1, voucher_expiring(&someone, "voucher.vanished")),
        (2, voucher_expiring("not-a-uuid", "voucher.expiring")),
        (3, voucher_expiring(&someone, "voucher.expiring")),
    ];
    let refused = fx.x.publish_events(&city_mall(), events).await.unwrap();
    let refused: Vec<_> = refused
        .iter()
        .map(|r| (r.position, r.field.as_str()))
        .collect();
    assert_eq!(
        refused,
        [(1, "events[1].kind"), (2, "events[2].resident_id")]
    );
    let (inbox, unread, _) =
        fx.x.notifications(&resident(&someone), false, "", 50)
            .await
            .unwrap();
    assert_eq!((inbox.len(), unread), (2, 2), "the two good events arrived");

    // Who may publish at all is still the whole call's answer.
    let not_a_mall = resident(&someone);
    let batch = vec![(0, voucher_expiring(&someone, "voucher.expiring"))];
    assert!(fx.x.publish_events(&not_a_mall, batch).await.is_err());
}
