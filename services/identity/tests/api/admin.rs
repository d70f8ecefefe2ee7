use healthpoints_proto::{common::v1::PageRequest, identity::v1 as pb};
use tonic::Code;

use crate::helpers::*;

fn contract(district: &str) -> pb::FamilyDoctorContract {
    pb::FamilyDoctorContract {
        institution_code: "QP-CHC-001".into(),
        institution_name: "Qingpu Community Health Centre".into(),
        district: district.into(),
        signed_on: "2026-01-15".into(),
        valid_until: "2027-01-14".into(),
    }
}

#[tokio::test]
async fn district_admins_see_and_manage_only_their_district() {
    let app = spawn_app().await;
    let qingpu_resident = app.register(20, "310118").await;
    let yangpu_resident = app.register(21, "310110").await;
    let qingpu = app.district_admin_token("qp.admin", "310118").await;

    let list = |district: &str, token: &str| {
        let mut client = app.client.clone();
        let request = bearer(
            pb::ListResidentsRequest {
                district: district.into(),
                page: None,
            },
            token,
        );
        async move { client.list_residents(request).await }
    };
    let mine = list("310118", &qingpu)
        .await
        .unwrap()
        .into_inner()
        .residents;
    assert_eq!(
        mine.iter()
            .map(|r| r.resident_id.as_str())
            .collect::<Vec<_>>(),
        [qingpu_resident.as_str()]
    );
    assert_code(
        list("310110", &qingpu).await,
        Code::PermissionDenied,
        "forbidden",
    );

    let get = |id: &str, token: &str| {
        let mut client = app.client.clone();
        let request = bearer(
            pb::GetResidentRequest {
                resident_id: id.into(),
            },
            token,
        );
        async move { client.get_resident(request).await }
    };
    get(&qingpu_resident, &qingpu).await.unwrap();
    assert_code(
        get(&yangpu_resident, &qingpu).await,
        Code::PermissionDenied,
        "forbidden",
    );
    let suspend = app
        .client
        .clone()
        .suspend_resident(bearer(
            pb::SuspendResidentRequest {
                resident_id: yangpu_resident.clone(),
                reason: "x".into(),
            },
            &qingpu,
        ))
        .await;
    assert_code(suspend, Code::PermissionDenied, "forbidden");

    // A resident never reads another resident.
    let yangpu_token = app.login(&phone(21), PASSWORD).await.unwrap().access_token;
    assert_code(
        get(&qingpu_resident, &yangpu_token).await,
        Code::NotFound,
        "not_found",
    );
    assert_code(
        list("310110", &yangpu_token).await,
        Code::PermissionDenied,
        "forbidden",
    );
    // No token at all.
    let anonymous = app
        .client
        .clone()
        .get_resident(pb::GetResidentRequest {
            resident_id: qingpu_resident,
        })
        .await;
    assert_code(anonymous, Code::Unauthenticated, "unauthenticated");
}

#[tokio::test]
async fn residents_page_through_their_district() {
    let app = spawn_app().await;
    for seq in 30..35 {
        app.register(seq, "310110").await;
    }
    let admin = app.admin_token().await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .client
            .clone()
            .list_residents(bearer(
                pb::ListResidentsRequest {
                    district: "310110".into(),
                    page: Some(PageRequest {
                        page_size: 2,
                        cursor: cursor.clone(),
                    }),
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.residents.into_iter().map(|r| r.resident_id));
        cursor = page.page.unwrap().next_cursor;
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 5);
}

#[tokio::test]
async fn family_doctor_contracts_are_validated_set_and_ended() {
    let app = spawn_app().await;
    let id = app.register(40, "310118").await;
    let admin = app.district_admin_token("qp.admin", "310118").await;
    let set = |action: pb::ContractAction, contract: Option<pb::FamilyDoctorContract>| {
        let mut client = app.client.clone();
        let request = bearer(
            pb::SetFamilyDoctorContractRequest {
                resident_id: id.clone(),
                action: action as i32,
                contract,
            },
            &admin,
        );
        async move { client.set_family_doctor_contract(request).await }
    };
    let mut bad = contract("310110");
    bad.valid_until = "2025-01-01".into();
    bad.institution_code = " ".into();
    let status = assert_code(
        set(pb::ContractAction::Sign, Some(bad)).await,
        Code::InvalidArgument,
        "invalid_argument",
    );
    let fields: Vec<_> = healthpoints_errors::ApiError::from_status(&status)
        .violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["institution_code", "valid_until"]);
    assert_code(
        set(pb::ContractAction::End, None).await,
        Code::FailedPrecondition,
        "failed_precondition",
    );

    let signed = set(pb::ContractAction::Sign, Some(contract("310110")))
        .await
        .unwrap()
        .into_inner()
        .resident
        .unwrap();
    assert_eq!(signed.family_doctor.unwrap().district, "310110");
    let ended = set(pb::ContractAction::End, None)
        .await
        .unwrap()
        .into_inner()
        .resident
        .unwrap();
    assert!(ended.family_doctor.is_none());
}

#[tokio::test]
async fn district_admins_create_only_their_own_malls_operators() {
    let app = spawn_app().await;
    let qingpu = app.district_admin_token("qp.admin", "310118").await;
    let create = |mall: &str, role: pb::StaffRole| {
        let mut client = app.client.clone();
        let request = bearer(
            pb::CreateStaffRequest {
                username: format!("op.{mall}.{}", role as i32),
                password: "Operator-pass-1".into(),
                role: role as i32,
                merchant_id: uuid_str(),
                mall: mall.into(),
                district: "310118".into(),
                institution_code: String::new(),
            },
            &qingpu,
        );
        async move { client.create_staff(request).await }
    };
    create("310118", pb::StaffRole::MerchantOperator)
        .await
        .unwrap();
    assert_code(
        create("city", pb::StaffRole::MerchantOperator).await,
        Code::PermissionDenied,
        "forbidden",
    );
    assert_code(
        create("310118", pb::StaffRole::CityAdmin).await,
        Code::PermissionDenied,
        "forbidden",
    );
    let dup = create("310118", pb::StaffRole::MerchantOperator).await;
    let status = assert_code(dup, Code::AlreadyExists, "already_exists");
    assert_eq!(field_of(&status).as_deref(), Some("username"));
}

fn uuid_str() -> String {
    "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into()
}
