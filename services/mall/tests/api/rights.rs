//! Who may see and do what in a mall, and the edges of what a merchant may sell: merchants of
//! another mall, order lists per audience, pages, product bounds, sale windows and age limits
//! at their exact edges.

use chrono::{Duration, TimeZone, Utc};
use healthpoints_auth::Principal;
use healthpoints_mall::{
    domain::{
        error::MallError,
        model::{MerchantStatus, Order},
    },
    service::MallOptions,
};
use healthpoints_types::{DistrictCode, MallId};
use uuid::Uuid;

use crate::helpers::*;

fn forbidden<T: std::fmt::Debug>(r: Result<T, MallError>) -> String {
    match r {
        Err(MallError::Forbidden(why)) => why,
        other => panic!("expected a refusal of the caller, got {other:?}"),
    }
}

fn field<T: std::fmt::Debug>(r: Result<T, MallError>) -> String {
    match r {
        Err(MallError::Invalid { field, .. }) => field,
        other => panic!("expected a refusal by field, got {other:?}"),
    }
}

fn ids<'a>(orders: impl IntoIterator<Item = &'a Order>) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = orders.into_iter().map(|o| o.order_id).collect();
    ids.sort();
    ids
}

/// A resident lists their own orders, a merchant its own, the mall's admin anyone's (by
/// resident, by merchant or all); asking for someone else's is refused, and a merchant of
/// another mall sees nothing here. One order is visible to its resident and its merchant only.
#[tokio::test]
async fn each_audience_sees_only_its_own_orders() {
    let qingpu = MallId::District(DistrictCode::parse("310118").unwrap());
    let f = fixture("rights_orders", qingpu).await;
    let (clinic, clinic_op) = f.merchant("Clinic").await;
    let (pharmacy, pharmacy_op) = f.merchant("Pharmacy").await;
    let massage = f
        .mall
        .create_product(&clinic_op, &spec("Massage", 100, None))
        .await
        .unwrap();
    let masks = f
        .mall
        .create_product(&pharmacy_op, &spec("Masks", 100, None))
        .await
        .unwrap();
    let (zhang_id, zhang) = f.resident(1_000).await;
    let (li_id, li) = f.resident(1_000).await;
    let z1 = place(&f, &zhang, "z1", &massage).await.unwrap();
    let z2 = place(&f, &zhang, "z2", &masks).await.unwrap();
    let l1 = place(&f, &li, "l1", &massage).await.unwrap();
    let list = |caller: Principal, r: Option<Uuid>, m: Option<Uuid>| {
        let f = &f;
        async move {
            f.mall
                .orders(&caller, r.map(Into::into), m.map(Into::into), 0, "")
                .await
                .map(|p| ids(&p.items))
        }
    };
    let (z, l, s) = (zhang_id, li_id, clinic);

    assert_eq!(
        list(zhang.clone(), None, None).await.unwrap(),
        ids([&z1, &z2])
    );
    assert_eq!(
        list(zhang.clone(), Some(z), None).await.unwrap(),
        ids([&z1, &z2])
    );
    forbidden(list(zhang.clone(), Some(l), None).await);
    forbidden(list(zhang.clone(), None, Some(s)).await);

    assert_eq!(
        list(clinic_op.clone(), None, None).await.unwrap(),
        ids([&z1, &l1])
    );
    assert_eq!(
        list(clinic_op.clone(), None, Some(s)).await.unwrap(),
        ids([&z1, &l1])
    );
    assert_eq!(
        forbidden(list(clinic_op.clone(), None, Some(pharmacy)).await),
        "a merchant sees only its own orders"
    );
    forbidden(list(clinic_op.clone(), Some(z), None).await);
    let elsewhere = Principal::Merchant {
        subject: "op-elsewhere".into(),
        merchant_id: clinic,
        mall: MallId::City,
    };
    assert_eq!(
        forbidden(list(elsewhere.clone(), None, None).await),
        "this merchant belongs to another mall"
    );

    let admin = f.admin();
    assert_eq!(
        list(admin.clone(), None, None).await.unwrap(),
        ids([&z1, &z2, &l1])
    );
    assert_eq!(
        list(admin.clone(), Some(l), None).await.unwrap(),
        ids([&l1])
    );
    assert_eq!(
        list(admin.clone(), None, Some(pharmacy)).await.unwrap(),
        ids([&z2])
    );
    let yangpu_admin = Principal::DistrictAdmin {
        staff_id: Uuid::now_v7(),
        district: DistrictCode::parse("310110").unwrap(),
    };
    assert!(
        forbidden(list(yangpu_admin.clone(), None, None).await).starts_with("orders are visible")
    );

    // One order: its resident and its merchant see it; the other merchant, another resident
    // and the merchant of another mall do not.
    let z1_id = z1.order_id.into();
    f.mall.order(&zhang, z1_id).await.unwrap();
    f.mall.order(&clinic_op, z1_id).await.unwrap();
    for stranger in [li, pharmacy_op, elsewhere, yangpu_admin] {
        assert!(
            f.mall.order(&stranger, z1_id).await.is_err(),
            "{stranger:?} saw the order"
        );
    }
}

/// Pages carry a cursor only when full, and the cursor continues where the page ended.
#[tokio::test]
async fn merchants_are_listed_a_page_at_a_time() {
    let f = fixture("rights_pages", MallId::City).await;
    for name in ["A", "B", "C"] {
        f.merchant(name).await;
    }
    let first = f.mall.merchants(2, "").await.unwrap();
    assert_eq!(first.items.len(), 2);
    let cursor = first.next.expect("a full page has a next cursor");
    let second = f.mall.merchants(2, &cursor).await.unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.next, None, "a short page is the last");
    let mut all: Vec<Uuid> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|m| m.merchant_id)
        .collect();
    all.dedup();
    assert_eq!(all.len(), 3);
    assert_eq!(f.mall.merchants(0, "").await.unwrap().items.len(), 3);
    assert_eq!(
        field(f.mall.merchants(2, "not-a-cursor").await),
        "page.cursor"
    );
}

/// A merchant's status: a suspension needs a reason and takes its products off sale; an
/// activation needs no reason.
#[tokio::test]
async fn a_suspension_needs_a_reason_and_an_activation_none() {
    let f = fixture("rights_status", MallId::City).await;
    let (clinic, operator) = f.merchant("Clinic").await;
    let id = clinic.into();
    let admin = f.admin();
    let product = f
        .mall
        .create_product(&operator, &spec("Massage", 100, None))
        .await
        .unwrap();
    assert_eq!(
        field(
            f.mall
                .set_merchant_status(&admin, id, Some(MerchantStatus::Suspended), " ")
                .await
        ),
        "reason"
    );
    let suspended = f
        .mall
        .set_merchant_status(
            &admin,
            id,
            Some(MerchantStatus::Suspended),
            "licence lapsed",
        )
        .await
        .unwrap();
    assert_eq!(suspended.status, MerchantStatus::Suspended);
    let (_, someone) = f.resident(1_000).await;
    assert!(refused(place(&f, &someone, "a", &product).await).contains("not on sale"));
    let active = f
        .mall
        .set_merchant_status(&admin, id, Some(MerchantStatus::Active), "")
        .await
        .unwrap();
    assert_eq!(active.status, MerchantStatus::Active);
    place(&f, &someone, "b", &product).await.unwrap();
    forbidden(
        f.mall
            .set_merchant_status(&operator, id, Some(MerchantStatus::Active), "")
            .await,
    );
}

/// The product bounds hold exactly: stock up to 1,000,000, a minimum age up to 120 (0 means
/// none); a merchant of another mall may not sell here.
#[tokio::test]
async fn product_bounds_hold_at_their_edges() {
    let f = fixture("rights_products", MallId::City).await;
    let (clinic, operator) = f.merchant("Clinic").await;
    let mut s = spec("Massage", 100, Some(1_000_000));
    s.min_age = Some(120);
    let p = f.mall.create_product(&operator, &s).await.unwrap();
    assert_eq!((p.stock, p.min_age), (Some(1_000_000), Some(120)));
    s.min_age = Some(0);
    let p = f.mall.create_product(&operator, &s).await.unwrap();
    assert_eq!(p.min_age, None, "a minimum age of 0 is no minimum");
    s.stock = Some(1_000_001);
    assert_eq!(
        field(f.mall.create_product(&operator, &s).await),
        "product.stock"
    );
    s.stock = None;
    s.min_age = Some(121);
    assert_eq!(
        field(f.mall.create_product(&operator, &s).await),
        "product.min_age"
    );

    let elsewhere = Principal::Merchant {
        subject: "op-elsewhere".into(),
        merchant_id: clinic,
        mall: MallId::District(DistrictCode::parse("310118").unwrap()),
    };
    assert_eq!(
        forbidden(
            f.mall
                .create_product(&elsewhere, &spec("Massage", 100, None))
                .await
        ),
        "this merchant belongs to another mall"
    );
    assert_eq!(f.mall.name(), MallOptions::new(MallId::City).name);
    let options = format!("{:?}", MallOptions::new(MallId::City));
    assert!(
        options.starts_with("MallOptions") && options.contains("City"),
        "{options}"
    );
}

/// A product is on sale from `available_from` (inclusive) until `available_until`
/// (exclusive), and to residents who have reached its minimum age on the day.
#[tokio::test]
async fn sale_windows_and_age_limits_hold_at_their_edges() {
    let f = fixture("rights_window", MallId::City).await;
    let (_, operator) = f.merchant("Clinic").await;
    let mut window = spec("Flu shot", 100, None);
    window.available_from = Some(noon());
    window.available_until = Some(noon() + Duration::hours(1));
    window.min_age = Some(60);
    let product = f.mall.create_product(&operator, &window).await.unwrap();
    // 60 today (2026-11-10), and one day short of it.
    let sixty = f.residents.add((1966, 11, 10), false);
    let almost = f.residents.add((1966, 11, 11), false);
    f.ledger.award(sixty, 1_000).await;
    f.ledger.award(almost, 1_000).await;
    assert_eq!(noon(), Utc.with_ymd_and_hms(2026, 11, 10, 4, 0, 0).unwrap());

    place(&f, &resident(sixty), "at-start", &product)
        .await
        .unwrap();
    assert!(refused(place(&f, &resident(almost), "young", &product).await).contains("aged 60"));
    f.advance(Duration::hours(1) - Duration::microseconds(1));
    place(&f, &resident(sixty), "last-moment", &product)
        .await
        .unwrap();
    f.advance(Duration::microseconds(1));
    assert!(refused(place(&f, &resident(sixty), "too-late", &product).await).contains("no longer"));
}
