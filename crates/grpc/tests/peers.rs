//! Calling peers beyond one plain connection: gRPC over TLS and mutual TLS (a district mall on
//! its own network), and calls spread over a peer's replicas, following their health.

use std::{path::Path, time::Duration};

use healthpoints_auth::{StaticJwks, Verifier, VerifierConfig};
use healthpoints_grpc::{
    GrpcServer, GrpcServerConfig, Shutdown,
    client::{GrpcClientConfig, connect},
    health::peer_is_serving,
    tls::{ClientTls, ServerTls},
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// A running server answering health for `service`; stops when the handle's shutdown fires.
async fn serve(service: &'static str, config: GrpcServerConfig) -> (String, Shutdown) {
    let server = GrpcServer::bind("test", service, &config).await.unwrap();
    let addr = server.local_addr();
    server.health().set_serving().await;
    let shutdown = Shutdown::new();
    let verifier = Verifier::new(VerifierConfig::default(), StaticJwks::default());
    tokio::spawn(server.serve(
        tonic::service::Routes::default(),
        verifier,
        shutdown.clone(),
    ));
    (addr.to_string(), shutdown)
}

/// A CA, and a certificate it signs for `names`, written as PEM files under `dir`.
struct Pki {
    issuer: Issuer<'static, KeyPair>,
    ca_file: std::path::PathBuf,
}

impl Pki {
    fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let ca_file = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&ca_file, cert.pem()).unwrap();
        Self {
            issuer: Issuer::new(params, key),
            ca_file,
        }
    }

    /// (certificate file, key file) for `names`.
    fn issue(
        &self,
        dir: &Path,
        file: &str,
        names: &[&str],
    ) -> (std::path::PathBuf, std::path::PathBuf) {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_file, key_file) = (
            dir.join(format!("{file}.pem")),
            dir.join(format!("{file}-key.pem")),
        );
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hp-peers-{name}-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

const SERVICE: &str = "healthpoints.test.v1.Service";

/// A call through a channel of `config` (not a probe of its own) finds `SERVICE` serving.
async fn assert_serving_through(config: &GrpcClientConfig) {
    let answer = HealthClient::new(connect(config).unwrap())
        .check(HealthCheckRequest {
            service: SERVICE.into(),
        })
        .await
        .unwrap();
    assert_eq!(answer.into_inner().status, 1);
}
const WAIT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn mutual_tls_admits_only_clients_with_a_certificate_of_the_trusted_ca() {
    let dir = temp_dir("mtls");
    let city = Pki::new(&dir, "city");
    let district = Pki::new(&dir, "district");
    let (cert_file, key_file) = city.issue(&dir, "ledger", &["localhost", "ledger.city.example"]);
    let (client_cert, client_key) = district.issue(&dir, "mall", &["mall-310118"]);
    let (stranger_cert, stranger_key) = city.issue(&dir, "stranger", &["stranger"]);
    let (addr, stop) = serve(
        SERVICE,
        GrpcServerConfig {
            tls: Some(ServerTls {
                cert_file,
                key_file,
                client_ca_file: Some(district.ca_file.clone()),
            }),
            ..GrpcServerConfig::for_test()
        },
    )
    .await;
    let port = addr.rsplit(':').next().unwrap();
    let peer = |tls: ClientTls| GrpcClientConfig {
        tls: Some(tls),
        ..GrpcClientConfig::new(format!("https://localhost:{port}"))
    };
    let trusted = ClientTls {
        ca_file: Some(city.ca_file.clone()),
        cert_file: Some(client_cert.clone()),
        key_file: Some(client_key.clone()),
        domain: None,
    };

    // The district's mall, with its certificate, is served.
    assert!(peer_is_serving(&peer(trusted.clone()), SERVICE, WAIT).await);
    assert_serving_through(&peer(trusted.clone())).await;
    // The same through a balanced channel (two addresses of the one replica).
    let balanced = GrpcClientConfig {
        tls: Some(trusted.clone()),
        ..GrpcClientConfig::new(format!(
            "https://localhost:{port}, https://localhost:{port}/"
        ))
    };
    assert_serving_through(&balanced).await;
    // The certificate must name the host called; another name is configured with `domain`.
    let by_ip = GrpcClientConfig {
        tls: Some(ClientTls {
            domain: Some("ledger.city.example".into()),
            ..trusted.clone()
        }),
        ..GrpcClientConfig::new(format!("https://127.0.0.1:{port}"))
    };
    assert!(peer_is_serving(&by_ip, SERVICE, WAIT).await);

    // No client certificate, one of a CA the server does not trust, a server certificate
    // this client does not trust, or no TLS at all: refused.
    let no_cert = ClientTls {
        cert_file: None,
        key_file: None,
        ..trusted.clone()
    };
    assert!(!peer_is_serving(&peer(no_cert), SERVICE, WAIT).await);
    let stranger = ClientTls {
        cert_file: Some(stranger_cert),
        key_file: Some(stranger_key),
        ..trusted.clone()
    };
    assert!(!peer_is_serving(&peer(stranger), SERVICE, WAIT).await);
    let distrusting = ClientTls {
        ca_file: Some(district.ca_file.clone()),
        ..trusted.clone()
    };
    assert!(!peer_is_serving(&peer(distrusting), SERVICE, WAIT).await);
    let plain = GrpcClientConfig::new(format!("http://localhost:{port}"));
    assert!(!peer_is_serving(&plain, SERVICE, WAIT).await);
    stop.trigger();

    // Bad configuration names what is wrong, before any call.
    let half = ClientTls {
        key_file: None,
        ..trusted.clone()
    };
    let err = connect(&peer(half)).unwrap_err().to_string();
    assert!(
        err.contains("tls.cert_file and tls.key_file go together"),
        "{err}"
    );
    let tls_on_http = GrpcClientConfig {
        tls: Some(trusted),
        ..GrpcClientConfig::new("http://localhost:1")
    };
    let err = connect(&tls_on_http).unwrap_err().to_string();
    assert!(err.contains("the endpoint is http://"), "{err}");
    let missing = ServerTls {
        cert_file: dir.join("nothing.pem"),
        key_file: dir.join("nothing.pem"),
        client_ca_file: None,
    };
    let err = GrpcServer::bind(
        "test",
        SERVICE,
        &GrpcServerConfig {
            tls: Some(missing),
            ..GrpcServerConfig::for_test()
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("grpc.tls.cert_file"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn calls_spread_over_replicas_and_leave_one_that_stops() {
    // Two replicas; only the first serves `a`, so where each call went shows in its answer.
    let (first, stop_first) = serve("a", GrpcServerConfig::for_test()).await;
    let (second, stop_second) = serve("b", GrpcServerConfig::for_test()).await;
    let config = GrpcClientConfig {
        balance_refresh_ms: 100,
        ..GrpcClientConfig::new(format!("http://{first},http://{second}"))
    };
    let mut client = HealthClient::new(connect(&config).unwrap());
    let ask = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut on_first, mut on_second) = (0, 0);
    for _ in 0..200 {
        match client.check(ask("a")).await {
            Ok(_) => on_first += 1,
            Err(status) if status.code() == tonic::Code::NotFound => on_second += 1,
            Err(status) => panic!("{status:?}"),
        }
    }
    assert!(on_first > 20 && on_second > 20, "{on_first} / {on_second}");

    // The first stops: once a health round has seen it, every call goes to the second (within
    // ten seconds however busy the machine, then fifty in a row).
    stop_first.trigger();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut in_a_row = 0;
    while in_a_row < 50 {
        match client.check(ask("a")).await {
            Err(status) if status.code() == tonic::Code::NotFound => in_a_row += 1,
            _ => in_a_row = 0,
        }
        assert!(
            std::time::Instant::now() < deadline,
            "calls still reach the stopped replica"
        );
    }
    client.check(ask("b")).await.unwrap();

    // With none serving, calls fail at once (UNAVAILABLE), they do not wait for a replica.
    stop_second.trigger();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let status = client.check(ask("b")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
