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
            serving: healthpoints_grpc::health::is_serving(
                &b.endpoint,
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

/// The OpenAPI document.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::openapi())
}
