use healthpoints_integration_tests::{Sandbox, id_number};
use reqwest::Method;
use serde_json::{Value, json};

async fn resident(sandbox: &Sandbox, seq: u32, district: &str) -> String {
    let phone = format!("1360000{seq:04}");
    let (status, body) = sandbox
        .call(Method::POST, "/v1/auth/register", None, Some(json!({
            "name": "王芳", "id_number": id_number(district, "19800101", seq), "phone": phone,
            "password": "Resident-pass-1", "residence_district": district, "residence_type": "registered",
        })))
        .await;
    assert_eq!(status, 201, "{body}");
    sandbox.login(&phone, "Resident-pass-1").await
}

fn rule<'a>(rules: &'a Value, code: &str) -> &'a Value {
    rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == code)
        .unwrap_or_else(|| panic!("rule {code} listed"))
}

#[tokio::test]
async fn a_check_in_earns_once_a_day_and_explains_itself() {
    let sandbox = Sandbox::start().await;
    let token = resident(&sandbox, 1, "310118").await;
    // Asking changes nothing: not yet today, no streak.
    let (status, before) = sandbox
        .call(Method::GET, "/v1/me/checkins", Some(&token), None)
        .await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before, json!({"checked_in_today": false, "streak_days": 0}));

    let (status, first) = sandbox
        .call(Method::POST, "/v1/me/checkins", Some(&token), None)
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["outcome"], "awarded", "{first}");
    assert_eq!(first["points"], 5);
    assert_eq!(first["book"], "city");
    assert_eq!(
        first["rule"],
        json!({"code": "learning.checkin", "version": 1})
    );
    assert_eq!(first["streak_days"], 1);

    // Again the same day: the same outcome, no second award.
    let (_, again) = sandbox
        .call(Method::POST, "/v1/me/checkins", Some(&token), None)
        .await;
    assert_eq!(again["event_id"], first["event_id"]);
    let (_, balances) = sandbox
        .call(Method::GET, "/v1/me/balances", Some(&token), None)
        .await;
    assert_eq!(balances["balances"][0]["book"], "city", "{balances}");
    assert_eq!(balances["balances"][0]["posted"], 5, "{balances}");
    let (_, after) = sandbox
        .call(Method::GET, "/v1/me/checkins", Some(&token), None)
        .await;
    assert_eq!(after, json!({"checked_in_today": true, "streak_days": 1}));

    let (status, mine) = sandbox
        .call(Method::GET, "/v1/me/behaviours", Some(&token), None)
        .await;
    assert_eq!(status, 200);
    let outcomes = mine["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 1, "{mine}");
    assert_eq!(outcomes[0]["event_id"], first["event_id"]);
    assert_eq!(outcomes[0]["transfer_id"], first["transfer_id"]);

    // Anonymous and non-resident callers are refused.
    let (status, _) = sandbox
        .call(Method::POST, "/v1/me/checkins", None, None)
        .await;
    assert_eq!(status, 401);
    let admin = sandbox.admin_token().await;
    let (status, _) = sandbox
        .call(Method::GET, "/v1/me/behaviours", Some(&admin), None)
        .await;
    assert_eq!(status, 403);
    sandbox.stop().await;
}

#[tokio::test]
async fn rules_change_through_drafts_what_if_and_publication_never_silently() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let token = resident(&sandbox, 2, "310118").await;
    let (_, checked_in) = sandbox
        .call(Method::POST, "/v1/me/checkins", Some(&token), None)
        .await;
    assert_eq!(checked_in["points"], 5);

    // The public catalogue: every category, no token needed.
    let (status, rules) = sandbox.call(Method::GET, "/v1/rules", None, None).await;
    assert_eq!(status, 200);
    for category in [
        "learning",
        "lifestyle",
        "public_health_service",
        "public_welfare",
    ] {
        assert!(
            rules["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["category"] == category),
            "{category} missing"
        );
    }
    let steps = rule(&rules, "steps.daily");
    assert_eq!(steps["daily_total"], true);
    assert!(steps["award"]["tiers"].is_array());
    let (_, log) = sandbox
        .call(Method::GET, "/v1/rules/changelog?page_size=2", None, None)
        .await;
    assert_eq!(log["changes"].as_array().unwrap().len(), 2, "{log}");
    assert!(log["next_cursor"].is_string());

    // A city admin drafts a richer check-in.
    let mut draft = rule(&rules, "learning.checkin").clone();
    draft["award"] = json!({"fixed": 10});
    draft["caps"] = json!({"per_day": 10});
    for field in ["version", "effective_from"] {
        draft.as_object_mut().unwrap().remove(field);
    }
    let (status, saved) = sandbox
        .call(
            Method::POST,
            "/v1/admin/rules/drafts",
            Some(&admin),
            Some(draft.clone()),
        )
        .await;
    assert_eq!(status, 201, "{saved}");
    let draft_id = saved["draft_id"].as_str().unwrap().to_owned();

    // What-if over today: the check-in made would have earned 10 instead of 5.
    let now = chrono::Utc::now();
    let (status, sim) = sandbox
        .call(
            Method::POST,
            "/v1/admin/rules/drafts/simulate",
            Some(&admin),
            Some(json!({
                "draft_ids": [draft_id],
                "from": (now - chrono::Duration::hours(1)).to_rfc3339(),
                "to": (now + chrono::Duration::hours(1)).to_rfc3339(),
            })),
        )
        .await;
    assert_eq!(status, 200, "{sim}");
    assert_eq!(sim["events_replayed"], 1, "{sim}");
    let cell = &sim["cells"][0];
    assert_eq!(
        (
            cell["category"].as_str(),
            cell["points_before"].as_u64(),
            cell["points_after"].as_u64()
        ),
        (Some("learning"), Some(5), Some(10)),
        "{sim}"
    );
    assert_eq!(cell["yuan_after"], "0.10");

    // A resident may not touch rules; a bad draft names its field.
    let (status, _) = sandbox
        .call(
            Method::POST,
            "/v1/admin/rules/drafts",
            Some(&token),
            Some(draft.clone()),
        )
        .await;
    assert_eq!(status, 403);
    let mut bad = draft.clone();
    bad["caps"] = json!({"per_day": 0});
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/admin/rules/drafts",
            Some(&admin),
            Some(bad),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("rule.caps.per_day")),
        "{problem}"
    );

    let (status, published) = sandbox
        .call(
            Method::POST,
            "/v1/admin/rules/drafts/publish",
            Some(&admin),
            Some(json!({"draft_ids": [draft_id]})),
        )
        .await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["rules"][0]["version"], 2);
    // Publishing a draft twice is refused.
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/admin/rules/drafts/publish",
            Some(&admin),
            Some(json!({"draft_ids": [draft_id]})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("failed_precondition")),
        "{problem}"
    );

    let (_, rules) = sandbox.call(Method::GET, "/v1/rules", None, None).await;
    let checkin = rule(&rules, "learning.checkin");
    assert_eq!(
        (
            checkin["version"].as_u64(),
            checkin["award"]["fixed"].as_u64()
        ),
        (Some(2), Some(10))
    );
    let (_, log) = sandbox
        .call(Method::GET, "/v1/rules/changelog", None, None)
        .await;
    let newest = &log["changes"][0];
    assert_eq!(newest["rule_code"], "learning.checkin");
    assert_eq!(newest["change"], "changed");
    assert!(
        newest["summary"].as_str().unwrap().contains("award"),
        "{newest}"
    );
    assert_ne!(newest["changed_by"], "system");

    // The award already made keeps its version and points.
    let (_, mine) = sandbox
        .call(Method::GET, "/v1/me/behaviours", Some(&token), None)
        .await;
    assert_eq!(mine["outcomes"][0]["points"], 5);
    assert_eq!(mine["outcomes"][0]["rule"]["version"], 1);

    // A district admin may tighten a city rule for their district, never loosen it, and may
    // not touch city-wide rules.
    let (status, _) = sandbox
        .call(Method::POST, "/v1/admin/staff", Some(&admin), Some(json!({
            "username": "qingpu", "password": "Qingpu-pass-1", "role": "district_admin", "district": "310118",
        })))
        .await;
    assert_eq!(status, 201);
    let qingpu = sandbox.login("qingpu", "Qingpu-pass-1").await;
    let steps = rule(&rules, "steps.daily").clone();
    let mut looser = steps.clone();
    looser["district"] = json!("310118");
    looser["caps"] = json!({"per_day": 60});
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/admin/rules/drafts",
            Some(&qingpu),
            Some(looser),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("rule.caps.per_day")),
        "{problem}"
    );
    let mut tighter = steps.clone();
    tighter["district"] = json!("310118");
    tighter["caps"] = json!({"per_day": 20});
    let (status, saved) = sandbox
        .call(
            Method::POST,
            "/v1/admin/rules/drafts",
            Some(&qingpu),
            Some(tighter),
        )
        .await;
    assert_eq!(status, 201, "{saved}");
    let (status, _) = sandbox
        .call(
            Method::POST,
            "/v1/admin/rules/drafts",
            Some(&qingpu),
            Some(steps),
        )
        .await;
    assert_eq!(status, 403);
    sandbox.stop().await;
}
