use chrono::Duration;
use healthpoints_ledger::domain::model::AccountKind;
use healthpoints_mall::{
    domain::{error::MallError, model::OrderStatus},
    service::NewOrder,
};
use healthpoints_types::{DistrictCode, MallId};

use crate::helpers::*;

#[tokio::test]
async fn an_order_reserves_points_and_stock_and_a_write_off_posts_them_once() {
    let f = fixture("order_write_off", MallId::City).await;
    let (merchant, operator) = f.merchant("Pharmacy").await;
    let (_, other_operator) = f.merchant("Gym").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Blood pressure monitor", 1_500, Some(3)))
        .await
        .unwrap();
    let (resident_id, resident) = f.resident(5_000).await;

    let order = f
        .mall
        .create_order(&resident, ask("key-1", product.product_id, 2))
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::Reserved);
    assert_eq!(order.points, 3_000);
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (5_000, 3_000),
        "the points are reserved, not spent"
    );
    let stock = f
        .mall
        .store()
        .product(product.product_id)
        .await
        .unwrap()
        .unwrap()
        .stock;
    assert_eq!(stock, Some(1));

    // The same key answers the same order; another order under it is a conflict.
    let again = f
        .mall
        .create_order(&resident, ask("key-1", product.product_id, 2))
        .await
        .unwrap();
    assert_eq!(again.order_id, order.order_id);
    assert!(matches!(
        place(&f, &resident, "key-1", &product).await,
        Err(MallError::Conflict(_))
    ));

    // Another merchant may not write it off; the voucher's merchant does, once.
    assert!(matches!(
        f.mall
            .write_off(&other_operator, &order.voucher_code, None)
            .await,
        Err(MallError::Forbidden(_))
    ));
    let typed = order.voucher_code.to_lowercase().replace('-', " ");
    let done = f
        .mall
        .write_off(&operator, &typed, None)
        .await
        .unwrap()
        .order;
    assert_eq!(done.status, OrderStatus::WrittenOff);
    let twice = refused(f.mall.write_off(&operator, &order.voucher_code, None).await);
    assert!(twice.contains("already written off"), "{twice}");
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (2_000, 0)
    );
    assert_eq!(
        f.ledger
            .balance(AccountKind::MerchantPayable, merchant)
            .await,
        (3_000, 0)
    );
    // A cancel after write-off changes nothing.
    let late = refused(f.mall.cancel(&resident, order.order_id.into()).await);
    assert!(late.contains("written off"), "{late}");
}

#[tokio::test]
async fn a_cancel_returns_points_and_stock_exactly_once() {
    let f = fixture("order_cancel", MallId::City).await;
    let (_, operator) = f.merchant("Clinic").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Dental check", 800, Some(1)))
        .await
        .unwrap();
    let (resident_id, resident) = f.resident(1_000).await;
    let order = place(&f, &resident, "k", &product).await.unwrap();
    let (_, someone_else) = f.resident(0).await;
    assert!(matches!(
        f.mall.cancel(&someone_else, order.order_id.into()).await,
        Err(MallError::NotFound(_))
    ));
    for _ in 0..2 {
        let cancelled = f
            .mall
            .cancel(&resident, order.order_id.into())
            .await
            .unwrap();
        assert_eq!(cancelled.status, OrderStatus::Cancelled);
    }
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (1_000, 0)
    );
    let p = f
        .mall
        .store()
        .product(product.product_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.stock, Some(1), "stock returned once");
    let gone = refused(f.mall.write_off(&operator, &order.voucher_code, None).await);
    assert!(gone.contains("cancelled"), "{gone}");
}

#[tokio::test]
async fn an_expired_voucher_is_voided_by_the_sweeper_once() {
    let f = fixture("order_expiry", MallId::City).await;
    let (_, operator) = f.merchant("Shop").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Yoga mat", 500, Some(2)))
        .await
        .unwrap();
    let (resident_id, resident) = f.resident(500).await;
    let order = place(&f, &resident, "k", &product).await.unwrap();
    assert_eq!(f.mall.sweep().await.unwrap(), 0, "nothing due yet");
    f.advance(Duration::hours(73));
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
        (500, 0)
    );
    let p = f
        .mall
        .store()
        .product(product.product_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.stock, Some(2));
    assert!(
        refused(f.mall.write_off(&operator, &order.voucher_code, None).await).contains("expired")
    );
}

#[tokio::test]
async fn orders_that_cannot_be_placed_say_why_and_reserve_nothing() {
    let f = fixture(
        "order_refusals",
        MallId::District(DistrictCode::parse("310118").unwrap()),
    )
    .await;
    let (_, operator) = f.merchant("Clinic").await;
    let mut elderly = spec("Elderly health check", 300, None);
    elderly.min_age = Some(60);
    let elderly = f.mall.create_product(&operator, &elderly).await.unwrap();
    let mut limited = spec("Flu shot", 100, Some(10));
    limited.per_resident_limit = Some(1);
    let limited = f.mall.create_product(&operator, &limited).await.unwrap();
    let scarce = f
        .mall
        .create_product(&operator, &spec("Massage", 100, Some(1)))
        .await
        .unwrap();

    let (young_id, young) = f.resident(1_000).await;
    let old_id = f.residents.add((1950, 1, 1), false);
    f.ledger.award(old_id, 1_000).await;
    let old = resident(old_id);

    let age = refused(place(&f, &young, "a", &elderly).await);
    assert!(age.contains("aged 60 and over"), "{age}");
    place(&f, &old, "a", &elderly).await.unwrap();

    place(&f, &young, "b", &limited).await.unwrap();
    let limit = refused(place(&f, &young, "c", &limited).await);
    assert!(limit.contains("limit reached"), "{limit}");

    let (poor_id, poor) = f.resident(50).await;
    let points = refused(place(&f, &poor, "d", &scarce).await);
    assert!(points.contains("not enough points"), "{points}");
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, poor_id).await,
        (50, 0)
    );
    let p = f
        .mall
        .store()
        .product(scarce.product_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.stock, Some(1), "the refused order's unit is back");
    assert!(
        f.mall
            .store()
            .order_by_key(poor_id, "d")
            .await
            .unwrap()
            .is_none(),
        "no order is left behind"
    );

    place(&f, &young, "e", &scarce).await.unwrap();
    let sold = refused(place(&f, &old, "e", &scarce).await);
    assert!(sold.contains("sold out"), "{sold}");

    let suspended = f.residents.add((1980, 1, 1), true);
    assert!(matches!(
        f.mall
            .create_order(&resident(suspended), ask("f", scarce.product_id, 1))
            .await,
        Err(MallError::Suspended)
    ));
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, young_id).await.0,
        1_000
    );

    match f
        .mall
        .create_order(&young, ask("g", scarce.product_id, 0))
        .await
    {
        Err(MallError::Invalid { field, .. }) => assert_eq!(field, "quantity"),
        other => panic!("expected the quantity to be named, got {other:?}"),
    }
    // Residents order only for themselves; merchants and admins do not order.
    assert!(matches!(
        f.mall
            .create_order(
                &young,
                NewOrder {
                    resident: Some(old_id.into()),
                    ..ask("i", scarce.product_id, 1)
                }
            )
            .await,
        Err(MallError::Forbidden(_))
    ));
    assert!(matches!(
        place(&f, &operator, "i", &scarce).await,
        Err(MallError::Forbidden(_))
    ));
}

#[tokio::test]
async fn merchants_manage_only_their_own_products_and_a_price_change_spares_placed_orders() {
    let f = fixture("catalogue", MallId::City).await;
    let (a, op_a) = f.merchant("A").await;
    let (_, op_b) = f.merchant("B").await;
    let product = f
        .mall
        .create_product(&op_a, &spec("Massage", 1_000, None))
        .await
        .unwrap();
    assert!(matches!(
        f.mall
            .update_product(&op_b, product.product_id.into(), &spec("Mine now", 1, None))
            .await,
        Err(MallError::NotFound(_))
    ));
    let (_, resident) = f.resident(5_000).await;
    let order = place(&f, &resident, "k", &product).await.unwrap();
    f.mall
        .update_product(
            &op_a,
            product.product_id.into(),
            &spec("Massage", 2_000, None),
        )
        .await
        .unwrap();
    let kept = f
        .mall
        .order(&resident, order.order_id.into())
        .await
        .unwrap();
    assert_eq!(kept.points, 1_000);

    // Outside its window a product is not sold.
    let mut later = spec("Winter swim", 100, None);
    later.available_from = Some(noon() + Duration::days(10));
    later.available_until = Some(noon() + Duration::days(40));
    let later = f.mall.create_product(&op_a, &later).await.unwrap();
    assert!(refused(place(&f, &resident, "w", &later).await).contains("not on sale yet"));
    let mut backwards = spec("Backwards", 100, None);
    backwards.available_from = later.available_until;
    backwards.available_until = later.available_from;
    match f.mall.create_product(&op_a, &backwards).await {
        Err(MallError::Invalid { field, .. }) => assert_eq!(field, "product.available_until"),
        other => panic!("{other:?}"),
    }

    // Bad fields are named.
    let mut bad = spec("", 0, None);
    match f.mall.create_product(&op_a, &bad).await {
        Err(MallError::Invalid { field, .. }) => assert_eq!(field, "product.title"),
        other => panic!("{other:?}"),
    }
    bad.title = "x".into();
    match f.mall.create_product(&op_a, &bad).await {
        Err(MallError::Invalid { field, .. }) => assert_eq!(field, "product.price_points"),
        other => panic!("{other:?}"),
    }
    // A suspended merchant's products leave the public catalogue and cannot be ordered.
    f.mall
        .set_merchant_status(
            &f.admin(),
            a.into(),
            Some(healthpoints_mall::domain::model::MerchantStatus::Suspended),
            "licence under review",
        )
        .await
        .unwrap();
    let public = f.mall.products(None, None, 0, "").await.unwrap();
    assert!(public.items.is_empty());
    let own = f
        .mall
        .products(Some(&op_a), Some(a.into()), 0, "")
        .await
        .unwrap();
    assert_eq!(own.items.len(), 2, "the merchant still sees its own");
    assert!(refused(place(&f, &resident, "k2", &product).await).contains("not on sale"));
    // Only the mall's admin admits merchants.
    assert!(matches!(
        f.mall.admit_merchant(&resident, "C", "L", "c", None).await,
        Err(MallError::Forbidden(_))
    ));
}

#[tokio::test]
async fn a_district_admin_runs_only_their_own_districts_mall() {
    let qingpu = DistrictCode::parse("310118").unwrap();
    let yangpu = DistrictCode::parse("310110").unwrap();
    let f = fixture("district_admin", MallId::District(qingpu)).await;
    let own = healthpoints_auth::Principal::DistrictAdmin {
        staff_id: uuid::Uuid::now_v7(),
        district: qingpu,
    };
    let other = healthpoints_auth::Principal::DistrictAdmin {
        staff_id: uuid::Uuid::now_v7(),
        district: yangpu,
    };
    f.mall
        .admit_merchant(&own, "Qingpu pharmacy", "QP-1", "c", None)
        .await
        .unwrap();
    assert!(matches!(
        f.mall
            .admit_merchant(&other, "Yangpu shop", "YP-1", "c", None)
            .await,
        Err(MallError::Forbidden(_))
    ));
    assert!(matches!(
        f.mall.statistics(&other).await,
        Err(MallError::Forbidden(_))
    ));
    assert_eq!(f.mall.statistics(&own).await.unwrap().merchants_active, 1);
}
