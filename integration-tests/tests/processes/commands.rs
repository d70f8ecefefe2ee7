//! The operator's commands as a newcomer runs them: `healthpoints up --demo` (the README's first
//! command, with demo data), stopped with SIGTERM and started again on the same data; then the
//! auditor's `ledger verify-journal` on the data it left, intact and after tampering.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use healthpoints_db::sea_orm::{ConnectionTrait, Database};
use healthpoints_integration_tests::{Gateway, processes::binary};
use reqwest::Method;

/// What `healthpoints up --demo` printed: the gateway's URL, every service's gRPC address by
/// name, and the demo residents' phone numbers.
struct Printed {
    url: String,
    /// The web client's address.
    web: String,
    grpc: std::collections::BTreeMap<String, String>,
    phones: Vec<String>,
}

/// `healthpoints up --demo` in `dir` on `dir/data` (and `extra` arguments), until it prints
/// that it is up; returns the child and what it printed.
fn up(dir: &Path, extra: &[&str]) -> (Child, Printed) {
    up_on(dir, &dir.join("data"), extra)
}

/// The same on the data directory `data`.
fn up_on(dir: &Path, data: &Path, extra: &[&str]) -> (Child, Printed) {
    let mut child = Command::new(binary("healthpoints"))
        .args([
            "up",
            "--demo",
            "--http-addr",
            "127.0.0.1:0",
            "--web-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .current_dir(dir)
        .env_remove("HP_BOOTSTRAP_ADMIN")
        .env_remove("HP_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("healthpoints starts");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout is piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut url, mut phones, mut grpc) = (None, Vec::new(), std::collections::BTreeMap::new());
    let mut web = None;
    let mut in_grpc = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("`healthpoints up --demo` prints that it is up within 2 minutes");
        if let Some(u) = line.strip_prefix("healthpoints is up: ") {
            url = Some(u.trim().to_owned());
        }
        if let Some(u) = line.strip_prefix("healthpoints web client: ") {
            web = Some(u.trim().to_owned());
        }
        // `  gRPC (…):` then `    <service>   <address>` lines.
        if line.trim_start().starts_with("gRPC") {
            in_grpc = true;
            continue;
        }
        if in_grpc {
            match line
                .strip_prefix("    ")
                .and_then(|l| l.trim().rsplit_once(' '))
            {
                Some((service, addr)) => {
                    grpc.insert(service.trim().to_owned(), addr.to_owned());
                }
                None => in_grpc = false,
            }
        }
        if let Some(r) = line.trim().strip_prefix("resident:") {
            phones.push(r.split_whitespace().next().unwrap_or_default().to_owned());
        }
        if line.contains("stop with Ctrl-C") {
            break;
        }
    }
    let url = url.expect("the URL is printed");
    let web = web.expect("the web client's address is printed");
    (
        child,
        Printed {
            url,
            web,
            grpc,
            phones,
        },
    )
}

/// The services a gRPC port lists, asked in the reflection protocol's first version (v1alpha,
/// what Python's grpcio-reflection and older grpcurl speak).
async fn listed_by_v1alpha(addr: &str) -> Vec<String> {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("the printed address is an address")
        .connect()
        .await
        .expect("the printed address takes gRPC");
    let mut client = ServerReflectionClient::new(channel);
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let answer = client
        .server_reflection_info(futures::stream::iter([ask]))
        .await
        .expect("reflection v1alpha is served")
        .into_inner()
        .message()
        .await
        .unwrap()
        .expect("one answer");
    match answer.message_response {
        Some(MessageResponse::ListServicesResponse(l)) => {
            l.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("expected a list of services, got {other:?}"),
    }
}

/// SIGTERM, then the exit status within 30 s.
fn stop(mut child: Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "healthpoints still runs 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A demo resident's posted city points, as they see them.
async fn city_points(gw: &Gateway, phone: &str) -> u64 {
    let token = gw.login(phone, healthpoints::demo::DEMO_PASSWORD).await;
    let balances = gw
        .expect(200, Method::GET, "/v1/me/balances", Some(&token), None)
        .await
        .unwrap();
    balances["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["book"] == "city")
        .and_then(|b| b["posted"].as_u64())
        .unwrap_or(0)
}

/// Runs a command to its end, within a minute: one that does not exit (a hang at shutdown) is
/// killed and fails the test rather than holding the run.
fn run_bounded(command: &mut Command) -> std::process::Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child
        .try_wait()
        .expect("the command is waited for")
        .is_none()
    {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command:?} did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("its output")
}

/// `ledger verify-journal --book city` on the given config: (exit code, what it printed).
fn verify_journal(config: &Path) -> (Option<i32>, String) {
    let out = run_bounded(
        Command::new(binary("ledger"))
            .arg("--config")
            .arg(config)
            .args(["verify-journal", "--book", "city"]),
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn up_with_demo_serves_a_programme_that_survives_a_restart_and_verifies() {
    let dir = healthpoints_db::private::tempdir().expect("temporary directory");

    // First start: demo merchants, catalogues and residents with points.
    let (
        child,
        Printed {
            url,
            web,
            grpc,
            phones,
        },
    ) = up(dir.path(), &[]);
    assert_eq!(phones.len(), 3, "the demo prints its residents: {phones:?}");
    // The printed web address serves the sign-in page, and a demo login works there.
    let browser = healthpoints_integration_tests::web_client::WebClient::new(web);
    let signed_in = browser
        .sign_in(&phones[0], healthpoints::demo::DEMO_PASSWORD)
        .await;
    assert_eq!(signed_in.location.as_deref(), Some("/me"));
    assert_eq!(browser.get("/me").await.status, 200);
    // Every service's gRPC address, for an operator's grpcurl; each port lists its service.
    for service in ["identity", "ledger", "intake", "exchange", "mall city"] {
        assert!(grpc.contains_key(service), "{service} in {grpc:?}");
    }
    let listed = listed_by_v1alpha(&grpc["ledger"]).await;
    assert!(
        listed
            .iter()
            .any(|s| s == "healthpoints.ledger.v1.LedgerService"),
        "{listed:?}"
    );
    let gw = Gateway::new(url);
    gw.expect(200, Method::GET, "/readyz", None, None)
        .await
        .unwrap();
    let products = gw
        .expect(200, Method::GET, "/v1/malls/city/products", None, None)
        .await
        .unwrap();
    assert!(
        !products["products"].as_array().unwrap().is_empty(),
        "the city mall has a demo catalogue: {products}"
    );
    let mut points = Vec::new();
    for phone in &phones {
        let p = city_points(&gw, phone).await;
        assert!(p > 0, "a demo resident has points to spend");
        points.push(p);
    }
    let token = gw
        .login(&phones[0], healthpoints::demo::DEMO_PASSWORD)
        .await;
    let mall = gw
        .expect(200, Method::GET, "/v1/mall", Some(&token), None)
        .await
        .unwrap();
    assert_eq!(mall["reason"], "family_doctor_contract", "{mall}");
    let status = stop(child);
    assert!(status.success(), "exit status after SIGTERM: {status}");

    // Second start on the same data: the demo seeds nothing twice.
    let (
        child,
        Printed {
            url,
            phones: phones_again,
            ..
        },
    ) = up(dir.path(), &[]);
    assert_eq!(phones_again, phones);
    let gw = Gateway::new(url);
    for (phone, before) in phones.iter().zip(&points) {
        assert_eq!(city_points(&gw, phone).await, *before, "points seeded once");
    }
    // A day's check-in: the first resident's points are no longer what the demo seeds, so the
    // restored copy below cannot be a fresh demo.
    let token = gw
        .login(&phones[0], healthpoints::demo::DEMO_PASSWORD)
        .await;
    gw.expect(200, Method::POST, "/v1/me/checkins", Some(&token), None)
        .await
        .unwrap();
    let seeded = points[0];
    points[0] = city_points(&gw, &phones[0]).await;
    assert!(points[0] > seeded, "the check-in paid");
    // A backup while it runs: every database and the key file, private.
    let backup = dir.path().join("backup");
    let backup_to = |to: &Path| {
        run_bounded(
            Command::new(binary("healthpoints"))
                .args(["backup", "--data-dir"])
                .arg(dir.path().join("data"))
                .arg("--to")
                .arg(to),
        )
    };
    let out = backup_to(&backup);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in ["ledger.db", "identity.db", "identity.key", "city-mall.db"] {
        assert!(printed.contains(file), "{file} in {printed}");
    }
    // Never over an earlier one.
    assert!(!backup_to(&backup).status.success());
    let status = stop(child);
    assert!(status.success(), "exit status after SIGTERM: {status}");

    // The restore drill: the copy starts as the programme it was, the same points, the same
    // logins (the key came with it).
    let (child, Printed { url, .. }) = up_on(dir.path(), &backup, &[]);
    let gw = Gateway::new(url);
    for (phone, before) in phones.iter().zip(&points) {
        assert_eq!(
            city_points(&gw, phone).await,
            *before,
            "restored from the backup"
        );
    }
    let status = stop(child);
    assert!(status.success(), "exit status after SIGTERM: {status}");

    // The auditor's command on the ledger the demo left: intact, exit 0.
    let ledger_db = dir.path().join("data").join("ledger.db");
    let config = dir.path().join("ledger.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[telemetry]\nlog_filter = \"warn\"\n",
            ledger_db.display()
        ),
    )
    .unwrap();
    let (code, printed) = verify_journal(&config);
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("city: intact"), "{printed}");

    // Someone with the database file rewrites an amount behind the ledger's back: exit 1,
    // naming the first broken entry.
    let db = Database::connect(format!("sqlite://{}", ledger_db.display()))
        .await
        .unwrap();
    db.execute_unprepared("DROP TRIGGER transfers_no_UPDATE")
        .await
        .unwrap();
    db.execute_unprepared(
        "UPDATE transfers SET amount = amount + 1 WHERE book = 'city' AND seq = 1",
    )
    .await
    .unwrap();
    db.close().await.unwrap();
    let (code, printed) = verify_journal(&config);
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("city: BROKEN at entry 1"), "{printed}");
}

/// The databases of one `--database-url` prefix, dropped when the test ends however it ends.
struct ServerDatabases {
    server: String,
    prefix: String,
}

impl Drop for ServerDatabases {
    fn drop(&mut self) {
        let (server, prefix) = (self.server.clone(), self.prefix.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let admin = Database::connect(server.as_str())
                    .await
                    .expect("the server");
                for node in [
                    "identity",
                    "ledger",
                    "intake",
                    "exchange",
                    "city_mall",
                    "mall_310118",
                    "mall_310110",
                ] {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{prefix}_{node}\" WITH (FORCE)"
                        ))
                        .await;
                }
            });
        })
        .join();
    }
}

#[tokio::test]
async fn up_on_postgres_keeps_each_service_in_a_database_of_its_own() {
    let server = std::env::var("HP_TEST_DATABASE_URL").unwrap_or_default();
    if server.is_empty() {
        // PostgreSQL is the suite's second pass; SQLite's `up` is the test above.
        return;
    }
    let prefix = format!("hp_up_{}", std::process::id());
    let _cleanup = ServerDatabases {
        server: server.clone(),
        prefix: prefix.clone(),
    };
    let mut url = url::Url::parse(&server).expect("HP_TEST_DATABASE_URL is a URL");
    url.set_path(&prefix);
    let url = url.to_string();

    // Two deployments' migration steps at the same moment: both succeed, each migration once.
    let migrate = || {
        Command::new(binary("healthpoints"))
            .args(["migrate", "--database-url", &url])
            .env("HP_IDENTITY__TELEMETRY__LOG_FILTER", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("healthpoints migrate starts")
    };
    let (a, b) = (migrate(), migrate());
    for child in [a, b] {
        let out = child.wait_with_output().expect("migrate ends");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            printed.contains(&format!("migrated {prefix}_ledger")),
            "{printed}"
        );
    }

    let dir = healthpoints_db::private::tempdir().expect("temporary directory");
    let (
        child,
        Printed {
            url: http, phones, ..
        },
    ) = up(dir.path(), &["--database-url", &url]);
    let gw = Gateway::new(http);
    gw.expect(200, Method::GET, "/readyz", None, None)
        .await
        .unwrap();
    assert!(
        city_points(&gw, &phones[0]).await > 0,
        "demo points, in PostgreSQL"
    );
    let status = stop(child);
    assert!(status.success(), "exit status after SIGTERM: {status}");
    // No SQLite file was written; the ledger's transfers are in its own database.
    assert!(!dir.path().join("data").join("ledger.db").exists());
    let mut ledger = url::Url::parse(&server).unwrap();
    ledger.set_path(&format!("{prefix}_ledger"));
    let db = Database::connect(ledger.as_str()).await.unwrap();
    let row = db
        .query_one_raw(healthpoints_db::sea_orm::Statement::from_string(
            healthpoints_db::sea_orm::DbBackend::Postgres,
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM transfers",
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(row.try_get::<i64>("", "n").unwrap() > 0);
    db.close().await.unwrap();
}
