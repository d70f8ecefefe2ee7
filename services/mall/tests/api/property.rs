//! Random sequences of awards, orders, cancels, write-offs and expiries, through the mall and
//! the real ledger: afterwards the resident's history, read page by page as a client does, adds
//! up — its posted points to the posted balance, the reservations still pending to the pending
//! one — and every order's reservation stands as its status says.

use chrono::Duration;
use healthpoints_auth::Principal;
use healthpoints_ledger::{domain::model::AccountKind, service::AccountSelector};
use healthpoints_mall::domain::model::OrderStatus;
use healthpoints_types::MallId;
use proptest::prelude::*;

use crate::helpers::*;

#[derive(Debug, Clone)]
enum Op {
    Award(u64),
    Order {
        product: usize,
        quantity: u32,
    },
    Cancel(usize),
    WriteOff(usize),
    /// Four days pass: open vouchers expire and the sweeper voids them.
    Expire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1..2_000u64).prop_map(Op::Award),
        4 => (0..2usize, 1..3u32).prop_map(|(product, quantity)| Op::Order { product, quantity }),
        2 => (0..12usize).prop_map(Op::Cancel),
        2 => (0..12usize).prop_map(Op::WriteOff),
        1 => Just(Op::Expire),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_residents_history_adds_up_to_the_balance_whatever_the_orders_became(
        ops in prop::collection::vec(op(), 1..24)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let f = fixture("mall_property", MallId::City).await;
            let (_, operator) = f.merchant("Pharmacy").await;
            let mut products = Vec::new();
            for (title, price) in [("Flu shot", 300), ("Massage", 70)] {
                products.push(f.mall.create_product(&operator, &spec(title, price, None)).await.unwrap());
            }
            let (resident_id, me) = f.resident(1_000).await;
            let mut orders = Vec::new();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Award(points) => f.ledger.award(resident_id, points).await,
                    Op::Order { product, quantity } => {
                        let asked = ask(&format!("k{n}"), products[product].product_id, quantity);
                        // Refusals (not enough points) are part of the sequence.
                        if let Ok(o) = f.mall.create_order(&me, asked).await {
                            orders.push(o);
                        }
                    }
                    Op::Cancel(i) => {
                        if let Some(o) = orders.get(i % orders.len().max(1)) {
                            let _ = f.mall.cancel(&me, o.order_id.into()).await;
                        }
                    }
                    Op::WriteOff(i) => {
                        if let Some(o) = orders.get(i % orders.len().max(1)) {
                            let _ = f.mall.write_off(&operator, &o.voucher_code, None).await;
                        }
                    }
                    Op::Expire => {
                        f.advance(Duration::days(4));
                        f.mall.sweep().await.unwrap();
                    }
                }
            }
            let (posted, pending) = f.ledger.balance(AccountKind::Resident, resident_id).await;
            let (sum_posted, sum_pending, reservations) = history(&f, resident_id).await;
            prop_assert_eq!(sum_posted, posted, "the posted points of the history");
            prop_assert_eq!(-sum_pending, i128::from(pending), "the pending reservations");
            for o in &orders {
                let o = f.mall.order(&me, o.order_id.into()).await.unwrap();
                let want: &[&str] = match o.status {
                    OrderStatus::Reserved => &["pending"],
                    OrderStatus::WrittenOff | OrderStatus::Refunded => &["posted"],
                    OrderStatus::Cancelled => &["voided"],
                    // Voided by the mall's sweeper, or timed out by the ledger's first.
                    OrderStatus::Expired => &["voided", "expired"],
                    other => panic!("an order left {other:?}"),
                };
                let got = reservations.iter().find(|(id, _)| *id == o.order_id).map(|(_, s)| s.as_str());
                prop_assert!(got.is_some_and(|g| want.contains(&g)), "order {:?}: {:?}", o.status, got);
            }
            Ok(())
        })?;
    }
}

/// The resident's history in the mall's book, page by page: the sum of posted points, of the
/// pending points of reservations not yet resolved, and each reservation's state.
async fn history(f: &Fixture, resident: uuid::Uuid) -> (i128, i128, Vec<(uuid::Uuid, String)>) {
    let me = Principal::Resident {
        resident_id: resident,
    };
    let (mut posted, mut pending, mut states, mut cursor) =
        (0i128, 0i128, Vec::new(), String::new());
    loop {
        let (page, next) = f
            .ledger
            .current()
            .history(
                &me,
                AccountSelector::OwnerBook {
                    owner_id: resident.to_string(),
                    book: "city".into(),
                },
                vec![],
                None,
                None,
                &cursor,
                5,
            )
            .await
            .unwrap();
        for e in &page {
            posted += i128::from(e.posted_points());
            if let Some(p) = e.pending_points() {
                let state = e.resolution.map_or("pending", |r| r.as_str()).to_owned();
                if e.resolution.is_none() {
                    pending += i128::from(p);
                }
                states.push((e.transfer.id, state));
            }
        }
        match next {
            Some(c) => cursor = c,
            None => return (posted, pending, states),
        }
    }
}
