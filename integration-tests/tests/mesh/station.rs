//! The health-station counter through the gateway, as a counter uses it for an older resident
//! without a smartphone: a district admin creates the staff member, who looks the resident up
//! by ID number, records a community lecture for them (district points, staff and institution
//! on the record, idempotent), places an order for them with their consent (a voucher to print),
//! and every step is in the resident's access log and in the district's station activity.
//! A resident with a phone shows a station code instead; staff of one district cannot read
//! another's activity, and bad input changes nothing.

use healthpoints_integration_tests::{STAFF_PASSWORD, Sandbox, id_number, split};
use reqwest::Method;
use serde_json::{Value, json};

async fn product(sandbox: &Sandbox, admin: &str, price: u64) -> String {
    let shop = ("Station pharmacy", "op-station");
    let (_, product) = sandbox
        .city_shop(admin, shop, ("Blood-pressure monitor", price))
        .await
        .unwrap();
    product
}

async fn post(sandbox: &Sandbox, token: &str, path: &str, body: Value) -> (u16, Value) {
    sandbox
        .call(Method::POST, path, Some(token), Some(body))
        .await
}

#[tokio::test]
async fn a_station_counter_serves_a_resident_in_person_and_every_step_is_logged() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let qingpu = sandbox
        .staff(
            &admin,
            json!({"username": "qp.admin", "password": STAFF_PASSWORD, "role": "district_admin", "district": "310118"}),
        )
        .await
        .unwrap();
    // A district admin creates the counter's staff member, of their own district only.
    let station = sandbox
        .staff(
            &qingpu,
            json!({"username": "qp.station", "password": STAFF_PASSWORD, "role": "station_staff",
                "district": "310118", "institution_code": "QP-ZJJ-01"}),
        )
        .await
        .unwrap();
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/admin/staff",
            Some(&qingpu),
            Some(json!({"username": "pd.station", "password": STAFF_PASSWORD, "role": "station_staff",
                "district": "310115", "institution_code": "PD-01"})),
        )
        .await;
    assert_eq!(status, 403, "{problem}");

    let birth = "19480301";
    let (resident, token) = sandbox.resident(901, "310118", birth).await;
    let id = id_number("310118", birth, 901);
    sandbox.grant(&admin, &resident, None, 1_000).await;

    // Look-up by ID card: who they are (masked) and their points.
    let found = sandbox
        .expect(
            200,
            Method::POST,
            "/v1/station/lookup",
            Some(&station),
            Some(json!({"id_number": id})),
        )
        .await
        .unwrap();
    assert_eq!(found["resident"]["resident_id"], resident.as_str());
    assert_eq!(found["resident"]["name_masked"], "陈*");
    assert!(
        !found.to_string().contains(&id),
        "the ID number is never echoed"
    );
    let city = found["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["book"] == "city")
        .cloned()
        .unwrap();
    assert_eq!(city["available"], 1_000);

    // A community lecture, recorded at the counter: Qingpu's points, once.
    let lecture = json!({"id_number": id, "record_id": "visit-1", "behaviour": "community.lecture",
        "attributes": {"lecture_id": "L-2026-12"}});
    let recorded = sandbox
        .expect(
            200,
            Method::POST,
            "/v1/station/behaviours",
            Some(&station),
            Some(lecture.clone()),
        )
        .await
        .unwrap();
    assert_eq!(recorded["result"]["outcome"], "awarded", "{recorded}");
    assert_eq!(recorded["result"]["points"], 20);
    assert_eq!(recorded["result"]["record_id"], "visit-1");
    let again = sandbox
        .expect(
            200,
            Method::POST,
            "/v1/station/behaviours",
            Some(&station),
            Some(lecture),
        )
        .await
        .unwrap();
    // A retry (the counter's page resent) answers the same outcome; the points come once.
    assert_eq!(again["result"], recorded["result"]);
    let balances = sandbox
        .eventually(
            "/v1/me/balances",
            &token,
            std::time::Duration::from_secs(10),
            |b| b.to_string().contains("district:310118"),
        )
        .await;
    assert!(
        balances["balances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["book"] == "district:310118" && b["available"] == 20),
        "{balances}"
    );
    // A behaviour no rule takes from a station is refused, with the reason.
    let steps = sandbox
        .expect(
            200,
            Method::POST,
            "/v1/station/behaviours",
            Some(&station),
            Some(json!({"id_number": id, "record_id": "visit-2", "behaviour": "steps.daily", "quantity": 9000})),
        )
        .await
        .unwrap();
    assert_eq!(steps["result"]["outcome"], "rejected", "{steps}");

    // An order at the counter: only with the resident's consent; the voucher comes back.
    let price = 300;
    let product = product(&sandbox, &admin, price).await;
    let order_body = |consents: bool| json!({"id_number": id, "resident_consents": consents, "mall": "city", "product_id": product});
    let refused = sandbox
        .request(Method::POST, "/v1/station/orders", Some(&station))
        .header("Idempotency-Key", "counter-order-1")
        .json(&order_body(false))
        .send()
        .await
        .unwrap();
    let (status, problem) = split(refused).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("resident_consents"))
    );
    let placed = sandbox
        .request(Method::POST, "/v1/station/orders", Some(&station))
        .header("Idempotency-Key", "counter-order-1")
        .json(&order_body(true))
        .send()
        .await
        .unwrap();
    let (status, placed) = split(placed).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["order"]["points"], price);
    assert!(
        placed["order"]["voucher_code"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert_eq!(
        sandbox.balance(&token, "city").await.unwrap(),
        1_000 - price
    );
    // The resident sees the order in their own app too.
    let mine = sandbox
        .expect(200, Method::GET, "/v1/me/orders", Some(&token), None)
        .await
        .unwrap();
    assert_eq!(mine["orders"][0]["order_id"], placed["order"]["order_id"]);

    // A resident with a phone shows a station code instead of their ID card.
    let code = sandbox
        .expect(200, Method::POST, "/v1/me/station-code", Some(&token), None)
        .await
        .unwrap();
    let by_code = sandbox
        .expect(
            200,
            Method::POST,
            "/v1/station/lookup",
            Some(&station),
            Some(json!({"station_code": code["code"]})),
        )
        .await
        .unwrap();
    assert_eq!(by_code["resident"]["resident_id"], resident.as_str());

    // Every step is in the resident's access log, naming the station.
    let log = sandbox
        .expect(200, Method::GET, "/v1/me/access-log", Some(&token), None)
        .await
        .unwrap();
    let actions: Vec<&str> = log["entries"]
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
        actions,
        [
            "station_lookup",
            "station_order",
            "station_record",
            "station_record",
            "station_record",
            "station_lookup"
        ],
        "{log}"
    );
    // The district admin reads the station's activity; another district's admin may not.
    let activity = sandbox
        .expect(
            200,
            Method::GET,
            "/v1/admin/access-log?station=310118/QP-ZJJ-01",
            Some(&qingpu),
            None,
        )
        .await
        .unwrap();
    let entries = activity["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 6, "{activity}");
    assert!(entries.iter().all(|e| e["station"] == "310118/QP-ZJJ-01"));
    let pudong = sandbox
        .staff(
            &admin,
            json!({"username": "pd.admin", "password": STAFF_PASSWORD, "role": "district_admin", "district": "310115"}),
        )
        .await
        .unwrap();
    let (status, _) = sandbox
        .call(
            Method::GET,
            "/v1/admin/access-log?station=310118",
            Some(&pudong),
            None,
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_counter_refuses_what_it_must_and_changes_nothing() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let station = sandbox
        .staff(
            &admin,
            json!({"username": "qp.counter2", "password": STAFF_PASSWORD, "role": "station_staff",
                "district": "310118", "institution_code": "QP-02"}),
        )
        .await
        .unwrap();
    let (resident, token) = sandbox.resident(902, "310118", "19500101").await;

    for (body, status, field) in [
        // Neither proof, or both.
        (json!({}), 400, Some("id_number")),
        (
            json!({"id_number": id_number("310118", "19500101", 902), "station_code": "hps1.x"}),
            400,
            Some("id_number"),
        ),
        // A code that is not one, an ID number with a wrong check digit, nobody under a valid one.
        (
            json!({"station_code": "hps1.forged"}),
            400,
            Some("station_code"),
        ),
        (
            json!({"id_number": "310118195001010000"}),
            400,
            Some("id_number"),
        ),
        (
            json!({"id_number": id_number("310118", "19500101", 903)}),
            404,
            None,
        ),
    ] {
        let (got, problem) = post(&sandbox, &station, "/v1/station/lookup", body).await;
        assert_eq!(
            (got, problem["field"].as_str()),
            (status, field),
            "{problem}"
        );
    }
    // Residents and admins are not counters; counters are not admins.
    let (got, _) = post(&sandbox, &token, "/v1/station/lookup", json!({})).await;
    assert_eq!(got, 403);
    let (got, _) = post(&sandbox, &admin, "/v1/station/lookup", json!({})).await;
    assert_eq!(got, 403);
    let (got, _) = sandbox
        .call(Method::GET, "/v1/admin/access-log", Some(&station), None)
        .await;
    assert_eq!(got, 403);

    // A suspended resident is not served at the counter.
    sandbox
        .expect(
            200,
            Method::POST,
            &format!("/v1/admin/residents/{resident}/suspend"),
            Some(&admin),
            Some(json!({"reason": "under investigation"})),
        )
        .await
        .unwrap();
    let (got, problem) = post(
        &sandbox,
        &station,
        "/v1/station/behaviours",
        json!({"id_number": id_number("310118", "19500101", 902), "record_id": "r1",
            "behaviour": "community.lecture", "attributes": {"lecture_id": "L1"}}),
    )
    .await;
    assert_eq!(got, 422, "{problem}");
    // Nothing refused above reached the resident's access log.
    let log = sandbox
        .expect(
            200,
            Method::GET,
            &format!("/v1/admin/access-log?resident_id={resident}"),
            Some(&admin),
            None,
        )
        .await
        .unwrap();
    assert_eq!(log["entries"].as_array().unwrap().len(), 0, "{log}");
    // The station's activity shows each refused proof (a counter running through numbers).
    let activity = sandbox
        .expect(
            200,
            Method::GET,
            "/v1/admin/access-log?station=310118/QP-02",
            Some(&admin),
            None,
        )
        .await
        .unwrap();
    let refused = activity["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "station_refused" && e.get("resident_id").is_none())
        .count();
    assert_eq!(refused, 4, "{activity}");
}

/// A resident who forgot their password and has no phone to hand gets a new one at the
/// counter, after the staff checked their ID card: a station code is no such check; the
/// resident signs in with the new password, every earlier session is over, and the reset is in
/// their access log under the station.
#[tokio::test]
async fn a_forgotten_password_is_reset_at_the_counter_after_an_id_check() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let station = sandbox
        .staff(
            &admin,
            json!({"username": "qp.reset", "password": STAFF_PASSWORD, "role": "station_staff",
                "district": "310118", "institution_code": "QP-ZJJ-09"}),
        )
        .await
        .unwrap();
    let birth = "19420909";
    let (resident, token) = sandbox.resident(909, "310118", birth).await;
    let phone = "13700000909";
    let (_, old) = sandbox
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"login": phone, "password": "Resident-pass-1"})),
        )
        .await;
    let (_, code) = post(&sandbox, &token, "/v1/me/station-code", json!({})).await;

    let (status, problem) = post(
        &sandbox,
        &station,
        "/v1/station/password",
        json!({"station_code": code["code"], "new_password": "Counter-pass-5"}),
    )
    .await;
    assert_eq!(status, 400, "a station code is not an ID check: {problem}");
    let id = id_number("310118", birth, 909);
    let (status, problem) = post(
        &sandbox,
        &station,
        "/v1/station/password",
        json!({"id_number": id, "new_password": "weak"}),
    )
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("new_password"))
    );
    let (status, seen) = post(
        &sandbox,
        &station,
        "/v1/station/password",
        json!({"id_number": id, "new_password": "Counter-pass-5"}),
    )
    .await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["resident_id"], resident.as_str());
    assert!(
        !seen.to_string().contains(&id),
        "the answer never repeats the number"
    );

    let (status, _) = sandbox
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": old["refresh_token"]})),
        )
        .await;
    assert_eq!(status, 401, "every earlier session is over");
    let fresh = sandbox.login(phone, "Counter-pass-5").await;
    let log = sandbox
        .expect(200, Method::GET, "/v1/me/access-log", Some(&fresh), None)
        .await
        .unwrap();
    let reset = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "station_password")
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        reset["detail"].as_str().unwrap().contains("QP-ZJJ-09"),
        "{reset}"
    );
    sandbox.stop().await;
}
