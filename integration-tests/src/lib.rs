//! End-to-end tests of the healthpoints mesh: the all-in-one runner started on random loopback
//! ports with its own data directory, driven only through the gateway's public HTTP API, as a
//! phone app, an admin console or a partner system would.
//!
//! The library part holds the harnesses: [`Sandbox`] runs the mesh inside the test process;
//! [`processes::ProcessMesh`] runs every service as its own OS process from the built binaries,
//! for the fault tests. Both are driven through [`Gateway`], the HTTP client.

pub mod balancer;
pub mod bench;
pub mod invariants;
pub mod journey;
pub mod processes;
pub mod receiver;
pub mod replication;
pub mod web_client;
pub mod webdriver;

use std::time::Duration;

use anyhow::{Context as _, ensure};

use healthpoints::mesh::{self, MeshOptions, RunningMesh};
use healthpoints_gateway::throttle::RateLimits;
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;

/// The first city admin of every sandbox.
pub const ADMIN: (&str, &str) = ("root", "Root-pass-123");

/// The password of staff accounts the tests and the journey create.
pub const STAFF_PASSWORD: &str = "District-pass-1";

/// The gateway's public HTTP API, as a phone app, a console or a partner system calls it.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub base: String,
    pub http: Client,
}

/// A running mesh and an HTTP client for it.
#[derive(Debug)]
pub struct Sandbox {
    gateway: Gateway,
    /// The ledger's gRPC address, for tests that play a mesh service.
    pub ledger_addr: std::net::SocketAddr,
    mesh: Option<RunningMesh>,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Sandbox {
    type Target = Gateway;

    fn deref(&self) -> &Gateway {
        &self.gateway
    }
}

impl Gateway {
    /// A client of the gateway at `base` (`http://127.0.0.1:port`).
    pub fn new(base: String) -> Self {
        Self {
            base,
            http: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }
}

impl Sandbox {
    /// Starts the whole mesh on free ports in a fresh data directory. The rate limits of the
    /// unauthenticated routes are lifted: tests register many residents from one address.
    pub async fn start() -> Self {
        Self::start_with_limits(RateLimits::unthrottled()).await
    }

    /// Starts the mesh with these rate limits of the unauthenticated routes.
    pub async fn start_with_limits(limits: RateLimits) -> Self {
        Self::start_with(limits, &[], false, &[]).await
    }

    /// Starts the mesh with these settings in every mall (e.g. `orders.expiry_notice_hours`).
    pub async fn start_with_mall_settings(settings: &[(&str, &str)]) -> Self {
        Self::start_with(RateLimits::unthrottled(), &[], false, settings).await
    }

    /// Starts the mesh with the web client (its address in [`Sandbox::web_url`]).
    pub async fn start_with_web() -> Self {
        Self::start_with(RateLimits::unthrottled(), &[], true, &[]).await
    }

    /// Starts the mesh letting browser pages of these origins call the API (CORS).
    pub async fn start_with_cors(origins: &[&str]) -> Self {
        let origins: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
        Self::start_with(RateLimits::unthrottled(), &origins, false, &[]).await
    }

    async fn start_with(
        limits: RateLimits,
        cors_origins: &[String],
        web: bool,
        mall_settings: &[(&str, &str)],
    ) -> Self {
        let dir = healthpoints_db::private::tempdir().expect("temporary directory");
        let mesh = mesh::start(MeshOptions {
            data_dir: dir.path().to_path_buf(),
            http_addr: "127.0.0.1:0".into(),
            bootstrap_admin: Some(format!("{}:{}", ADMIN.0, ADMIN.1)),
            database_urls: Default::default(),
            database_server: None,
            district_malls: mesh::pilot_districts(),
            rate_limits: Some(limits),
            cors_origins: cors_origins.to_vec(),
            web_addr: web.then(|| "127.0.0.1:0".to_owned()),
            mall_settings: mall_settings
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })
        .await
        .expect("the mesh starts");
        Self {
            gateway: Gateway::new(mesh.url()),
            ledger_addr: mesh.ledger_addr,
            mesh: Some(mesh),
            _dir: dir,
        }
    }

    /// The last text message sent to `phone` (password reset codes: the mesh writes them to
    /// files instead of a phone), if any.
    pub fn message_to(&self, phone: &str) -> Option<String> {
        std::fs::read_to_string(
            self._dir
                .path()
                .join("messages")
                .join(format!("{phone}.txt")),
        )
        .ok()
    }

    /// The next text message to `phone` (one that differs from `previous`), waited for: codes
    /// are sent behind the answer. Panics after 10 s.
    pub async fn next_message_to(&self, phone: &str, previous: Option<&str>) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(text) = self.message_to(phone)
                && Some(text.as_str()) != previous
            {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no message to {phone} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The web client's base URL (started by [`Sandbox::start_with_web`]).
    pub fn web_url(&self) -> String {
        self.mesh
            .as_ref()
            .and_then(|m| m.web_url())
            .expect("the mesh runs the web client")
            .to_owned()
    }

    /// Seeds the demo world of `healthpoints up --demo` (merchants and a catalogue in every
    /// mall, district officials, three residents with points; every password
    /// [`healthpoints::demo::DEMO_PASSWORD`]) and returns its lines.
    pub async fn seed_demo(&self) -> Vec<String> {
        healthpoints::demo::seed(self.mesh.as_ref().expect("the mesh is running"), ADMIN)
            .await
            .expect("the demo seeds")
    }

    /// Stops one mall (`city` or a district code); the rest of the mesh keeps running.
    pub async fn stop_mall(&mut self, mall: &str) {
        self.mesh
            .as_mut()
            .expect("the mesh is running")
            .stop_mall(mall)
            .await
            .expect("the mall stops");
    }

    /// Starts a stopped mall again, on its port and database.
    pub async fn start_mall(&mut self, mall: &str) {
        self.mesh
            .as_mut()
            .expect("the mesh is running")
            .start_mall(mall)
            .await
            .expect("the mall starts");
    }

    /// Stops the mesh gracefully.
    pub async fn stop(mut self) {
        if let Some(mesh) = self.mesh.take() {
            mesh.stop().await;
        }
    }
}

impl Gateway {
    /// Polls `GET path` as `token` until `done` holds for the body, for at most `within`.
    pub async fn eventually(
        &self,
        path: &str,
        token: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (_, body) = self.call(Method::GET, path, Some(token), None).await;
            if done(&body) || tokio::time::Instant::now() > deadline {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        }
    }

    /// The body of `GET path` as text, whatever its status (metrics, CSV, scripts).
    pub async fn text(&self, path: &str, token: Option<&str>) -> String {
        self.request(Method::GET, path, token)
            .send()
            .await
            .expect("the gateway answers")
            .text()
            .await
            .expect("a text body")
    }

    /// Sends JSON and returns the status and the parsed body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut builder = self.request(method, path, token);
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        let response = builder.send().await.expect("the gateway answers");
        split(response).await
    }

    /// Logs in and returns the access token.
    pub async fn login(&self, login: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(serde_json::json!({"login": login, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "login failed: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN.0, ADMIN.1).await
    }

    /// Registers a partner department (id = department) as `admin` and returns its access
    /// token.
    pub async fn partner(
        &self,
        admin: &str,
        id: &str,
        behaviours: &[&str],
        scopes: &[&str],
    ) -> String {
        self.partner_of_kind(admin, id, behaviours, scopes, "department")
            .await
    }

    /// Registers a partner of `kind` (`department` or `commercial`) and returns its token.
    pub async fn partner_of_kind(
        &self,
        admin: &str,
        id: &str,
        behaviours: &[&str],
        scopes: &[&str],
        kind: &str,
    ) -> String {
        let (status, created) = self
            .call(
                Method::POST,
                "/v1/admin/partners",
                Some(admin),
                Some(serde_json::json!({"name": format!("{id} feed"), "department": id, "behaviours": behaviours, "scopes": scopes, "kind": kind})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["partner_id"], id);
        let (status, token) = self
            .call(Method::POST, "/v1/auth/token", None, Some(serde_json::json!({
                "grant_type": "client_credentials", "client_id": created["client_id"], "client_secret": created["client_secret"],
            })))
            .await;
        assert_eq!(status, 200, "{token}");
        token["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Sends partner records as NDJSON.
    pub async fn send_ndjson(&self, token: &str, lines: &[Value]) -> (u16, Value) {
        let body = lines
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        let response = self
            .request(Method::POST, "/v1/partner/behaviours", Some(token))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .expect("the gateway answers");
        split(response).await
    }
}

impl Gateway {
    /// Calls the gateway and insists on `want`; anything else is an error with the answer.
    pub async fn expect(
        &self,
        want: u16,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (mut status, mut answer) = self.call(method.clone(), path, token, body).await;
        // A read answered 503 is asked again, as a client would: after a database failover a
        // service answers 503 once for each pooled connection the failover cut.
        let mut again = 0;
        while status == 503 && want != 503 && method == Method::GET && again < 10 {
            again += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            (status, answer) = self.call(method.clone(), path, token, None).await;
        }
        ensure!(
            status == want,
            "{method} {path}: expected {want}, got {status}: {answer}"
        );
        Ok(answer)
    }

    /// Creates a staff account as `admin` and logs it in.
    pub async fn staff(&self, admin: &str, account: Value) -> anyhow::Result<String> {
        let login = account["username"].as_str().unwrap_or_default().to_owned();
        self.expect(
            201,
            Method::POST,
            "/v1/admin/staff",
            Some(admin),
            Some(account),
        )
        .await?;
        Ok(self.login(&login, STAFF_PASSWORD).await)
    }

    /// A city-mall merchant (licence `LIC-<username>`) with its operator `username`, signed in,
    /// and one health product of `price` points: (operator token, product id).
    pub async fn city_shop(
        &self,
        admin: &str,
        (name, username): (&str, &str),
        (title, price): (&str, u64),
    ) -> anyhow::Result<(String, String)> {
        let merchant = self
            .expect(201, Method::POST, "/v1/admin/malls/city/merchants", Some(admin),
                Some(serde_json::json!({"name": name, "licence_no": format!("LIC-{username}"), "contact": "021-5999 0000"})))
            .await?;
        let operator = self
            .staff(admin, serde_json::json!({"username": username, "password": STAFF_PASSWORD,
                "role": "merchant_operator", "merchant_id": merchant["merchant_id"], "mall": "city"}))
            .await?;
        let product = self
            .expect(201, Method::POST, "/v1/merchant/products", Some(&operator),
                Some(serde_json::json!({"title": title, "category": "health_product", "price_points": price})))
            .await?;
        let id = product["product_id"]
            .as_str()
            .context("product_id")?
            .to_owned();
        Ok((operator, id))
    }

    /// Registers a resident living in `district`, born on `birth` (YYYYMMDD), with the phone
    /// `1370000<seq>`, and returns (resident id, access token).
    pub async fn resident(&self, seq: u32, district: &str, birth: &str) -> (String, String) {
        let phone = format!("1370000{seq:04}");
        let (status, body) = self
            .call(Method::POST, "/v1/auth/register", None, Some(serde_json::json!({
                "name": "陈静", "id_number": id_number(district, birth, seq), "phone": phone,
                "password": "Resident-pass-1", "residence_district": district, "residence_type": "registered",
            })))
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["resident_id"]
            .as_str()
            .expect("resident_id")
            .to_owned();
        (id, self.login(&phone, "Resident-pass-1").await)
    }

    /// Grants `points` (an honour, as `admin`) in the city book (`district` None) or a
    /// district's; once per resident and book each month.
    pub async fn grant(&self, admin: &str, resident: &str, district: Option<&str>, points: u64) {
        let month = (chrono::Utc::now() + chrono::Duration::hours(8))
            .format("%Y-%m")
            .to_string();
        let honour = format!("test-{}", district.unwrap_or("city"));
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/admin/honours",
                Some(admin),
                Some(serde_json::json!({
                    "resident_id": resident, "honour": honour, "period": month, "district": district,
                    "points": points, "citation": "for the tests",
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// The points a resident may spend in `book` (`city`, `district:310110`): posted less what
    /// pending orders hold.
    pub async fn balance(&self, token: &str, book: &str) -> anyhow::Result<u64> {
        let balances = self
            .expect(200, Method::GET, "/v1/me/balances", Some(token), None)
            .await?;
        Ok(balances["balances"]
            .as_array()
            .context("balances")?
            .iter()
            .find(|b| b["book"] == book)
            .and_then(|b| b["available"].as_u64())
            .unwrap_or(0))
    }
}

/// Status and JSON body of a response.
pub async fn split(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub use healthpoints_testkit::id_number;

/// `n` distinct free loopback ports for servers the tests start as processes a moment later,
/// chosen below the kernel's ephemeral range: a port from `bind(0)` lies in that range, where an
/// outgoing connection of the run may take it before the server binds it (seen: "Address
/// already in use", and a login answered 404 by whatever held the port); below it, only another
/// explicit choice could. Each listener is held until all are chosen, so they are distinct.
pub fn free_ports(n: usize) -> Vec<u16> {
    let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768);
    let span = u128::from(ephemeral_low.saturating_sub(10_000).max(1));
    let mut held = Vec::with_capacity(n);
    for _ in 0..100_000 {
        if held.len() == n {
            break;
        }
        let port = 10_000 + u16::try_from(uuid::Uuid::new_v4().as_u128() % span).unwrap_or(0);
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
        }
    }
    assert_eq!(held.len(), n, "free loopback ports below {ephemeral_low}");
    held.iter()
        .map(|l| {
            l.local_addr()
                .expect("a bound listener has an address")
                .port()
        })
        .collect()
}
