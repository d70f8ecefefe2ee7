//! Importing the residents of the platform a city had before: each row its own result,
//! idempotent per ID number, district admins for their own district only; an imported resident
//! has no password until they set one with a reset code.

use healthpoints_proto::identity::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn imported(seq: u32, district: &str) -> pb::ImportedResident {
    pb::ImportedResident {
        name: "赵敏".into(),
        id_number: id_number(seq),
        phone: phone(seq),
        residence_district: district.into(),
        residence_type: pb::ResidenceType::Registered as i32,
    }
}

async fn import(
    app: &TestApp,
    token: &str,
    rows: Vec<pb::ImportedResident>,
) -> Vec<pb::ImportResult> {
    app.client
        .clone()
        .import_residents(bearer(
            pb::ImportResidentsRequest { residents: rows },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .results
}

#[tokio::test]
async fn residents_are_imported_once_each_with_a_result_per_row_and_sign_in_after_a_reset_code() {
    let dir = healthpoints_db::private::tempdir().unwrap();
    let sender = format!("file:{}", dir.path().display());
    let app = spawn_app_with(|c| c.password_reset.sender = sender).await;
    let admin = app.admin_token().await;
    let registered = app.register(5, "310118").await;

    let mut bad_number = imported(2, "310118");
    bad_number.id_number.replace_range(17.., "0");
    let mut phone_taken = imported(3, "310118");
    phone_taken.phone = phone(5);
    let rows = vec![
        imported(1, "310118"),
        bad_number,
        phone_taken,
        imported(1, "310118"),
        imported(5, "310118"),
        imported(6, "999999"),
        imported(10, "310115"),
    ];
    let first = import(&app, &admin, rows.clone()).await;
    let outcomes: Vec<(&str, &str)> = first
        .iter()
        .map(|r| (r.outcome.as_str(), r.field.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("created", ""),
            ("refused", "id_number"),
            ("refused", "phone"),
            ("exists", ""),
            ("exists", ""),
            ("refused", "residence_district"),
            ("refused", "residence_district"),
        ]
    );
    assert!(first[6].reason.contains("not enrolled"), "{:?}", first[6]);
    assert_eq!(first[3].resident_id, first[0].resident_id);
    assert_eq!(first[4].resident_id, registered);
    for refused in first.iter().filter(|r| r.outcome == "refused") {
        assert!(!refused.reason.is_empty());
        assert!(!refused.reason.contains(&id_number(2)), "{refused:?}");
    }

    // The same file again changes nothing and answers the same ids.
    let again = import(&app, &admin, rows).await;
    assert_eq!(again[0].outcome, "exists");
    assert_eq!(again[0].resident_id, first[0].resident_id);

    // A district's admin imports its own district's residents only.
    let yangpu = app.district_admin_token("yangpu-admin", "310110").await;
    let theirs = import(
        &app,
        &yangpu,
        vec![imported(7, "310110"), imported(8, "310118")],
    )
    .await;
    assert_eq!(
        (
            theirs[0].outcome.as_str(),
            theirs[1].outcome.as_str(),
            theirs[1].field.as_str()
        ),
        ("created", "refused", "residence_district")
    );
    // A resident imports nobody.
    let resident = app.login(&phone(5), PASSWORD).await.unwrap().access_token;
    let refused = app
        .client
        .clone()
        .import_residents(bearer(
            pb::ImportResidentsRequest {
                residents: vec![imported(9, "310118")],
            },
            &resident,
        ))
        .await;
    assert_code(refused, Code::PermissionDenied, "forbidden");

    // No password yet: the imported resident signs in once a reset code set one.
    assert!(app.login(&phone(1), "").await.is_err());
    assert!(app.login(&phone(1), PASSWORD).await.is_err());
    app.client
        .clone()
        .request_password_reset(pb::RequestPasswordResetRequest {
            phone: phone(1),
            client_address: String::new(),
        })
        .await
        .unwrap();
    let message = dir.path().join(format!("{}.txt", phone(1)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        if let Ok(text) = std::fs::read_to_string(&message) {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "no code sent");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let code: String = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code")
        .into();
    app.client
        .clone()
        .confirm_password_reset(pb::ConfirmPasswordResetRequest {
            phone: phone(1),
            code,
            new_password: PASSWORD.into(),
            client_address: String::new(),
        })
        .await
        .unwrap();
    app.login(&phone(1), PASSWORD).await.unwrap();
}

async fn find(
    app: &TestApp,
    token: &str,
    id_numbers: Vec<String>,
) -> Result<Vec<String>, tonic::Status> {
    app.client
        .clone()
        .find_residents(bearer(pb::FindResidentsRequest { id_numbers }, token))
        .await
        .map(|r| r.into_inner().resident_ids)
}

/// Opening balances name residents by ID number: admins find their districts' residents, in
/// order, with a blank for a number nobody they may see has (or that is no ID number).
#[tokio::test]
async fn admins_find_their_residents_by_id_number_and_nobody_elses() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let imported = import(
        &app,
        &admin,
        vec![imported(1, "310118"), imported(2, "310110")],
    )
    .await;
    let (qp, yp) = (&imported[0].resident_id, &imported[1].resident_id);
    let asked = vec![
        id_number(2),
        "not a number".into(),
        id_number(1),
        id_number(9),
    ];
    let found = find(&app, &admin, asked.clone()).await.unwrap();
    assert_eq!(found, [yp.as_str(), "", qp.as_str(), ""]);
    let qingpu = app.district_admin_token("qingpu-finder", "310118").await;
    let found = find(&app, &qingpu, asked).await.unwrap();
    assert_eq!(
        found,
        ["", "", qp.as_str(), ""],
        "another district's resident is not found"
    );
    app.register(5, "310118").await;
    let resident = app.login(&phone(5), PASSWORD).await.unwrap().access_token;
    let refused = find(&app, &resident, vec![id_number(1)]).await;
    assert_code(refused, Code::PermissionDenied, "forbidden");
    let too_many = find(&app, &admin, vec![id_number(1); 1_001]).await;
    assert_code(too_many, Code::InvalidArgument, "invalid_argument");
}
