use std::sync::atomic::Ordering;

use chrono::Duration;
use healthpoints_ledger::domain::model::AccountKind;
use healthpoints_mall::domain::{error::MallError, model::OrderStatus};
use healthpoints_types::MallId;

use crate::helpers::*;

/// The ledger stops between reserve and write-off; the merchant's write-off fails with a
/// retryable error; both the ledger and the mall restart; the sweeper posts the pending
/// transfer exactly once, and a retried write-off says it is done.
#[tokio::test]
async fn a_write_off_cut_short_by_the_ledger_completes_once_after_restarts() {
    let mut f = fixture("fault_write_off", MallId::City).await;
    let (merchant, operator) = f.merchant("Clinic").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Eye test", 700, Some(5)))
        .await
        .unwrap();
    let (resident_id, resident) = f.resident(1_000).await;
    let order = place(&f, &resident, "k", &product).await.unwrap();

    f.ledger.down.store(true, Ordering::SeqCst);
    assert!(matches!(
        f.mall.write_off(&operator, &order.voucher_code, None).await,
        Err(MallError::Unavailable(_))
    ));
    assert_eq!(f.mall.sweep().await.unwrap(), 0, "the ledger is still down");
    // Nobody can cancel a voucher that is being written off.
    assert!(
        f.mall
            .cancel(&resident, order.order_id.into())
            .await
            .is_err()
    );

    f.ledger.restart();
    f.restart_mall();
    f.ledger.down.store(false, Ordering::SeqCst);
    f.advance(Duration::seconds(10));
    assert_eq!(f.mall.sweep().await.unwrap(), 1);
    assert_eq!(f.mall.sweep().await.unwrap(), 0);
    let done = f
        .mall
        .order(&resident, order.order_id.into())
        .await
        .unwrap();
    assert_eq!(done.status, OrderStatus::WrittenOff);
    assert!(
        refused(f.mall.write_off(&operator, &order.voucher_code, None).await).contains("already")
    );
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (300, 0)
    );
    assert_eq!(
        f.ledger
            .balance(AccountKind::MerchantPayable, merchant)
            .await,
        (700, 0)
    );
}

/// The same for an expiry: the void is driven once after the restart and stock comes back once.
#[tokio::test]
async fn an_expiry_cut_short_by_the_ledger_voids_once_after_restarts() {
    let mut f = fixture("fault_expiry", MallId::City).await;
    let (_, operator) = f.merchant("Shop").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Pedometer", 400, Some(1)))
        .await
        .unwrap();
    let (resident_id, resident) = f.resident(400).await;
    let order = place(&f, &resident, "k", &product).await.unwrap();
    f.ledger.down.store(true, Ordering::SeqCst);
    f.advance(Duration::hours(80));
    assert_eq!(f.mall.sweep().await.unwrap(), 0);
    f.ledger.restart();
    f.restart_mall();
    f.ledger.down.store(false, Ordering::SeqCst);
    f.advance(Duration::seconds(10));
    assert_eq!(f.mall.sweep().await.unwrap(), 1);
    assert_eq!(f.mall.sweep().await.unwrap(), 0);
    let o = f
        .mall
        .order(&resident, order.order_id.into())
        .await
        .unwrap();
    assert_eq!(o.status, OrderStatus::Expired);
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (400, 0)
    );
    let p = f
        .mall
        .store()
        .product(product.product_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.stock, Some(1));
}

/// An order whose reservation never reached the ledger: the client's retry with the same key
/// after recovery completes it, once.
#[tokio::test]
async fn an_order_retried_after_the_ledger_recovers_is_placed_once() {
    let f = fixture("fault_reserve", MallId::City).await;
    let (_, operator) = f.merchant("Shop").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Water bottle", 200, Some(3)))
        .await
        .unwrap();
    let (resident_id, resident) = f.resident(1_000).await;
    f.ledger.down.store(true, Ordering::SeqCst);
    assert!(matches!(
        place(&f, &resident, "k", &product).await,
        Err(MallError::Unavailable(_))
    ));
    f.ledger.down.store(false, Ordering::SeqCst);
    let first = place(&f, &resident, "k", &product).await.unwrap();
    let second = place(&f, &resident, "k", &product).await.unwrap();
    assert_eq!(first.order_id, second.order_id);
    assert_eq!(first.status, OrderStatus::Reserved);
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (1_000, 200)
    );
    let p = f
        .mall
        .store()
        .product(product.product_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.stock, Some(2));
}

/// The ledger commits every step but its answers are lost on the way back (a timeout after the
/// commit): the order, the write-off and a cancel each fail retryably, and their retries (or
/// the sweeper) complete each step exactly once — nothing reserved, posted or voided twice.
#[tokio::test]
async fn steps_whose_ledger_answer_is_lost_complete_once_on_retry() {
    let f = fixture("fault_lost_reply", MallId::City).await;
    let (merchant, operator) = f.merchant("Clinic").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Eye test", 700, Some(5)))
        .await
        .unwrap();
    let (resident_id, resident) = f.resident(2_000).await;

    // The reservation commits; the mall hears nothing.
    f.ledger.lose_replies.store(true, Ordering::SeqCst);
    assert!(matches!(
        place(&f, &resident, "k1", &product).await,
        Err(MallError::Unavailable(_))
    ));
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (2_000, 700),
        "reserved in the ledger"
    );
    f.ledger.lose_replies.store(false, Ordering::SeqCst);
    let order = place(&f, &resident, "k1", &product).await.unwrap();
    assert_eq!(order.status, OrderStatus::Reserved);
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (2_000, 700),
        "the retry reserved nothing more"
    );

    // The write-off's post commits; the counter hears nothing and retries with its key.
    f.ledger.lose_replies.store(true, Ordering::SeqCst);
    assert!(matches!(
        f.mall
            .write_off(&operator, &order.voucher_code, Some(&key("till-1")))
            .await,
        Err(MallError::Unavailable(_))
    ));
    f.ledger.lose_replies.store(false, Ordering::SeqCst);
    let done = f
        .mall
        .write_off(&operator, &order.voucher_code, Some(&key("till-1")))
        .await
        .unwrap();
    assert_eq!(done.order.status, OrderStatus::WrittenOff);
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (1_300, 0)
    );
    assert_eq!(
        f.ledger
            .balance(AccountKind::MerchantPayable, merchant)
            .await,
        (700, 0)
    );

    // A cancel whose void commits unheard is finished by the sweeper, once.
    let second = place(&f, &resident, "k2", &product).await.unwrap();
    f.ledger.lose_replies.store(true, Ordering::SeqCst);
    assert!(matches!(
        f.mall.cancel(&resident, second.order_id.into()).await,
        Err(MallError::Unavailable(_))
    ));
    f.ledger.lose_replies.store(false, Ordering::SeqCst);
    f.advance(Duration::seconds(10));
    assert_eq!(f.mall.sweep().await.unwrap(), 1);
    let cancelled = f
        .mall
        .order(&resident, second.order_id.into())
        .await
        .unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (1_300, 0),
        "the points came back once"
    );
    let stock = f
        .mall
        .store()
        .product(product.product_id)
        .await
        .unwrap()
        .unwrap()
        .stock;
    assert_eq!(stock, Some(4), "one unit sold, the cancelled one back");
}

/// Steps whose ledger answer was lost wait out their grace before the sweeper takes them (the
/// request that began them may still be driving them): a reservation 30 s, a refund 3 s; a
/// close is finished on the next sweep. The sweeper finishes each once and counts it.
#[tokio::test]
async fn the_sweeper_finishes_interrupted_steps_after_their_grace_once() {
    let f = fixture("fault_sweeper_grace", MallId::City).await;
    let (merchant, operator) = f.merchant("Clinic").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Eye test", 700, Some(5)))
        .await
        .unwrap();
    let (resident_id, resident) = f.resident(5_000).await;
    let status = |key: &'static str| {
        let f = &f;
        async move {
            f.mall
                .store()
                .order_by_key(resident_id, key)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };

    // A reservation whose answer was lost stays `reserving` through its grace.
    f.ledger.lose_replies.store(true, Ordering::SeqCst);
    assert!(place(&f, &resident, "k1", &product).await.is_err());
    f.ledger.lose_replies.store(false, Ordering::SeqCst);
    f.advance(Duration::seconds(29));
    assert_eq!(f.mall.sweep().await.unwrap(), 0, "still within its grace");
    assert_eq!(status("k1").await, OrderStatus::Reserving);
    f.advance(Duration::seconds(2));
    assert_eq!(f.mall.sweep().await.unwrap(), 1);
    assert_eq!(status("k1").await, OrderStatus::Reserved);
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (5_000, 700)
    );

    // A refund whose answer was lost stays `refunding` for 3 s, then is finished once.
    let mut written_off = Vec::new();
    for key in ["k2", "k3"] {
        let o = place(&f, &resident, key, &product).await.unwrap();
        f.mall
            .write_off(&operator, &o.voucher_code, None)
            .await
            .unwrap();
        written_off.push(o);
    }
    f.ledger.lose_replies.store(true, Ordering::SeqCst);
    assert!(
        f.mall
            .refund(&f.admin(), written_off[0].order_id.into(), "not delivered")
            .await
            .is_err()
    );
    f.ledger.lose_replies.store(false, Ordering::SeqCst);
    f.advance(Duration::seconds(2));
    assert_eq!(f.mall.sweep().await.unwrap(), 0);
    assert_eq!(status("k2").await, OrderStatus::Refunding);
    f.advance(Duration::seconds(2));
    assert_eq!(f.mall.sweep().await.unwrap(), 1);
    assert_eq!(status("k2").await, OrderStatus::Refunded);
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (5_000 - 700, 700),
        "one order written off, one refunded, one reserved"
    );

    // A close whose settlement answer was lost is finished by the next sweep, once.
    f.ledger.lose_replies.store(true, Ordering::SeqCst);
    assert!(
        f.mall
            .close(&f.admin(), merchant.into(), "2026-11")
            .await
            .is_err()
    );
    f.ledger.lose_replies.store(false, Ordering::SeqCst);
    assert_eq!(f.mall.sweep().await.unwrap(), 1);
    assert_eq!(f.mall.sweep().await.unwrap(), 0);
    let closed = f
        .mall
        .statements(&f.admin(), Some(merchant.into()), "2026-11")
        .await
        .unwrap()
        .remove(0);
    assert!(closed.closed);
    assert_eq!(
        f.ledger.balance(AccountKind::Settled, merchant).await,
        (700, 0)
    );
}
