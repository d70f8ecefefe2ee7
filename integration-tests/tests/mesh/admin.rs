use healthpoints_integration_tests::{Sandbox, id_number};
use reqwest::Method;
use serde_json::json;

async fn register(sandbox: &Sandbox, seq: u32, district: &str, phone: &str) -> String {
    let (status, body) = sandbox
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({
                "name": "王芳", "id_number": id_number(district, "19560101", seq), "phone": phone,
                "password": "Resident-pass-1", "residence_district": district, "residence_type": "permanent_migrant",
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["resident_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn district_admins_are_confined_to_their_district_over_http() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let qingpu_resident = register(&sandbox, 1, "310118", "13900000001").await;
    let yangpu_resident = register(&sandbox, 2, "310110", "13900000002").await;

    let (status, body) = sandbox
        .call(
            Method::POST,
            "/v1/admin/staff",
            Some(&admin),
            Some(json!({"username": "qp.admin", "password": "Staff-pass-123", "role": "district_admin", "district": "310118"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let qingpu = sandbox.login("qp.admin", "Staff-pass-123").await;

    let (status, page) = sandbox
        .call(
            Method::GET,
            "/v1/admin/residents?district=310118",
            Some(&qingpu),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["residents"].as_array().unwrap().len(), 1);
    assert_eq!(
        page["residents"][0]["resident_id"],
        qingpu_resident.as_str()
    );
    let (status, problem) = sandbox
        .call(
            Method::GET,
            "/v1/admin/residents?district=310110",
            Some(&qingpu),
            None,
        )
        .await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = sandbox
        .call(
            Method::GET,
            &format!("/v1/admin/residents/{yangpu_resident}"),
            Some(&qingpu),
            None,
        )
        .await;
    assert_eq!(status, 403);

    // The contract drives routing later: set it, read it back, end it.
    let contract = json!({"institution_code": "YP-CHC-007", "institution_name": "Yangpu Community Health Centre", "district": "310110", "signed_on": "2026-03-01", "valid_until": "2027-02-28"});
    let (status, resident) = sandbox
        .call(
            Method::PUT,
            &format!("/v1/admin/residents/{qingpu_resident}/family-doctor"),
            Some(&qingpu),
            Some(contract.clone()),
        )
        .await;
    assert_eq!(status, 200, "{resident}");
    assert_eq!(resident["family_doctor"]["district"], "310110");
    let (status, _) = sandbox
        .call(
            Method::PUT,
            &format!("/v1/admin/residents/{yangpu_resident}/family-doctor"),
            Some(&qingpu),
            Some(contract),
        )
        .await;
    assert_eq!(status, 403);
    let (status, resident) = sandbox
        .call(
            Method::DELETE,
            &format!("/v1/admin/residents/{qingpu_resident}/family-doctor"),
            Some(&qingpu),
            None,
        )
        .await;
    assert_eq!((status, resident["family_doctor"].is_null()), (200, true));

    // Suspension blocks login with a clear code; reinstatement restores it.
    let (status, resident) = sandbox
        .call(
            Method::POST,
            &format!("/v1/admin/residents/{qingpu_resident}/suspend"),
            Some(&qingpu),
            Some(json!({"reason": "duplicate account under review"})),
        )
        .await;
    assert_eq!(
        (status, resident["status"].as_str()),
        (200, Some("suspended"))
    );
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"login": "13900000001", "password": "Resident-pass-1"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("account_suspended"))
    );
    let (status, _) = sandbox
        .call(
            Method::POST,
            &format!("/v1/admin/residents/{qingpu_resident}/reinstate"),
            Some(&qingpu),
            None,
        )
        .await;
    assert_eq!(status, 200);
    sandbox.login("13900000001", "Resident-pass-1").await;

    // Only city admins enrol districts; residents never reach admin routes.
    let (status, _) = sandbox
        .call(
            Method::PUT,
            "/v1/admin/districts/310115",
            Some(&qingpu),
            Some(json!({"enrolled": true})),
        )
        .await;
    assert_eq!(status, 403);
    let resident_token = sandbox.login("13900000002", "Resident-pass-1").await;
    let (status, _) = sandbox
        .call(
            Method::GET,
            "/v1/admin/residents?district=310110",
            Some(&resident_token),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, district) = sandbox
        .call(
            Method::PUT,
            "/v1/admin/districts/310115",
            Some(&admin),
            Some(json!({"enrolled": true})),
        )
        .await;
    assert_eq!((status, district["enrolled"].as_bool()), (200, Some(true)));
    let (_, districts) = sandbox.call(Method::GET, "/v1/districts", None, None).await;
    let enrolled: Vec<_> = districts["districts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["enrolled"] == true)
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(enrolled, ["310110", "310115", "310118"]);
    sandbox.stop().await;
}
