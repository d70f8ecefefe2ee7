//! The health-station counter's identity: station staff (who may create them, what their token
//! says), a resident's station code, and the delegated token only the exchange gets.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use healthpoints_config::Secret;
use healthpoints_grpc::credentials::{ServiceCredentials, ServiceToken};
use healthpoints_identity::config::ServiceClientConfig;
use healthpoints_proto::identity::v1 as pb;
use healthpoints_proto::identity::v1::resolve_resident_request::Resident;
use serde_json::Value;
use tonic::Code;

use crate::helpers::*;

const SECRET: &str = "a-service-secret-of-enough-length";

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn station_staff(username: &str, district: &str, institution: &str) -> pb::CreateStaffRequest {
    pb::CreateStaffRequest {
        username: username.into(),
        password: "Station-pass-1".into(),
        role: pb::StaffRole::StationStaff as i32,
        district: district.into(),
        institution_code: institution.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn district_admins_create_station_staff_of_their_district_bound_to_an_institution() {
    let app = spawn_app().await;
    let qingpu = app.district_admin_token("qp.admin", "310118").await;
    let mut client = app.client.clone();

    client
        .create_staff(bearer(
            station_staff("qp.station", "310118", "QP-ZJJ-01"),
            &qingpu,
        ))
        .await
        .unwrap();
    let other_district = client
        .create_staff(bearer(
            station_staff("pd.station", "310115", "PD-01"),
            &qingpu,
        ))
        .await;
    assert_code(other_district, Code::PermissionDenied, "forbidden");
    let no_institution = client
        .create_staff(bearer(station_staff("qp.nobody", "310118", " "), &qingpu))
        .await;
    let status = assert_code(no_institution, Code::InvalidArgument, "invalid_argument");
    assert_eq!(field_of(&status).as_deref(), Some("institution_code"));

    let token = app.login("qp.station", "Station-pass-1").await.unwrap();
    let c = claims(&token.access_token);
    assert_eq!(c["role"], "station_staff");
    assert_eq!(c["district"], "310118");
    assert_eq!(c["institution"], "QP-ZJJ-01");
    // Station staff create nobody.
    let station = token.access_token;
    let refused = client
        .create_staff(bearer(station_staff("qp.more", "310118", "X"), &station))
        .await;
    assert_code(refused, Code::PermissionDenied, "forbidden");
}

#[tokio::test]
async fn a_station_code_names_its_resident_and_only_the_exchange_gets_a_delegated_token() {
    let app = spawn_app_with(|c| {
        for service in ["exchange", "intake"] {
            c.service_clients.insert(
                service.into(),
                ServiceClientConfig {
                    service: service.into(),
                    secret: Secret::new(SECRET.into()),
                    district: None,
                },
            );
        }
    })
    .await;
    let service = |name: &str| {
        ServiceToken::new(
            app.channel.clone(),
            ServiceCredentials {
                client_id: name.into(),
                client_secret: Secret::new(SECRET.into()),
            },
        )
    };
    let exchange = service("exchange");
    let resident_id = app.register(1, "310118").await;
    let resident = app.login(&phone(1), PASSWORD).await.unwrap().access_token;
    let mut client = app.client.clone();

    let issued = client
        .issue_station_code(bearer(pb::IssueStationCodeRequest {}, &resident))
        .await
        .unwrap()
        .into_inner();
    assert!(issued.code.starts_with("hps1."), "{}", issued.code);
    assert!(!issued.code.contains(&id_number(1)));
    let resolve = |code: String| {
        let exchange = exchange.clone();
        let mut client = client.clone();
        async move {
            let request = exchange
                .request(pb::ResolveResidentRequest {
                    resident: Some(Resident::StationCode(code)),
                })
                .await
                .unwrap();
            client.resolve_resident(request).await
        }
    };
    let found = resolve(issued.code.clone()).await.unwrap().into_inner();
    assert_eq!(found.resident_id, resident_id);
    let mut altered = issued.code.clone();
    altered.replace_range(10..11, if &altered[10..11] == "A" { "B" } else { "A" });
    let status = assert_code(
        resolve(altered).await,
        Code::InvalidArgument,
        "invalid_argument",
    );
    assert_eq!(field_of(&status).as_deref(), Some("station_code"));
    // Staff get no station code.
    let admin = app.admin_token().await;
    let refused = client
        .issue_station_code(bearer(pb::IssueStationCodeRequest {}, &admin))
        .await;
    assert_code(refused, Code::PermissionDenied, "forbidden");

    let ask = pb::IssueDelegatedTokenRequest {
        resident_id: resident_id.clone(),
        staff_id: uuid::Uuid::now_v7().to_string(),
        institution_code: "QP-ZJJ-01".into(),
    };
    let delegated = client
        .issue_delegated_token(exchange.request(ask.clone()).await.unwrap())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(delegated.expires_in, 120);
    let c = claims(&delegated.access_token);
    assert_eq!(c["role"], "resident");
    assert_eq!(c["sub"], resident_id.as_str());
    assert_eq!(c["act"]["institution"], "QP-ZJJ-01");
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 120);
    // It is for the counter's two calls (balances, an order), not for anything of identity's:
    // a delegated token that leaked closes no account and makes no station code.
    let refused = client
        .close_account(bearer(
            pb::CloseAccountRequest {
                password: PASSWORD.into(),
                client_address: String::new(),
            },
            &delegated.access_token,
        ))
        .await;
    assert_code(refused, Code::PermissionDenied, "forbidden");
    let refused = client
        .issue_station_code(bearer(
            pb::IssueStationCodeRequest {},
            &delegated.access_token,
        ))
        .await;
    assert_code(refused, Code::PermissionDenied, "forbidden");
    for (who, token) in [
        ("intake", service("intake").token().await.unwrap()),
        ("resident", resident),
    ] {
        let refused = client
            .issue_delegated_token(bearer(ask.clone(), &token))
            .await;
        assert_eq!(
            refused.expect_err(who).code(),
            Code::PermissionDenied,
            "{who} must not get a delegated token"
        );
    }
}
