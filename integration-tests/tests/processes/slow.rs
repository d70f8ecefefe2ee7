use std::time::{Duration, Instant};

use healthpoints_integration_tests::{invariants, processes::ProcessMesh};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{GRANT, PRICE, World, settle, steps, until_answered};

/// Sends once and times the answer (or the failure to get one).
async fn timed(
    mesh: &ProcessMesh,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, Duration) {
    let started = Instant::now();
    let method = if body.is_some() {
        Method::POST
    } else {
        Method::GET
    };
    let mut request = mesh.request(method, path, Some(token));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the gateway answers");
    let (status, body) = healthpoints_integration_tests::split(response).await;
    (status, body, started.elapsed())
}

/// The ledger hangs (SIGSTOP: its port stays open and nothing answers). A resident's balance,
/// an order and a partner's batch each get a clear answer within the callers' deadlines — a
/// retryable 503/504 naming the problem, or for the batch "pending" (decided, not yet booked) —
/// and nothing hangs. After SIGCONT the same `Idempotency-Key` completes the order exactly once,
/// the pending records are booked once, and every invariant holds.
#[tokio::test]
async fn a_hung_ledger_gives_clear_retryable_answers_and_retries_complete_once() {
    let mesh = ProcessMesh::start().await;
    let world = World::build(&mesh, 2).await;
    let buyer = world.residents[0].clone();
    let order = json!({"product_id": world.product});
    let batch = json!([steps("slow-1", &buyer.id, 1), steps("slow-2", &buyer.id, 2)]);

    mesh.pause("ledger");
    let (balance_status, balance, balance_took) =
        timed(&mesh, "/v1/me/balances", &buyer.token, None, None).await;
    let (order_status, refused, order_took) = timed(
        &mesh,
        "/v1/malls/310118/orders",
        &buyer.token,
        Some("slow-order"),
        Some(order.clone()),
    )
    .await;
    let (batch_status, answered, batch_took) = timed(
        &mesh,
        "/v1/partner/behaviours",
        &world.sports,
        None,
        Some(batch.clone()),
    )
    .await;
    mesh.resume("ledger");

    // Each answer came when its caller's configured deadline for the ledger ran out (the
    // gateway's for the balance, the mall's for the order) — not the client's 30 s timeout,
    // and not a second sooner: the deadline, not an accident, ended the wait.
    let gateway = healthpoints_gateway::config::GatewayConfig::load(None, &[]).unwrap();
    let mall = healthpoints_mall::config::MallConfig::load(None, &[]).unwrap();
    let slack = Duration::from_secs(2);
    for (what, took, deadline) in [
        (
            "the balance",
            balance_took,
            gateway.ledger.request_timeout_ms,
        ),
        ("the order", order_took, mall.ledger.request_timeout_ms),
    ] {
        let deadline = Duration::from_millis(deadline);
        assert!(
            took >= deadline && took < deadline + slack,
            "{what} answered after {took:?}; the deadline is {deadline:?}"
        );
    }
    let batch_deadline = Duration::from_millis(gateway.exchange.request_timeout_ms);
    assert!(
        batch_took < batch_deadline + slack,
        "the batch answered after {batch_took:?}; the gateway's deadline is {batch_deadline:?}"
    );

    for (what, status, body) in [
        ("a balance", balance_status, &balance),
        ("an order", order_status, &refused),
    ] {
        assert!(
            matches!(status, 503 | 504),
            "{what} while the ledger hangs: {status} {body}"
        );
        assert!(
            matches!(
                body["code"].as_str(),
                Some("unavailable" | "deadline_exceeded")
            ),
            "{what}: {body}"
        );
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
    }
    assert!(
        batch_status == 200
            && answered["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["outcome"] == "pending")
            || matches!(batch_status, 503 | 504),
        "a batch while the ledger hangs: {batch_status} {answered}"
    );

    // After recovery: the same key completes the order once; a second retry is the same order.
    let ((status, placed), _) = until_answered(
        &mesh,
        Method::POST,
        "/v1/malls/310118/orders",
        &buyer.token,
        Some("slow-order"),
        &order,
    )
    .await;
    assert_eq!(status, 201, "{placed}");
    let ((_, again), _) = until_answered(
        &mesh,
        Method::POST,
        "/v1/malls/310118/orders",
        &buyer.token,
        Some("slow-order"),
        &order,
    )
    .await;
    assert_eq!(again["order_id"], placed["order_id"]);
    let mine = mesh
        .expect(
            200,
            Method::GET,
            "/v1/me/orders?mall=310118",
            Some(&buyer.token),
            None,
        )
        .await
        .unwrap();
    assert_eq!(mine["orders"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(
        mesh.balance(&buyer.token, "district:310118").await.unwrap(),
        GRANT - PRICE
    );

    // The records: booked once, each answered as awarded.
    let batch: Vec<Value> = serde_json::from_value(batch).unwrap();
    let settled = json!({"results": settle(&mesh, &world.sports, &[batch]).await});
    assert!(
        settled["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "awarded"),
        "{settled}"
    );
    assert_eq!(mesh.balance(&buyer.token, "city").await.unwrap(), 60);

    let checked = invariants::check(&mesh, &mesh.endpoint("ledger"), &world.tokens())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    println!(
        "ledger hung: balance {balance_status} in {balance_took:.1?}, order {order_status} in {order_took:.1?}, \
         batch {batch_status} ({}) in {batch_took:.1?}; after SIGCONT the order completed once; invariants: {checked}",
        answered["results"][0]["outcome"].as_str().unwrap_or("-")
    );
}
