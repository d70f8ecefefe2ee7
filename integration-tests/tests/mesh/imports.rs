//! Onboarding a city from its earlier platform through the gateway: a file of residents
//! (NDJSON or CSV) streamed in, a result per line streamed back, then a summary; sending it
//! again changes nothing; an interrupted import resumes from a line; an imported resident signs
//! in once a health-station counter set their password.

use healthpoints_integration_tests::{ADMIN, STAFF_PASSWORD, Sandbox, id_number};
use reqwest::Method;
use serde_json::{Value, json};

/// Posts a file; answers the status and the answer's lines.
async fn import(
    sandbox: &Sandbox,
    token: &str,
    content_type: &str,
    query: &str,
    body: String,
) -> (u16, Vec<Value>) {
    let response = sandbox
        .request(
            Method::POST,
            &format!("/v1/admin/imports/residents{query}"),
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
    let done = healthpoints::import::residents(&sandbox.base, &admin, &file, 1, &mut report)
        .await
        .unwrap();
    assert_eq!(
        (done.created, done.exists, done.refused, done.next_line),
        (2_500, 0, 1, None)
    );
    let report = String::from_utf8(report).unwrap();
    assert!(report.starts_with("line 2502: id_number "), "{report}");

    let mut report = Vec::new();
    let again = healthpoints::import::residents(&sandbox.base, &admin, &file, 2_401, &mut report)
        .await
        .unwrap();
    assert_eq!((again.created, again.exists, again.refused), (0, 101, 1));

    let wrong =
        healthpoints::import::residents(&sandbox.base, "root:wrong", &file, 1, &mut report).await;
    assert!(wrong.is_err());
    sandbox.stop().await;
}
