use chrono::Duration;
use healthpoints_ledger::domain::model::AccountKind;
use healthpoints_mall::domain::{error::MallError, model::OrderStatus};
use healthpoints_types::MallId;

use crate::helpers::*;

#[tokio::test]
async fn a_statement_shows_write_offs_and_refunds_and_closing_moves_the_payable_once() {
    let f = fixture("settlement", MallId::City).await;
    let (merchant, operator) = f.merchant("Clinic").await;
    let (_, other_operator) = f.merchant("Other").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Physiotherapy", 1_250, None))
        .await
        .unwrap();
    let (resident_id, resident) = f.resident(10_000).await;
    let mut orders = Vec::new();
    for key in ["a", "b", "c"] {
        let o = place(&f, &resident, key, &product).await.unwrap();
        f.mall
            .write_off(&operator, &o.voucher_code, None)
            .await
            .unwrap();
        orders.push(o);
    }
    // An unused voucher is not in the statement.
    place(&f, &resident, "d", &product).await.unwrap();
    // The admin refunds one (service not delivered); the resident gets the points back.
    assert!(matches!(
        f.mall
            .refund(&operator, orders[0].order_id.into(), "not delivered")
            .await,
        Err(MallError::Forbidden(_))
    ));
    let refunded = f
        .mall
        .refund(&f.admin(), orders[0].order_id.into(), "not delivered")
        .await
        .unwrap();
    assert_eq!(refunded.status, OrderStatus::Refunded);
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (10_000 - 2 * 1_250, 1_250)
    );

    let period = "2026-11";
    let open = f
        .mall
        .statements(&operator, None, period)
        .await
        .unwrap()
        .remove(0);
    assert!(!open.closed);
    assert_eq!((open.written_off, open.refunded), (3, 1));
    assert_eq!(open.net_points(), 2_500);
    assert_eq!(open.lines.len(), 3);
    // The statement is what the ledger holds for the merchant.
    assert_eq!(
        f.ledger
            .balance(AccountKind::MerchantPayable, merchant)
            .await,
        (2_500, 0)
    );
    assert!(matches!(
        f.mall
            .statements(&other_operator, Some(merchant.into()), period)
            .await,
        Err(MallError::Forbidden(_))
    ));
    assert!(matches!(
        f.mall.close(&operator, merchant.into(), period).await,
        Err(MallError::Forbidden(_))
    ));
    match f.mall.close(&f.admin(), merchant.into(), "2026-13").await {
        Err(MallError::Invalid { field, .. }) => assert_eq!(field, "period"),
        other => panic!("{other:?}"),
    }

    for _ in 0..2 {
        let closed = f
            .mall
            .close(&f.admin(), merchant.into(), period)
            .await
            .unwrap();
        assert!(closed.closed);
        assert_eq!(closed.net_points(), 2_500);
    }
    assert_eq!(
        f.ledger
            .balance(AccountKind::MerchantPayable, merchant)
            .await,
        (0, 0)
    );
    assert_eq!(
        f.ledger.balance(AccountKind::Settled, merchant).await,
        (2_500, 0)
    );

    // A write-off after the close counts in the next period; a refund of a settled order is a
    // claw-back from the settled account.
    f.advance(Duration::hours(1));
    let late = place(&f, &resident, "e", &product).await.unwrap();
    let late = f
        .mall
        .write_off(&operator, &late.voucher_code, None)
        .await
        .unwrap()
        .order;
    assert_eq!(late.settle_period.as_deref(), Some("2026-12"));
    f.mall
        .refund(&f.admin(), orders[1].order_id.into(), "complaint upheld")
        .await
        .unwrap();
    let next = f
        .mall
        .statements(&operator, None, "2026-12")
        .await
        .unwrap()
        .remove(0);
    assert_eq!((next.written_off, next.clawed_back), (1, 1));
    assert_eq!(next.clawed_back_points, 1_250);
    assert_eq!(
        f.ledger.balance(AccountKind::Settled, merchant).await,
        (1_250, 0)
    );
    let all = f.mall.statements(&operator, None, "").await.unwrap();
    let periods: Vec<_> = all.iter().map(|s| s.period.as_str()).collect();
    assert_eq!(periods, ["2026-12", "2026-11"]);
}

/// A period may be closed from its first instant (Asia/Shanghai), not before; a period with
/// nothing to settle closes without moving points.
#[tokio::test]
async fn a_period_closes_from_its_first_instant_and_an_empty_one_moves_nothing() {
    let f = fixture("settlement_edges", MallId::City).await;
    let (merchant, _) = f.merchant("Clinic").await;
    let id = merchant.into();
    let empty = f.mall.close(&f.admin(), id, "2026-11").await.unwrap();
    assert!(empty.closed);
    assert_eq!(empty.net_points(), 0);
    assert_eq!(
        f.ledger.balance(AccountKind::Settled, merchant).await,
        (0, 0)
    );
    let refusal = refused(f.mall.close(&f.admin(), id, "2026-12").await);
    assert!(refusal.contains("not started"), "{refusal}");
    // 2026-12-01 00:00 in Shanghai.
    let december =
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 30, 16, 0, 0).unwrap();
    f.advance(december - noon());
    assert!(
        f.mall
            .close(&f.admin(), id, "2026-12")
            .await
            .unwrap()
            .closed
    );
}
