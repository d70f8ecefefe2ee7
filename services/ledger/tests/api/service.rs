//! The ledger service over gRPC with tokens from a real identity service.

use std::time::Duration;

use healthpoints_grpc::{
    Shutdown,
    client::{GrpcClientConfig, PeerChannel},
};
use healthpoints_identity::config::IdentityConfig;
use healthpoints_ledger::{Application, GRPC_SERVICE, config::LedgerConfig};
use healthpoints_proto::{
    identity::v1::{self as idpb, identity_service_client::IdentityServiceClient},
    ledger::v1::{self as pb, ledger_service_client::LedgerServiceClient},
};
use healthpoints_testkit::TestDatabase;
use tonic::Code;
use uuid::Uuid;

struct Mesh {
    identity: IdentityServiceClient<PeerChannel>,
    identity_endpoint: String,
    admin: String,
    _identity_db: TestDatabase,
    _identity_stop: Shutdown,
}

async fn identity() -> Mesh {
    healthpoints_telemetry::init_for_tests();
    let db = TestDatabase::create("ledger_identity").await;
    let mut config = IdentityConfig::for_test(db.config.clone());
    config.bootstrap_admin = Some(healthpoints_config::Secret::new(
        "root:Root-pass-123".into(),
    ));
    let app = healthpoints_identity::Application::build(config)
        .await
        .unwrap();
    let endpoint = format!("http://{}", app.local_addr());
    let stop = Shutdown::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    healthpoints_grpc::health::wait_until_serving(
        &endpoint,
        healthpoints_identity::GRPC_SERVICE,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let mut client = IdentityServiceClient::new(
        healthpoints_grpc::client::connect(&GrpcClientConfig::new(endpoint.clone())).unwrap(),
    );
    let admin = client
        .login(idpb::LoginRequest {
            login: "root".into(),
            password: "Root-pass-123".into(),
            client_address: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap()
        .access_token;
    Mesh {
        identity: client,
        identity_endpoint: endpoint,
        admin,
        _identity_db: db,
        _identity_stop: stop,
    }
}

use healthpoints_testkit::bearer;

impl Mesh {
    async fn service_token(&self, service: &str, district: &str) -> String {
        let created = self
            .identity
            .clone()
            .create_client(bearer(
                idpb::CreateClientRequest {
                    kind: idpb::ClientKind::Service as i32,
                    name: service.into(),
                    service: service.into(),
                    district: district.into(),
                    ..Default::default()
                },
                &self.admin,
            ))
            .await
            .unwrap()
            .into_inner();
        self.identity
            .clone()
            .issue_client_token(idpb::IssueClientTokenRequest {
                client_id: created.client_id,
                client_secret: created.client_secret,
                client_address: String::new(),
                scopes: Vec::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .tokens
            .unwrap()
            .access_token
    }

    async fn resident_token(&self) -> (String, String) {
        let id_number = healthpoints_testkit::id_number("310110", "19900101", 123);
        let id = self
            .identity
            .clone()
            .register_resident(idpb::RegisterResidentRequest {
                name: "测试".into(),
                id_number,
                phone: "13600000001".into(),
                password: "Resident-pass-1".into(),
                residence_district: "310110".into(),
                residence_type: idpb::ResidenceType::Registered as i32,
            })
            .await
            .unwrap()
            .into_inner()
            .resident_id;
        let token = self
            .identity
            .clone()
            .login(idpb::LoginRequest {
                login: "13600000001".into(),
                password: "Resident-pass-1".into(),
                client_address: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .tokens
            .unwrap()
            .access_token;
        (id, token)
    }
}

struct RunningLedger {
    client: LedgerServiceClient<PeerChannel>,
    stop: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start_ledger(mesh: &Mesh, db: &TestDatabase) -> RunningLedger {
    let app = Application::build(LedgerConfig::for_test(
        db.config.clone(),
        &mesh.identity_endpoint,
    ))
    .await
    .unwrap();
    let endpoint = format!("http://{}", app.local_addr());
    let stop = Shutdown::new();
    let task = tokio::spawn(app.run_until_stopped(stop.clone()));
    healthpoints_grpc::health::wait_until_serving(&endpoint, GRPC_SERVICE, Duration::from_secs(30))
        .await
        .unwrap();
    let client = LedgerServiceClient::new(
        healthpoints_grpc::client::connect(&GrpcClientConfig::new(endpoint)).unwrap(),
    );
    RunningLedger { client, stop, task }
}

impl RunningLedger {
    async fn stop(self) {
        self.stop.trigger();
        self.task.await.unwrap().unwrap();
    }
}

fn spec(book: &str, kind: pb::AccountKind, owner: &str) -> pb::AccountSpec {
    pb::AccountSpec {
        book: book.into(),
        kind: kind as i32,
        owner_id: owner.into(),
    }
}

fn transfer(debit: &str, credit: &str, amount: u64, kind: pb::TransferKind) -> pb::Transfer {
    pb::Transfer {
        id: Uuid::now_v7().to_string(),
        debit_account_id: debit.into(),
        credit_account_id: credit.into(),
        amount,
        kind: kind as i32,
        ..Default::default()
    }
}

async fn results(ledger: &RunningLedger, token: &str, transfers: Vec<pb::Transfer>) -> Vec<i32> {
    ledger
        .client
        .clone()
        .create_transfers(bearer(
            pb::CreateTransfersRequest {
                transfers,
                linked: false,
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .results
        .into_iter()
        .map(|r| r.result)
        .collect()
}

#[tokio::test]
async fn tokens_decide_who_writes_and_who_reads() {
    let mesh = identity().await;
    let db = TestDatabase::create("ledger_grpc").await;
    let ledger = start_ledger(&mesh, &db).await;
    let intake = mesh.service_token("intake", "").await;
    let qingpu_mall = mesh.service_token("district-mall", "310118").await;
    let (resident_id, resident) = mesh.resident_token().await;

    let accounts = ledger
        .client
        .clone()
        .open_accounts(bearer(
            pb::OpenAccountsRequest {
                accounts: vec![
                    spec("city", pb::AccountKind::Issuance, ""),
                    spec("city", pb::AccountKind::Resident, &resident_id),
                ],
            },
            &intake,
        ))
        .await
        .unwrap()
        .into_inner()
        .accounts;
    let (issuance, mine) = (accounts[0].id.clone(), accounts[1].id.clone());
    let award = || vec![transfer(&issuance, &mine, 250, pb::TransferKind::Award)];
    assert_eq!(
        results(&ledger, &intake, award()).await,
        [pb::CreateTransferResult::Ok as i32]
    );
    assert_eq!(
        results(&ledger, &qingpu_mall, award()).await,
        [pb::CreateTransferResult::BookForbidden as i32]
    );
    let refused = ledger
        .client
        .clone()
        .create_transfers(bearer(
            pb::CreateTransfersRequest {
                transfers: award(),
                linked: false,
            },
            &resident,
        ))
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied);
    let anonymous = ledger
        .client
        .clone()
        .create_transfers(pb::CreateTransfersRequest {
            transfers: award(),
            linked: false,
        })
        .await;
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);
    let malformed = ledger
        .client
        .clone()
        .create_transfers(bearer(
            pb::CreateTransfersRequest {
                transfers: vec![transfer("nope", &mine, 1, pb::TransferKind::Award)],
                linked: false,
            },
            &intake,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        healthpoints_errors::ApiError::from_status(&malformed).field(),
        Some("transfers[0].debit_account_id")
    );

    let balances = ledger
        .client
        .clone()
        .get_balances(bearer(
            pb::GetBalancesRequest {
                owner_id: resident_id.clone(),
            },
            &resident,
        ))
        .await
        .unwrap()
        .into_inner()
        .balances;
    assert_eq!(
        (
            balances[0].book.as_str(),
            balances[0].available,
            balances[0].yuan.as_ref().unwrap().display.as_str()
        ),
        ("city", 250, "¥2.50")
    );
    let other = ledger
        .client
        .clone()
        .get_balances(bearer(
            pb::GetBalancesRequest {
                owner_id: Uuid::now_v7().to_string(),
            },
            &resident,
        ))
        .await;
    assert_eq!(other.unwrap_err().code(), Code::PermissionDenied);
    let stats = ledger
        .client
        .clone()
        .get_book_statistics(bearer(
            pb::GetBookStatisticsRequest {
                book: "city".into(),
                ..Default::default()
            },
            &resident,
        ))
        .await;
    assert_eq!(stats.unwrap_err().code(), Code::PermissionDenied);
    let report = ledger
        .client
        .clone()
        .verify_journal(bearer(
            pb::VerifyJournalRequest {
                book: "city".into(),
                ..Default::default()
            },
            &mesh.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(report.intact && report.complete && report.entries_checked == 1);
    ledger.stop().await;
}

#[tokio::test]
async fn the_sweeper_expires_exactly_the_overdue_reservations_after_a_restart() {
    let mesh = identity().await;
    let db = TestDatabase::create("ledger_crash").await;
    let ledger = start_ledger(&mesh, &db).await;
    let intake = mesh.service_token("intake", "").await;
    let owner = Uuid::now_v7().to_string();
    let accounts = ledger
        .client
        .clone()
        .open_accounts(bearer(
            pb::OpenAccountsRequest {
                accounts: vec![
                    spec("city", pb::AccountKind::Issuance, ""),
                    spec("city", pb::AccountKind::Resident, &owner),
                    spec(
                        "city",
                        pb::AccountKind::MerchantPayable,
                        &Uuid::now_v7().to_string(),
                    ),
                ],
            },
            &intake,
        ))
        .await
        .unwrap()
        .into_inner()
        .accounts;
    let (issuance, resident, merchant) = (&accounts[0].id, &accounts[1].id, &accounts[2].id);
    results(
        &ledger,
        &intake,
        vec![transfer(issuance, resident, 100, pb::TransferKind::Award)],
    )
    .await;
    let hold = |amount, timeout_seconds| pb::Transfer {
        pending: true,
        timeout_seconds,
        ..transfer(resident, merchant, amount, pb::TransferKind::Redeem)
    };
    let (short, long) = (hold(30, 1), hold(20, 3_600));
    let (short_id, long_id) = (short.id.clone(), long.id.clone());
    assert_eq!(results(&ledger, &intake, vec![short, long]).await, [1, 1]);

    // The process stops before the short reservation is due, and stays down past its timeout.
    ledger.stop().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let ledger = start_ledger(&mesh, &db).await;

    let state = |id: String| {
        let mut client = ledger.client.clone();
        let token = intake.clone();
        async move {
            client
                .lookup_transfers(bearer(pb::LookupTransfersRequest { ids: vec![id] }, &token))
                .await
                .unwrap()
                .into_inner()
                .transfers[0]
                .pending_state
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while state(short_id.clone()).await != pb::PendingState::Expired as i32 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweeper did not expire the overdue reservation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state(long_id).await, pb::PendingState::Pending as i32);
    let account = ledger
        .client
        .clone()
        .lookup_accounts(bearer(
            pb::LookupAccountsRequest {
                ids: vec![resident.clone()],
            },
            &intake,
        ))
        .await
        .unwrap()
        .into_inner()
        .accounts
        .remove(0);
    assert_eq!(
        (
            account.credits_posted,
            account.debits_posted,
            account.debits_pending
        ),
        (100, 0, 20)
    );
    ledger.stop().await;
}
