//! The healthpoints web client: server-rendered pages for residents (on a phone first), the
//! merchant's counter and district and city officials, in Chinese first with English. It is a
//! backend-for-frontend of the gateway's public HTTP API ([`api`]): it calls the same routes a
//! mobile app does, keeps the tokens on the server inside a sealed `HttpOnly` cookie
//! ([`session`]), checks a CSRF token and the origin on every form, and sends a strict
//! Content-Security-Policy: the pages work without JavaScript, and the one small script
//! (served from the binary, like the stylesheet) only helps as the person types.
//!
//! Pages are askama templates compiled into the binary (`templates/`), charts and QR codes are
//! SVG drawn on the server ([`chart`], [`pages::resident`]). docs/web.md describes the pages.

pub mod api;
mod assets;
pub mod chart;
pub mod config;
mod ctx;
pub mod i18n;
mod pages;
pub mod session;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{Router, extract::DefaultBodyLimit, http::StatusCode, routing::get};
use healthpoints_grpc::Shutdown;
use tokio::net::TcpListener;
use tower_http::{catch_panic::CatchPanicLayer, timeout::TimeoutLayer};

use crate::config::WebConfig;

/// What every page shares; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Web(Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    pub api: api::Gateway,
    pub keys: session::Keys,
    /// Behind TLS: the cookie is `Secure` and `__Host-`.
    pub secure: bool,
    /// The configured public origin (`https://host`), or none: the request's `Host` decides.
    pub origin: Option<String>,
    pub max_age: i64,
    /// Proxies whose `X-Forwarded-For` is passed on.
    pub proxies: Vec<ipnet::IpNet>,
}

impl std::ops::Deref for Web {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A bound web client.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    url: String,
}

impl Application {
    /// Binds the listener and builds the gateway client; nothing is called until a page is.
    pub async fn build(config: WebConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.http.addr)
            .await
            .with_context(|| format!("binding the web client on {}", config.http.addr))?;
        let addr = listener.local_addr()?;
        let public = config.http.public_url.trim().trim_end_matches('/');
        let url = if public.is_empty() {
            format!("http://{addr}")
        } else {
            public.to_owned()
        };
        let web = Web(Arc::new(Inner {
            api: api::Gateway::new(
                &config.gateway.url,
                Duration::from_millis(config.gateway.request_timeout_ms),
            )?,
            keys: session::Keys::new(config.session.key_bytes()?)?,
            secure: url.starts_with("https://"),
            origin: (!public.is_empty()).then(|| origin_of(public)),
            max_age: i64::try_from(config.session.max_age_seconds).unwrap_or(i64::MAX),
            proxies: config.http.proxies()?,
        }));
        let router = Router::new()
            .merge(pages::router())
            .fallback(ctx::not_found)
            .method_not_allowed_fallback(ctx::to_parent)
            .layer(axum::middleware::from_fn_with_state(
                web.clone(),
                ctx::layer,
            ))
            // Outside the session: no cookie for a stylesheet or a probe.
            .route("/assets/{name}", get(assets::serve))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .with_state(web)
            .layer(DefaultBodyLimit::max(64 * 1024))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                Duration::from_millis(config.http.request_timeout_ms),
            ))
            .layer(CatchPanicLayer::new());
        Ok(Self {
            listener,
            router,
            url,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The address to open in a browser.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serves until `shutdown`, then lets in-flight requests finish.
    pub async fn run_until_stopped(self, mut shutdown: Shutdown) -> anyhow::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
        .context("web client HTTP server failed")
    }
}

/// `GET /readyz`: ready while the gateway answers (its own `/readyz` says whether the mesh
/// behind it is).
async fn ready(axum::extract::State(web): axum::extract::State<Web>) -> StatusCode {
    let call = api::Call {
        forwarded_for: "127.0.0.1",
        ..api::Call::default()
    };
    match web.api.raw(http::Method::GET, "/healthz", call, None).await {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_drop_the_path() {
        assert_eq!(
            super::origin_of("https://points.example.gov.cn/app"),
            "https://points.example.gov.cn"
        );
        assert_eq!(
            super::origin_of("http://127.0.0.1:8081"),
            "http://127.0.0.1:8081"
        );
    }
}
