use chrono::{Duration, FixedOffset, Utc};
use healthpoints_integration_tests::{Sandbox, id_number};
use reqwest::Method;
use serde_json::json;

fn shanghai_month(at: chrono::DateTime<Utc>) -> String {
    at.with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m")
        .to_string()
}

#[tokio::test]
async fn challenges_leaderboards_honours_and_review_through_the_gateway() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let mut residents = Vec::new();
    for (seq, name, phone) in [(41, "周小杰", "13700000041"), (42, "吴敏", "13700000042")] {
        let (status, body) = sandbox
            .call(Method::POST, "/v1/auth/register", None, Some(json!({
                "name": name, "id_number": id_number("310118", "19850505", seq), "phone": phone,
                "password": "Resident-pass-1", "residence_district": "310118", "residence_type": "registered",
            })))
            .await;
        assert_eq!(status, 201, "{body}");
        let token = sandbox.login(phone, "Resident-pass-1").await;
        residents.push((body["resident_id"].as_str().unwrap().to_owned(), token));
    }
    let (a_id, a) = residents[0].clone();
    let (b_id, b) = residents[1].clone();
    let sports = sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let steps = |record: &str, resident: &str, days_ago: i64, quantity: u64| {
        json!({"record_id": record, "resident_id": resident, "behaviour": "steps.daily",
               "occurred_at": (Utc::now() - Duration::days(days_ago)).to_rfc3339(), "quantity": quantity})
    };

    // An admin creates a challenge; bad input names its field.
    let challenge = |level: &str| {
        json!({"title": "8,000 steps on 2 days", "behaviour": "steps.daily", "daily_min_quantity": 8000,
               "days_required": 2, "starts_at": (Utc::now() - Duration::days(10)).to_rfc3339(),
               "ends_at": (Utc::now() + Duration::days(10)).to_rfc3339(), "bonus_points": 50, "level": level})
    };
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/admin/challenges",
            Some(&admin),
            Some(challenge("gold")),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("level")),
        "{problem}"
    );
    let (status, _) = sandbox
        .call(
            Method::POST,
            "/v1/admin/challenges",
            Some(&a),
            Some(challenge("city")),
        )
        .await;
    assert_eq!(status, 403, "residents do not create challenges");
    let (status, created) = sandbox
        .call(
            Method::POST,
            "/v1/admin/challenges",
            Some(&admin),
            Some(challenge("city")),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["bonus_yuan"], "0.50");
    let id = created["challenge_id"].as_str().unwrap();

    // The resident sees it, joins, walks two days and completes it: the bonus comes once.
    let (status, listed) = sandbox
        .call(Method::GET, "/v1/me/challenges", Some(&a), None)
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["challenges"][0]["joined"], false);
    let (status, joined) = sandbox
        .call(
            Method::POST,
            &format!("/v1/me/challenges/{id}/join"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(
        (status, &joined["joined"], &joined["days_done"]),
        (200, &json!(true), &json!(0)),
        "{joined}"
    );
    let (status, sent) = sandbox
        .send_ndjson(
            &sports,
            &[
                steps("a1", &a_id, 1, 9_000),
                steps("a2", &a_id, 2, 8_500),
                steps("b1", &b_id, 1, 12_000),
            ],
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let (_, listed) = sandbox
        .call(Method::GET, "/v1/me/challenges", Some(&a), None)
        .await;
    let progress = &listed["challenges"][0];
    assert_eq!(
        (&progress["completed"], &progress["days_done"]),
        (&json!(true), &json!(2)),
        "{listed}"
    );
    assert_eq!(
        (&progress["bonus"]["outcome"], &progress["bonus"]["points"]),
        (&json!("awarded"), &json!(50))
    );
    let (_, again) = sandbox
        .call(
            Method::POST,
            &format!("/v1/me/challenges/{id}/join"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(again["bonus"]["event_id"], progress["bonus"]["event_id"]);

    // Leaderboards rank only those who opted in, under masked names.
    let (status, _) = sandbox
        .call(
            Method::PUT,
            "/v1/me/leaderboard",
            Some(&a),
            Some(json!({"opt_in": true})),
        )
        .await;
    assert_eq!(status, 200);
    let month = shanghai_month(Utc::now());
    let steps_this_month = [(1, 20), (2, 20)]
        .iter()
        .filter(|(days_ago, _)| shanghai_month(Utc::now() - Duration::days(*days_ago)) == month)
        .map(|(_, points)| points)
        .sum::<u64>();
    let (status, board) = sandbox
        .call(
            Method::GET,
            &format!("/v1/leaderboards?scope=310118&period={month}"),
            Some(&b),
            None,
        )
        .await;
    assert_eq!(status, 200, "{board}");
    assert_eq!(
        board["entries"],
        json!([{"rank": 1, "name": "周*杰", "district": "310118", "points": steps_this_month + 50}])
    );
    let (status, _) = sandbox
        .call(Method::GET, "/v1/leaderboards", None, None)
        .await;
    assert_eq!(status, 401);
    let (status, problem) = sandbox
        .call(Method::GET, "/v1/leaderboards?period=soon", Some(&b), None)
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("period")),
        "{problem}"
    );

    // A district honour pays that district's points.
    let (status, honour) = sandbox
        .call(
            Method::POST,
            "/v1/admin/honours",
            Some(&admin),
            Some(json!({
                "resident_id": a_id, "honour": "health-star", "period": month, "district": "310118",
                "points": 300, "citation": "led the morning walking group",
            })),
        )
        .await;
    assert_eq!(status, 201, "{honour}");
    assert_eq!(
        (&honour["outcome"], &honour["book"]),
        (&json!("awarded"), &json!("district:310118"))
    );
    let (_, balances) = sandbox
        .call(Method::GET, "/v1/me/balances", Some(&a), None)
        .await;
    let qingpu = balances["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["book"] == "district:310118")
        .cloned()
        .unwrap_or_default();
    assert_eq!(qingpu["posted"], 300, "{balances}");

    // A flagged resident's award is held, then released by a reviewer.
    let (status, _) = sandbox
        .call(
            Method::POST,
            &format!("/v1/admin/residents/{b_id}/review-flag"),
            Some(&admin),
            Some(json!({"reason": "two phones, one wearable"})),
        )
        .await;
    assert_eq!(status, 204);
    let (_, sent) = sandbox
        .send_ndjson(&sports, &[steps("b2", &b_id, 2, 10_000)])
        .await;
    assert_eq!(sent["results"][0]["outcome"], "held", "{sent}");
    let (status, _) = sandbox
        .call(Method::GET, "/v1/admin/review-queue", Some(&b), None)
        .await;
    assert_eq!(status, 403);
    let (status, queue) = sandbox
        .call(
            Method::GET,
            "/v1/admin/review-queue?district=310118",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{queue}");
    assert_eq!(queue["held"].as_array().unwrap().len(), 1, "{queue}");
    let event_id = queue["held"][0]["event_id"].as_str().unwrap();
    let (status, problem) = sandbox
        .call(
            Method::POST,
            &format!("/v1/admin/review-queue/{event_id}"),
            Some(&admin),
            Some(json!({"decision": "maybe"})),
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("decision")));
    let (status, released) = sandbox
        .call(
            Method::POST,
            &format!("/v1/admin/review-queue/{event_id}"),
            Some(&admin),
            Some(json!({"decision": "release", "note": "checked"})),
        )
        .await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(
        (&released["outcome"], &released["points"]),
        (&json!("awarded"), &json!(30))
    );
    let (_, queue) = sandbox
        .call(Method::GET, "/v1/admin/review-queue", Some(&admin), None)
        .await;
    assert_eq!(queue["held"], json!([]));
    sandbox.stop().await;
}
