//! Probes and the API description.

use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{AppState, Backend};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<BackendHealth>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BackendHealth {
    pub name: String,
    pub serving: bool,
}

/// The process's metrics for Prometheus, in the OpenMetrics text format: requests, errors and
/// latency per route, and — under `healthpoints up`, where every service runs in this process —
/// every service's RPCs and domain figures (docs/operations.md). Outside the rate limits; keep it
/// off the public ingress.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String)))]
pub async fn metrics() -> impl axum::response::IntoResponse {
    use healthpoints_telemetry::metrics::{CONTENT_TYPE, render};
    ([(http::header::CONTENT_TYPE, CONTENT_TYPE)], render())
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        backends: vec![],
    })
}

/// Asks every backend's gRPC health, in parallel.
pub async fn check_backends(backends: &[Backend]) -> Vec<BackendHealth> {
    let checks = backends.iter().map(|b| async move {
        BackendHealth {
            name: b.name.to_owned(),
            serving: healthpoints_grpc::health::peer_is_serving(
                &b.peer,
                b.grpc_service,
                Duration::from_secs(1),
            )
            .await,
        }
    });
    futures::future::join_all(checks).await
}

/// Every backend reports SERVING.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let backends = check_backends(&state.backends).await;
    let ready = backends.iter().all(|b| b.serving);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Health {
            status: if ready { "ready" } else { "unavailable" }.into(),
            backends,
        }),
    )
}

/// The OpenAPI document, built (and completed) once per process: it is the same for every
/// request.
pub async fn openapi() -> axum::response::Response {
    use axum::{http::header, response::IntoResponse as _};
    static DOCUMENT: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        serde_json::to_vec(&super::openapi()).expect("the document serializes")
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_slice(),
    )
        .into_response()
}

/// The interactive reference of the API: `/docs/` (its files are relative to it).
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 308, description = "to `/docs/`")))]
pub async fn docs() -> axum::response::Redirect {
    axum::response::Redirect::permanent("/docs/")
}

/// The interactive reference of the API (Swagger UI, served from the binary: nothing is fetched
/// from elsewhere), reading `/openapi.json`.
#[utoipa::path(get, path = "/docs/", tag = "operations",
    responses((status = 200, description = "the reference, as HTML", content_type = "text/html")))]
pub async fn docs_index() -> axum::response::Response {
    docs_file("")
}

/// The reference's own files (`/docs/swagger-ui.css`, …).
#[utoipa::path(get, path = "/docs/{file}", tag = "operations",
    params(("file" = String, Path, description = "a file of the reference")),
    responses((status = 200, description = "the file"), (status = 404, body = crate::error::Problem)))]
pub async fn docs_asset(
    crate::body::Segments(file): crate::body::Segments<String>,
) -> axum::response::Response {
    docs_file(&file)
}

fn docs_file(file: &str) -> axum::response::Response {
    use axum::{http::header, response::IntoResponse as _};
    static CONFIG: std::sync::LazyLock<std::sync::Arc<utoipa_swagger_ui::Config<'static>>> =
        std::sync::LazyLock::new(|| {
            std::sync::Arc::new(utoipa_swagger_ui::Config::new(["/openapi.json"]))
        });
    match utoipa_swagger_ui::serve(file, CONFIG.clone()) {
        Ok(Some(found)) => {
            let mut response = (
                [(header::CONTENT_TYPE, found.content_type)],
                found.bytes.into_owned(),
            )
                .into_response();
            if found.gzpipped {
                response.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    header::HeaderValue::from_static("gzip"),
                );
            }
            response
        }
        Ok(None) => crate::error::HttpError::from(healthpoints_errors::ApiError::not_found(
            "no such file of the reference",
        ))
        .into_response(),
        Err(_) => {
            crate::error::HttpError::from(healthpoints_errors::ApiError::internal()).into_response()
        }
    }
}
