//! A webhook receiver for the tests, as a partner would write one: it checks the Standard
//! Webhooks signature (`webhook-signature` over `{webhook-id}.{webhook-timestamp}.{body}`) and
//! the timestamp's freshness, answers 2xx, and processes each `webhook-id` once however often
//! it arrives (at least once is what the sender promises).

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use serde_json::Value;

/// What arrived: every attempt, and the events processed (each id once).
#[derive(Debug, Default)]
pub struct Received {
    /// The `webhook-id` of every request, in order.
    pub attempts: Vec<String>,
    /// The bodies processed, each event once.
    pub processed: Vec<Value>,
    /// Requests refused for a bad or stale signature.
    pub refused: usize,
    seen: HashSet<String>,
}

#[derive(Debug)]
struct Shared {
    secret: String,
    received: Mutex<Received>,
}

/// A running receiver at `http://{addr}/hook`.
#[derive(Debug)]
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    /// Listens on `addr` (port 0 for any) and checks signatures with `secret`.
    pub async fn start(addr: SocketAddr, secret: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            secret: secret.to_owned(),
            received: Mutex::new(Received::default()),
        });
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// What arrived so far.
    pub fn with<T>(&self, read: impl FnOnce(&Received) -> T) -> T {
        read(&self.shared.received.lock().unwrap())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn hook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signatures) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let body = String::from_utf8_lossy(&body).into_owned();
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() <= 300);
    let valid = timestamp.parse::<i64>().ok().and_then(|t| {
        healthpoints_exchange::domain::notify::signature(&shared.secret, &id, t, &body).ok()
    });
    let mut r = shared.received.lock().unwrap();
    r.attempts.push(id.clone());
    // A header may carry several space-separated signatures (during a secret's rotation).
    if !fresh || !valid.is_some_and(|v| signatures.split(' ').any(|s| s == v)) {
        r.refused += 1;
        return StatusCode::UNAUTHORIZED;
    }
    if r.seen.insert(id) {
        r.processed
            .push(serde_json::from_str(&body).unwrap_or(Value::Null));
    }
    StatusCode::NO_CONTENT
}
