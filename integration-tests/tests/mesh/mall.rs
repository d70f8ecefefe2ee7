use std::time::Duration;

use healthpoints_integration_tests::Sandbox;
use reqwest::Method;
use serde_json::{Value, json};

async fn contract(sandbox: &Sandbox, admin: &str, resident: &str, district: &str) {
    let (status, body) = sandbox
        .call(
            Method::PUT,
            &format!("/v1/admin/residents/{resident}/family-doctor"),
            Some(admin),
            Some(json!({"institution_code": format!("{district}-CHC"), "institution_name": "Community Health Centre",
                "district": district, "signed_on": "2026-01-01", "valid_until": "2027-12-31"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn ask(sandbox: &Sandbox, token: &str) -> (String, String, Vec<String>) {
    let (status, body) = sandbox
        .call(Method::GET, "/v1/mall", Some(token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    route(&body)
}

fn route(body: &Value) -> (String, String, Vec<String>) {
    (
        body["mall"]["mall"].as_str().unwrap_or_default().to_owned(),
        body["reason"].as_str().unwrap_or_default().to_owned(),
        body["jumps"]
            .as_array()
            .map(|j| {
                j.iter()
                    .map(|m| m["mall"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// The routing table through the gateway: contract in an enrolled district, in a district that
/// has not joined, none, and a district mall stopped and started again; jumps to a district
/// where the resident holds points; a changed contract routes the next request anew.
#[tokio::test]
async fn the_router_sends_each_resident_to_the_right_mall_and_says_why() {
    let mut sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let (qingpu_id, qingpu) = sandbox.resident(1, "310118", "19800101").await;
    let (moved_id, moved) = sandbox.resident(2, "310110", "19800101").await;
    let (huangpu_id, huangpu) = sandbox.resident(3, "310118", "19800101").await;
    let (_, nobody) = sandbox.resident(4, "310118", "19800101").await;
    contract(&sandbox, &admin, &qingpu_id, "310118").await;
    contract(&sandbox, &admin, &huangpu_id, "310101").await;
    // Lives in Yangpu and earned Yangpu points there, but now has a doctor in Qingpu.
    sandbox.grant(&admin, &moved_id, Some("310110"), 300).await;
    contract(&sandbox, &admin, &moved_id, "310118").await;

    assert_eq!(
        ask(&sandbox, &qingpu).await,
        (
            "310118".into(),
            "family_doctor_contract".into(),
            vec!["city".into()]
        )
    );
    assert_eq!(
        ask(&sandbox, &huangpu).await,
        ("city".into(), "district_not_enrolled".into(), vec![])
    );
    assert_eq!(
        ask(&sandbox, &nobody).await,
        ("city".into(), "no_family_doctor_contract".into(), vec![])
    );
    assert_eq!(
        ask(&sandbox, &moved).await,
        (
            "310118".into(),
            "family_doctor_contract".into(),
            vec!["city".into(), "310110".into()]
        )
    );
    let (status, _) = sandbox
        .call(Method::GET, "/v1/mall", Some(&admin), None)
        .await;
    assert_eq!(status, 403, "only residents are routed");
    let (status, _) = sandbox.call(Method::GET, "/v1/mall", None, None).await;
    assert_eq!(status, 401);

    // The Qingpu mall goes down: its residents go to the city mall within seconds, with the
    // reason; Yangpu's mall and the city mall keep serving.
    sandbox.stop_mall("310118").await;
    let down = sandbox
        .eventually("/v1/mall", &qingpu, Duration::from_secs(10), |b| {
            b["reason"] == "district_mall_unavailable"
        })
        .await;
    assert_eq!(route(&down).0, "city", "{down}");
    assert!(
        down["message"].as_str().unwrap().contains("Qingpu"),
        "{down}"
    );
    let (status, problem) = sandbox
        .call(Method::GET, "/v1/malls/310118/products", None, None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("unavailable"))
    );
    for mall in ["city", "310110"] {
        let (status, body) = sandbox
            .call(
                Method::GET,
                &format!("/v1/malls/{mall}/products"),
                None,
                None,
            )
            .await;
        assert_eq!(status, 200, "{mall}: {body}");
    }
    let (status, _) = sandbox
        .call(Method::GET, "/v1/malls/310101/products", None, None)
        .await;
    assert_eq!(status, 404, "Huangpu has no mall");

    // It comes back: so does the routing.
    sandbox.start_mall("310118").await;
    let back = sandbox
        .eventually("/v1/mall", &qingpu, Duration::from_secs(20), |b| {
            b["reason"] == "family_doctor_contract"
        })
        .await;
    assert_eq!(route(&back).0, "310118", "{back}");

    // A changed contract routes the very next request anew.
    contract(&sandbox, &admin, &qingpu_id, "310110").await;
    assert_eq!(ask(&sandbox, &qingpu).await.0, "310110");
    sandbox.stop().await;
}

/// Admission, a catalogue, an order with a voucher, a write-off at the counter, a cancel, and
/// the month's statement — through the gateway only, each role confined to its own.
#[tokio::test]
async fn an_order_goes_from_voucher_to_counter_to_statement() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let (status, _) = sandbox
        .call(Method::POST, "/v1/admin/staff", Some(&admin), Some(json!({
            "username": "qp-admin", "password": "District-pass-1", "role": "district_admin", "district": "310118",
        })))
        .await;
    assert_eq!(status, 201);
    let (status, _) = sandbox
        .call(Method::POST, "/v1/admin/staff", Some(&admin), Some(json!({
            "username": "yp-admin", "password": "District-pass-1", "role": "district_admin", "district": "310110",
        })))
        .await;
    assert_eq!(status, 201);
    let qp_admin = sandbox.login("qp-admin", "District-pass-1").await;
    let yp_admin = sandbox.login("yp-admin", "District-pass-1").await;

    // Qingpu's admin admits merchants to Qingpu's mall; Yangpu's may not.
    let admit =
        json!({"name": "Qingpu Clinic", "licence_no": "91310118MA1", "contact": "021-5999 0000"});
    let (status, _) = sandbox
        .call(
            Method::POST,
            "/v1/admin/malls/310118/merchants",
            Some(&yp_admin),
            Some(admit.clone()),
        )
        .await;
    assert_eq!(status, 403);
    let (status, clinic) = sandbox
        .call(
            Method::POST,
            "/v1/admin/malls/310118/merchants",
            Some(&qp_admin),
            Some(admit),
        )
        .await;
    assert_eq!(status, 201, "{clinic}");
    let (status, other) = sandbox
        .call(Method::POST, "/v1/admin/malls/310118/merchants", Some(&qp_admin),
            Some(json!({"name": "Qingpu Gym", "licence_no": "91310118MA2", "contact": "021-5999 0001"})))
        .await;
    assert_eq!(status, 201, "{other}");
    let (_, public) = sandbox
        .call(Method::GET, "/v1/malls/310118/merchants", None, None)
        .await;
    assert_eq!(
        public["merchants"].as_array().unwrap().len(),
        2,
        "the list is public"
    );
    for (name, merchant) in [("clinic-op", &clinic), ("gym-op", &other)] {
        let (status, body) = sandbox
            .call(
                Method::POST,
                "/v1/admin/staff",
                Some(&qp_admin),
                Some(json!({
                    "username": name, "password": "Merchant-pass-1", "role": "merchant_operator",
                    "merchant_id": merchant["merchant_id"], "mall": "310118",
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let clinic_op = sandbox.login("clinic-op", "Merchant-pass-1").await;
    let gym_op = sandbox.login("gym-op", "Merchant-pass-1").await;

    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/merchant/products",
            Some(&clinic_op),
            Some(json!({"title": "Dental check", "category": "dentistry", "price_points": 2000})),
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("category")));
    let (status, product) = sandbox
        .call(Method::POST, "/v1/merchant/products", Some(&clinic_op),
            Some(json!({"title": "Dental check", "category": "health_service", "price_points": 2000, "stock": 5})))
        .await;
    assert_eq!(status, 201, "{product}");
    assert_eq!(product["price_yuan"], "20.00");
    let product_id = product["product_id"].as_str().unwrap();

    let (resident_id, resident_token) = sandbox.resident(10, "310118", "19700101").await;
    sandbox
        .grant(&admin, &resident_id, Some("310118"), 5_000)
        .await;
    let order = async |key: &str| {
        sandbox
            .request(
                Method::POST,
                "/v1/malls/310118/orders",
                Some(&resident_token),
            )
            .header("Idempotency-Key", key)
            .json(&json!({"product_id": product_id}))
            .send()
            .await
            .unwrap()
    };
    let (status, first) = healthpoints_integration_tests::split(order("k-1").await).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = healthpoints_integration_tests::split(order("k-1").await).await;
    assert_eq!(
        (status, &again["order_id"]),
        (201, &first["order_id"]),
        "same key, same order"
    );
    let (status, second) = healthpoints_integration_tests::split(order("k-2").await).await;
    assert_eq!(status, 201, "{second}");
    let (_, balances) = sandbox
        .call(Method::GET, "/v1/me/balances", Some(&resident_token), None)
        .await;
    let qingpu = balances["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["book"] == "district:310118")
        .unwrap();
    assert_eq!(
        (&qingpu["pending"], &qingpu["available"]),
        (&json!(4000), &json!(1000))
    );

    // The other merchant may not write off the clinic's voucher; the clinic does, once.
    let code = first["voucher_code"].as_str().unwrap();
    let path = format!("/v1/merchant/vouchers/{code}/write-off");
    let (status, _) = sandbox.call(Method::POST, &path, Some(&gym_op), None).await;
    assert_eq!(status, 403);
    let (status, _) = sandbox
        .call(Method::POST, &path, Some(&resident_token), None)
        .await;
    assert_eq!(status, 403);
    let scanned = first["scan_payload"].as_str().unwrap();
    let (status, done) = sandbox
        .call(
            Method::POST,
            &format!("/v1/merchant/vouchers/{scanned}/write-off"),
            Some(&clinic_op),
            None,
        )
        .await;
    assert_eq!(
        (status, done["status"].as_str()),
        (200, Some("written_off")),
        "{done}"
    );
    let (status, twice) = sandbox
        .call(Method::POST, &path, Some(&clinic_op), None)
        .await;
    assert_eq!(status, 422, "{twice}");

    // The second order is cancelled: points and stock come back.
    let second_id = second["order_id"].as_str().unwrap();
    let (status, cancelled) = sandbox
        .call(
            Method::POST,
            &format!("/v1/me/orders/{second_id}/cancel"),
            Some(&resident_token),
            None,
        )
        .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("cancelled")),
        "{cancelled}"
    );
    let (_, mine) = sandbox
        .call(Method::GET, "/v1/me/orders", Some(&resident_token), None)
        .await;
    assert_eq!(mine["orders"].as_array().unwrap().len(), 2, "{mine}");
    let (status, _) = sandbox
        .call(
            Method::GET,
            &format!("/v1/me/orders/{second_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 403, "an admin token is not a resident's");

    // The month's statement shows exactly the written-off amount, in points and yuan.
    let (status, statements) = sandbox
        .call(
            Method::GET,
            "/v1/merchant/settlements",
            Some(&clinic_op),
            None,
        )
        .await;
    assert_eq!(status, 200, "{statements}");
    let current = &statements["statements"][0];
    assert_eq!(
        (
            &current["points"],
            &current["yuan"],
            &current["written_off"]
        ),
        (&json!(2000), &json!("20.00"), &json!(1))
    );
    let (_, gym) = sandbox
        .call(Method::GET, "/v1/merchant/settlements", Some(&gym_op), None)
        .await;
    assert_eq!(
        gym["statements"][0]["points"], 0,
        "the gym sees only its own"
    );
    let period = current["period"].as_str().unwrap();
    let merchant_id = clinic["merchant_id"].as_str().unwrap();
    let close = format!("/v1/admin/malls/310118/settlements/{merchant_id}/{period}/close");
    let (status, _) = sandbox
        .call(Method::POST, &close, Some(&yp_admin), None)
        .await;
    assert_eq!(status, 403);
    let (status, closed) = sandbox
        .call(Method::POST, &close, Some(&qp_admin), None)
        .await;
    assert_eq!(
        (status, closed["status"].as_str()),
        (200, Some("closed")),
        "{closed}"
    );
    let csv = sandbox
        .text(
            &format!("/v1/merchant/settlements?period={period}&format=csv"),
            Some(&clinic_op),
        )
        .await;
    assert!(csv.contains("Dental check,1,2000,20.00"), "{csv}");
    let (status, stats) = sandbox
        .call(
            Method::GET,
            "/v1/admin/malls/310118/stats",
            Some(&qp_admin),
            None,
        )
        .await;
    assert_eq!(
        (status, &stats["points_redeemed"]),
        (200, &json!(2000)),
        "{stats}"
    );
    let (status, _) = sandbox
        .call(
            Method::GET,
            "/v1/admin/malls/310118/stats",
            Some(&yp_admin),
            None,
        )
        .await;
    assert_eq!(status, 403);
    sandbox.stop().await;
}
