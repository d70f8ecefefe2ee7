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

/// A loopback port nothing listens on (yet).
fn free_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
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

    let inbox = sandbox
        .eventually(
            "/v1/me/notifications",
            &token,
            Duration::from_secs(5),
            |n| n["unread"].as_u64() >= Some(1),
        )
        .await;
    assert_eq!(
        inbox["notifications"][0]["kind"], "order.written_off",
        "{inbox}"
    );
    assert_eq!(
        inbox["notifications"][0]["data"]["order_id"],
        order["order_id"]
    );
}
