//! The edges outside clients found, through the gateway: text as Chinese input methods type it,
//! bad input named field by field without echoing personal numbers, every 4xx a problem,
//! registration throttled, partners registered so that their records can count, and privacy
//! by default.

use healthpoints_gateway::throttle::{AccountLimits, Limits, RateLimits};
use healthpoints_integration_tests::{Sandbox, id_number, split};
use reqwest::Method;
use serde_json::{Value, json};

/// The number as a Chinese input method types it: full-width digits and `Ｘ`.
fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| char::from_u32(u32::from(c) + 0xFEE0).unwrap())
        .collect()
}

fn registration(id: &str, phone: &str) -> Value {
    json!({"name": "王芳", "id_number": id, "phone": phone, "password": "Resident-pass-1",
        "residence_district": "310118", "residence_type": "registered"})
}

#[tokio::test]
async fn full_width_id_numbers_register_and_count_in_partner_batches_without_a_panic() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let id = id_number("310118", "19900307", 123);
    let (status, body) = sandbox
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(registration(&full_width(&id), &full_width("13700000900"))),
        )
        .await;
    assert_eq!(status, 201, "what the person meant is registered: {body}");
    let token = sandbox.login("13700000900", "Resident-pass-1").await;
    let me = sandbox
        .expect(200, Method::GET, "/v1/me", Some(&token), None)
        .await
        .unwrap();
    assert_eq!(
        me["id_number_masked"],
        format!("3101**********{}", &id[14..])
    );
    // The same person typed in ASCII is the same person.
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(registration(&id, "13700000901")),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (409, Some("id_number"))
    );
    // Full-width garbage is a named refusal, not a 503.
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(registration(
                "３１０１１８１９９００３０７１２３中",
                "13700000902",
            )),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("id_number")),
        "{problem}"
    );

    // In a partner batch: the full-width number finds the resident, an impossible birth date
    // is that record's own refusal, and the batch is answered.
    let sports = sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let when = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let bad_birth = format!("3101181990023012{}", "3");
    let (status, answer) = sandbox
        .send_ndjson(&sports, &[
            json!({"record_id": "w-1", "id_number": full_width(&id), "behaviour": "steps.daily", "occurred_at": when, "quantity": 12_000}),
            json!({"record_id": "w-2", "id_number": bad_birth, "behaviour": "steps.daily", "occurred_at": when, "quantity": 12_000}),
            json!({"record_id": "w-3", "id_number": id_number("310118", "19900101", 7), "behaviour": "steps.daily", "occurred_at": when, "quantity": 12_000}),
        ])
        .await;
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[0]["outcome"], "awarded", "{answer}");
    assert_eq!(
        (
            results[1]["outcome"].as_str(),
            results[1]["reason_code"].as_str()
        ),
        (Some("rejected"), Some("invalid_id_number")),
        "{answer}"
    );
    assert!(
        !answer.to_string().contains(&bad_birth),
        "the number is not echoed"
    );
    assert_eq!(results[2]["reason_code"], "resident_unknown");
    sandbox.stop().await;
}

#[tokio::test]
async fn bad_input_is_named_as_sent_and_every_refusal_is_a_problem() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let merchant = sandbox
        .expect(
            201,
            Method::POST,
            "/v1/admin/malls/city/merchants",
            Some(&admin),
            Some(json!({"name": "Pharmacy", "licence_no": "LIC-1", "contact": "021-5999 0000"})),
        )
        .await
        .unwrap();
    sandbox
        .expect(201, Method::POST, "/v1/admin/staff", Some(&admin),
            Some(json!({"username": "till", "password": "Merchant-pass-1", "role": "merchant_operator",
                "merchant_id": merchant["merchant_id"], "mall": "city"})))
        .await
        .unwrap();
    let till = sandbox.login("till", "Merchant-pass-1").await;
    let product = |body: Value| {
        let (sandbox, till) = (&sandbox, &till);
        async move {
            sandbox
                .call(
                    Method::POST,
                    "/v1/merchant/products",
                    Some(till),
                    Some(body),
                )
                .await
        }
    };

    // Control characters: refused in a title, line breaks fine in a description.
    let (status, problem) = product(
        json!({"title": "Flu\u{0}shot", "category": "health_service", "price_points": 800}),
    )
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("title")),
        "{problem}"
    );
    let (status, body) = product(json!({"title": "Flu shot", "description": "Walk-in.\nBring your card.", "category": "health_service", "price_points": 800})).await;
    assert_eq!(status, 201, "{body}");
    let (status, problem) = product(json!({"title": "Flu shot", "description": "bell\u{7}", "category": "health_service", "price_points": 800})).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("description"))
    );
    // Type errors and the mall's own checks name the field as the body spells it.
    let (status, problem) =
        product(json!({"title": "Flu shot", "category": "health_service", "price_points": "800"}))
            .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("price_points")),
        "{problem}"
    );
    let (status, problem) =
        product(json!({"title": "Flu shot", "category": "health_service"})).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("price_points")),
        "{problem}"
    );
    let (status, problem) =
        product(json!({"title": "Flu shot", "category": "health_service", "price_points": 0}))
            .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("price_points")),
        "{problem}"
    );
    // Left out, the limit's period is a month; written empty, it is a mistake.
    let (status, problem) = product(json!({"title": "Flu shot", "category": "health_service",
        "price_points": 800, "per_resident_limit": 1, "limit_period": ""}))
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("limit_period")),
        "{problem}"
    );

    // Partner records: quantities out of range are named per record; a number where the ID
    // number should be is refused without echoing it.
    let sports = sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let when = chrono::Utc::now().to_rfc3339();
    for bad in ["-1", "18446744073709551616", "1e308"] {
        let body = format!(
            r#"[{{"record_id":"a","resident_id":"r","behaviour":"steps.daily","occurred_at":"{when}","quantity":1}},{{"record_id":"b","resident_id":"r","behaviour":"steps.daily","occurred_at":"{when}","quantity":{bad}}}]"#
        );
        let response = sandbox
            .request(Method::POST, "/v1/partner/behaviours", Some(&sports))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, problem) = split(response).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (400, Some("records[1].quantity")),
            "{bad}: {problem}"
        );
    }
    let response = sandbox
        .request(Method::POST, "/v1/partner/behaviours", Some(&sports))
        .header("content-type", "application/json")
        .body(format!(r#"[{{"record_id":"a","id_number":310118199003071238,"behaviour":"steps.daily","occurred_at":"{when}"}}]"#))
        .send()
        .await
        .unwrap();
    let (status, problem) = split(response).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("records[0].id_number"))
    );
    assert!(
        !problem.to_string().contains("310118199003071238"),
        "{problem}"
    );

    // Every 4xx is problem+json: a bad query string, a wrong method, a body too large, and a
    // 401 says how to authenticate.
    let resident = sandbox.resident(5, "310118", "19800101").await.1;
    // Every paginated route, as the role it is for.
    let paginated = [
        (&resident, "/v1/me/orders"),
        (&resident, "/v1/me/transactions"),
        (&resident, "/v1/me/behaviours"),
        (&resident, "/v1/me/access-log"),
        (&admin, "/v1/admin/residents?district=310118&"),
        (&admin, "/v1/admin/review-queue"),
        (&admin, "/v1/admin/access-log"),
        (&admin, "/v1/admin/malls/city/orders"),
        (&resident, "/v1/rules/changelog"),
        (&resident, "/v1/malls/city/merchants"),
        (&resident, "/v1/malls/city/products"),
        (&till, "/v1/merchant/products"),
        (&till, "/v1/merchant/orders"),
    ];
    for ((token, route), bad) in paginated
        .iter()
        .zip(["abc", "-1", "1e3", "4294967296"].iter().cycle())
    {
        let separator = if route.ends_with('&') { "" } else { "?" };
        let path = format!("{route}{separator}page_size={bad}");
        let response = sandbox
            .request(Method::GET, &path, Some(token))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let (_, problem) = split(response).await;
        assert_eq!(problem["field"], "page_size", "{path}: {problem}");
    }
    let response = sandbox
        .request(Method::GET, "/v1/me/orders/%FF%FE", Some(&resident))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let response = sandbox
        .request(Method::DELETE, "/v1/me/balances", Some(&resident))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET,HEAD");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let response = sandbox
        .request(Method::POST, "/v1/merchant/products", Some(&till))
        .header("content-type", "application/json")
        .body(format!(r#"{{"title":"{}"}}"#, "x".repeat(2 << 20)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let response = sandbox
        .request(Method::GET, "/v1/me", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"healthpoints\""
    );
    let response = sandbox
        .request(Method::POST, "/v1/auth/login", None)
        .json(&json!({"login": "13700000005", "password": "Wrong-pass-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    sandbox.stop().await;
}

#[tokio::test]
async fn registration_and_login_are_throttled_per_address_with_retry_after() {
    let tight = |burst| Limits {
        per_address_per_minute: 6,
        per_address_burst: burst,
        global_per_second: 1_000,
        global_burst: 1_000,
    };
    let sandbox = Sandbox::start_with_limits(RateLimits {
        password: tight(5),
        session: tight(2),
        public: tight(3),
        station: tight(3),
        export: AccountLimits {
            per_account_per_hour: 1,
            per_account_burst: 2,
        },
    })
    .await;
    let id = id_number("310118", "19900307", 1);
    let (status, _) = sandbox
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(registration(&id, "13700000001")),
        )
        .await;
    assert_eq!(status, 201);
    // A resident downloads their data twice at once, and a third time within the hour is too
    // soon.
    let token = sandbox.login("13700000001", "Resident-pass-1").await;
    for _ in 0..2 {
        let (status, _) = sandbox
            .call(Method::GET, "/v1/me/export", Some(&token), None)
            .await;
        assert_eq!(status, 200);
    }
    let response = sandbox
        .request(Method::GET, "/v1/me/export?format=csv", Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3_500..=3_601).contains(&wait), "{wait}");
    // Probing whether a number is registered: the real-name answer (409), then 429.
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..8 {
        let response = sandbox
            .request(Method::POST, "/v1/auth/register", None)
            .json(&registration(&id, &format!("1370000{:04}", 100 + i)))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(
        statuses,
        [409, 409, 409, 429, 429, 429, 429, 429],
        "one registration, one login and three probes fill the burst of five"
    );
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=11).contains(&wait), "{wait}");
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"login": "13700000001", "password": "Resident-pass-1"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (429, Some("rate_limited")),
        "logins share the address's budget"
    );
    // Refresh and logout spend a budget of their own: the exhausted password budget does not
    // sign anyone out, but a flood of refreshes is refused too.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let refresh = Some(json!({"refresh_token": "not-a-token"}));
        statuses.push(
            sandbox
                .call(Method::POST, "/v1/auth/refresh", None, refresh)
                .await
                .0,
        );
    }
    assert_eq!(statuses, [401, 401, 429]);
    // Other routes without a token have theirs; routes that need a token and the probes are
    // not limited here.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(sandbox.call(Method::GET, "/v1/rules", None, None).await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    for _ in 0..5 {
        assert_eq!(
            sandbox.call(Method::GET, "/healthz", None, None).await.0,
            200
        );
        assert_eq!(sandbox.call(Method::GET, "/v1/me", None, None).await.0, 401);
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn partners_are_registered_only_for_what_the_catalogue_accepts_and_need_consent_by_default() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let register = |body: Value| {
        let (sandbox, admin) = (&sandbox, &admin);
        async move {
            sandbox
                .call(Method::POST, "/v1/admin/partners", Some(admin), Some(body))
                .await
        }
    };
    // A sports app under its own id, and the health commission for steps: every record would
    // be refused `source_not_allowed`, so the registration is.
    let (status, problem) = register(
        json!({"name": "Run app", "department": "sports", "partner_id": "sports-4712",
        "behaviours": ["steps.daily"], "scopes": ["behaviours:submit"]}),
    )
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("behaviours[0]")),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("sports, wearables"),
        "{problem}"
    );
    let (status, problem) = register(json!({"name": "Health commission", "department": "health-commission",
        "behaviours": ["vaccination", "steps.daily"], "scopes": ["behaviours:submit"], "kind": "department"})).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("behaviours[1]")),
        "{problem}"
    );

    // Registered without a kind, a wearable maker needs each resident's consent.
    let (status, wearables) = register(json!({"name": "Band maker", "department": "wearables",
        "behaviours": ["steps.daily"], "scopes": ["behaviours:submit"]}))
    .await;
    assert_eq!(status, 201, "{wearables}");
    let (_, list) = sandbox.call(Method::GET, "/v1/partners", None, None).await;
    let listed = list["partners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partner_id"] == "wearables")
        .unwrap()
        .clone();
    assert_eq!(listed["kind"], "commercial", "{list}");
    let (status, changed) = sandbox
        .call(Method::PUT, "/v1/admin/partners/wearables", Some(&admin), Some(json!({"name": "Band maker",
            "behaviours": ["steps.daily", "vaccination"], "scopes": ["behaviours:submit"], "status": "active"})))
        .await;
    assert_eq!(
        (status, changed["field"].as_str()),
        (400, Some("behaviours[1]")),
        "{changed}"
    );

    // A second client of a registered partner works like the first; an unknown partner is 404.
    let (status, client) = sandbox
        .call(
            Method::POST,
            "/v1/admin/clients",
            Some(&admin),
            Some(json!({"kind": "partner", "name": "Band maker #2", "partner_id": "wearables"})),
        )
        .await;
    assert_eq!(status, 201, "{client}");
    let token = sandbox
        .expect(
            200,
            Method::POST,
            "/v1/auth/token",
            None,
            Some(json!({"grant_type": "client_credentials",
            "client_id": client["client_id"], "client_secret": client["client_secret"]})),
        )
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (resident_id, _) = sandbox.resident(7, "310118", "19800101").await;
    let (status, answer) = sandbox
        .send_ndjson(
            &token,
            &[
                json!({"record_id": "b-1", "resident_id": resident_id, "behaviour": "steps.daily",
            "occurred_at": chrono::Utc::now().to_rfc3339(), "quantity": 12_000}),
            ],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["results"][0]["reason_code"], "consent_required",
        "{answer}"
    );
    let (status, _) = sandbox
        .call(
            Method::POST,
            "/v1/admin/clients",
            Some(&admin),
            Some(json!({"kind": "partner", "name": "x", "partner_id": "nobody"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, problem) = sandbox
        .call(Method::POST, "/v1/admin/clients", Some(&admin), Some(json!({"kind": "partner", "name": "x", "partner_id": "wearables", "scopes": ["statistics:read"]})))
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("scopes[0]")),
        "{problem}"
    );
    sandbox.stop().await;
}
