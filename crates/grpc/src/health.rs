//! Asking a peer whether it is ready: gRPC health, as load balancers and the gateway do.

use std::time::Duration;

use tonic::transport::Endpoint;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::target::{GrpcClientConfig, addresses, targets};

/// Whether `service` at `endpoint` answers SERVING within `timeout`.
pub async fn is_serving(endpoint: &str, service: &str, timeout: Duration) -> bool {
    let Ok(endpoint) = Endpoint::from_shared(endpoint.to_owned()) else {
        return false;
    };
    probe(endpoint, service, timeout).await
}

/// Whether `service` of the peer `config` names (TLS as configured) answers SERVING within
/// `timeout` at one of its addresses at least (a DNS name's every address is asked).
pub async fn peer_is_serving(config: &GrpcClientConfig, service: &str, timeout: Duration) -> bool {
    let Ok(targets) = targets(config) else {
        return false;
    };
    let found = addresses(config, &targets).await;
    let checks = found.into_values().map(|e| probe(e, service, timeout));
    futures::future::join_all(checks)
        .await
        .into_iter()
        .any(|up| up)
}

/// Whether `service` at `endpoint` answers SERVING within `timeout`, on a connection of its own.
pub(crate) async fn probe(endpoint: Endpoint, service: &str, timeout: Duration) -> bool {
    let check = async {
        let channel = endpoint.connect_timeout(timeout).connect().await.ok()?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .ok()?;
        Some(response.into_inner().status == ServingStatus::Serving as i32)
    };
    tokio::time::timeout(timeout, check)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Polls until `service` reports SERVING, or gives up after `within`.
pub async fn wait_until_serving(
    endpoint: &str,
    service: &str,
    within: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if is_serving(endpoint, service, Duration::from_millis(500)).await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{service} at {endpoint} did not report SERVING within {within:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
