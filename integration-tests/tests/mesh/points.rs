use healthpoints_grpc::client::GrpcClientConfig;
use healthpoints_integration_tests::{Sandbox, id_number};
use healthpoints_proto::ledger::v1::{self as pb, ledger_service_client::LedgerServiceClient};
use reqwest::Method;
use serde_json::json;

use healthpoints_testkit::bearer;

#[tokio::test]
async fn a_resident_sees_points_a_service_awarded_and_admins_see_only_their_books() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    let (_, body) = sandbox
        .call(Method::POST, "/v1/auth/register", None, Some(json!({
            "name": "刘洋", "id_number": id_number("310110", "19700505", 9), "phone": "13500000009",
            "password": "Resident-pass-1", "residence_district": "310110", "residence_type": "registered",
        })))
        .await;
    let resident_id = body["resident_id"].as_str().unwrap().to_owned();
    let resident = sandbox.login("13500000009", "Resident-pass-1").await;
    let (status, empty) = sandbox
        .call(Method::GET, "/v1/me/balances", Some(&resident), None)
        .await;
    assert_eq!(
        (status, empty["balances"].as_array().map(Vec::len)),
        (200, Some(0))
    );

    // A mesh service (as intake will be) awards points over gRPC with its own credentials.
    let (_, client) = sandbox
        .call(
            Method::POST,
            "/v1/admin/clients",
            Some(&admin),
            Some(json!({"kind": "service", "name": "intake", "service": "intake"})),
        )
        .await;
    let (_, token) = sandbox
        .call(Method::POST, "/v1/auth/token", None, Some(json!({"grant_type": "client_credentials", "client_id": client["client_id"], "client_secret": client["client_secret"]})))
        .await;
    let service = token["access_token"].as_str().unwrap();
    let mut ledger = LedgerServiceClient::new(
        healthpoints_grpc::client::connect(&GrpcClientConfig::new(format!(
            "http://{}",
            sandbox.ledger_addr
        )))
        .unwrap(),
    );
    let spec = |book: &str, kind: pb::AccountKind, owner: &str| pb::AccountSpec {
        book: book.into(),
        kind: kind as i32,
        owner_id: owner.into(),
    };
    let accounts = ledger
        .open_accounts(bearer(
            pb::OpenAccountsRequest {
                accounts: vec![
                    spec("district:310110", pb::AccountKind::Issuance, ""),
                    spec("district:310110", pb::AccountKind::Resident, &resident_id),
                ],
            },
            service,
        ))
        .await
        .unwrap()
        .into_inner()
        .accounts;
    let award = pb::Transfer {
        id: uuid::Uuid::now_v7().to_string(),
        debit_account_id: accounts[0].id.clone(),
        credit_account_id: accounts[1].id.clone(),
        amount: 1_234,
        kind: pb::TransferKind::Award as i32,
        metadata: Some(pb::TransferMetadata {
            reason: "vaccination at Yangpu CHC".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let results = ledger
        .create_transfers(bearer(
            pb::CreateTransfersRequest {
                transfers: vec![award],
                linked: false,
            },
            service,
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results[0].result, pb::CreateTransferResult::Ok as i32);

    let (status, balances) = sandbox
        .call(Method::GET, "/v1/me/balances", Some(&resident), None)
        .await;
    assert_eq!(status, 200, "{balances}");
    assert_eq!(
        balances["balances"][0],
        // An award without a day never expires.
        json!({"book": "district:310110", "posted": 1234, "pending": 0, "available": 1234, "yuan": "12.34", "expiring": []})
    );
    let (status, history) = sandbox
        .call(
            Method::GET,
            "/v1/me/transactions?book=district:310110",
            Some(&resident),
            None,
        )
        .await;
    assert_eq!(status, 200, "{history}");
    let entry = &history["transactions"][0];
    assert_eq!(
        (
            entry["kind"].as_str(),
            entry["points"].as_i64(),
            entry["counterparty"].as_str()
        ),
        (Some("award"), Some(1234), Some("issuance"))
    );
    assert_eq!(entry["reason"], "vaccination at Yangpu CHC");
    let (status, none) = sandbox
        .call(Method::GET, "/v1/me/transactions", Some(&resident), None)
        .await;
    assert_eq!(
        (status, none["transactions"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (status, problem) = sandbox
        .call(
            Method::GET,
            "/v1/me/transactions?kind=gift",
            Some(&resident),
            None,
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("kind")));

    // Book figures: the Yangpu admin sees Yangpu, not the city book; residents see neither.
    sandbox
        .call(Method::POST, "/v1/admin/staff", Some(&admin), Some(json!({"username": "yp.admin", "password": "Staff-pass-123", "role": "district_admin", "district": "310110"})))
        .await;
    let yangpu = sandbox.login("yp.admin", "Staff-pass-123").await;
    let (status, stats) = sandbox
        .call(
            Method::GET,
            "/v1/admin/books/district:310110/stats",
            Some(&yangpu),
            None,
        )
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        (
            stats["issued"].as_u64(),
            stats["outstanding"].as_u64(),
            stats["outstanding_yuan"].as_str()
        ),
        (Some(1234), Some(1234), Some("12.34"))
    );
    let (status, _) = sandbox
        .call(
            Method::GET,
            "/v1/admin/books/city/stats",
            Some(&yangpu),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = sandbox
        .call(
            Method::GET,
            "/v1/admin/books/district:310110/stats",
            Some(&resident),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, stats) = sandbox
        .call(
            Method::GET,
            "/v1/admin/books/city/stats",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((status, stats["issued"].as_u64()), (200, Some(0)));
    sandbox.stop().await;
}
