use healthpoints_integration_tests::{Sandbox, id_number, journey::day};
use reqwest::Method;
use serde_json::{Value, json};

async fn resident(sandbox: &Sandbox, seq: u32, district: &str) -> (String, String, String) {
    let (resident_id, id) = register(sandbox, seq, district, "19800101", "registered").await;
    let token = sandbox
        .login(&format!("1350000{seq:04}"), "Resident-pass-1")
        .await;
    (resident_id, id, token)
}

/// Registers a resident born on `birth` (YYYYMMDD): their id and ID number.
async fn register(
    sandbox: &Sandbox,
    seq: u32,
    district: &str,
    birth: &str,
    residence_type: &str,
) -> (String, String) {
    let phone = format!("1350000{seq:04}");
    let id = id_number(district, birth, seq);
    let (status, body) = sandbox
        .call(Method::POST, "/v1/auth/register", None, Some(json!({
            "name": "赵敏", "id_number": id, "phone": phone,
            "password": "Resident-pass-1", "residence_district": district, "residence_type": residence_type,
        })))
        .await;
    assert_eq!(status, 201, "{body}");
    (body["resident_id"].as_str().unwrap().to_owned(), id)
}

/// A FHIR submission: the status, the content type and the body of the answer.
async fn post_fhir(
    sandbox: &Sandbox,
    who: &str,
    content_type: &str,
    body: String,
) -> (u16, String, Value) {
    let response = sandbox
        .request(Method::POST, "/v1/partner/fhir", Some(who))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, kind, body)
}

/// 10,000 steps on a day `days_ago` days back.
fn steps(record: &str, resident_id: &str, days_ago: i64) -> Value {
    json!({"record_id": record, "resident_id": resident_id, "behaviour": "steps.daily",
           "occurred_at": format!("{}T20:00:00+08:00", day(days_ago)), "quantity": 10_000})
}

/// Whether the resident's access log has an entry of `action` (by `actor`, if given).
async fn logged(sandbox: &Sandbox, token: &str, action: &str, actor: Option<&str>) -> bool {
    let (_, log) = sandbox
        .call(Method::GET, "/v1/me/access-log", Some(token), None)
        .await;
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == action && actor.is_none_or(|a| e["actor"] == a))
}

async fn city_points(sandbox: &Sandbox, token: &str) -> u64 {
    let (_, b) = sandbox
        .call(Method::GET, "/v1/me/balances", Some(token), None)
        .await;
    b["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["book"] == "city")
        .map_or(0, |b| b["posted"].as_u64().unwrap())
}

/// A commercial partner's steps pass only under the resident's consent: grant → accepted,
/// revoke → refused (points kept), re-grant → accepted; a department needs none. Every call is
/// in the resident's access log, and only theirs.
#[tokio::test]
async fn consent_gates_a_commercial_partners_records_and_the_access_log_shows_them() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/admin/partners",
            Some(&admin),
            Some(json!({
            "name": "Fit band", "department": "wearables", "kind": "vendor",
            "behaviours": ["steps.daily"], "scopes": ["behaviours:submit"]})),
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("kind")));
    let band = sandbox
        .partner_of_kind(
            &admin,
            "wearables",
            &["steps.daily"],
            &["behaviours:submit"],
            "commercial",
        )
        .await;
    let sports = sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let (me, _, me_token) = resident(&sandbox, 1, "310118").await;
    let (_, _, other_token) = resident(&sandbox, 2, "310118").await;
    let (_, partners) = sandbox.call(Method::GET, "/v1/partners", None, None).await;
    assert!(
        partners["partners"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["partner_id"] == "wearables" && p["kind"] == "commercial")
    );

    let send = async |token: &str, record: Value| {
        let (status, body) = sandbox.send_ndjson(token, &[record]).await;
        assert_eq!(status, 200, "{body}");
        body["results"][0].clone()
    };
    let refused = send(&band, steps("b-1", &me, 6)).await;
    assert_eq!(
        (refused["outcome"].as_str(), refused["reason_code"].as_str()),
        (Some("rejected"), Some("consent_required")),
        "{refused}"
    );

    let grant = json!({"partner_id": "wearables", "category": "steps_exercise", "purpose": "steps for health points"});
    let (status, consent) = sandbox
        .call(
            Method::PUT,
            "/v1/me/consents",
            Some(&me_token),
            Some(grant.clone()),
        )
        .await;
    assert_eq!(
        (status, consent["active"].as_bool()),
        (200, Some(true)),
        "{consent}"
    );
    let (status, problem) = sandbox
        .call(
            Method::PUT,
            "/v1/me/consents",
            Some(&me_token),
            Some(json!({"partner_id": "wearables", "category": "dreams"})),
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("category")));
    let (status, _) = sandbox
        .call(
            Method::PUT,
            "/v1/me/consents",
            Some(&me_token),
            Some(json!({"partner_id": "nobody", "category": "sleep"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = sandbox
        .call(
            Method::PUT,
            "/v1/me/consents",
            Some(&admin),
            Some(grant.clone()),
        )
        .await;
    assert_eq!(status, 403, "only the resident consents");

    let accepted = send(&band, steps("b-2", &me, 5)).await;
    assert_eq!(accepted["outcome"], "awarded", "{accepted}");
    let earned = city_points(&sandbox, &me_token).await;
    assert_eq!(earned, 30);

    let (status, revoked) = sandbox
        .call(
            Method::DELETE,
            "/v1/me/consents/wearables/steps_exercise",
            Some(&me_token),
            None,
        )
        .await;
    assert_eq!(
        (status, revoked["active"].as_bool()),
        (200, Some(false)),
        "{revoked}"
    );
    let after = send(&band, steps("b-3", &me, 4)).await;
    assert_eq!(after["reason_code"], "consent_required", "{after}");
    assert_eq!(
        city_points(&sandbox, &me_token).await,
        earned,
        "revoking keeps earned points"
    );

    let (status, _) = sandbox
        .call(Method::PUT, "/v1/me/consents", Some(&me_token), Some(grant))
        .await;
    assert_eq!(status, 200);
    let again = send(&band, steps("b-4", &me, 3)).await;
    assert_eq!(again["outcome"], "awarded", "{again}");
    // A department reports under its statutory duty: no consent needed.
    let statutory = send(&sports, steps("s-1", &me, 2)).await;
    assert_eq!(statutory["outcome"], "awarded", "{statutory}");
    let (_, consents) = sandbox
        .call(Method::GET, "/v1/me/consents", Some(&me_token), None)
        .await;
    assert_eq!(
        consents["consents"].as_array().unwrap().len(),
        1,
        "{consents}"
    );

    // Who sent my data: the band (four calls) and the sports bureau; not the other resident's.
    let (status, log) = sandbox
        .call(Method::GET, "/v1/me/access-log", Some(&me_token), None)
        .await;
    assert_eq!(status, 200, "{log}");
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 5, "{log}");
    assert!(
        entries
            .iter()
            .all(|e| e["action"] == "submit_records" && e.get("resident_id").is_none())
    );
    assert_eq!(
        entries.iter().filter(|e| e["actor"] == "wearables").count(),
        4
    );
    assert_eq!(entries[0]["partner_name"], "sports feed");
    let (_, theirs) = sandbox
        .call(Method::GET, "/v1/me/access-log", Some(&other_token), None)
        .await;
    assert!(theirs["entries"].as_array().unwrap().is_empty(), "{theirs}");
    let (status, _) = sandbox
        .call(
            Method::GET,
            "/v1/me/access-log?partner_id=wearables",
            Some(&me_token),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, audit) = sandbox
        .call(
            Method::GET,
            "/v1/admin/access-log?partner_id=wearables&from=2026-01-01T00:00:00Z",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let audit = audit["entries"].as_array().unwrap();
    assert_eq!(audit.len(), 4);
    assert!(audit.iter().all(|e| e["resident_id"] == me.as_str()));
    // One filter at a time: both at once is refused, not half applied.
    let (status, both) = sandbox
        .call(
            Method::GET,
            &format!("/v1/admin/access-log?partner_id=wearables&resident_id={me}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (status, &both["field"]),
        (400, &json!("partner_id")),
        "{both}"
    );
    let (status, _) = sandbox
        .call(Method::GET, "/v1/admin/access-log", Some(&band), None)
        .await;
    assert_eq!(status, 403);
    sandbox.stop().await;
}

/// The health commission signs, changes and ends contracts: identity's contract (and so the
/// routing) follows, a signing earns its points once, a resent record answers the same, a
/// malformed batch changes nothing.
#[tokio::test]
async fn the_contracts_feed_drives_contracts_routing_and_points() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let commission = sandbox
        .partner(
            &admin,
            "health-commission",
            &["family_doctor.contract"],
            &["contracts:submit"],
        )
        .await;
    let sports = sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let (resident_id, id, token) = resident(&sandbox, 3, "310118").await;
    let contract = |record: &str, action: &str, district: &str| {
        json!([{"record_id": record, "id_number": id, "action": action, "institution_code": format!("{district}-07"),
            "institution_name": "Community Health Centre", "district": district,
            "signed_on": day(5), "valid_until": "2030-01-01"}])
    };
    let post = async |who: &str, body: Value| {
        sandbox
            .call(
                Method::POST,
                "/v1/partner/family-doctor-contracts",
                Some(who),
                Some(body),
            )
            .await
    };
    let (status, problem) = post(&sports, contract("c-0", "sign", "310110")).await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("contracts:submit")
    );
    let (status, problem) = post(&commission, contract("c-1", "sign", "999999")).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("records[0].district")),
        "{problem}"
    );
    let (_, me) = sandbox
        .call(Method::GET, "/v1/me", Some(&token), None)
        .await;
    assert!(
        me["family_doctor"].is_null(),
        "a refused batch applies nothing: {me}"
    );

    let (status, signed) = post(&commission, contract("c-1", "sign", "310110")).await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(
        (
            &signed["results"][0]["outcome"],
            &signed["results"][0]["points"]
        ),
        (&json!("applied"), &json!(1000)),
        "{signed}"
    );
    let (_, again) = post(&commission, contract("c-1", "sign", "310110")).await;
    assert_eq!(
        again["results"], signed["results"],
        "a resent record answers the same"
    );
    assert_eq!(city_points(&sandbox, &token).await, 1000, "paid once");
    let (_, route) = sandbox
        .call(Method::GET, "/v1/mall", Some(&token), None)
        .await;
    assert_eq!(route["serving"], "district:310110", "{route}");

    let (_, changed) = post(&commission, contract("c-2", "change", "310118")).await;
    assert_eq!(changed["results"][0]["outcome"], "applied", "{changed}");
    let (_, route) = sandbox
        .call(Method::GET, "/v1/mall", Some(&token), None)
        .await;
    assert_eq!(route["serving"], "district:310118", "{route}");
    let (_, ended) = post(
        &commission,
        json!([{"record_id": "c-3", "resident_id": resident_id, "action": "end"}]),
    )
    .await;
    assert_eq!(ended["results"][0]["outcome"], "applied", "{ended}");
    let (_, route) = sandbox
        .call(Method::GET, "/v1/mall", Some(&token), None)
        .await;
    assert_eq!(route["reason"], "no_family_doctor_contract", "{route}");

    let (_, unknown) = post(
        &commission,
        json!([{"record_id": "c-4", "id_number": id_number("310118", "19700101", 999),
        "action": "sign", "institution_code": "X", "institution_name": "Y", "district": "310118",
        "signed_on": "2026-11-02", "valid_until": "2027-11-01"}]),
    )
    .await;
    assert_eq!(
        unknown["results"][0]["reason_code"], "resident_unknown",
        "{unknown}"
    );
    assert!(
        logged(
            &sandbox,
            &token,
            "submit_contracts",
            Some("health-commission")
        )
        .await
    );
    sandbox.stop().await;
}

/// An insurer reads a resident's monthly summary only under the resident's consent: refused
/// without, given with, refused again once revoked; every read is in the resident's log.
#[tokio::test]
async fn an_insurer_reads_a_points_summary_only_under_consent() {
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
    let sports = sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let (me, _, me_token) = resident(&sandbox, 5, "310118").await;
    let walked = chrono::Utc::now() - chrono::Duration::minutes(10);
    let month = (walked + chrono::Duration::hours(8))
        .format("%Y-%m")
        .to_string();
    let (status, _) = sandbox
        .send_ndjson(
            &sports,
            &[
                json!({"record_id": "s-1", "resident_id": me, "behaviour": "steps.daily",
            "occurred_at": walked.to_rfc3339(), "quantity": 10_000}),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let path = format!("/v1/partner/residents/{me}/points-summary");
    let (status, refused) = sandbox.call(Method::GET, &path, Some(&insurer), None).await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("consent"),
        "{refused}"
    );
    let (status, _) = sandbox.call(Method::GET, &path, Some(&sports), None).await;
    assert_eq!(status, 403, "a partner without the scope");

    let (status, _) = sandbox
        .call(Method::PUT, "/v1/me/consents", Some(&me_token), Some(json!({"partner_id": "insurer", "category": "points_summary", "purpose": "premium discount"})))
        .await;
    assert_eq!(status, 200);
    let (status, summary) = sandbox.call(Method::GET, &path, Some(&insurer), None).await;
    assert_eq!(status, 200, "{summary}");
    let months = summary["months"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    let walked_month = months
        .iter()
        .find(|m| m["month"] == month.as_str())
        .expect("the month of the walk");
    assert_eq!(
        (
            &walked_month["points_earned"],
            &walked_month["activity_level"]
        ),
        (&json!(30), &json!("low"))
    );
    let (status, _) = sandbox
        .call(
            Method::GET,
            "/v1/partner/residents/not-a-resident/points-summary",
            Some(&insurer),
            None,
        )
        .await;
    assert_eq!(status, 400);

    sandbox
        .call(
            Method::DELETE,
            "/v1/me/consents/insurer/points_summary",
            Some(&me_token),
            None,
        )
        .await;
    let (status, _) = sandbox.call(Method::GET, &path, Some(&insurer), None).await;
    assert_eq!(status, 403);
    let (_, log) = sandbox
        .call(Method::GET, "/v1/me/access-log", Some(&me_token), None)
        .await;
    let reads = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "read_points_summary")
        .count();
    assert_eq!(reads, 1, "{log}");
    sandbox.stop().await;
}

/// FHIR through the gateway: the adapted HL7 examples are judged (steps and a vaccination
/// awarded); a bundle with a malformed entry is refused whole with precise outcomes and writes
/// nothing; the scope is checked.
#[tokio::test]
async fn fhir_bundles_are_judged_or_refused_whole() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let health = sandbox
        .partner(
            &admin,
            "health-commission",
            &["vaccination", "screening", "elderly.health_check"],
            &["fhir:submit"],
        )
        .await;
    let sports = sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let (me, id, token) = resident(&sandbox, 6, "310118").await;
    // The examples' dates, moved into the reporting window.
    let fill = |raw: &str| {
        raw.replace("@ID@", &id)
            .replace("@RID@", &me)
            .replace("2026-11-20", &day(2))
            .replace("2026-11-19", &day(3))
            .replace("2026-11-18", &day(4))
    };
    let post = async |who: &str, content_type: &str, body: String| {
        post_fhir(&sandbox, who, content_type, body).await
    };
    let bundle = fill(include_str!(
        "../../../services/exchange/fhir-examples/bundle-steps-immunization.json"
    ));
    let (status, _, _) = post(&sports, "application/fhir+json", bundle.clone()).await;
    assert_eq!(status, 403, "the scope fhir:submit is needed");

    let malformed = fill(include_str!(
        "../../../services/exchange/fhir-examples/malformed-types.json"
    ));
    let (status, kind, refused) = post(&health, "application/fhir+json", malformed).await;
    assert_eq!(
        (status, kind.as_str()),
        (400, "application/fhir+json"),
        "{refused}"
    );
    // The malformed example is a transaction: one OperationOutcome names the bad entries.
    assert_eq!(refused["resourceType"], "OperationOutcome");
    assert_eq!(
        refused["issue"][1]["expression"][0],
        "Bundle.entry[1].resource.patient"
    );
    assert_eq!(
        city_points(&sandbox, &token).await,
        0,
        "nothing was written"
    );

    let (status, _, judged) = post(&health, "application/fhir+json", bundle.clone()).await;
    assert_eq!(status, 200, "{judged}");
    let outcomes: Vec<&str> = judged["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["response"]["outcome"]["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
        })
        .collect();
    // The commission is not registered to report steps (the catalogue takes them only from
    // sports and wearables sources, so it could not be).
    assert!(
        outcomes[0].starts_with("rejected (behaviour_not_listed)"),
        "{judged}"
    );
    assert_eq!(outcomes[1], "awarded 200 points", "{judged}");
    let (_, _, again) = post(&health, "application/fhir+json", bundle).await;
    assert_eq!(
        again["entry"], judged["entry"],
        "a resent bundle answers the same"
    );
    assert_eq!(city_points(&sandbox, &token).await, 200, "paid once");
    let (status, _, ndjson) = post(
        &health,
        "application/fhir+ndjson",
        fill(include_str!(
            "../../../services/exchange/fhir-examples/procedure-encounter.ndjson"
        )),
    )
    .await;
    assert_eq!(status, 200, "{ndjson}");
    let outcomes: Vec<&str> = ndjson["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["response"]["outcome"]["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        outcomes,
        ["awarded 300 points", "awarded 500 points"],
        "a screening and an elderly check earn as docs/exchange.md says: {ndjson}"
    );
    assert_eq!(city_points(&sandbox, &token).await, 200 + 300 + 500);
    let (status, _, huge) = post(&health, "application/fhir+json", "x".repeat(2 << 20)).await;
    assert_eq!(
        (status, huge["issue"][0]["code"].as_str()),
        (413, Some("too-costly")),
        "{huge}"
    );
    assert!(logged(&sandbox, &token, "submit_fhir", None).await);
    sandbox.stop().await;
}

/// Every partner route refuses a partner client that lacks its scope, naming the scope; a
/// resident's token is refused too.
#[tokio::test]
async fn every_partner_route_names_the_scope_it_needs() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let bare = sandbox.partner(&admin, "culture", &[], &[]).await;
    let (_, _, resident_token) = resident(&sandbox, 7, "310118").await;
    let someone = "0190a5e2-0000-7000-8000-000000000009";
    let routes: [(Method, String, &str, &str, &str); 5] = [
        (
            Method::POST,
            "/v1/partner/behaviours".into(),
            "application/json",
            "[]",
            "behaviours:submit",
        ),
        (
            Method::POST,
            "/v1/partner/fhir".into(),
            "application/fhir+json",
            r#"{"resourceType":"Bundle"}"#,
            "fhir:submit",
        ),
        (
            Method::POST,
            "/v1/partner/family-doctor-contracts".into(),
            "application/json",
            "[]",
            "contracts:submit",
        ),
        (
            Method::GET,
            format!("/v1/partner/residents/{someone}/points-summary"),
            "application/json",
            "",
            "points-summary:read",
        ),
        (
            Method::GET,
            "/v1/partner/statistics".into(),
            "application/json",
            "",
            "statistics:read",
        ),
    ];
    for (method, path, content_type, body, scope) in routes {
        for token in [&bare, &resident_token] {
            let response = sandbox
                .request(method.clone(), &path, Some(token))
                .header("content-type", content_type)
                .body(body.to_owned())
                .send()
                .await
                .unwrap();
            let (status, problem) = healthpoints_integration_tests::split(response).await;
            assert_eq!(status, 403, "{path}: {problem}");
            if token == &bare {
                assert!(
                    problem["detail"]
                        .as_str()
                        .unwrap_or_default()
                        .contains(scope),
                    "{path} must name {scope}: {problem}"
                );
            }
        }
        let (status, _) = sandbox.call(method.clone(), &path, None, None).await;
        assert_eq!(status, 401, "{path} without a token");
    }
    sandbox.stop().await;
}

/// A city admin suspends a partner (its calls are refused at once) and reactivates it; its kind
/// stays unless changed.
#[tokio::test]
async fn a_suspended_partner_can_do_nothing_until_reactivated() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let band = sandbox
        .partner_of_kind(
            &admin,
            "wearables",
            &["steps.daily"],
            &["behaviours:submit"],
            "commercial",
        )
        .await;
    let (me, _, _) = resident(&sandbox, 8, "310118").await;
    let change = |status: &str| json!({"name": "Fit band", "behaviours": ["steps.daily"], "scopes": ["behaviours:submit"], "status": status});
    let (status, suspended) = sandbox
        .call(
            Method::PUT,
            "/v1/admin/partners/wearables",
            Some(&admin),
            Some(change("suspended")),
        )
        .await;
    assert_eq!(
        (status, suspended["kind"].as_str()),
        (200, Some("commercial")),
        "{suspended}"
    );
    let (status, refused) = sandbox.send_ndjson(&band, &[steps("w-1", &me, 1)]).await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("suspended"),
        "{refused}"
    );
    let (status, _) = sandbox
        .call(
            Method::PUT,
            "/v1/admin/partners/wearables",
            Some(&band),
            Some(change("active")),
        )
        .await;
    assert_eq!(status, 403, "only a city admin keeps the registry");
    let (status, problem) = sandbox
        .call(
            Method::PUT,
            "/v1/admin/partners/wearables",
            Some(&admin),
            Some(change("paused")),
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("status")));
    let (status, _) = sandbox
        .call(
            Method::PUT,
            "/v1/admin/partners/wearables",
            Some(&admin),
            Some(change("active")),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answered) = sandbox.send_ndjson(&band, &[steps("w-1", &me, 1)]).await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(
        answered["results"][0]["reason_code"], "consent_required",
        "still commercial"
    );
    sandbox.stop().await;
}

/// The cells of a statistics answer that match `pick`.
fn cells(stats: &Value, pick: impl Fn(&Value) -> bool) -> Vec<&Value> {
    stats["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| pick(c))
        .collect()
}

/// De-identified statistics: cohorts of fewer than 10 people are hidden (figures null), a
/// cohort of 11 shows, the city book's total matches the ledger's book figures of the month to
/// the point; a partner needs `statistics:read`, a district admin sees only their own district,
/// a bad month is named; the read is in the access log.
#[tokio::test]
async fn statistics_hide_small_cells_and_match_the_ledger() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let sports = sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    // Qingpu: 11 registered residents aged 40-59, one aged 18-39, one migrant aged 60+;
    // Yangpu: two.
    let mut people = Vec::new();
    for seq in 0..11 {
        people.push(register(&sandbox, 100 + seq, "310118", "19800101", "registered").await);
    }
    people.push(register(&sandbox, 120, "310118", "19950601", "registered").await);
    people.push(register(&sandbox, 121, "310118", "19500301", "permanent_migrant").await);
    people.push(register(&sandbox, 130, "310110", "19800101", "registered").await);
    people.push(register(&sandbox, 131, "310110", "19800101", "registered").await);
    let records: Vec<Value> = people
        .iter()
        .enumerate()
        .map(|(i, (resident_id, _))| steps(&format!("st-{i}"), resident_id, 1))
        .collect();
    let (status, sent) = sandbox.send_ndjson(&sports, &records).await;
    assert_eq!(status, 200, "{sent}");
    let per_record = sent["results"][0]["points"].as_u64().unwrap();
    assert!(per_record > 0, "{sent}");
    assert!(
        sent["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "awarded"),
        "{sent}"
    );
    let month = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m")
        .to_string();

    let reader = sandbox
        .partner(&admin, "statistics-bureau", &[], &["statistics:read"])
        .await;
    let (status, stats) = sandbox
        .call(
            Method::GET,
            &format!("/v1/partner/statistics?district=310118&month={month}"),
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["min_cell"], 10);
    let qingpu = cells(&stats, |c| c["category"] == "lifestyle");
    assert_eq!(qingpu.len(), 3, "{stats}");
    assert!(
        qingpu
            .iter()
            .all(|c| c["district"] == "310118" && c["book"] == "city")
    );
    let shown = cells(&stats, |c| c["age_band"] == "40-59");
    assert_eq!(
        (
            &shown[0]["participants"],
            &shown[0]["points_issued"],
            &shown[0]["suppressed"]
        ),
        (&json!(11), &json!(11 * per_record), &json!(false)),
        "{stats}"
    );
    for band in ["18-39", "60+"] {
        let hidden = cells(&stats, |c| c["age_band"] == band);
        assert_eq!(
            (
                &hidden[0]["participants"],
                &hidden[0]["points_issued"],
                &hidden[0]["suppressed"]
            ),
            (&Value::Null, &Value::Null, &json!(true)),
            "{band}: {stats}"
        );
    }
    assert_eq!(
        cells(&stats, |c| c["age_band"] == "60+")[0]["residence_type"],
        "permanent_migrant"
    );
    assert!(cells(&stats, |c| c["district"] == "310110").is_empty());

    // Every district: the city book's total is the ledger's book figures of the month.
    let (_, all) = sandbox
        .call(
            Method::GET,
            &format!("/v1/partner/statistics?month={month}"),
            Some(&reader),
            None,
        )
        .await;
    let city = cells(&all, |c| c["book"] == "city" && c["category"].is_null());
    assert_eq!(city.len(), 1, "{all}");
    let (_, ledger) = sandbox
        .call(
            Method::GET,
            &format!("/v1/admin/books/city/stats?month={month}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(city[0]["participants"], 15, "{all}");
    assert_eq!(
        city[0]["points_issued"], ledger["issued"],
        "{all} vs {ledger}"
    );
    assert_eq!(ledger["issued"], json!(15 * per_record));
    assert_eq!(city[0]["points_redeemed"], ledger["redeemed"]);
    assert_eq!(city[0]["liability_points"], ledger["outstanding"]);
    assert_eq!(
        cells(&all, |c| c["district"] == "310110"
            && !c["category"].is_null())
        .len(),
        1,
        "{all}"
    );

    // Who may.
    let (status, _) = sandbox
        .call(Method::POST, "/v1/admin/staff", Some(&admin), Some(json!({
            "username": "qp-stats", "password": "District-pass-1", "role": "district_admin", "district": "310118",
        })))
        .await;
    assert_eq!(status, 201);
    let qingpu_admin = sandbox.login("qp-stats", "District-pass-1").await;
    let (status, own) = sandbox
        .call(
            Method::GET,
            "/v1/admin/statistics",
            Some(&qingpu_admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{own}");
    assert!(!cells(&own, |_| true).is_empty());
    assert!(
        cells(&own, |_| true)
            .iter()
            .all(|c| c["district"] == "310118"),
        "{own}"
    );
    let (status, problem) = sandbox
        .call(
            Method::GET,
            "/v1/admin/statistics?district=310110",
            Some(&qingpu_admin),
            None,
        )
        .await;
    assert_eq!(status, 403, "{problem}");
    let (status, problem) = sandbox
        .call(
            Method::GET,
            "/v1/partner/statistics?month=2026-13",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("month")));
    let (_, log) = sandbox
        .call(
            Method::GET,
            "/v1/admin/access-log?partner_id=statistics-bureau",
            Some(&admin),
            None,
        )
        .await;
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "read_statistics" && e["resident_id"].is_null()),
        "{log}"
    );
    sandbox.stop().await;
}

/// FHIR as a health department's system expects it: the CapabilityStatement without a token; a
/// transaction all or none (a rejected entry stops it, nothing recorded); a batch entry by
/// entry (a malformed entry refused on its own); units read as UCUM.
#[tokio::test]
async fn fhir_transactions_are_all_or_none_batches_per_entry_and_units_ucum() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let health = sandbox
        .partner(
            &admin,
            "health-commission",
            &["vaccination"],
            &["fhir:submit"],
        )
        .await;
    let motion = sandbox
        .partner(&admin, "ai-motion", &["exercise.session"], &["fhir:submit"])
        .await;
    let (me, id, token) = resident(&sandbox, 8, "310118").await;

    // The CapabilityStatement, open to everyone.
    let response = sandbox
        .request(Method::GET, "/v1/partner/fhir/metadata", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    let capability: Value = response.json().await.unwrap();
    assert_eq!(capability["resourceType"], "CapabilityStatement");
    assert_eq!(
        capability["rest"][0]["interaction"][1]["code"],
        "transaction"
    );

    let post = async |who: &str, body: Value| {
        let (status, _, answer) =
            post_fhir(&sandbox, who, "application/fhir+json", body.to_string()).await;
        (status, answer)
    };
    let vaccination = |rid: &str, days_ago: i64| {
        json!({"resource": {"resourceType": "Immunization", "id": rid, "status": "completed",
            "vaccineCode": {"coding": [{"code": "FLUVAX"}]},
            "patient": {"identifier": {"system": "urn:healthpoints:prc-id", "value": id}},
            "occurrenceDateTime": day(days_ago)}})
    };
    let steps = json!({"resource": {"resourceType": "Observation", "id": "steps-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "41950-7"}]},
        "subject": {"reference": format!("Patient/{me}")}, "effectiveDateTime": day(1),
        "valueQuantity": {"value": 9000, "system": "http://unitsofmeasure.org", "code": "/d"}}});
    let bundle = |kind: &str, entries: Vec<Value>| json!({"resourceType": "Bundle", "type": kind, "entry": entries});

    // A transaction with an entry the commission may not report: refused whole, 422.
    let (status, refused) = post(
        &health,
        bundle("transaction", vec![vaccination("v-1", 2), steps.clone()]),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["resourceType"], "OperationOutcome");
    assert_eq!(
        refused["issue"][0]["expression"][0],
        "Bundle.entry[1].resource"
    );
    assert!(
        refused["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .starts_with("rejected (behaviour_not_listed)"),
        "{refused}"
    );
    assert_eq!(city_points(&sandbox, &token).await, 0, "nothing recorded");

    // A transaction intake refuses part of (a record older than the reporting window): 422,
    // the other entry not processed, nothing recorded.
    let (status, refused) = post(
        &health,
        bundle(
            "transaction",
            vec![vaccination("v-1", 2), vaccination("v-old", 60)],
        ),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["issue"][0]["expression"][0],
        "Bundle.entry[1].resource"
    );
    assert!(
        refused["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .starts_with("rejected (too_old)"),
        "{refused}"
    );
    assert_eq!(city_points(&sandbox, &token).await, 0, "nothing recorded");

    // The same vaccination in a transaction of its own is recorded; resent, answered the same.
    let alone = bundle("transaction", vec![vaccination("v-1", 2)]);
    let (status, applied) = post(&health, alone.clone()).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["type"], "transaction-response");
    assert_eq!(
        applied["entry"][0]["response"]["outcome"]["issue"][0]["diagnostics"],
        "awarded 200 points"
    );
    let (status, again) = post(&health, alone).await;
    assert_eq!((status, &again["entry"]), (200, &applied["entry"]));
    assert_eq!(city_points(&sandbox, &token).await, 200, "paid once");

    // A batch: the malformed entry is refused on its own, the rejected one says why, the good
    // one is recorded.
    let mut broken = vaccination("v-2", 3);
    broken["resource"]["patient"] = Value::Null;
    let (status, judged) = post(
        &health,
        bundle("batch", vec![broken, steps, vaccination("v-3", 4)]),
    )
    .await;
    assert_eq!(status, 200, "{judged}");
    assert_eq!(judged["type"], "batch-response");
    let statuses: Vec<&str> = judged["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["400", "422", "200"], "{judged}");
    assert_eq!(city_points(&sandbox, &token).await, 400);

    // Units: an hour and a half of exercise is 90 minutes; kilometres are not a duration.
    let exercise = |rid: &str, value: f64, unit: &str| {
        json!({"resource": {"resourceType": "Observation", "id": rid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "55411-3"}]},
            "subject": {"reference": format!("Patient/{me}")}, "effectiveDateTime": day(1),
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit}}})
    };
    let (status, judged) = post(
        &motion,
        bundle(
            "batch",
            vec![exercise("x-1", 1.5, "h"), exercise("x-2", 5.0, "km")],
        ),
    )
    .await;
    assert_eq!(status, 200, "{judged}");
    let second = &judged["entry"][1]["response"];
    assert_eq!(second["status"], "400", "{judged}");
    assert_eq!(
        second["outcome"]["issue"][0]["expression"][0],
        "Bundle.entry[1].resource.valueQuantity.code"
    );
    let first = &judged["entry"][0]["response"];
    assert_eq!(first["status"], "200", "{judged}");
    assert!(
        first["outcome"]["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .starts_with("awarded"),
        "{judged}"
    );
    sandbox.stop().await;
}
