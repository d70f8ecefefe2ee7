use std::time::Instant;

use healthpoints_integration_tests::{invariants, processes::ProcessMesh};
use reqwest::Method;
use serde_json::json;

use crate::support::{Load, PRICE, World, verify};

/// `kill -9` of the ledger, then of intake, then of the Qingpu mall, each in the middle of a
/// steady load: a partner sending steps in batches and residents ordering at the Qingpu clinic,
/// both retrying as real clients do (same record ids, same `Idempotency-Key`). Each process
/// comes back on its database. Afterwards: every record answered once and the same on a
/// resend; every acknowledged order present exactly once and nothing else; the stock taken
/// equals the orders; write-offs and cancels still work; and every invariant holds.
#[tokio::test]
async fn the_ledger_intake_and_a_district_mall_killed_in_turn_lose_and_double_nothing() {
    let mut mesh = ProcessMesh::start().await;
    let world = World::build(&mesh, 12).await;
    let stock_before = world.stock(&mesh).await;
    let load = Load::start(&mesh, &world, 4);

    // Kill each in turn while the load runs; each comes back after two seconds.
    let mut killed = Vec::new();
    for name in ["ledger", "intake", "mall-310118"] {
        load.until_more_answered(3, "before a kill").await;
        mesh.kill(name).await;
        let down = Instant::now();
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        mesh.restart(name).await;
        killed.push(format!("{name} down {:.1} s", down.elapsed().as_secs_f64()));
    }
    // The load flows again through every restarted process before it stops.
    load.until_more_answered(3, "after the restarts").await;
    let batches = load.batches.clone();
    let told = load.stop().await;
    // The outages were seen: the partner retried batches and the buyers retried orders.
    assert!(
        told.batch_retries > 0 && told.order_retries > 0,
        "{} batch retries, {} order retries",
        told.batch_retries,
        told.order_retries
    );
    let (records, awarded, placed_total) =
        verify(&mesh, &world, &batches, &told, stock_before, 0).await;
    let (step_retries, order_retries, orders) =
        (told.batch_retries, told.order_retries, &told.orders);

    // The counter and the phone still work: write every second order off, cancel every third.
    let (mut written_off, mut cancelled) = (0, 0);
    for (buyer, placed, _) in orders {
        for (i, id) in placed.iter().enumerate() {
            if i % 2 == 0 {
                let order = mesh
                    .expect(
                        200,
                        Method::GET,
                        &format!("/v1/me/orders/{id}"),
                        Some(&buyer.token),
                        None,
                    )
                    .await
                    .unwrap();
                let code = order["voucher_code"].as_str().unwrap();
                mesh.expect(
                    200,
                    Method::POST,
                    &format!("/v1/merchant/vouchers/{code}/write-off"),
                    Some(&world.clinic),
                    None,
                )
                .await
                .unwrap();
                written_off += 1;
            } else if i % 3 == 0 {
                mesh.expect(
                    200,
                    Method::POST,
                    &format!("/v1/me/orders/{id}/cancel"),
                    Some(&buyer.token),
                    None,
                )
                .await
                .unwrap();
                cancelled += 1;
            }
        }
    }
    let statement = mesh
        .expect(
            200,
            Method::GET,
            "/v1/merchant/settlements",
            Some(&world.clinic),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        statement["statements"][0]["points"],
        json!(written_off * PRICE)
    );

    let checked = invariants::check(&mesh, &mesh.endpoint("ledger"), &world.tokens())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    println!(
        "kill -9 in turn ({}): {} records in {} batches ({step_retries} retries), {awarded} points awarded once; \
         {placed_total} orders ({order_retries} retries), {written_off} written off, {cancelled} cancelled; invariants: {checked}",
        killed.join(", "),
        records,
        told.answers.len(),
    );
}
