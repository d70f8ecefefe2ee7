use std::time::Duration;

use healthpoints_grpc::{
    Shutdown,
    client::{GrpcClientConfig, PeerChannel},
};
use healthpoints_identity::{Application, GRPC_SERVICE, config::IdentityConfig};
use healthpoints_proto::identity::v1::{
    self as pb, identity_service_client::IdentityServiceClient,
};
use healthpoints_testkit::TestDatabase;
use tonic::{Code, Status};

pub(crate) const ADMIN: (&str, &str) = ("root", "Root-pass-123");
pub(crate) const PASSWORD: &str = "Resident-pass-1";

pub(crate) struct TestApp {
    pub client: IdentityServiceClient<PeerChannel>,
    pub channel: PeerChannel,
    shutdown: Shutdown,
    _db: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// Starts identity with the bootstrap admin and `tweak` applied to its configuration.
pub(crate) async fn spawn_app_with(tweak: impl FnOnce(&mut IdentityConfig)) -> TestApp {
    healthpoints_telemetry::init_for_tests();
    let db = TestDatabase::create("identity").await;
    let mut config = IdentityConfig::for_test(db.config.clone());
    config.bootstrap_admin = Some(healthpoints_config::Secret::new(format!(
        "{}:{}",
        ADMIN.0, ADMIN.1
    )));
    tweak(&mut config);
    let app = Application::build(config).await.expect("identity builds");
    let endpoint = format!("http://{}", app.local_addr());
    let shutdown = Shutdown::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    healthpoints_grpc::health::wait_until_serving(&endpoint, GRPC_SERVICE, Duration::from_secs(30))
        .await
        .expect("identity becomes ready");
    let channel =
        healthpoints_grpc::client::connect(&GrpcClientConfig::new(endpoint.clone())).unwrap();
    TestApp {
        client: IdentityServiceClient::new(channel.clone()),
        channel,
        shutdown,
        _db: db,
    }
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A valid ID number for a birth date and sequence (check digit computed).
pub(crate) fn id_number(seq: u32) -> String {
    healthpoints_testkit::id_number("310118", "19850612", seq)
}

pub(crate) fn phone(seq: u32) -> String {
    format!("139{seq:08}")
}

pub(crate) fn registration(seq: u32, district: &str) -> pb::RegisterResidentRequest {
    pb::RegisterResidentRequest {
        name: "张三".into(),
        id_number: id_number(seq),
        phone: phone(seq),
        password: PASSWORD.into(),
        residence_district: district.into(),
        residence_type: pb::ResidenceType::Registered as i32,
    }
}

pub(crate) use healthpoints_testkit::bearer;

impl TestApp {
    pub(crate) async fn register(&self, seq: u32, district: &str) -> String {
        self.client
            .clone()
            .register_resident(registration(seq, district))
            .await
            .expect("registration succeeds")
            .into_inner()
            .resident_id
    }

    pub(crate) async fn login(&self, login: &str, password: &str) -> Result<pb::TokenPair, Status> {
        self.client
            .clone()
            .login(pb::LoginRequest {
                login: login.into(),
                password: password.into(),
                client_address: String::new(),
            })
            .await
            .map(|r| r.into_inner().tokens.unwrap())
    }

    pub(crate) async fn admin_token(&self) -> String {
        self.login(ADMIN.0, ADMIN.1).await.unwrap().access_token
    }

    pub(crate) async fn district_admin_token(&self, username: &str, district: &str) -> String {
        let admin = self.admin_token().await;
        self.client
            .clone()
            .create_staff(bearer(
                pb::CreateStaffRequest {
                    username: username.into(),
                    password: "Staff-pass-123".into(),
                    role: pb::StaffRole::DistrictAdmin as i32,
                    district: district.into(),
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .unwrap();
        self.login(username, "Staff-pass-123")
            .await
            .unwrap()
            .access_token
    }
}

/// The machine-readable code of a refusal.
pub(crate) fn code_of(status: &Status) -> String {
    healthpoints_errors::ApiError::from_status(status)
        .code
        .as_str()
        .to_owned()
}

/// The first offending field of a refusal.
pub(crate) fn field_of(status: &Status) -> Option<String> {
    healthpoints_errors::ApiError::from_status(status)
        .field()
        .map(str::to_owned)
}

pub(crate) fn assert_code(
    result: Result<impl std::fmt::Debug, Status>,
    grpc: Code,
    code: &str,
) -> Status {
    let status = result.expect_err("the call must be refused");
    assert_eq!(status.code(), grpc, "{status:?}");
    assert_eq!(code_of(&status), code, "{status:?}");
    status
}
