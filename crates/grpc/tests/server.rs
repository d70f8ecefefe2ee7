//! A real server on loopback, asked the way load balancers and the gateway ask: health starts
//! NOT_SERVING, follows the service's readiness, turns NOT_SERVING for its watchers as soon as a
//! shutdown starts draining, and goes away with the server; and a peer's token problems are
//! described as such.

use std::time::Duration;

use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use healthpoints_auth::{StaticJwks, Verifier, VerifierConfig};
use healthpoints_grpc::{
    GrpcServer, GrpcServerConfig, Shutdown,
    credentials::PeerError,
    health::{is_serving, wait_until_serving},
};

const SERVICE: &str = "healthpoints.ledger.v1.LedgerService";

#[tokio::test]
async fn health_follows_readiness_until_shutdown() {
    let server = GrpcServer::bind("test", SERVICE, &GrpcServerConfig::for_test())
        .await
        .unwrap();
    let endpoint = format!("http://{}", server.local_addr());
    let health = server.health();
    let shutdown = Shutdown::new();
    let verifier = Verifier::new(VerifierConfig::default(), StaticJwks::default());
    let served = tokio::spawn(server.serve(
        tonic::service::Routes::default(),
        verifier,
        shutdown.clone(),
    ));
    let quick = Duration::from_millis(500);

    // Serving the port, but not ready: NOT_SERVING, and a wait for it gives up naming it.
    let waited = wait_until_serving(&endpoint, SERVICE, Duration::from_millis(300)).await;
    assert!(
        waited
            .as_ref()
            .is_err_and(|e| e.contains(SERVICE) && e.contains(&endpoint)),
        "{waited:?}"
    );
    assert!(!is_serving(&endpoint, SERVICE, quick).await);

    health.set_serving().await;
    wait_until_serving(&endpoint, SERVICE, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        is_serving(&endpoint, "", quick).await,
        "the server as a whole"
    );
    assert!(
        !is_serving(&endpoint, "healthpoints.mall.v1.MallService", quick).await,
        "a service this server does not run"
    );
    health.set_not_serving().await;
    assert!(!is_serving(&endpoint, SERVICE, quick).await);
    health.set_serving().await;
    assert!(is_serving(&endpoint, SERVICE, quick).await);

    shutdown.trigger();
    served.await.unwrap().unwrap();
    assert!(
        !is_serving(&endpoint, SERVICE, quick).await,
        "nothing answers after shutdown"
    );
}

/// A load balancer watching health hears NOT_SERVING when the drain starts, not when the
/// server is gone: new work goes elsewhere while calls in flight finish.
#[tokio::test]
async fn watchers_hear_not_serving_as_soon_as_the_drain_starts() {
    let server = GrpcServer::bind("test", SERVICE, &GrpcServerConfig::for_test())
        .await
        .unwrap();
    let endpoint = format!("http://{}", server.local_addr());
    server.health().set_serving().await;
    let shutdown = Shutdown::new();
    let verifier = Verifier::new(VerifierConfig::default(), StaticJwks::default());
    let served = tokio::spawn(server.serve(
        tonic::service::Routes::default(),
        verifier,
        shutdown.clone(),
    ));
    let channel = tonic::transport::Endpoint::from_shared(endpoint)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut watch = HealthClient::new(channel)
        .watch(HealthCheckRequest {
            service: SERVICE.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);

    // The watch stream is a call in flight: the server drains it for its grace (2 s here).
    shutdown.trigger();
    let next = tokio::time::timeout(Duration::from_secs(1), watch.message())
        .await
        .expect("the watcher hears of the drain at once, well inside the grace")
        .unwrap()
        .unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
    drop(watch);
    served.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_unreachable_or_malformed_peer_is_not_serving_within_the_timeout() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let started = std::time::Instant::now();
    assert!(
        !is_serving(
            &format!("http://{closed}"),
            SERVICE,
            Duration::from_millis(500)
        )
        .await
    );
    assert!(!is_serving("not a uri", SERVICE, Duration::from_millis(500)).await);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn peer_errors_say_whose_fault_and_whether_to_retry() {
    use healthpoints_errors::{ApiError, ErrorCode};
    let error = |code| PeerError {
        peer: "ledger",
        error: ApiError::new(code, "the ledger's own words"),
    };
    for code in [
        ErrorCode::Unavailable,
        ErrorCode::DeadlineExceeded,
        ErrorCode::RateLimited,
    ] {
        assert!(error(code).retryable(), "{code:?}");
        assert_eq!(error(code).describe("intake"), "ledger did not answer");
    }
    for code in [ErrorCode::Unauthenticated, ErrorCode::InvalidCredentials] {
        assert!(error(code).retryable(), "{code:?}");
        assert_eq!(
            error(code).describe("intake"),
            "ledger refused intake's credentials (check credentials.client_secret)"
        );
    }
    for code in [
        ErrorCode::InvalidArgument,
        ErrorCode::Internal,
        ErrorCode::NotFound,
    ] {
        assert!(!error(code).retryable(), "{code:?}");
        assert_eq!(
            error(code).describe("intake"),
            "ledger refused a call: the ledger's own words"
        );
    }
}

/// grpcurl's `list` on a port names the service it runs, health and reflection — not every
/// contract of the mesh.
#[tokio::test]
async fn reflection_lists_what_the_port_serves() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let server = GrpcServer::bind("test", SERVICE, &GrpcServerConfig::for_test())
        .await
        .unwrap();
    let endpoint = format!("http://{}", server.local_addr());
    let shutdown = Shutdown::new();
    let verifier = Verifier::new(VerifierConfig::default(), StaticJwks::default());
    let served = tokio::spawn(server.serve(
        tonic::service::Routes::default(),
        verifier,
        shutdown.clone(),
    ));
    let channel = healthpoints_grpc::client::connect(
        &healthpoints_grpc::client::GrpcClientConfig::new(endpoint),
    )
    .unwrap();
    let mut client = ServerReflectionClient::new(channel.clone());
    let list = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = client
        .server_reflection_info(futures::stream::iter([list]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(MessageResponse::ListServicesResponse(listed)) = answer.message_response else {
        panic!("expected a list of services, got {answer:?}");
    };
    let mut names: Vec<String> = listed.service.into_iter().map(|s| s.name).collect();
    names.sort();
    let listed = [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        SERVICE,
    ];
    assert_eq!(names, listed);

    // A client of the protocol's first version (what Python's grpcio-reflection speaks) gets
    // the same list, and can describe the service.
    {
        use tonic_reflection::pb::v1alpha::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut client = ServerReflectionClient::new(channel.clone());
        let asks = [
            ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            },
            ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::FileContainingSymbol(SERVICE.into())),
            },
        ];
        let mut answers = client
            .server_reflection_info(futures::stream::iter(asks))
            .await
            .unwrap()
            .into_inner();
        let answer = answers.message().await.unwrap().expect("a list");
        let Some(MessageResponse::ListServicesResponse(old)) = answer.message_response else {
            panic!("expected a list of services, got {answer:?}");
        };
        let mut old: Vec<String> = old.service.into_iter().map(|s| s.name).collect();
        old.sort();
        assert_eq!(old, listed);
        let answer = answers.message().await.unwrap().expect("a file");
        let Some(MessageResponse::FileDescriptorResponse(files)) = answer.message_response else {
            panic!("expected the file describing {SERVICE}, got {answer:?}");
        };
        assert!(!files.file_descriptor_proto.is_empty());
    }
    shutdown.trigger();
    served.await.unwrap().unwrap();
}
