use healthpoints_integration_tests::{Sandbox, id_number};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn bad_input_answers_problem_json_naming_the_field_and_changes_nothing() {
    let sandbox = Sandbox::start().await;
    let good = json!({
        "name": "赵敏", "id_number": id_number("310110", "19880808", 5), "phone": "13700000005",
        "password": "Resident-pass-1", "residence_district": "310110", "residence_type": "registered",
    });

    let mut bad = good.clone();
    bad["residence_type"] = json!("tourist");
    let response = sandbox
        .request(Method::POST, "/v1/auth/register", None)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let (status, problem) = healthpoints_integration_tests::split(response).await;
    assert_eq!(
        (status, problem["code"].as_str(), problem["field"].as_str()),
        (400, Some("invalid_argument"), Some("residence_type"))
    );
    assert_eq!(problem["type"], "urn:healthpoints:problem:invalid_argument");

    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("id_number"))
    );

    let mut not_enrolled = good.clone();
    not_enrolled["residence_district"] = json!("310151");
    let (status, problem) = sandbox
        .call(Method::POST, "/v1/auth/register", None, Some(not_enrolled))
        .await;
    assert_eq!(
        (status, problem["code"].as_str(), problem["field"].as_str()),
        (
            422,
            Some("district_not_enrolled"),
            Some("residence_district")
        )
    );

    // None of the refusals stored anything: the real registration succeeds once, then conflicts.
    let (status, _) = sandbox
        .call(Method::POST, "/v1/auth/register", None, Some(good.clone()))
        .await;
    assert_eq!(status, 201);
    let (status, problem) = sandbox
        .call(Method::POST, "/v1/auth/register", None, Some(good))
        .await;
    assert_eq!(
        (status, problem["code"].as_str(), problem["field"].as_str()),
        (409, Some("already_exists"), Some("id_number"))
    );

    let (status, problem) = sandbox.call(Method::GET, "/v1/nowhere", None, None).await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
    sandbox.stop().await;
}

#[tokio::test]
async fn forged_tokens_are_refused_at_the_gateway() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let parts: Vec<&str> = admin.split('.').collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = json!("city_admin");
    claims["sub"] = json!("00000000-0000-7000-8000-000000000000");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(claims.to_string()),
        parts[2]
    );
    let unsigned = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    for token in [tampered.as_str(), unsigned.as_str(), "not-a-token"] {
        let (status, problem) = sandbox
            .call(
                Method::GET,
                "/v1/admin/residents?district=310118",
                Some(token),
                None,
            )
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (401, Some("unauthenticated")),
            "{token}"
        );
    }
    let (status, _) = sandbox
        .call(
            Method::GET,
            "/v1/admin/residents?district=310118",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    sandbox.stop().await;
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let sandbox = Sandbox::start().await;
    let (status, doc) = sandbox.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    // What the document describes, as (METHOD, path) pairs.
    let mut described = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            described.insert((method.to_uppercase(), path.clone()));
        }
    }
    // What the router serves (the document itself is the one route it does not describe).
    let served: std::collections::BTreeSet<_> = healthpoints_gateway::routes::ROUTES
        .iter()
        .filter(|(_, path)| *path != "/openapi.json")
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    let undocumented: Vec<_> = served.difference(&described).collect();
    let unserved: Vec<_> = described.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in /openapi.json: {undocumented:?}; described but not served: {unserved:?}"
    );
    assert!(served.len() > 70, "{} routes", served.len());
    assert!(doc["components"]["schemas"].get("Problem").is_some());
    sandbox.stop().await;
}

/// The interactive reference is served from the binary and reads the document.
#[tokio::test]
async fn the_reference_is_served_offline_at_docs() {
    let sandbox = Sandbox::start().await;
    let page = sandbox
        .request(Method::GET, "/docs/", None)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(
        !html.contains("https://"),
        "nothing is fetched from elsewhere: {html}"
    );
    let init = sandbox.text("/docs/swagger-initializer.js", None).await;
    assert!(init.contains("/openapi.json"), "{init}");
    let bundle = sandbox
        .request(Method::GET, "/docs/swagger-ui-bundle.js", None)
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    let missing = sandbox
        .request(Method::GET, "/docs/no-such-file.js", None)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    sandbox.stop().await;
}
