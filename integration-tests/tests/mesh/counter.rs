//! The counter through the gateway, as a point of sale uses it: look a voucher up, write it off
//! once even when ten tills try at once, retry after a timeout with an `Idempotency-Key`, and a
//! resident's cancel racing the write-off answered honestly. Then the resident's own reads add
//! up: orders page through every mall without loss or repeats, and the history sums to the
//! balance.

use std::collections::BTreeSet;

use healthpoints_integration_tests::{Sandbox, split};
use reqwest::Method;
use serde_json::{Value, json};

/// A city-mall merchant with its operator's token and one product of `price` points.
async fn counter(sandbox: &Sandbox, admin: &str, name: &str, price: u64) -> (String, String) {
    let merchant = sandbox
        .expect(
            201,
            Method::POST,
            "/v1/admin/malls/city/merchants",
            Some(admin),
            Some(json!({"name": name, "licence_no": format!("LIC-{name}"), "contact": "021-5999 0000"})),
        )
        .await
        .unwrap();
    let username = format!("op-{}", name.to_lowercase());
    sandbox
        .expect(
            201,
            Method::POST,
            "/v1/admin/staff",
            Some(admin),
            Some(json!({"username": username, "password": "Merchant-pass-1", "role": "merchant_operator",
                "merchant_id": merchant["merchant_id"], "mall": "city"})),
        )
        .await
        .unwrap();
    let operator = sandbox.login(&username, "Merchant-pass-1").await;
    let product = sandbox
        .expect(
            201,
            Method::POST,
            "/v1/merchant/products",
            Some(&operator),
            Some(json!({"title": "Flu shot", "category": "health_service", "price_points": price})),
        )
        .await
        .unwrap();
    (operator, product["product_id"].as_str().unwrap().to_owned())
}

async fn order(sandbox: &Sandbox, resident: &str, mall: &str, product: &str, key: &str) -> Value {
    let response = sandbox
        .request(
            Method::POST,
            &format!("/v1/malls/{mall}/orders"),
            Some(resident),
        )
        .header("Idempotency-Key", key)
        .json(&json!({"product_id": product}))
        .send()
        .await
        .unwrap();
    let (status, body) = split(response).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn write_off(
    sandbox: &Sandbox,
    operator: &str,
    code: &str,
    key: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut request = sandbox.request(
        Method::POST,
        &format!("/v1/merchant/vouchers/{code}/write-off"),
        Some(operator),
    );
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = split(response).await;
    (status, replayed, body)
}

#[tokio::test]
async fn one_voucher_is_written_off_once_and_every_other_till_learns_the_truth() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let (operator, product) = counter(&sandbox, &admin, "Pharmacy", 800).await;
    let (other_operator, _) = counter(&sandbox, &admin, "Gym", 100).await;
    let (resident_id, resident) = sandbox.resident(1, "310118", "19500101").await;
    sandbox.grant(&admin, &resident_id, None, 5_000).await;
    let placed = order(&sandbox, &resident, "city", &product, "o-1").await;
    let code = placed["voucher_code"].as_str().unwrap();

    // What the counter sees before handing anything over; another merchant sees nothing.
    let seen = sandbox
        .expect(
            200,
            Method::GET,
            &format!("/v1/merchant/vouchers/{code}"),
            Some(&operator),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            &seen["product_title"],
            &seen["quantity"],
            &seen["status"],
            &seen["can_write_off"]
        ),
        (
            &json!("Flu shot"),
            &json!(1),
            &json!("reserved"),
            &json!(true)
        )
    );
    assert_eq!(seen["resident_name_masked"], "陈*");
    let scanned = seen["scan_payload"].as_str().unwrap();
    sandbox
        .expect(
            200,
            Method::GET,
            &format!("/v1/merchant/vouchers/{scanned}"),
            Some(&operator),
            None,
        )
        .await
        .unwrap();
    let (status, _) = sandbox
        .call(
            Method::GET,
            &format!("/v1/merchant/vouchers/{code}"),
            Some(&other_operator),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = sandbox
        .call(
            Method::GET,
            &format!("/v1/merchant/vouchers/{code}"),
            Some(&resident),
            None,
        )
        .await;
    assert_eq!(status, 403, "the counter's view is for merchants");

    // Ten tills at once: one is told it wrote the voucher off; nine are told it already was.
    let tills = (0..10).map(|_| write_off(&sandbox, &operator, code, None));
    let answers = futures::future::join_all(tills).await;
    let won: Vec<&Value> = answers
        .iter()
        .filter(|a| a.0 == 200)
        .map(|a| &a.2)
        .collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    assert_eq!(won[0]["status"], "written_off");
    assert_eq!(won[0]["replay"], false);
    for (status, _, problem) in answers.iter().filter(|a| a.0 != 200) {
        assert_eq!(*status, 422, "{problem}");
        assert_eq!(problem["code"], "failed_precondition");
        assert_eq!(problem["order_status"], "written_off", "{problem}");
        assert_eq!(problem["order_id"], placed["order_id"]);
        assert!(problem["written_off_at"].as_str().is_some(), "{problem}");
    }
    assert_eq!(sandbox.balance(&resident, "city").await.unwrap(), 4_200);

    // A till that timed out retries with its key: the first result again, marked a replay.
    let second = order(&sandbox, &resident, "city", &product, "o-2").await;
    let code = second["voucher_code"].as_str().unwrap();
    let (status, replayed, first) = write_off(&sandbox, &operator, code, Some("till-3-0042")).await;
    assert_eq!(
        (status, replayed, &first["replay"]),
        (200, None, &json!(false))
    );
    let (status, replayed, again) = write_off(&sandbox, &operator, code, Some("till-3-0042")).await;
    assert_eq!(
        (status, replayed.as_deref(), &again["replay"]),
        (200, Some("true"), &json!(true))
    );
    assert_eq!(again["order_id"], first["order_id"]);
    let third = order(&sandbox, &resident, "city", &product, "o-3").await;
    let (status, _, problem) = write_off(
        &sandbox,
        &operator,
        third["voucher_code"].as_str().unwrap(),
        Some("till-3-0042"),
    )
    .await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("conflict")));
    let (status, _, problem) = write_off(&sandbox, &operator, code, Some("键")).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("Idempotency-Key")),
        "{problem}"
    );
    assert_eq!(sandbox.balance(&resident, "city").await.unwrap(), 2_600);
    sandbox.stop().await;
}

#[tokio::test]
async fn a_cancel_racing_a_write_off_is_answered_with_the_state_that_won() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let (operator, product) = counter(&sandbox, &admin, "Clinic", 100).await;
    let (resident_id, resident) = sandbox.resident(2, "310118", "19600101").await;
    sandbox.grant(&admin, &resident_id, None, 5_000).await;
    let mut outcomes = BTreeSet::new();
    for round in 0..12 {
        let placed = order(
            &sandbox,
            &resident,
            "city",
            &product,
            &format!("race-{round}"),
        )
        .await;
        let id = placed["order_id"].as_str().unwrap();
        let code = placed["voucher_code"].as_str().unwrap();
        let path = format!("/v1/me/orders/{id}/cancel");
        let cancel = sandbox.call(Method::POST, &path, Some(&resident), None);
        let (cancel, counter) = tokio::join!(cancel, write_off(&sandbox, &operator, code, None));
        let (_, end) = sandbox
            .call(
                Method::GET,
                &format!("/v1/me/orders/{id}"),
                Some(&resident),
                None,
            )
            .await;
        match (cancel.0, counter.0) {
            (200, 422) => {
                assert_eq!(cancel.1["status"], "cancelled");
                assert_eq!(counter.2["order_status"], "cancelled", "{}", counter.2);
                assert_eq!(end["status"], "cancelled");
            }
            (422, 200) => {
                assert_eq!(counter.2["status"], "written_off");
                assert_eq!(cancel.1["order_status"], "written_off", "{}", cancel.1);
                assert_eq!(end["status"], "written_off");
            }
            other => panic!("exactly one must win: {other:?} {} {}", cancel.1, counter.2),
        }
        outcomes.insert(end["status"].as_str().unwrap().to_owned());
    }
    let (_, history) = sandbox
        .call(
            Method::GET,
            "/v1/me/orders?page_size=100",
            Some(&resident),
            None,
        )
        .await;
    let spent: u64 = history["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["status"] == "written_off")
        .map(|o| o["points"].as_u64().unwrap())
        .sum();
    assert_eq!(
        sandbox.balance(&resident, "city").await.unwrap(),
        5_000 - spent,
        "{outcomes:?}"
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn orders_page_through_every_mall_and_the_history_adds_up_to_the_balance() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let (operator, city_product) = counter(&sandbox, &admin, "Shop", 10).await;
    let qingpu = sandbox
        .expect(201, Method::POST, "/v1/admin/malls/310118/merchants", Some(&admin),
            Some(json!({"name": "Qingpu Clinic", "licence_no": "LIC-QP", "contact": "021-5999 0001"})))
        .await
        .unwrap();
    sandbox
        .expect(201, Method::POST, "/v1/admin/staff", Some(&admin),
            Some(json!({"username": "qp-op", "password": "Merchant-pass-1", "role": "merchant_operator",
                "merchant_id": qingpu["merchant_id"], "mall": "310118"})))
        .await
        .unwrap();
    let qp_operator = sandbox.login("qp-op", "Merchant-pass-1").await;
    let qp_product = sandbox
        .expect(
            201,
            Method::POST,
            "/v1/merchant/products",
            Some(&qp_operator),
            Some(json!({"title": "Massage", "category": "health_service", "price_points": 20})),
        )
        .await
        .unwrap()["product_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (resident_id, resident) = sandbox.resident(3, "310118", "19700101").await;
    sandbox.grant(&admin, &resident_id, None, 1_000).await;
    sandbox
        .grant(&admin, &resident_id, Some("310118"), 1_000)
        .await;

    // 21 orders in two malls; some written off, some cancelled, some still reserved.
    let mut placed = Vec::new();
    for i in 0..21 {
        let (mall, product) = if i % 3 == 0 {
            ("310118", &qp_product)
        } else {
            ("city", &city_product)
        };
        let o = order(&sandbox, &resident, mall, product, &format!("page-{i}")).await;
        let (op, code) = (
            if mall == "city" {
                &operator
            } else {
                &qp_operator
            },
            o["voucher_code"].as_str().unwrap(),
        );
        match i % 4 {
            0 => assert_eq!(write_off(&sandbox, op, code, None).await.0, 200),
            1 => {
                let id = o["order_id"].as_str().unwrap();
                sandbox
                    .expect(
                        200,
                        Method::POST,
                        &format!("/v1/me/orders/{id}/cancel"),
                        Some(&resident),
                        None,
                    )
                    .await
                    .unwrap();
            }
            _ => {}
        }
        placed.push(o["order_id"].as_str().unwrap().to_owned());
    }
    for page_size in [1, 4, 21, 50] {
        let (mut seen, mut cursor) = (Vec::new(), String::new());
        for _ in 0..30 {
            let (status, page) = sandbox
                .call(
                    Method::GET,
                    &format!("/v1/me/orders?page_size={page_size}&cursor={cursor}"),
                    Some(&resident),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{page}");
            assert!(page.get("unavailable").is_none(), "{page}");
            seen.extend(
                page["orders"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["order_id"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        let mut newest_first = placed.clone();
        newest_first.reverse();
        assert_eq!(
            seen, newest_first,
            "page_size {page_size}: every order once, newest first"
        );
    }
    let (status, problem) = sandbox
        .call(
            Method::GET,
            "/v1/me/orders?cursor=not-a-cursor",
            Some(&resident),
            None,
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("cursor")));

    // Each book's history, read page by page, sums to its posted balance; the reservations
    // still pending sum to its pending balance.
    let (_, balances) = sandbox
        .call(Method::GET, "/v1/me/balances", Some(&resident), None)
        .await;
    for balance in balances["balances"].as_array().unwrap() {
        let book = balance["book"].as_str().unwrap();
        let (mut posted, mut pending, mut cursor, mut lines) = (0i64, 0i64, String::new(), 0);
        loop {
            let (status, page) = sandbox
                .call(
                    Method::GET,
                    &format!("/v1/me/transactions?book={book}&page_size=3&cursor={cursor}"),
                    Some(&resident),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{page}");
            for t in page["transactions"].as_array().unwrap() {
                lines += 1;
                posted += t["points"].as_i64().unwrap();
                if t["reservation"] == "pending" {
                    pending += t["pending_points"].as_i64().unwrap();
                }
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        assert!(lines > 10, "{book}: {lines} lines");
        assert_eq!(
            posted,
            balance["posted"].as_i64().unwrap(),
            "{book}: {balance}"
        );
        assert_eq!(
            -pending,
            balance["pending"].as_i64().unwrap(),
            "{book}: {balance}"
        );
    }
    sandbox.stop().await;
}
