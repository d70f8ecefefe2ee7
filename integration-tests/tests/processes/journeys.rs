use healthpoints_integration_tests::{invariants, journey, processes::ProcessMesh};

/// The whole resident journey (see `healthpoints_integration_tests::journey`) on the mesh of
/// separate processes: earning from three sources, spending in two malls with a write-off and a
/// cancel, and a district's statistics matching the ledger — through the gateway's HTTP API.
#[tokio::test]
async fn a_resident_earns_spends_and_is_counted_across_the_process_mesh() {
    let mesh = ProcessMesh::start().await;
    let report = journey::run(&mesh)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(report.written_off, 50);
    assert_eq!(report.qingpu_book["issued"], 240);
    let checked = invariants::check(&mesh, &mesh.endpoint("ledger"), &[report.resident_token])
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!((checked.awards, checked.orders), (12, 2), "{checked}");
    println!("invariants: {checked}");

    // Each service, a process of its own, answers Prometheus on its gRPC port with what it did.
    let scrape = async |name: &str| {
        let response = reqwest::get(format!("{}/metrics", mesh.endpoint(name)))
            .await
            .unwrap_or_else(|e| panic!("{name}'s /metrics: {e}"));
        assert_eq!(response.status(), 200, "{name}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text"),
            "{name}"
        );
        response.text().await.unwrap()
    };
    for (name, service) in [
        ("identity", "identity"),
        ("ledger", "ledger"),
        ("intake", "intake"),
        ("exchange", "exchange"),
        ("city-mall", "mall"),
    ] {
        let text = scrape(name).await;
        assert!(text.ends_with("# EOF\n"), "{name}: {text}");
        assert!(
            text.contains(&format!(
                "healthpoints_rpc_requests_total{{service=\"{service}\""
            )),
            "{name}: {text}"
        );
    }
    let ledger = scrape("ledger").await;
    assert!(
        ledger.contains("healthpoints_points_total{book=\"city\",kind=\"award\"}"),
        "{ledger}"
    );
    assert!(
        ledger.contains("healthpoints_ledger_commit_seconds_count"),
        "{ledger}"
    );
    let intake = scrape("intake").await;
    assert!(
        intake.contains("healthpoints_intake_outcomes_total{kind=\"awarded\"}"),
        "{intake}"
    );
    let mall = scrape("city-mall").await;
    assert!(
        mall.contains("healthpoints_orders_total{mall=\"city\""),
        "{mall}"
    );
    // A process's figures are its own: the ledger served no mall orders.
    assert!(!ledger.contains("healthpoints_orders_total"), "{ledger}");
}

/// A resident loses points to expiry across the process mesh: intake is configured so points
/// last one day, a community lecture three days ago earns 20 Qingpu points that expired the day
/// before yesterday, and the ledger's sweeper — in its own process — moves them to the book's
/// expiry account; the resident's history and the book's figures say so.
#[tokio::test]
async fn a_resident_loses_points_to_expiry_across_the_process_mesh() {
    let mut mesh = ProcessMesh::start().await;
    mesh.terminate("intake", std::time::Duration::from_secs(10))
        .await;
    mesh.configure("intake", "expiry.district", "days:1");
    mesh.restart("intake").await;
    let admin = mesh.admin_token().await;
    let commission = mesh
        .partner(
            &admin,
            "health-commission",
            &["community.lecture"],
            &["behaviours:submit"],
        )
        .await;
    let (me, token) = mesh.resident(901, "310118", "19450101").await;
    let (status, answered) = mesh
        .send_ndjson(
            &commission,
            &[serde_json::json!({"record_id": "lecture-1", "resident_id": me, "behaviour": "community.lecture",
                "occurred_at": format!("{}T10:00:00+08:00", journey::day(3)), "quantity": 1,
                "district": "310118", "attributes": {"lecture_id": "L-1"}})],
        )
        .await;
    assert_eq!(
        (
            status,
            answered["results"][0]["outcome"].as_str(),
            answered["results"][0]["points"].as_u64()
        ),
        (200, Some("awarded"), Some(20)),
        "{answered}"
    );
    let history = mesh
        .eventually(
            "/v1/me/transactions?book=district:310118",
            &token,
            std::time::Duration::from_secs(20),
            |h| {
                h["transactions"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["kind"] == "expire"))
            },
        )
        .await;
    let expired = history["transactions"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["kind"] == "expire"))
        .unwrap_or_else(|| panic!("no expiry in {history}"));
    assert_eq!(expired["points"].as_i64(), Some(-20), "{expired}");
    assert_eq!(mesh.balance(&token, "district:310118").await.unwrap(), 0);
    let stats = mesh
        .expect(
            200,
            reqwest::Method::GET,
            "/v1/admin/books/district:310118/stats",
            Some(&admin),
            None,
        )
        .await
        .unwrap();
    assert_eq!(stats["expired"].as_u64(), Some(20), "{stats}");
}

/// An older resident without a smartphone at a health station, on the mesh of separate
/// processes: the counter (a district admin's staff member) finds them by ID card, records a
/// community lecture (gateway → exchange → identity → intake → ledger), orders a product for
/// them with their consent (a delegated token from identity, the mall reserving in the ledger),
/// and the merchant writes the printed voucher off; every counter step is in their access log.
#[tokio::test]
async fn a_resident_without_a_phone_earns_and_redeems_at_a_health_station_across_the_process_mesh()
{
    use reqwest::Method;
    use serde_json::json;

    let mesh = ProcessMesh::start().await;
    let admin = mesh.admin_token().await;
    let staff = |username: &str, role: &str, extra: serde_json::Value| {
        let mut body = json!({"username": username, "password": healthpoints_integration_tests::STAFF_PASSWORD, "role": role});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let official = mesh
        .staff(
            &admin,
            staff(
                "qp-official",
                "district_admin",
                json!({"district": "310118"}),
            ),
        )
        .await
        .unwrap();
    let counter = mesh
        .staff(
            &official,
            staff(
                "qp-counter",
                "station_staff",
                json!({"district": "310118", "institution_code": "QP-ZJJ-01"}),
            ),
        )
        .await
        .unwrap();
    let (me, token) = mesh.resident(902, "310118", "19440606").await;
    let id_number = healthpoints_integration_tests::id_number("310118", "19440606", 902);
    mesh.grant(&admin, &me, None, 500).await;

    let recorded = mesh
        .expect(
            200,
            Method::POST,
            "/v1/station/behaviours",
            Some(&counter),
            Some(json!({"id_number": id_number, "record_id": "visit-1", "behaviour": "community.lecture",
                "attributes": {"lecture_id": "L-2026-12-07"}})),
        )
        .await
        .unwrap();
    assert_eq!(recorded["result"]["outcome"], "awarded", "{recorded}");
    assert_eq!(recorded["resident"]["resident_id"], me.as_str());

    let (operator, product) = mesh
        .city_shop(
            &admin,
            ("Elderly care shop", "ec-op"),
            ("Walking stick", 400),
        )
        .await
        .unwrap();
    let found = mesh
        .expect(
            200,
            Method::POST,
            "/v1/station/lookup",
            Some(&counter),
            Some(json!({"id_number": id_number})),
        )
        .await
        .unwrap();
    assert!(
        found["balances"].to_string().contains("\"available\":500"),
        "{found}"
    );
    let placed = mesh
        .request(Method::POST, "/v1/station/orders", Some(&counter))
        .header("Idempotency-Key", "station-journey-1")
        .json(
            &json!({"id_number": id_number, "resident_consents": true, "mall": "city",
            "product_id": product}),
        )
        .send()
        .await
        .unwrap();
    let (status, placed) = healthpoints_integration_tests::split(placed).await;
    assert_eq!(status, 201, "{placed}");
    let voucher = placed["order"]["voucher_code"].as_str().unwrap();
    mesh.expect(
        200,
        Method::POST,
        &format!("/v1/merchant/vouchers/{voucher}/write-off"),
        Some(&operator),
        None,
    )
    .await
    .unwrap();
    assert_eq!(mesh.balance(&token, "city").await.unwrap(), 100);

    let log = mesh
        .expect(200, Method::GET, "/v1/me/access-log", Some(&token), None)
        .await
        .unwrap();
    let at_counter: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["actor"]
                .as_str()
                .is_some_and(|a| a.starts_with("station:"))
        })
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        at_counter,
        ["station_order", "station_lookup", "station_record"],
        "{log}"
    );
}

/// A partner's webhook across the process mesh: the insurer registers a receiver that is down,
/// a resident grants and revokes consent, the exchange process is killed (`kill -9`) after its
/// first attempts failed, the receiver comes up, and the restarted exchange delivers both events
/// — signed, and processed once by a receiver that deduplicates by `webhook-id`.
#[tokio::test]
async fn a_partner_webhook_is_delivered_after_its_receiver_and_the_exchange_come_back() {
    use healthpoints_integration_tests::receiver::Receiver;
    use reqwest::Method;
    use serde_json::json;
    use std::time::{Duration, Instant};

    let mut mesh = ProcessMesh::start().await;
    let admin = mesh.admin_token().await;
    let insurer = mesh
        .partner_of_kind(
            &admin,
            "insurer",
            &[],
            &["points-summary:read"],
            "commercial",
        )
        .await;
    let (_, token) = mesh.resident(903, "310118", "19600101").await;
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let hook = mesh
        .expect(
            201,
            Method::POST,
            "/v1/partner/webhooks",
            Some(&insurer),
            Some(json!({"url": format!("http://{addr}/hook"), "events": ["consent.granted", "consent.revoked"]})),
        )
        .await
        .unwrap();
    let (id, secret) = (
        hook["webhook_id"].as_str().unwrap().to_owned(),
        hook["secret"].as_str().unwrap().to_owned(),
    );
    mesh.expect(
        200,
        Method::PUT,
        "/v1/me/consents",
        Some(&token),
        Some(json!({"partner_id": "insurer", "category": "points_summary", "purpose": "premium discount"})),
    )
    .await
    .unwrap();
    mesh.expect(
        200,
        Method::DELETE,
        "/v1/me/consents/insurer/points_summary",
        Some(&token),
        None,
    )
    .await
    .unwrap();
    let attempted = mesh
        .eventually(
            &format!("/v1/partner/webhooks/{id}/deliveries"),
            &insurer,
            Duration::from_secs(10),
            |log| {
                log["deliveries"].as_array().is_some_and(|d| {
                    d.len() == 2 && d.iter().all(|d| d["attempts"].as_u64() >= Some(1))
                })
            },
        )
        .await;
    assert!(
        attempted["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "pending"),
        "{attempted}"
    );

    mesh.kill("exchange").await;
    let receiver = Receiver::start(addr, &secret).await.unwrap();
    mesh.restart("exchange").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.with(|r| r.processed.len()) < 2 {
        assert!(
            Instant::now() < deadline,
            "not delivered after the restart: {}",
            mesh.log_tail("exchange")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kinds: Vec<String> = receiver.with(|r| {
        r.processed
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    });
    assert!(kinds.contains(&"consent.revoked".to_owned()), "{kinds:?}");
    assert_eq!(receiver.with(|r| r.refused), 0);
    let log = mesh
        .expect(
            200,
            Method::GET,
            &format!("/v1/partner/webhooks/{id}/deliveries"),
            Some(&insurer),
            None,
        )
        .await
        .unwrap();
    assert!(
        log["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "delivered"),
        "{log}"
    );
}
