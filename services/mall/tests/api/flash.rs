use healthpoints_ledger::domain::model::AccountKind;
use healthpoints_mall::domain::error::MallError;
use healthpoints_types::MallId;

use crate::helpers::*;

/// 200 residents order the last 50 units at once — each order its own task, on four worker
/// threads, so they run in parallel, not interleaved on one: exactly 50 orders, no oversell,
/// every loser is told "sold out" and keeps every point. Meant for PostgreSQL (concurrent
/// transactions); on SQLite the same holds with writes serialised.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flash_sale_sells_exactly_the_stock() {
    let f = fixture("flash_sale", MallId::City).await;
    let (_, operator) = f.merchant("Pharmacy").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Smart watch", 900, Some(50)))
        .await
        .unwrap();
    let mut residents = Vec::new();
    for _ in 0..200 {
        residents.push(f.resident(1_000).await);
    }
    let product_id = product.product_id;
    let mall = f.shared_mall();
    let attempts: Vec<_> = residents
        .iter()
        .map(|(_, who)| {
            let (mall, who) = (mall.clone(), who.clone());
            tokio::spawn(async move { mall.create_order(&who, ask("flash", product_id, 1)).await })
        })
        .collect();
    let mut results = Vec::new();
    for attempt in attempts {
        results.push(attempt.await.expect("the order task finishes"));
    }
    let mut won = 0;
    for r in &results {
        match r {
            Ok(_) => won += 1,
            Err(MallError::Refused(why)) => assert!(why.contains("sold out"), "{why}"),
            Err(other) => panic!("a loser must get a clear refusal, got {other:?}"),
        }
    }
    assert_eq!(won, 50, "exactly the stock is sold");
    let p = f
        .mall
        .store()
        .product(product.product_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.stock, Some(0), "no oversell");
    for ((id, _), r) in residents.iter().zip(&results) {
        let expected = if r.is_ok() { (1_000, 900) } else { (1_000, 0) };
        assert_eq!(f.ledger.balance(AccountKind::Resident, *id).await, expected);
    }
}
