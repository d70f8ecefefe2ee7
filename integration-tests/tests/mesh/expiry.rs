//! Points expiry through the HTTP API: a resident sees when their points expire, the policies
//! are public, and an admin publishes a new one ahead of time, entered in the changelog. (The
//! sweeper expiring points is proven on the ledger with a moving clock, tests/api/lots.rs, and
//! in the process mesh's journey.)

use chrono::Datelike;
use healthpoints_integration_tests::Sandbox;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn residents_see_when_points_expire_and_admins_publish_a_policy_ahead() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let (resident, token) = sandbox.resident(801, "310118", "19480301").await;
    sandbox.grant(&admin, &resident, None, 300).await;

    // The configured city policy: the end of the second calendar year after the year earned.
    let year = (chrono::Utc::now() + chrono::Duration::hours(8)).year();
    let balances = sandbox
        .expect(200, Method::GET, "/v1/me/balances", Some(&token), None)
        .await
        .unwrap();
    let city = balances["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["book"] == "city")
        .expect("a city balance")
        .clone();
    assert_eq!(
        city["expiring"],
        json!([{"points": 300, "on": format!("{}-12-31", year + 2)}]),
        "{city}"
    );

    let policies = sandbox
        .expect(200, Method::GET, "/v1/rules/expiry", None, None)
        .await
        .unwrap();
    let books = policies["books"].as_array().unwrap();
    assert_eq!(books.len(), 17, "the city and sixteen districts");
    assert_eq!(
        books[0]["current"],
        json!({"book": "city", "policy": "year_end+2", "version": 0})
    );

    // Refused: a policy that does not parse, one taking effect now, another book's.
    for (book, body, status, field) in [
        ("city", json!({"policy": "forever"}), 400, Some("policy")),
        (
            "city",
            json!({"policy": "days:30", "effective_from": chrono::Utc::now().to_rfc3339()}),
            422,
            None,
        ),
        ("district:310118", json!({"policy": "days:30"}), 403, None),
    ] {
        let (got, problem) = sandbox
            .call(
                Method::PUT,
                &format!("/v1/admin/books/{book}/expiry-policy"),
                Some(&admin),
                Some(body),
            )
            .await;
        assert_eq!(
            (got, problem["field"].as_str()),
            (status, field),
            "{problem}"
        );
    }
    let published = sandbox
        .expect(
            200,
            Method::PUT,
            "/v1/admin/books/city/expiry-policy",
            Some(&admin),
            Some(json!({"policy": "days:365"})),
        )
        .await
        .unwrap();
    assert_eq!(
        (published["version"].as_u64(), published["policy"].as_str()),
        (Some(1), Some("days:365"))
    );
    let at: chrono::DateTime<chrono::Utc> = published["effective_from"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        at >= chrono::Utc::now() + chrono::Duration::minutes(59),
        "at least an hour ahead: {at}"
    );

    let policies = sandbox
        .expect(200, Method::GET, "/v1/rules/expiry", None, None)
        .await
        .unwrap();
    assert_eq!(
        policies["books"][0]["current"]["policy"], "year_end+2",
        "still in force"
    );
    assert_eq!(policies["books"][0]["next"]["policy"], "days:365");
    let changelog = sandbox
        .expect(200, Method::GET, "/v1/rules/changelog", None, None)
        .await
        .unwrap();
    let entry = &changelog["changes"][0];
    assert_eq!(entry["rule_code"], "points.expiry", "{entry}");
    assert!(
        entry["summary"]
            .as_str()
            .unwrap()
            .contains("year_end+2 → days:365"),
        "{entry}"
    );

    // Points already earned keep their day.
    assert_eq!(sandbox.balance(&token, "city").await.unwrap(), 300);
    sandbox.stop().await;
}
