use healthpoints_integration_tests::{Sandbox, id_number};
use reqwest::Method;
use serde_json::json;

fn day(days_ago: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days_ago)).to_rfc3339()
}

#[tokio::test]
async fn partners_send_steps_as_ndjson_and_json_once_each_the_best_source_of_a_day_counting() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let id = id_number("310118", "19790303", 31);
    let (status, body) = sandbox
        .call(Method::POST, "/v1/auth/register", None, Some(json!({
            "name": "周杰", "id_number": id, "phone": "13700000031",
            "password": "Resident-pass-1", "residence_district": "310118", "residence_type": "registered",
        })))
        .await;
    assert_eq!(status, 201, "{body}");
    let resident_id = body["resident_id"].as_str().unwrap().to_owned();
    let resident = sandbox.login("13700000031", "Resident-pass-1").await;

    let sports = sandbox
        .partner(
            &admin,
            "sports",
            &["steps.daily", "exercise.session"],
            &["behaviours:submit"],
        )
        .await;
    let wearables = sandbox
        .partner(
            &admin,
            "wearables",
            &["steps.daily"],
            &["behaviours:submit"],
        )
        .await;

    // NDJSON: three days of steps by ID number, and one behaviour the partner may not report.
    let lines = [
        json!({"record_id": "s-1", "id_number": id, "behaviour": "steps.daily", "occurred_at": day(3), "quantity": 10_500}),
        json!({"record_id": "s-2", "id_number": id, "behaviour": "steps.daily", "occurred_at": day(2), "quantity": 5_200}),
        json!({"record_id": "s-3", "resident_id": resident_id, "behaviour": "steps.daily", "occurred_at": day(1), "quantity": 3_000}),
        json!({"record_id": "s-4", "resident_id": resident_id, "behaviour": "blood.donation", "occurred_at": day(1)}),
    ];
    let (status, first) = sandbox.send_ndjson(&sports, &lines).await;
    assert_eq!(status, 200, "{first}");
    let outcomes: Vec<(&str, u64)> = first["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap(),
                r["points"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("awarded", 30),
            ("awarded", 10),
            ("rejected", 0),
            ("rejected", 0)
        ],
        "{first}"
    );
    assert_eq!(first["results"][2]["reason_code"], "below_threshold");
    assert_eq!(first["results"][3]["reason_code"], "behaviour_not_listed");

    // The same batch again (a partner retrying): the same answers, nothing awarded twice.
    let (_, again) = sandbox.send_ndjson(&sports, &lines).await;
    assert_eq!(again["results"], first["results"]);

    // Another source reports two days ago with more steps, as a JSON array: only the top-up
    // (20 - 10) counts; the same count from it three days ago adds nothing.
    let (status, topped) = sandbox
        .call(
            Method::POST,
            "/v1/partner/behaviours",
            Some(&wearables),
            Some(json!([
                {"record_id": "w-1", "id_number": id, "behaviour": "steps.daily", "occurred_at": day(2), "quantity": 8_800},
                {"record_id": "w-2", "id_number": id, "behaviour": "steps.daily", "occurred_at": day(3), "quantity": 10_600},
            ])),
        )
        .await;
    assert_eq!(status, 200, "{topped}");
    assert_eq!(topped["results"][0]["points"], 10, "{topped}");
    assert_eq!(topped["results"][1]["outcome"], "capped", "{topped}");

    let (_, balances) = sandbox
        .call(Method::GET, "/v1/me/balances", Some(&resident), None)
        .await;
    assert_eq!(balances["balances"][0]["posted"], 50, "{balances}");
    let (_, mine) = sandbox
        .call(Method::GET, "/v1/me/behaviours", Some(&resident), None)
        .await;
    let capped = mine["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["record_id"] == "w-2")
        .unwrap();
    assert_eq!(capped["cap"], "day_best", "{capped}");
    assert!(capped["reason"].is_string(), "{capped}");

    // The list of partners is public; it shows names, not scopes.
    let (status, list) = sandbox.call(Method::GET, "/v1/partners", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["partners"].as_array().unwrap().len(), 2, "{list}");
    sandbox.stop().await;
}

#[tokio::test]
async fn partner_requests_are_refused_by_scope_role_and_shape() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let reader = sandbox
        .partner(&admin, "insurer", &[], &["statistics:read"])
        .await;
    let record = json!([{"record_id": "x", "resident_id": "nobody", "behaviour": "steps.daily", "occurred_at": day(1), "quantity": 6000}]);
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/partner/behaviours",
            Some(&reader),
            Some(record.clone()),
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("behaviours:submit"),
        "{problem}"
    );

    // A resident or an admin is no partner; without a token, 401.
    let (status, _) = sandbox
        .call(
            Method::POST,
            "/v1/partner/behaviours",
            Some(&admin),
            Some(record.clone()),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = sandbox
        .call(Method::POST, "/v1/partner/behaviours", None, Some(record))
        .await;
    assert_eq!(status, 401);

    // Registration refuses unknown behaviours and scopes by field, a taken id, and non-admins.
    let (status, problem) = sandbox
        .call(Method::POST, "/v1/admin/partners", Some(&admin), Some(json!({
            "name": "x", "department": "sports", "behaviours": ["steps.daily", "flying"], "scopes": ["behaviours:submit"],
        })))
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("behaviours[1]")),
        "{problem}"
    );
    let (status, problem) = sandbox
        .call(Method::POST, "/v1/admin/partners", Some(&admin), Some(json!({
            "name": "x", "department": "health", "behaviours": ["vaccination"], "scopes": ["everything"],
        })))
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("scopes[0]")),
        "{problem}"
    );
    let (status, _) = sandbox
        .call(
            Method::POST,
            "/v1/admin/partners",
            Some(&admin),
            Some(json!({
                "name": "again", "department": "insurer", "scopes": ["statistics:read"],
            })),
        )
        .await;
    assert_eq!(status, 409);

    // Malformed records name the record and field; nothing is judged.
    let sports = sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let (status, problem) = sandbox.send_ndjson(&sports, &[
        json!({"record_id": "a", "resident_id": "r", "behaviour": "steps.daily", "occurred_at": day(1), "quantity": 6000}),
        json!({"record_id": "b", "resident_id": "r", "behaviour": "steps.daily", "occurred_at": "yesterday"}),
    ])
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("records[1].occurred_at")),
        "{problem}"
    );
    let response = sandbox
        .request(Method::POST, "/v1/partner/behaviours", Some(&sports))
        .header("content-type", "text/csv")
        .body("a,b")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    sandbox.stop().await;
}

#[tokio::test]
async fn a_partner_rotates_its_secret_without_downtime_and_revokes_a_leaked_one_at_once() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let (status, created) = sandbox
        .call(
            Method::POST,
            "/v1/admin/partners",
            Some(&admin),
            Some(json!({
            "name": "Sports bureau", "department": "sports", "behaviours": ["steps.daily"],
            "scopes": ["behaviours:submit"]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let token_status = async |secret: &serde_json::Value| {
        sandbox
            .call(Method::POST, "/v1/auth/token", None, Some(json!({
                "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})))
            .await
            .0
    };
    let path = "/v1/admin/partners/sports/secrets";

    // The default grace: both secrets work while the servers change over. The answer holds a
    // secret: no cache keeps it.
    let response = sandbox
        .request(Method::POST, path, Some(&admin))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let rotated: serde_json::Value = response.json().await.unwrap();
    assert_eq!(rotated["client_id"], created["client_id"]);
    let until = chrono::DateTime::parse_from_rfc3339(
        rotated["previous_secret_valid_until"].as_str().unwrap(),
    )
    .unwrap();
    let left = until.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::hours(23) && left <= chrono::Duration::hours(24),
        "{rotated}"
    );
    assert_eq!(token_status(&created["client_secret"]).await, 200);
    assert_eq!(token_status(&rotated["client_secret"]).await, 200);

    // A leaked secret: rotated with no grace, the one it replaces is refused at once, and so is
    // the secret replaced before it.
    let (status, leaked) = sandbox
        .call(
            Method::POST,
            path,
            Some(&admin),
            Some(json!({"client_id": client_id, "grace_period_seconds": 0})),
        )
        .await;
    assert_eq!(status, 201, "{leaked}");
    assert!(
        leaked.get("previous_secret_valid_until").is_none(),
        "{leaked}"
    );
    assert_eq!(token_status(&rotated["client_secret"]).await, 401);
    assert_eq!(token_status(&created["client_secret"]).await, 401);
    assert_eq!(token_status(&leaked["client_secret"]).await, 200);

    // What is wrong is refused, naming the field, and changes nothing.
    for (body, want, field) in [
        (
            json!({"grace_period_seconds": 2_592_001}),
            400,
            Some("grace_period_seconds"),
        ),
        (json!({"client_id": "partner-unknown"}), 404, None),
        (json!({"grace": 5}), 400, Some("grace")),
    ] {
        let (status, problem) = sandbox
            .call(Method::POST, path, Some(&admin), Some(body))
            .await;
        assert_eq!(status, want, "{problem}");
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{problem}");
        }
    }
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/admin/partners/nobody/secrets",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(token_status(&leaked["client_secret"]).await, 200);

    // Only a city admin rotates.
    let partner = sandbox
        .call(
            Method::POST,
            "/v1/auth/token",
            None,
            Some(json!({
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": leaked["client_secret"]})),
        )
        .await
        .1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = sandbox
        .call(Method::POST, path, Some(&partner), Some(json!({})))
        .await;
    assert_eq!(status, 403);
}
