//! The resident journey, end to end through the gateway's HTTP API only, as a phone app, two
//! partner systems, merchants at their counters and district admins meet the system:
//!
//! 1. **Earning**: a Qingpu resident registers and consents to steps from a sports app; the app
//!    sends a week of steps (NDJSON) for them and eleven neighbours; the health commission sends
//!    a vaccination (FHIR), a family-doctor contract in Yangpu and community lectures (Yangpu's for
//!    the resident, Qingpu's for the neighbours). The resident sees the city and Yangpu books and
//!    the reason for every award, cap and refusal.
//! 2. **Spending**: the router sends them to the Yangpu mall with a jump to the city mall; they
//!    order a service with Yangpu points and a product with city points; the Yangpu merchant
//!    writes its voucher off, the city order is cancelled; the month's settlements show exactly
//!    the written-off amount.
//! 3. **Statistics**: Qingpu's admin reads Qingpu's de-identified statistics, which match the
//!    ledger's book figures to the point, and is refused Yangpu's.
//!
//! Every step checks what it expects and fails with the answer it got. Both the process-mesh
//! test and `just demo` run it; each step prints a line of what happened.

use anyhow::{Context as _, bail, ensure};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{Gateway, STAFF_PASSWORD, id_number};

/// The resident's password.
pub const PASSWORD: &str = "Walk-10000-steps";

/// What the journey ended with, for the caller to check further.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub resident_id: String,
    /// The resident's access token.
    pub resident_token: String,
    /// Points the resident earned in the city book and in Yangpu's.
    pub earned_city: u64,
    pub earned_yangpu: u64,
    /// The price of the voucher written off at the Yangpu counter.
    pub written_off: u64,
    /// The Qingpu book's figures of the month, as the ledger gives them.
    pub qingpu_book: Value,
}

/// A Shanghai calendar day `days_ago` days back, `2026-11-20`.
pub fn day(days_ago: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8) - chrono::Duration::days(days_ago))
        .format("%Y-%m-%d")
        .to_string()
}

/// The current month in Shanghai, `2026-11`.
pub fn this_month() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m")
        .to_string()
}

fn say(line: impl AsRef<str>) {
    println!("  {}", line.as_ref());
}

/// Registers a resident and returns their id and ID number.
pub async fn register(
    gw: &Gateway,
    phone: &str,
    district: &str,
    birth: &str,
    seq: u32,
) -> anyhow::Result<(String, String)> {
    let id = id_number(district, birth, seq);
    let body = gw
        .expect(
            201,
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({
                "name": "林晓", "id_number": id, "phone": phone, "password": PASSWORD,
                "residence_district": district, "residence_type": "registered",
            })),
        )
        .await?;
    let resident = body["resident_id"]
        .as_str()
        .context("resident_id")?
        .to_owned();
    Ok((resident, id))
}

fn points_of(results: &Value) -> Vec<(String, u64)> {
    results["results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    (
                        r["outcome"].as_str().unwrap_or_default().to_owned(),
                        r["points"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn awarded(outcomes: &[(String, u64)]) -> u64 {
    outcomes
        .iter()
        .filter(|(o, _)| o == "awarded")
        .map(|(_, p)| p)
        .sum()
}

/// Runs the three parts of the journey on a fresh mesh and returns what it ended with.
pub async fn run(gw: &Gateway) -> anyhow::Result<Report> {
    let mut report = earn(gw).await?;
    spend(gw, &mut report).await?;
    statistics(gw, &mut report).await?;
    Ok(report)
}

/// Part 1: a week of earning, from three sources, and the reasons behind every figure.
pub async fn earn(gw: &Gateway) -> anyhow::Result<Report> {
    println!("1. Earning");
    let admin = gw.admin_token().await;
    let app = gw
        .partner_of_kind(
            &admin,
            "wearables",
            &["steps.daily"],
            &["behaviours:submit"],
            "commercial",
        )
        .await;
    let commission = gw
        .partner(
            &admin,
            "health-commission",
            &["vaccination", "family_doctor.contract", "community.lecture"],
            &["fhir:submit", "contracts:submit", "behaviours:submit"],
        )
        .await;
    say("the city admin registered a sports app (commercial) and the health commission");

    let (me, my_id) = register(gw, "13900001000", "310118", "19850412", 1).await?;
    let token = gw.login("13900001000", PASSWORD).await;
    say("a Qingpu resident registered and logged in");
    let mut neighbours = Vec::new();
    for seq in 0..11u32 {
        let phone = format!("1390000{:04}", 2000 + seq);
        neighbours.push(register(gw, &phone, "310118", "19850412", 100 + seq).await?);
    }
    say("eleven Qingpu neighbours registered");

    // Without consent a commercial app's record is refused; with it, a week counts.
    let record = |id: &str, resident: &str, days_ago: i64, quantity: u32| {
        json!({"record_id": id, "resident_id": resident, "behaviour": "steps.daily",
               "occurred_at": format!("{}T21:30:00+08:00", day(days_ago)), "quantity": quantity})
    };
    let (status, early) = gw
        .send_ndjson(&app, &[record("early", &me, 1, 12_000)])
        .await;
    ensure!(
        status == 200 && early["results"][0]["reason_code"] == "consent_required",
        "a record before consent: {status} {early}"
    );
    gw.expect(200, Method::PUT, "/v1/me/consents", Some(&token),
        Some(json!({"partner_id": "wearables", "category": "steps_exercise", "purpose": "steps for health points"})))
        .await?;
    say("before consent the app's record was refused (consent_required); the resident consented");

    let week = [
        record("w-7", &me, 7, 10_500),
        record("w-6", &me, 6, 8_200),
        record("w-5", &me, 5, 3_000),
        record("w-4", &me, 4, 12_000),
        record("w-3", &me, 3, 6_000),
        record("w-2", &me, 2, 10_000),
        record("w-1", &me, 1, 9_000),
        record("w-7b", &me, 7, 11_000),
        record("w-0", &me, 1, 150_000),
    ];
    let (status, answered) = gw.send_ndjson(&app, &week).await;
    ensure!(status == 200, "the week of steps: {status} {answered}");
    let steps = points_of(&answered);
    let expected: Vec<(String, u64)> = [
        ("awarded", 30),
        ("awarded", 20),
        ("rejected", 0),
        ("awarded", 30),
        ("awarded", 10),
        ("awarded", 30),
        ("awarded", 20),
        ("capped", 0),
        ("rejected", 0),
    ]
    .iter()
    .map(|(o, p)| ((*o).to_owned(), *p))
    .collect();
    ensure!(steps == expected, "the week of steps: {answered}");
    let (_, again) = gw.send_ndjson(&app, &week).await;
    ensure!(
        again["results"] == answered["results"],
        "a resent week answers the same: {again}"
    );
    let neighbour_steps: Vec<Value> = neighbours
        .iter()
        .enumerate()
        .map(|(i, (n, _))| record(&format!("n-{i}"), n, 1, 10_000))
        .collect();
    // The neighbours' app is a department feed: no consent needed from a department.
    let sports = gw
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let (status, theirs) = gw.send_ndjson(&sports, &neighbour_steps).await;
    ensure!(
        status == 200 && awarded(&points_of(&theirs)) == 30 * 11,
        "the neighbours' steps: {theirs}"
    );
    say(format!(
        "the sports app sent a week of steps as NDJSON: {} points; 1 below the threshold, 1 over the day's best, 1 impossible count; a resend answered the same",
        awarded(&steps)
    ));

    // The health commission: a vaccination in FHIR, a contract in Yangpu, lectures.
    let bundle =
        include_str!("../../services/exchange/fhir-examples/bundle-steps-immunization.json")
            .replace("@ID@", &my_id)
            .replace("2026-11-20", &day(2))
            .replace("2026-11-18", &day(4));
    let response = gw
        .request(Method::POST, "/v1/partner/fhir", Some(&commission))
        .header("content-type", "application/fhir+json")
        .body(bundle)
        .send()
        .await
        .context("the FHIR bundle")?;
    let (status, judged) = crate::split(response).await;
    let diagnostics: Vec<&str> = judged["entry"]
        .as_array()
        .map(|es| {
            es.iter()
                .filter_map(|e| e["response"]["outcome"]["issue"][0]["diagnostics"].as_str())
                .collect()
        })
        .unwrap_or_default();
    ensure!(
        status == 200
            && diagnostics.len() == 2
            && diagnostics[0].starts_with("rejected (behaviour_not_listed)")
            && diagnostics[1] == "awarded 200 points",
        "the FHIR bundle: {status} {judged}"
    );
    say(
        "the health commission sent a FHIR bundle: the vaccination earned 200 points; its steps were refused (the commission is not registered to report steps)",
    );

    let signed = gw
        .expect(200, Method::POST, "/v1/partner/family-doctor-contracts", Some(&commission),
            Some(json!([{"record_id": "fd-1", "id_number": my_id, "action": "sign",
                "institution_code": "310110-CHC-05", "institution_name": "Yangpu Kongjiang Community Health Centre",
                "district": "310110", "signed_on": day(3), "valid_until": "2028-12-31"}])))
        .await?;
    ensure!(
        points_of(&signed) == vec![("applied".to_owned(), 1000)],
        "the contract: {signed}"
    );
    say("the health commission sent a family-doctor contract in Yangpu: 1000 points");

    let lecture = |id: String, resident: &str, district: &str, days_ago: i64| {
        json!({"record_id": id, "resident_id": resident, "behaviour": "community.lecture",
               "occurred_at": format!("{}T14:00:00+08:00", day(days_ago)), "district": district,
               "attributes": {"lecture_id": format!("{district}-L{days_ago}")}})
    };
    let mut lectures: Vec<Value> = (2..=4)
        .map(|d| lecture(format!("lec-{d}"), &me, "310110", d))
        .collect();
    lectures.extend(
        neighbours
            .iter()
            .enumerate()
            .map(|(i, (n, _))| lecture(format!("qlec-{i}"), n, "310118", 2)),
    );
    lectures.push(lecture("qlec-me".into(), &me, "310118", 5));
    let (status, heard) = gw.send_ndjson(&commission, &lectures).await;
    let heard = points_of(&heard);
    ensure!(
        status == 200 && heard.iter().all(|(o, p)| o == "awarded" && *p == 20),
        "the lectures: {heard:?}"
    );
    say(
        "the health commission sent community lectures: 3 in Yangpu for the resident (60 Yangpu points), 12 in Qingpu for them and the neighbours",
    );

    // The resident's view: books and reasons.
    let city = gw.balance(&token, "city").await?;
    let yangpu = gw.balance(&token, "district:310110").await?;
    let qingpu = gw.balance(&token, "district:310118").await?;
    let earned_city = awarded(&steps) + 200 + 1000;
    ensure!(
        (city, yangpu, qingpu) == (earned_city, 60, 20),
        "balances: city {city}, Yangpu {yangpu}, Qingpu {qingpu}"
    );
    say(format!(
        "balances: city {city}, Yangpu {yangpu}, Qingpu {qingpu} points"
    ));
    let mine = gw
        .expect(200, Method::GET, "/v1/me/behaviours", Some(&token), None)
        .await?;
    let outcomes = mine["outcomes"].as_array().context("outcomes")?;
    for o in outcomes {
        let reason = if o["outcome"] == "awarded" {
            format!("in the {} book", o["book"].as_str().unwrap_or("?"))
        } else {
            let reason = o["reason"].as_str().unwrap_or("");
            ensure!(!reason.is_empty(), "a refusal without a reason: {o}");
            reason.to_owned()
        };
        say(format!(
            "  {:<22} {:<9} {:>5}  {}",
            o["behaviour"].as_str().unwrap_or(""),
            o["outcome"].as_str().unwrap_or(""),
            o["points"].as_u64().unwrap_or(0),
            reason
        ));
    }
    for code in ["below_threshold", "implausible_quantity"] {
        ensure!(
            outcomes.iter().any(|o| o["reason_code"] == code),
            "the resident's outcomes show {code}: {mine}"
        );
    }
    ensure!(
        outcomes
            .iter()
            .any(|o| o["outcome"] == "capped" && o["reason"].is_string()),
        "the resident sees the capped record and why: {mine}"
    );
    Ok(Report {
        resident_id: me,
        resident_token: token,
        earned_city,
        earned_yangpu: 60,
        ..Report::default()
    })
}

/// Admits a merchant to `mall` as `admin`, gives it an operator and a product; returns the
/// operator's token and the product id.
async fn merchant(
    gw: &Gateway,
    admin: &str,
    mall: &str,
    operator: &str,
    product: Value,
) -> anyhow::Result<(String, String)> {
    let admitted = gw
        .expect(201, Method::POST, &format!("/v1/admin/malls/{mall}/merchants"), Some(admin),
            Some(json!({"name": format!("{operator} shop"), "licence_no": format!("91{mall}{operator}"), "contact": "021-6000 0000"})))
        .await?;
    let op = gw
        .staff(
            admin,
            json!({"username": operator, "password": STAFF_PASSWORD, "role": "merchant_operator",
                   "merchant_id": admitted["merchant_id"], "mall": mall}),
        )
        .await?;
    let created = gw
        .expect(
            201,
            Method::POST,
            "/v1/merchant/products",
            Some(&op),
            Some(product),
        )
        .await?;
    let id = created["product_id"]
        .as_str()
        .context("product_id")?
        .to_owned();
    Ok((op, id))
}

/// Part 2: routed to Yangpu, a jump to the city mall, a write-off, a cancel, the settlement.
pub async fn spend(gw: &Gateway, report: &mut Report) -> anyhow::Result<()> {
    println!("2. Spending");
    let admin = gw.admin_token().await;
    let yp_admin = gw
        .staff(&admin, json!({"username": "yp-admin", "password": STAFF_PASSWORD, "role": "district_admin", "district": "310110"}))
        .await?;
    let (yp_op, check) = merchant(gw, &yp_admin, "310110", "yp-clinic",
        json!({"title": "Blood pressure check", "category": "health_service", "price_points": 50, "stock": 10})).await?;
    let (city_op, band) = merchant(gw, &admin, "city", "city-shop",
        json!({"title": "Step counter band", "category": "health_product", "price_points": 1000, "stock": 10})).await?;
    say(
        "Yangpu's admin admitted a clinic (a 50-point check); the city admin admitted a shop (a 1000-point band)",
    );

    let token = report.resident_token.clone();
    let route = gw
        .expect(200, Method::GET, "/v1/mall", Some(&token), None)
        .await?;
    let jumps: Vec<&str> = route["jumps"]
        .as_array()
        .map(|j| j.iter().filter_map(|m| m["mall"].as_str()).collect())
        .unwrap_or_default();
    ensure!(
        route["mall"]["mall"] == "310110"
            && route["reason"] == "family_doctor_contract"
            && jumps.contains(&"city"),
        "the route: {route}"
    );
    say(format!(
        "the router sent the resident to the {} ({}), with jumps to {}",
        route["mall"]["name"].as_str().unwrap_or("310110"),
        route["reason"].as_str().unwrap_or(""),
        jumps.join(", ")
    ));

    let order = async |mall: &str, product: &str, key: &str| -> anyhow::Result<Value> {
        let response = gw
            .request(
                Method::POST,
                &format!("/v1/malls/{mall}/orders"),
                Some(&token),
            )
            .header("Idempotency-Key", key)
            .json(&json!({"product_id": product}))
            .send()
            .await
            .context("an order")?;
        let (status, body) = crate::split(response).await;
        ensure!(status == 201, "an order in {mall}: {status} {body}");
        Ok(body)
    };
    let service = order("310110", &check, "journey-yp-1").await?;
    let product = order("city", &band, "journey-city-1").await?;
    let replay = order("310110", &check, "journey-yp-1").await?;
    ensure!(
        replay["order_id"] == service["order_id"],
        "the same key answers the same order"
    );
    ensure!(
        gw.balance(&token, "district:310110").await? == 10,
        "the Yangpu service is paid with Yangpu points"
    );
    say(
        "the resident ordered the check with Yangpu points and the band with city points (a repeated Idempotency-Key answered the same order)",
    );

    let code = service["voucher_code"].as_str().context("voucher_code")?;
    let done = gw
        .expect(
            200,
            Method::POST,
            &format!("/v1/merchant/vouchers/{code}/write-off"),
            Some(&yp_op),
            None,
        )
        .await?;
    ensure!(done["status"] == "written_off", "the write-off: {done}");
    let product_id = product["order_id"].as_str().context("order_id")?;
    let cancelled = gw
        .expect(
            200,
            Method::POST,
            &format!("/v1/me/orders/{product_id}/cancel"),
            Some(&token),
            None,
        )
        .await?;
    ensure!(
        cancelled["status"] == "cancelled",
        "the cancel: {cancelled}"
    );
    say("the Yangpu clinic wrote the check's voucher off; the band's order was cancelled");

    let yp = gw
        .expect(
            200,
            Method::GET,
            "/v1/merchant/settlements",
            Some(&yp_op),
            None,
        )
        .await?;
    let city = gw
        .expect(
            200,
            Method::GET,
            "/v1/merchant/settlements",
            Some(&city_op),
            None,
        )
        .await?;
    let this = &yp["statements"][0];
    ensure!(
        this["points"] == 50 && this["yuan"] == "0.50" && this["written_off"] == 1,
        "Yangpu's settlement: {yp}"
    );
    ensure!(
        city["statements"][0]["points"] == 0,
        "the city shop's settlement: {city}"
    );
    let balances = (
        gw.balance(&token, "city").await?,
        gw.balance(&token, "district:310110").await?,
    );
    ensure!(
        balances == (report.earned_city, 10),
        "balances after spending: {balances:?}"
    );
    say(format!(
        "settlements of {}: Yangpu clinic {} points (¥{}), city shop 0; the resident holds {} city and {} Yangpu points",
        this["period"].as_str().unwrap_or(""),
        this["points"],
        this["yuan"].as_str().unwrap_or(""),
        balances.0,
        balances.1
    ));
    report.written_off = 50;
    Ok(())
}

/// Part 3: Qingpu's admin reads Qingpu's statistics, which match the ledger; Yangpu's are 403.
pub async fn statistics(gw: &Gateway, report: &mut Report) -> anyhow::Result<()> {
    println!("3. Statistics");
    let admin = gw.admin_token().await;
    let qp_admin = gw
        .staff(&admin, json!({"username": "qp-admin", "password": STAFF_PASSWORD, "role": "district_admin", "district": "310118"}))
        .await?;
    let month = this_month();
    let stats = gw
        .expect(
            200,
            Method::GET,
            &format!("/v1/admin/statistics?month={month}"),
            Some(&qp_admin),
            None,
        )
        .await?;
    let cells = stats["cells"].as_array().context("cells")?;
    ensure!(
        !cells.is_empty() && cells.iter().all(|c| c["district"] == "310118"),
        "Qingpu's statistics: {stats}"
    );
    let book = gw
        .expect(
            200,
            Method::GET,
            &format!("/v1/admin/books/district:310118/stats?month={month}"),
            Some(&qp_admin),
            None,
        )
        .await?;
    let Some(total) = cells
        .iter()
        .find(|c| c["book"] == "district:310118" && c["category"].is_null())
    else {
        bail!("no Qingpu book total: {stats}");
    };
    ensure!(
        total["participants"] == 12
            && total["points_issued"] == book["issued"]
            && total["points_redeemed"] == book["redeemed"]
            && total["liability_points"] == book["outstanding"]
            && book["issued"] == 240,
        "the statistics match the ledger: {total} vs {book}"
    );
    let cohorts: u64 = cells
        .iter()
        .filter(|c| c["book"] == "district:310118" && !c["category"].is_null())
        .filter_map(|c| c["points_issued"].as_u64())
        .sum();
    ensure!(
        cohorts == 240,
        "the Qingpu book's cohorts add up to its total: {stats}"
    );
    say(format!(
        "Qingpu's admin read {} cells of {month}; the Qingpu book: {} participants, {} issued, {} redeemed, {} held — the ledger says {} issued, {} redeemed, {} outstanding",
        cells.len(),
        total["participants"],
        total["points_issued"],
        total["points_redeemed"],
        total["liability_points"],
        book["issued"],
        book["redeemed"],
        book["outstanding"]
    ));
    let hidden = cells.iter().filter(|c| c["suppressed"] == true).count();
    say(format!(
        "{hidden} cells of fewer than 10 people (or giving one away) are hidden"
    ));
    let (status, _) = gw
        .call(
            Method::GET,
            "/v1/admin/statistics?district=310110",
            Some(&qp_admin),
            None,
        )
        .await;
    ensure!(
        status == 403,
        "Yangpu's statistics for Qingpu's admin: {status}"
    );
    let (status, _) = gw
        .call(
            Method::GET,
            "/v1/admin/books/district:310110/stats",
            Some(&qp_admin),
            None,
        )
        .await;
    ensure!(status == 403, "Yangpu's book for Qingpu's admin: {status}");
    say("Yangpu's statistics and book figures were refused to Qingpu's admin (403)");
    report.qingpu_book = book;
    Ok(())
}
