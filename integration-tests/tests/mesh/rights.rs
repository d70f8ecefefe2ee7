//! A resident's rights over their account through the gateway: a password changed with the
//! current one signs every other session out; a forgotten one is reset with a code sent to the
//! phone (read here from the file the development sender writes), which works once and not
//! after five wrong tries; asking for a code says nothing about whether a number is registered.

use healthpoints_integration_tests::{Sandbox, id_number};
use reqwest::Method;
use serde_json::{Value, json};

async fn login(sandbox: &Sandbox, phone: &str, password: &str) -> (u16, Value) {
    sandbox
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"login": phone, "password": password})),
        )
        .await
}

async fn refresh(sandbox: &Sandbox, token: &str) -> u16 {
    sandbox
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": token})),
        )
        .await
        .0
}

/// Sets a new password with a reset code; answers the status.
async fn confirm(sandbox: &Sandbox, phone: &str, code: &str, password: &str) -> u16 {
    sandbox
        .call(
            Method::POST,
            "/v1/auth/password-reset/confirm",
            None,
            Some(json!({"phone": phone, "code": code, "new_password": password})),
        )
        .await
        .0
}

/// The 6-digit code in a text message.
fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("the message carries a 6-digit code")
        .to_owned()
}

#[tokio::test]
async fn residents_change_and_reset_their_password_and_other_sessions_are_signed_out() {
    let sandbox = Sandbox::start().await;
    let phone = "13700000071";
    let (status, body) = sandbox
        .call(Method::POST, "/v1/auth/register", None, Some(json!({
            "name": "钱芳", "id_number": id_number("310118", "19600505", 71), "phone": phone,
            "password": "Resident-pass-1", "residence_district": "310118", "residence_type": "registered",
        })))
        .await;
    assert_eq!(status, 201, "{body}");
    // Two devices.
    let (_, phone_app) = login(&sandbox, phone, "Resident-pass-1").await;
    let (_, tablet) = login(&sandbox, phone, "Resident-pass-1").await;
    let access = phone_app["access_token"].as_str().unwrap();

    // What a change refuses, naming the field: a malformed password 400, a well-formed one the
    // account refuses 422.
    for (body, status, field) in [
        (
            json!({"current_password": "Wrong-pass-1", "new_password": "Better-pass-2"}),
            422,
            "current_password",
        ),
        (
            json!({"current_password": "Resident-pass-1", "new_password": "short"}),
            400,
            "new_password",
        ),
        (
            json!({"current_password": "Resident-pass-1", "new_password": "Resident-pass-1"}),
            422,
            "new_password",
        ),
    ] {
        let (got, problem) = sandbox
            .call(Method::PUT, "/v1/me/password", Some(access), Some(body))
            .await;
        assert_eq!(
            (got, problem["field"].as_str()),
            (status, Some(field)),
            "{problem}"
        );
    }
    let (status, fresh) = sandbox
        .call(
            Method::PUT,
            "/v1/me/password",
            Some(access),
            Some(json!({"current_password": "Resident-pass-1", "new_password": "Better-pass-2"})),
        )
        .await;
    assert_eq!(status, 200, "{fresh}");
    // Both devices' sessions are over; the new one works.
    assert_eq!(
        refresh(&sandbox, phone_app["refresh_token"].as_str().unwrap()).await,
        401
    );
    assert_eq!(
        refresh(&sandbox, tablet["refresh_token"].as_str().unwrap()).await,
        401
    );
    assert_eq!(
        refresh(&sandbox, fresh["refresh_token"].as_str().unwrap()).await,
        200
    );
    assert_eq!(login(&sandbox, phone, "Resident-pass-1").await.0, 401);
    assert_eq!(login(&sandbox, phone, "Better-pass-2").await.0, 200);

    // Forgotten: a number nobody registered is answered alike, and nothing is sent.
    for number in ["13700000099", phone] {
        let (status, answer) = sandbox
            .call(
                Method::POST,
                "/v1/auth/password-reset",
                None,
                Some(json!({"phone": number})),
            )
            .await;
        assert_eq!(
            (status, answer["code_ttl_seconds"].as_u64()),
            (202, Some(600))
        );
    }
    let first = sandbox.next_message_to(phone, None).await;
    assert!(
        sandbox.message_to("13700000099").is_none(),
        "nothing to a number nobody has"
    );
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/auth/password-reset",
            None,
            Some(json!({"phone": "12345"})),
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("phone")));
    let code = code_in(&first);
    let (_, still_signed_in) = login(&sandbox, phone, "Better-pass-2").await;

    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/auth/password-reset/confirm",
            None,
            Some(json!({"phone": phone, "code": wrong, "new_password": "Reset-pass-3"})),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("code")),
        "{problem}"
    );
    assert_eq!(confirm(&sandbox, phone, &code, "Reset-pass-3").await, 204);
    assert_eq!(login(&sandbox, phone, "Better-pass-2").await.0, 401);
    assert_eq!(login(&sandbox, phone, "Reset-pass-3").await.0, 200);
    assert_eq!(
        refresh(&sandbox, still_signed_in["refresh_token"].as_str().unwrap()).await,
        401,
        "a reset signs every session out"
    );
    assert_eq!(
        confirm(&sandbox, phone, &code, "Another-pass-4").await,
        422,
        "used once"
    );

    // Five wrong tries void a new code, even the right one after them.
    sandbox
        .call(
            Method::POST,
            "/v1/auth/password-reset",
            None,
            Some(json!({"phone": phone})),
        )
        .await;
    let code = code_in(&sandbox.next_message_to(phone, Some(&first)).await);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 7) % 1_000_000);
    for _ in 0..5 {
        assert_eq!(
            confirm(&sandbox, phone, &wrong, "Another-pass-4").await,
            422
        );
    }
    assert_eq!(
        confirm(&sandbox, phone, &code, "Another-pass-4").await,
        422,
        "the code is void"
    );
    assert_eq!(login(&sandbox, phone, "Reset-pass-3").await.0, 200);
    sandbox.stop().await;
}

/// A resident downloads everything the programme holds about them — profile (masked),
/// balances, each book's history, behaviours, orders, consents, who read their data, their
/// messages — as JSON and as one CSV table; nobody else can, and an unknown format is refused.
#[tokio::test]
async fn a_resident_downloads_their_data_as_json_and_csv() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let (_operator, product) = sandbox
        .city_shop(&admin, ("Export pharmacy", "op-export"), ("Mask", 80))
        .await
        .unwrap();
    let (resident, token) = sandbox.resident(972, "310118", "19550606").await;
    sandbox.grant(&admin, &resident, None, 500).await;
    let placed = sandbox
        .request(Method::POST, "/v1/malls/city/orders", Some(&token))
        .header("Idempotency-Key", "export-1")
        .json(&json!({"product_id": product}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 201);
    sandbox
        .partner_of_kind(
            &admin,
            "insurer-x",
            &[],
            &["points-summary:read"],
            "commercial",
        )
        .await;
    let (status, _) = sandbox
        .call(
            Method::PUT,
            "/v1/me/consents",
            Some(&token),
            Some(json!({"partner_id": "insurer-x", "category": "points_summary"})),
        )
        .await;
    assert_eq!(status, 200);

    let data = sandbox
        .expect(200, Method::GET, "/v1/me/export", Some(&token), None)
        .await
        .unwrap();
    assert_eq!(data["complete"], true, "{data}");
    assert_eq!(data["profile"]["resident_id"], resident.as_str());
    let masked = data["profile"]["id_number_masked"].as_str().unwrap();
    assert!(masked.contains('*'), "masked: {masked}");
    assert_eq!(data["balances"][0]["book"], "city");
    let history = data["points_history"][0]["transactions"]
        .as_array()
        .unwrap();
    assert!(history.iter().any(|t| t["points"] == 500), "{data}");
    assert_eq!(
        data["behaviours"].as_array().unwrap().len(),
        1,
        "the granted honour"
    );
    assert_eq!(data["orders"][0]["product_title"], "Mask");
    assert_eq!(data["consents"][0]["partner_id"], "insurer-x");
    assert!(data["notifications"].is_array());
    assert!(data["access_log"].is_array());

    let csv = sandbox
        .request(Method::GET, "/v1/me/export?format=csv", Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("section,at,what,points,book,reference,detail")
    );
    let sections: std::collections::BTreeSet<&str> =
        lines.filter_map(|l| l.split(',').next()).collect();
    for section in [
        "profile",
        "balance",
        "points",
        "behaviour",
        "order",
        "consent",
    ] {
        assert!(sections.contains(section), "{section} in {text}");
    }
    assert!(
        !text.contains(&id_number("310118", "19550606", 972)),
        "never the full ID number"
    );

    let (status, problem) = sandbox
        .call(Method::GET, "/v1/me/export?format=xml", Some(&token), None)
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("format")));
    let (status, _) = sandbox
        .call(Method::GET, "/v1/me/export", Some(&admin), None)
        .await;
    assert_eq!(status, 403);
    sandbox.stop().await;
}

/// A resident closes their account: a wrong password closes nothing; then signing in, earning
/// and ordering are refused and every session is over, and the voucher they asked to cancel is
/// cancelled with its points back. The books still verify.
#[tokio::test]
async fn a_resident_closes_their_account_and_can_no_longer_sign_in_earn_or_order() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let (_operator, product) = sandbox
        .city_shop(&admin, ("Closing pharmacy", "op-close"), ("Bandage", 120))
        .await
        .unwrap();
    let sports = sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let (resident, token) = sandbox.resident(973, "310118", "19480808").await;
    let phone = "13700000973";
    let (_, session) = login(&sandbox, phone, "Resident-pass-1").await;
    sandbox.grant(&admin, &resident, None, 500).await;
    let order = |key: &'static str| {
        sandbox
            .request(Method::POST, "/v1/malls/city/orders", Some(&token))
            .header("Idempotency-Key", key)
            .json(&json!({"product_id": product}))
            .send()
    };
    let insurer = sandbox
        .partner_of_kind(
            &admin,
            "insurer-c",
            &[],
            &["points-summary:read"],
            "commercial",
        )
        .await;
    let (status, _) = sandbox
        .call(
            Method::PUT,
            "/v1/me/consents",
            Some(&token),
            Some(json!({"partner_id": "insurer-c", "category": "points_summary"})),
        )
        .await;
    assert_eq!(status, 200);
    let summary = format!("/v1/partner/residents/{resident}/points-summary");
    assert_eq!(
        sandbox
            .call(Method::GET, &summary, Some(&insurer), None)
            .await
            .0,
        200
    );
    let placed = order("close-1").await.unwrap();
    let (status, placed) = healthpoints_integration_tests::split(placed).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(sandbox.balance(&token, "city").await.unwrap(), 380);

    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/me/close",
            Some(&token),
            Some(json!({"password": "Not-mine-1", "cancel_open_orders": true})),
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("password")));
    assert_eq!(
        login(&sandbox, phone, "Resident-pass-1").await.0,
        200,
        "still open"
    );

    let closed = sandbox
        .expect(
            200,
            Method::POST,
            "/v1/me/close",
            Some(&token),
            Some(json!({"password": "Resident-pass-1", "cancel_open_orders": true})),
        )
        .await
        .unwrap();
    assert_eq!(
        closed["cancelled_orders"][0], placed["order_id"],
        "{closed}"
    );
    assert_eq!(closed["open_orders"].as_array().unwrap().len(), 0);
    assert_eq!(closed["consents_revoked"], 1, "{closed}");
    assert_eq!(closed["complete"], true);
    assert_eq!(
        sandbox
            .call(Method::GET, &summary, Some(&insurer), None)
            .await
            .0,
        403,
        "nobody reads a closed account's data"
    );
    assert!(closed["erase_after"].as_str().unwrap() > closed["closed_at"].as_str().unwrap());
    assert_eq!(
        sandbox.balance(&token, "city").await.unwrap(),
        500,
        "the points came back"
    );

    let (status, problem) = login(&sandbox, phone, "Resident-pass-1").await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("closed"),
        "{problem}"
    );
    assert_eq!(
        refresh(&sandbox, session["refresh_token"].as_str().unwrap()).await,
        401
    );
    // Intake remembers a resident for `residents.cache_seconds` (10 s): within that, a record
    // may still earn; after it, every record is refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    for n in 0.. {
        let (status, sent) = sandbox
            .call(
                Method::POST,
                "/v1/partner/behaviours",
                Some(&sports),
                Some(json!([{"record_id": format!("after-close-{n}"), "resident_id": resident,
                    "behaviour": "steps.daily", "quantity": 12_000,
                    "occurred_at": (chrono::Utc::now() - chrono::Duration::days(n % 5 + 1)).to_rfc3339()}])),
            )
            .await;
        assert_eq!(status, 200, "{sent}");
        if sent["results"][0]["outcome"] == "rejected" {
            assert_eq!(
                sent["results"][0]["reason_code"], "resident_suspended",
                "{sent}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a closed account still earns: {sent}"
        );
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let refused = order("close-2").await.unwrap();
    assert!(
        [403, 422].contains(&refused.status().as_u16()),
        "{}",
        refused.status()
    );
    let (status, _) = sandbox
        .call(
            Method::POST,
            "/v1/me/close",
            Some(&token),
            Some(json!({"password": "Resident-pass-1"})),
        )
        .await;
    assert_eq!(status, 422, "closed once");
    sandbox.stop().await;
}
