//! Notifications and webhooks through the gateway: a partner registers a webhook (its secret
//! shown once; private, link-local and metadata addresses refused), a resident grants and
//! revokes consent, and the partner hears of it — signed, at least once, and processed once by
//! a receiver that deduplicates by `webhook-id` — even when its receiver was down at first; the
//! delivery log says what happened and a replay sends the same id again. The resident finds
//! both changes in their inbox and marks them read.

use std::time::{Duration, Instant};

use healthpoints_integration_tests::{Sandbox, receiver::Receiver};
use reqwest::Method;
use serde_json::{Value, json};

/// A loopback address for a receiver started later: below the kernel's ephemeral range, where
/// no outgoing connection can take it first (see `free_ports`).
fn free_port() -> std::net::SocketAddr {
    let port = healthpoints_integration_tests::free_ports(1)[0];
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

async fn deliveries(sandbox: &Sandbox, partner: &str, hook: &str) -> Vec<Value> {
    sandbox
        .expect(
            200,
            Method::GET,
            &format!("/v1/partner/webhooks/{hook}/deliveries"),
            Some(partner),
            None,
        )
        .await
        .unwrap()["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_partner_hears_of_a_revoked_consent_at_least_once_and_processes_it_once() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let insurer = sandbox
        .partner_of_kind(
            &admin,
            "insurer",
            &[],
            &["points-summary:read"],
            "commercial",
        )
        .await;
    let (resident, token) = sandbox.resident(951, "310118", "19700101").await;

    // Addresses a webhook may not call and a URL that is not one (422), and events a partner
    // does not get (400, naming the field).
    for (body, status, field) in [
        (
            json!({"url": "https://169.254.169.254/latest/meta-data", "events": ["consent.revoked"]}),
            422,
            None,
        ),
        (
            json!({"url": "http://10.1.2.3/hook", "events": ["consent.revoked"]}),
            422,
            None,
        ),
        (
            json!({"url": "https://[fd00::1]/hook", "events": ["consent.revoked"]}),
            422,
            None,
        ),
        (
            json!({"url": "not a url", "events": ["consent.revoked"]}),
            422,
            None,
        ),
        (
            json!({"url": "https://hooks.example.org/hp", "events": ["order.created"]}),
            400,
            Some("events[0]"),
        ),
    ] {
        let (got, problem) = sandbox
            .call(
                Method::POST,
                "/v1/partner/webhooks",
                Some(&insurer),
                Some(body),
            )
            .await;
        assert_eq!(
            (got, problem["field"].as_str()),
            (status, field),
            "{problem}"
        );
    }
    // Residents and admins have no webhooks.
    let (status, _) = sandbox
        .call(Method::GET, "/v1/partner/webhooks", Some(&token), None)
        .await;
    assert_eq!(status, 403);

    // The receiver is down when the webhook is registered (`healthpoints up` allows loopback).
    let addr = free_port();
    let url = format!("http://{addr}/hook");
    let hook = sandbox
        .expect(
            201,
            Method::POST,
            "/v1/partner/webhooks",
            Some(&insurer),
            Some(json!({"url": url, "events": ["consent.granted", "consent.revoked"]})),
        )
        .await
        .unwrap();
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = hook["webhook_id"].as_str().unwrap().to_owned();
    let listed = sandbox
        .expect(
            200,
            Method::GET,
            "/v1/partner/webhooks",
            Some(&insurer),
            None,
        )
        .await
        .unwrap();
    assert_eq!(listed["webhooks"][0]["url"], url.as_str());
    assert!(listed["webhooks"][0].get("secret").is_none(), "shown once");

    sandbox
        .expect(
            200,
            Method::PUT,
            "/v1/me/consents",
            Some(&token),
            Some(json!({"partner_id": "insurer", "category": "points_summary", "purpose": "premium discount"})),
        )
        .await
        .unwrap();
    sandbox
        .expect(
            200,
            Method::DELETE,
            "/v1/me/consents/insurer/points_summary",
            Some(&token),
            None,
        )
        .await
        .unwrap();

    // Both were tried and failed: the receiver is down.
    let deadline = Instant::now() + Duration::from_secs(10);
    let failed_once = loop {
        let log = deliveries(&sandbox, &insurer, &id).await;
        if log.len() == 2 && log.iter().all(|d| d["attempts"].as_u64() >= Some(1)) {
            break log;
        }
        assert!(Instant::now() < deadline, "no attempt yet: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        failed_once
            .iter()
            .all(|d| d["status"] == "pending" && d["last_error"].is_string()),
        "{failed_once:?}"
    );

    // It comes back; the next attempt (5 s after the first) delivers, signed.
    let receiver = Receiver::start(addr, &secret).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if receiver.with(|r| r.processed.len()) == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered after the receiver came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = deliveries(&sandbox, &insurer, &id).await;
    assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:?}");
    let revoked = receiver.with(|r| {
        r.processed
            .iter()
            .find(|e| e["type"] == "consent.revoked")
            .cloned()
            .unwrap()
    });
    assert_eq!(revoked["data"]["resident_id"], resident.as_str());
    assert_eq!(revoked["data"]["category"], "points_summary");
    assert_eq!(
        receiver.with(|r| r.refused),
        0,
        "every signature checks out"
    );

    // A replay sends the same webhook-id again: received twice, processed once.
    let revocation = log.iter().find(|d| d["kind"] == "consent.revoked").unwrap();
    sandbox
        .expect(
            202,
            Method::POST,
            &format!(
                "/v1/partner/webhooks/{id}/deliveries/{}/replay",
                revocation["delivery_id"].as_str().unwrap()
            ),
            Some(&insurer),
            None,
        )
        .await
        .unwrap();
    let event_id = revocation["event_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.with(|r| r.attempts.iter().filter(|a| **a == event_id).count()) < 2 {
        assert!(Instant::now() < deadline, "the replay did not arrive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        receiver.with(|r| r.processed.len()),
        2,
        "processed once each"
    );

    // The resident's inbox: both changes, unread, then read.
    let inbox = sandbox
        .expect(200, Method::GET, "/v1/me/notifications", Some(&token), None)
        .await
        .unwrap();
    let kinds: Vec<&str> = inbox["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["consent.revoked", "consent.granted"], "{inbox}");
    assert_eq!(inbox["unread"], 2);
    sandbox
        .expect(
            204,
            Method::POST,
            "/v1/me/notifications/read",
            Some(&token),
            Some(json!({})),
        )
        .await
        .unwrap();
    let after = sandbox
        .expect(
            200,
            Method::GET,
            "/v1/me/notifications?unread=true",
            Some(&token),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            after["unread"].as_u64(),
            after["notifications"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );

    // Deleted, it hears of nothing more.
    sandbox
        .expect(
            204,
            Method::DELETE,
            &format!("/v1/partner/webhooks/{id}"),
            Some(&insurer),
            None,
        )
        .await
        .unwrap();
    let (status, _) = sandbox
        .call(
            Method::GET,
            &format!("/v1/partner/webhooks/{id}/deliveries"),
            Some(&insurer),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

/// A merchant hears of its orders from the mall's outbox: created when a resident orders,
/// written off at its counter (each signed, processed once); the resident's inbox says the
/// voucher was used.
#[tokio::test]
async fn a_merchant_hears_of_its_orders_from_the_malls_outbox() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let (operator, product) = sandbox
        .city_shop(&admin, ("Hooked pharmacy", "op-hook"), ("Thermometer", 120))
        .await
        .unwrap();
    let addr = free_port();
    let hook = sandbox
        .expect(
            201,
            Method::POST,
            "/v1/merchant/webhooks",
            Some(&operator),
            Some(json!({"url": format!("http://{addr}/hook"), "events": ["order.created", "order.written_off"]})),
        )
        .await
        .unwrap();
    let receiver = Receiver::start(addr, hook["secret"].as_str().unwrap())
        .await
        .unwrap();
    // A merchant may not ask for a partner's events.
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/merchant/webhooks",
            Some(&operator),
            Some(json!({"url": format!("http://{addr}/other"), "events": ["consent.revoked"]})),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("events[0]"))
    );

    let (resident, token) = sandbox.resident(952, "310118", "19700202").await;
    sandbox.grant(&admin, &resident, None, 500).await;
    let placed = sandbox
        .request(Method::POST, "/v1/malls/city/orders", Some(&token))
        .header("Idempotency-Key", "hooked-1")
        .json(&json!({"product_id": product}))
        .send()
        .await
        .unwrap();
    let (status, order) = healthpoints_integration_tests::split(placed).await;
    assert_eq!(status, 201, "{order}");
    let code = order["voucher_code"].as_str().unwrap();
    sandbox
        .expect(
            200,
            Method::POST,
            &format!("/v1/merchant/vouchers/{code}/write-off"),
            Some(&operator),
            None,
        )
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.with(|r| r.processed.len()) < 2 {
        assert!(
            Instant::now() < deadline,
            "the order's events did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let types: Vec<String> = receiver.with(|r| {
        r.processed
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    });
    assert_eq!(types, ["order.created", "order.written_off"]);
    let written_off = receiver.with(|r| r.processed[1].clone());
    assert_eq!(written_off["data"]["order_id"], order["order_id"]);
    assert_eq!(written_off["data"]["points"], 120);
    assert_eq!(receiver.with(|r| r.refused), 0);

    // The inbox also has the granted points (intake's event); the voucher used is the mall's.
    let used = |n: &Value| {
        n["notifications"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["kind"] == "order.written_off")
            .cloned()
    };
    let inbox = sandbox
        .eventually(
            "/v1/me/notifications",
            &token,
            Duration::from_secs(5),
            |n| used(n).is_some(),
        )
        .await;
    let used = used(&inbox).unwrap();
    assert_eq!(used["data"]["order_id"], order["order_id"], "{inbox}");
}

/// Intake's events reach the exchange without intake calling it (the exchange pulls them): a
/// partner hears that a record it sent was rejected — signed, processed once, naming its own
/// record and not the resident — and the resident's inbox says the points of the other were
/// awarded.
#[tokio::test]
async fn a_partner_hears_of_its_rejected_record_and_the_resident_of_points_awarded() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let sports = sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let addr = free_port();
    let hook = sandbox
        .expect(
            201,
            Method::POST,
            "/v1/partner/webhooks",
            Some(&sports),
            Some(json!({"url": format!("http://{addr}/hook"), "events": ["record.rejected"]})),
        )
        .await
        .unwrap();
    let receiver = Receiver::start(addr, hook["secret"].as_str().unwrap())
        .await
        .unwrap();
    let (resident, token) = sandbox.resident(953, "310118", "19700303").await;
    let day = |n: i64| (chrono::Utc::now() - chrono::Duration::days(n)).to_rfc3339();
    let (status, sent) = sandbox
        .call(
            Method::POST,
            "/v1/partner/behaviours",
            Some(&sports),
            Some(json!([
                {"record_id": "ok-1", "resident_id": resident, "behaviour": "steps.daily", "occurred_at": day(1), "quantity": 10_500},
                {"record_id": "low-1", "resident_id": resident, "behaviour": "steps.daily", "occurred_at": day(2), "quantity": 3_000},
            ])),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["results"][0]["outcome"], "awarded", "{sent}");
    assert_eq!(sent["results"][1]["outcome"], "rejected", "{sent}");

    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.with(|r| r.processed.len()) < 1 {
        assert!(
            Instant::now() < deadline,
            "the rejected record's event did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rejected = receiver.with(|r| r.processed[0].clone());
    assert_eq!(rejected["type"], "record.rejected", "{rejected}");
    assert_eq!(rejected["data"]["record_id"], "low-1", "{rejected}");
    assert_eq!(rejected["data"]["reason_code"], "below_threshold");
    assert!(
        !rejected.to_string().contains(&resident),
        "the partner's event does not name the resident: {rejected}"
    );
    assert_eq!(receiver.with(|r| r.refused), 0);

    let inbox = sandbox
        .eventually(
            "/v1/me/notifications",
            &token,
            Duration::from_secs(10),
            |n| n["unread"].as_u64() >= Some(1),
        )
        .await;
    let awarded = &inbox["notifications"][0];
    assert_eq!(awarded["kind"], "points.awarded", "{inbox}");
    assert_eq!(awarded["data"]["record_id"], "ok-1");
    assert_eq!(awarded["data"]["points"], sent["results"][0]["points"]);
    assert_eq!(
        inbox["notifications"].as_array().unwrap().len(),
        1,
        "the rejected record is the partner's to hear of: {inbox}"
    );
    // Only once, however often the exchange reads intake's outbox.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(receiver.with(|r| r.processed.len()), 1);
}

/// A resident is told once that a voucher is about to expire (the mall's sweep, through its
/// outbox), naming the product and when it expires.
#[tokio::test]
async fn a_resident_is_told_once_that_a_voucher_is_about_to_expire() {
    // Vouchers valid a day, announced a day ahead: at once.
    let sandbox = Sandbox::start_with_mall_settings(&[
        ("orders.voucher_valid_hours", "24"),
        ("orders.expiry_notice_hours", "24"),
    ])
    .await;
    let admin = sandbox.admin_token().await;
    let (_operator, product) = sandbox
        .city_shop(&admin, ("Reminding pharmacy", "op-remind"), ("Gauze", 100))
        .await
        .unwrap();
    let (resident, token) = sandbox.resident(954, "310118", "19700404").await;
    sandbox.grant(&admin, &resident, None, 500).await;
    let mut orders = Vec::new();
    for key in ["remind-1", "remind-2"] {
        let placed = sandbox
            .request(Method::POST, "/v1/malls/city/orders", Some(&token))
            .header("Idempotency-Key", key)
            .json(&json!({"product_id": product}))
            .send()
            .await
            .unwrap();
        let (status, order) = healthpoints_integration_tests::split(placed).await;
        assert_eq!(status, 201, "{order}");
        orders.push(order);
    }
    let expiring = |n: &Value| -> Vec<Value> {
        n["notifications"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|x| x["kind"] == "voucher.expiring")
            .cloned()
            .collect()
    };
    let inbox = sandbox
        .eventually(
            "/v1/me/notifications",
            &token,
            Duration::from_secs(10),
            |n| expiring(n).len() >= 2,
        )
        .await;
    let told = expiring(&inbox);
    assert_eq!(told.len(), 2, "{inbox}");
    let mut told_of: Vec<&str> = told
        .iter()
        .map(|n| n["data"]["order_id"].as_str().unwrap())
        .collect();
    told_of.sort_unstable();
    let mut placed: Vec<&str> = orders
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    placed.sort_unstable();
    assert_eq!(told_of, placed);
    assert_eq!(told[0]["data"]["product_title"], "Gauze");
    assert!(told[0]["data"]["expires_at"].is_string());
    // The sweep runs on: nobody is told twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, again) = sandbox
        .call(Method::GET, "/v1/me/notifications", Some(&token), None)
        .await;
    assert_eq!(expiring(&again).len(), 2, "{again}");
}
