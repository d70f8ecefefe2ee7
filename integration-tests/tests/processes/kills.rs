use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use healthpoints_integration_tests::{invariants, processes::ProcessMesh};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{PRICE, World, check_orders, send_batch, settle, spawn_buyers, steps};

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
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));

    // Steps: every resident, day by day back to 28 days ago, ten records a batch.
    let records: Vec<Value> = (1..=28)
        .flat_map(|d| {
            world
                .residents
                .iter()
                .map(move |r| steps(&format!("{}-{d}", r.id), &r.id, d))
        })
        .collect();
    let batches: Vec<Vec<Value>> = records.chunks(10).map(<[Value]>::to_vec).collect();
    let partner = {
        let (gw, token, batches) = ((*mesh).clone(), world.sports.clone(), batches.clone());
        let (stop, progress) = (stop.clone(), progress.clone());
        tokio::spawn(async move {
            let (mut answers, mut retries) = (Vec::new(), 0);
            for batch in &batches {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let (answer, tries) = send_batch(&gw, &token, batch).await;
                retries += tries - 1;
                answers.push(answer);
                progress.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (answers, retries)
        })
    };
    // Orders: four buyers, one order after another until told to stop.
    let buyers = spawn_buyers(&mesh, &world, 4, &stop);

    // Kill each in turn while the load runs; each comes back after two seconds.
    let mut killed = Vec::new();
    for name in ["ledger", "intake", "mall-310118"] {
        let before = progress.load(Ordering::SeqCst);
        while progress.load(Ordering::SeqCst) < before + 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        mesh.kill(name).await;
        let down = Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        mesh.restart(name).await;
        killed.push(format!("{name} down {:.1} s", down.elapsed().as_secs_f64()));
    }
    // The load flows again through every restarted process before it stops.
    let after = progress.load(Ordering::SeqCst);
    while progress.load(Ordering::SeqCst) < (after + 3).min(batches.len()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (answers, step_retries) = partner.await.expect("the partner finishes");
    let mut orders = Vec::new();
    for b in buyers {
        orders.push(b.await.expect("the buyers finish"));
    }
    let order_retries: u32 = orders.iter().map(|(_, _, r)| r).sum();
    // The outages were seen: the partner retried batches and the buyers retried orders.
    assert!(
        step_retries > 0 && order_retries > 0,
        "{step_retries} batch retries, {order_retries} order retries"
    );

    // Records: a resend answers each as first answered (pending ones settle), none twice.
    let first: Vec<Value> = answers
        .iter()
        .flat_map(|a| a["results"].as_array().unwrap().clone())
        .collect();
    let sent = &batches[..answers.len()];
    let settled = settle(&mesh, &world.sports, sent).await;
    for (before, after) in first.iter().zip(&settled) {
        assert_eq!(before["record_id"], after["record_id"]);
        assert_eq!(after["outcome"], "awarded", "{after}");
        assert_eq!(before["points"], after["points"], "{before} then {after}");
    }
    let awarded: u64 = settled.iter().map(|r| r["points"].as_u64().unwrap()).sum();
    let book = mesh
        .expect(
            200,
            Method::GET,
            "/v1/admin/books/city/stats",
            Some(&world.admin),
            None,
        )
        .await
        .unwrap();
    assert_eq!(book["issued"], json!(awarded), "{book}");

    // Orders: exactly the acknowledged ones, each once; the stock taken is their number.
    let placed_total = check_orders(&mesh, &world, &orders, stock_before).await;

    // The counter and the phone still work: write every second order off, cancel every third.
    let (mut written_off, mut cancelled) = (0, 0);
    for (buyer, placed, _) in &orders {
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
        first.len(),
        answers.len(),
    );
}
