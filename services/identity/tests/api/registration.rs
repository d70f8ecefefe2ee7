use healthpoints_proto::identity::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn registers_and_reads_own_profile_masked() {
    let app = spawn_app().await;
    let id = app.register(1, "310118").await;
    let tokens = app.login(&phone(1), PASSWORD).await.unwrap();
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 900);
    let me = app
        .client
        .clone()
        .get_resident(bearer(
            pb::GetResidentRequest {
                resident_id: id.clone(),
            },
            &tokens.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .resident
        .unwrap();
    assert_eq!(me.resident_id, id);
    assert_eq!(
        me.id_number_masked,
        format!("3101**********{}", &id_number(1)[14..])
    );
    assert_eq!(me.phone_masked, "139****0001");
    assert_eq!(me.birth_date, "1985-06-12");
    assert_eq!(me.status, pb::ResidentStatus::Active as i32);
    assert!(me.family_doctor.is_none());
}

#[tokio::test]
async fn refuses_bad_fields_all_at_once_and_stores_nothing() {
    let app = spawn_app().await;
    let mut bad = registration(2, "310118");
    bad.id_number = {
        let good = id_number(2);
        let wrong = if good.ends_with('0') { '1' } else { '0' };
        format!("{}{wrong}", &good[..17])
    };
    bad.phone = "12345".into();
    bad.password = "short".into();
    let status = assert_code(
        app.client.clone().register_resident(bad).await,
        Code::InvalidArgument,
        "invalid_argument",
    );
    let err = healthpoints_errors::ApiError::from_status(&status);
    let fields: Vec<_> = err.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["id_number", "phone", "password"]);
    assert!(err.violations[0].reason.contains("check digit"));
    assert!(
        !status.message().contains(&id_number(2)[..10]),
        "no ID digits in errors"
    );
    // One bad field among the person's real ones: refused, and nothing stored — the same ID
    // number and phone register fine afterwards (a stored row would answer 409).
    let mut weak = registration(2, "310118");
    weak.password = "short".into();
    let status = assert_code(
        app.client.clone().register_resident(weak).await,
        Code::InvalidArgument,
        "invalid_argument",
    );
    assert_eq!(field_of(&status).as_deref(), Some("password"));
    app.register(2, "310118").await;
}

#[tokio::test]
async fn one_person_one_account() {
    let app = spawn_app().await;
    app.register(3, "310118").await;
    let mut again = registration(3, "310110");
    again.phone = phone(99);
    let status = assert_code(
        app.client.clone().register_resident(again).await,
        Code::AlreadyExists,
        "already_exists",
    );
    assert_eq!(field_of(&status).as_deref(), Some("id_number"));
    let mut same_phone = registration(4, "310118");
    same_phone.phone = phone(3);
    let status = assert_code(
        app.client.clone().register_resident(same_phone).await,
        Code::AlreadyExists,
        "already_exists",
    );
    assert_eq!(field_of(&status).as_deref(), Some("phone"));
}

#[tokio::test]
async fn refuses_districts_that_have_not_joined_until_a_city_admin_enrols_them() {
    let app = spawn_app().await;
    let status = assert_code(
        app.client
            .clone()
            .register_resident(registration(5, "310115"))
            .await,
        Code::FailedPrecondition,
        "district_not_enrolled",
    );
    assert_eq!(field_of(&status).as_deref(), Some("residence_district"));
    assert_code(
        app.client
            .clone()
            .register_resident(registration(5, "110101"))
            .await,
        Code::InvalidArgument,
        "invalid_argument",
    );

    let districts = app
        .client
        .clone()
        .list_districts(pb::ListDistrictsRequest {})
        .await
        .unwrap()
        .into_inner()
        .districts;
    let enrolled: Vec<_> = districts
        .iter()
        .filter(|d| d.enrolled)
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(districts.len(), 16);
    assert_eq!(enrolled, ["310110", "310118"]);

    let resident = app.register(6, "310118").await;
    let resident_token = app.login(&phone(6), PASSWORD).await.unwrap().access_token;
    let enrol = |token: &str| {
        bearer(
            pb::SetDistrictEnrolmentRequest {
                code: "310115".into(),
                enrolled: true,
            },
            token,
        )
    };
    assert_code(
        app.client
            .clone()
            .set_district_enrolment(enrol(&resident_token))
            .await,
        Code::PermissionDenied,
        "forbidden",
    );
    let district_admin = app.district_admin_token("qp.admin", "310118").await;
    assert_code(
        app.client
            .clone()
            .set_district_enrolment(enrol(&district_admin))
            .await,
        Code::PermissionDenied,
        "forbidden",
    );
    let pudong = app
        .client
        .clone()
        .set_district_enrolment(enrol(&app.admin_token().await))
        .await
        .unwrap()
        .into_inner()
        .district
        .unwrap();
    assert!(pudong.enrolled && pudong.enrolled_since.is_some());
    app.client
        .clone()
        .register_resident(registration(5, "310115"))
        .await
        .unwrap();
    assert!(!resident.is_empty());
}
