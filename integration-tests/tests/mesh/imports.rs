//! Onboarding a city from its earlier platform through the gateway: a file of residents
//! (NDJSON or CSV) streamed in, a result per line streamed back, then a summary; sending it
//! again changes nothing; an interrupted import resumes from a line; an imported resident signs
//! in once a health-station counter set their password. Then their opening balances, once per
//! source record, which the resident sees and the book counts apart from what it issued.

use healthpoints_integration_tests::{ADMIN, STAFF_PASSWORD, Sandbox, id_number};
use reqwest::Method;
use serde_json::{Value, json};

/// Posts a file of residents; answers the status and the answer's lines.
async fn import(
    sandbox: &Sandbox,
    token: &str,
    content_type: &str,
    query: &str,
    body: String,
) -> (u16, Vec<Value>) {
    import_to(sandbox, "residents", token, content_type, query, body).await
}

/// Posts a file to `/v1/admin/imports/{what}`; answers the status and the answer's lines.
async fn import_to(
    sandbox: &Sandbox,
    what: &str,
    token: &str,
    content_type: &str,
    query: &str,
    body: String,
) -> (u16, Vec<Value>) {
    let response = sandbox
        .request(
            Method::POST,
            &format!("/v1/admin/imports/{what}{query}"),
            Some(token),
        )
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let lines = if status == 200 {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    } else {
        vec![serde_json::from_str(&text).unwrap()]
    };
    (status, lines)
}

fn person(seq: u32, district: &str) -> Value {
    json!({"name": "孙丽", "id_number": id_number(district, "19480302", seq),
        "phone": format!("1360000{seq:04}"), "residence_district": district,
        "residence_type": "registered"})
}

fn outcomes(lines: &[Value]) -> Vec<(u64, &str)> {
    lines
        .iter()
        .filter(|l| l.get("line").is_some())
        .map(|l| (l["line"].as_u64().unwrap(), l["outcome"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_city_imports_its_residents_from_a_file_once_each_and_they_activate_at_a_counter() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let mut bad = person(3, "310118");
    bad["id_number"] = json!("31011819480302000X");
    let ndjson = [
        person(1, "310118").to_string(),
        String::new(),
        bad.to_string(),
        "{\"name\": \"no numbers\"}".into(),
        person(2, "310110").to_string(),
    ]
    .join("\n");
    let (status, lines) =
        import(&sandbox, &admin, "application/x-ndjson", "", ndjson.clone()).await;
    assert_eq!(status, 200, "{lines:?}");
    assert_eq!(
        outcomes(&lines),
        [
            (1, "created"),
            (3, "refused"),
            (4, "refused"),
            (5, "created")
        ]
    );
    assert_eq!(lines[1]["field"], "id_number");
    assert_eq!(lines[2]["field"], "id_number", "the first field missing");
    let summary = lines.last().unwrap();
    assert_eq!(
        (
            summary["done"].as_bool(),
            summary["created"].as_u64(),
            summary["refused"].as_u64()
        ),
        (Some(true), Some(2), Some(2)),
        "{summary}"
    );
    assert!(
        !lines.iter().any(|l| l.to_string().contains("1948")),
        "no ID number is echoed: {lines:?}"
    );
    let first_id = lines[0]["resident_id"].as_str().unwrap().to_owned();

    // The same file again: nothing new. From line 5 on: only that line.
    let (_, again) = import(&sandbox, &admin, "application/x-ndjson", "", ndjson.clone()).await;
    assert_eq!(outcomes(&again)[0], (1, "exists"));
    assert_eq!(again[0]["resident_id"], first_id.as_str());
    let (_, resumed) = import(
        &sandbox,
        &admin,
        "application/x-ndjson",
        "?from_line=5",
        ndjson,
    )
    .await;
    assert_eq!(outcomes(&resumed), [(5, "exists")]);

    // CSV, columns in the header's order; a quoted name.
    let csv = format!(
        "phone,name,id_number,residence_district,residence_type\r\n\
         13600000006,\"孙, 丽\",{},310118,registered\r\n\
         13600000007,孙丽,{},310118,nobody\r\n",
        id_number("310118", "19480302", 6),
        id_number("310118", "19480302", 7),
    );
    let (status, lines) = import(&sandbox, &admin, "text/csv", "", csv).await;
    assert_eq!(status, 200, "{lines:?}");
    assert_eq!(outcomes(&lines), [(2, "created"), (3, "refused")]);
    assert_eq!(lines[1]["field"], "residence_type");

    // What the whole request gets wrong is a 400: a CSV header without every column, another
    // content type; a resident imports nothing.
    let (status, problem) = import(&sandbox, &admin, "text/csv", "", "name,phone\n".into()).await;
    assert_eq!(status, 400, "{problem:?}");
    assert!(
        problem[0]["detail"]
            .as_str()
            .unwrap()
            .contains("id_number is missing")
    );
    let (status, _) = import(&sandbox, &admin, "application/json", "", "[]".into()).await;
    assert_eq!(status, 400);
    let (_, resident) = sandbox.resident(8, "310118", "19800101").await;
    let (status, _) = import(&sandbox, &resident, "text/csv", "", String::new()).await;
    assert_eq!(status, 403);

    // No password yet; a counter sets one after the ID check, and the resident signs in.
    let phone = "13600000001";
    let login = json!({"login": phone, "password": "Counter-pass-5"});
    let (status, _) = sandbox
        .call(Method::POST, "/v1/auth/login", None, Some(login.clone()))
        .await;
    assert_eq!(status, 401);
    let station = sandbox
        .staff(
            &admin,
            json!({"username": "qp.import", "password": STAFF_PASSWORD, "role": "station_staff",
                "district": "310118", "institution_code": "QP-ZJJ-10"}),
        )
        .await
        .unwrap();
    let (status, seen) = sandbox
        .call(
            Method::POST,
            "/v1/station/password",
            Some(&station),
            Some(json!({"id_number": id_number("310118", "19480302", 1),
                "new_password": "Counter-pass-5"})),
        )
        .await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["resident_id"], first_id.as_str());
    let (status, _) = sandbox
        .call(Method::POST, "/v1/auth/login", None, Some(login))
        .await;
    assert_eq!(status, 200);
    sandbox.stop().await;
}

/// `healthpoints import residents FILE`: a CSV file of 2,501 lines (three of identity's
/// batches) streamed from disk, a refused line printed with why; run again, nothing new; from a
/// line, only the rest.
#[tokio::test]
async fn the_import_command_streams_a_file_and_runs_again_harmlessly() {
    let sandbox = Sandbox::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("health-cloud.csv");
    let mut csv = String::from("name,id_number,phone,residence_district,residence_type\n");
    for seq in 1..=2_500 {
        csv.push_str(&format!(
            "居民,{},1350{seq:07},310118,registered\n",
            id_number(
                "310118",
                &format!("195501{:02}", 1 + seq / 1_000),
                seq % 1_000
            )
        ));
    }
    csv.push_str("居民,not-a-number,13599999999,310118,registered\n");
    std::fs::write(&file, csv).unwrap();
    let admin = format!("{}:{}", ADMIN.0, ADMIN.1);

    let mut report = Vec::new();
    let done = healthpoints::import::run(
        &sandbox.base,
        &admin,
        healthpoints::import::What::Residents,
        &file,
        1,
        &mut report,
    )
    .await
    .unwrap();
    assert_eq!(
        (done.created, done.exists, done.refused, done.next_line),
        (2_500, 0, 1, None)
    );
    let report = String::from_utf8(report).unwrap();
    assert!(report.starts_with("line 2502: id_number "), "{report}");

    let mut report = Vec::new();
    let again = healthpoints::import::run(
        &sandbox.base,
        &admin,
        healthpoints::import::What::Residents,
        &file,
        2_401,
        &mut report,
    )
    .await
    .unwrap();
    assert_eq!((again.created, again.exists, again.refused), (0, 101, 1));

    let wrong = healthpoints::import::run(
        &sandbox.base,
        "root:wrong",
        healthpoints::import::What::Residents,
        &file,
        1,
        &mut report,
    )
    .await;
    assert!(wrong.is_err());

    // `healthpoints import balances FILE`: the points follow, one record refused with why.
    let balances = dir.path().join("balances.csv");
    std::fs::write(
        &balances,
        format!(
            "record_id,id_number,book,points,expires_on\nhc-1,{},city,250,\nhc-2,{},city,250,\n",
            id_number("310118", "19550101", 1),
            id_number("310118", "19550109", 5),
        ),
    )
    .unwrap();
    // A long import ends each request before the admin's token does, signs in again and goes
    // on from the next line; here every request ends at once, so each carries one line.
    let mut report = Vec::new();
    let done = healthpoints::import::run_in_parts(
        &sandbox.base,
        &admin,
        healthpoints::import::What::Balances,
        &balances,
        1,
        Some(std::time::Duration::ZERO),
        &mut report,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            done.created,
            done.exists,
            done.refused,
            done.next_line,
            done.parts
        ),
        (1, 0, 1, None, 3)
    );
    let report = String::from_utf8(report).unwrap();
    assert_eq!(
        report.lines().collect::<Vec<_>>()[..2],
        [
            "signing in again; going on from line 2",
            "signing in again; going on from line 3"
        ],
        "{report}"
    );
    assert!(report.contains("\nline 3: id_number "), "{report}");
    sandbox.stop().await;
}

/// Opening balances: residents imported first, then their points by ID number — NDJSON and
/// CSV, each record once, a resident not imported refused by line, a district's admin kept to
/// its book; the resident sees the points and the book counts them as migrated.
#[tokio::test]
async fn opening_balances_follow_the_residents_once_per_record_into_the_books() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let people = [person(11, "310118"), person(12, "310118")].map(|p| p.to_string());
    let (status, lines) = import(
        &sandbox,
        &admin,
        "application/x-ndjson",
        "",
        people.join("\n"),
    )
    .await;
    assert_eq!(status, 200, "{lines:?}");
    let resident_id = lines[0]["resident_id"].as_str().unwrap().to_owned();
    let later = (chrono::Utc::now() + chrono::Days::new(400))
        .format("%Y-%m-%d")
        .to_string();
    let (a, b) = (
        id_number("310118", "19480302", 11),
        id_number("310118", "19480302", 12),
    );
    let ndjson = [
        json!({"record_id": "hc-1", "id_number": a, "book": "city", "points": 1200, "expires_on": later}),
        json!({"record_id": "hc-2", "id_number": a, "book": "district:310118", "points": 300}),
        json!({"record_id": "hc-3", "id_number": id_number("310118", "19480302", 13), "book": "city", "points": 5}),
        json!({"record_id": "hc-4", "id_number": b, "book": "moon", "points": 5}),
    ]
    .map(|l| l.to_string())
    .join("\n");
    let (status, lines) = import_to(
        &sandbox,
        "balances",
        &admin,
        "application/x-ndjson",
        "",
        ndjson.clone(),
    )
    .await;
    assert_eq!(status, 200, "{lines:?}");
    assert_eq!(
        outcomes(&lines),
        [
            (1, "created"),
            (2, "created"),
            (3, "refused"),
            (4, "refused")
        ]
    );
    assert_eq!(lines[2]["field"], "id_number", "not imported: {lines:?}");
    assert_eq!(lines[3]["field"], "book");
    assert!(
        !lines.iter().any(|l| l.to_string().contains("1948")),
        "no ID number is echoed: {lines:?}"
    );
    let (_, again) = import_to(
        &sandbox,
        "balances",
        &admin,
        "application/x-ndjson",
        "",
        ndjson,
    )
    .await;
    assert_eq!(outcomes(&again)[..2], [(1, "exists"), (2, "exists")]);

    // CSV, with a record sent again with other points, and a district admin's other book.
    let qp = sandbox
        .staff(
            &admin,
            json!({"username": "qp.balances", "password": STAFF_PASSWORD,
                "role": "district_admin", "district": "310118"}),
        )
        .await
        .unwrap();
    let csv = format!(
        "record_id,id_number,book,points,expires_on\n\
         hc-5,{b},district:310118,40,\n\
         hc-1,{a},district:310118,99,\n\
         hc-6,{b},city,40,\n\
         hc-7,{b},district:310118,many,\n"
    );
    let (status, lines) = import_to(&sandbox, "balances", &qp, "text/csv", "", csv).await;
    assert_eq!(status, 200, "{lines:?}");
    assert_eq!(
        outcomes(&lines),
        [
            (2, "created"),
            (3, "refused"),
            (4, "refused"),
            (5, "refused")
        ]
    );
    assert_eq!(
        [&lines[1]["field"], &lines[2]["field"], &lines[3]["field"]],
        ["record_id", "book", "points"]
    );

    // The city book counts them apart from what the programme issued; the resident has them,
    // the city's expiring when the earlier platform said.
    let (status, stats) = sandbox
        .call(
            Method::GET,
            "/v1/admin/books/city/stats",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        (stats["migrated"].as_u64(), stats["issued"].as_u64()),
        (Some(1200), Some(0))
    );
    let phone = "13600000011";
    let station = sandbox
        .staff(
            &admin,
            json!({"username": "qp.counter", "password": STAFF_PASSWORD, "role": "station_staff",
                "district": "310118", "institution_code": "QP-ZJJ-11"}),
        )
        .await
        .unwrap();
    let (status, seen) = sandbox
        .call(
            Method::POST,
            "/v1/station/password",
            Some(&station),
            Some(json!({"id_number": a, "new_password": "Counter-pass-6"})),
        )
        .await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["resident_id"], resident_id.as_str());
    let (_, login) = sandbox
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"login": phone, "password": "Counter-pass-6"})),
        )
        .await;
    let token = login["access_token"].as_str().unwrap();
    let (status, balances) = sandbox
        .call(Method::GET, "/v1/me/balances", Some(token), None)
        .await;
    assert_eq!(status, 200, "{balances}");
    let text = balances.to_string();
    assert!(
        text.contains("1200") && text.contains("300") && text.contains(&later),
        "{balances}"
    );
    sandbox.stop().await;
}
