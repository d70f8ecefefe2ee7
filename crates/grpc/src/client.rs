//! One way to call a peer: timeouts, deadline propagation and trace context on every request;
//! TLS when the endpoint is `https://` ([`crate::tls`]); and when the endpoint names several
//! addresses or a DNS name (a Kubernetes headless Service), calls spread over every replica
//! that reports SERVING ([`crate::balance`]).

use std::time::Duration;

use tokio::time::Instant;
use tonic::{
    Request, Status,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

use futures::future::BoxFuture;
use healthpoints_auth::JwksSource;
use healthpoints_errors::ApiError;
use healthpoints_proto::identity::v1::{
    GetJwksRequest, Jwk, identity_service_client::IdentityServiceClient,
};

use crate::current_deadline;
use crate::target::targets;
pub use crate::target::{GrpcClientConfig, InvalidEndpoint};

/// A channel whose requests carry our deadline and trace context.
pub type PeerChannel = InterceptedService<Channel, Propagate>;

/// Builds a lazily-connecting channel: start-up order between services does not matter, and a
/// peer that is down fails calls with UNAVAILABLE until it comes back. A peer of several
/// addresses, or of a DNS name, is balanced ([`crate::balance`]).
pub fn connect(config: &GrpcClientConfig) -> Result<PeerChannel, InvalidEndpoint> {
    let targets = targets(config)?;
    let channel = match targets.as_slice() {
        [one] if !one.resolves() => one.endpoint(config, &one.host)?.connect_lazy(),
        _ => crate::balance::spread(config, targets)?,
    };
    Ok(InterceptedService::new(
        channel,
        Propagate {
            request_timeout: Duration::from_millis(config.request_timeout_ms),
        },
    ))
}

/// Sets `grpc-timeout` to the smaller of our own bound and what is left of the caller's
/// deadline, and injects the current trace context.
#[derive(Clone, Debug)]
pub struct Propagate {
    request_timeout: Duration,
}

impl Interceptor for Propagate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let mut timeout = self.request_timeout;
        if let Some(deadline) = current_deadline() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Status::deadline_exceeded(
                    "deadline passed before the call was made",
                ));
            }
            timeout = timeout.min(left);
        }
        request.set_timeout(timeout);
        healthpoints_telemetry::inject(request.metadata_mut().as_mut());
        Ok(request)
    }
}

/// identity's `GetJwks`, as the key source of a service's token [`Verifier`].
///
/// [`Verifier`]: healthpoints_auth::Verifier
#[derive(Clone, Debug)]
pub struct RemoteJwks {
    client: IdentityServiceClient<PeerChannel>,
}

impl RemoteJwks {
    pub fn new(channel: PeerChannel) -> Self {
        Self {
            client: IdentityServiceClient::new(channel),
        }
    }
}

impl JwksSource for RemoteJwks {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<Jwk>, ApiError>> {
        let mut client = self.client.clone();
        Box::pin(async move {
            client
                .get_jwks(GetJwksRequest {})
                .await
                .map(|r| r.into_inner().keys)
                .map_err(|s| ApiError::from_status(&s))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc_layer::DEADLINE;

    fn timeout_sent(request: &Request<()>) -> Option<String> {
        request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    #[tokio::test(start_paused = true)]
    async fn calls_carry_the_smaller_of_our_bound_and_the_callers_deadline() {
        let mut propagate = Propagate {
            request_timeout: Duration::from_secs(5),
        };
        // No caller deadline: our own bound.
        let sent = propagate.call(Request::new(())).unwrap();
        assert_eq!(timeout_sent(&sent).as_deref(), Some("5000000u"));
        // A caller with 300 ms left: 300 ms, not 5 s.
        let left = DEADLINE
            .scope(Some(Instant::now() + Duration::from_millis(300)), async {
                propagate.call(Request::new(())).unwrap()
            })
            .await;
        assert_eq!(timeout_sent(&left).as_deref(), Some("300000u"));
        // A caller with a minute left: still our own bound.
        let long = DEADLINE
            .scope(Some(Instant::now() + Duration::from_secs(60)), async {
                propagate.call(Request::new(())).unwrap()
            })
            .await;
        assert_eq!(timeout_sent(&long).as_deref(), Some("5000000u"));
        // A caller whose deadline has passed: the call is not made at all.
        let passed = DEADLINE
            .scope(Some(Instant::now()), async {
                propagate.call(Request::new(()))
            })
            .await;
        assert_eq!(passed.unwrap_err().code(), tonic::Code::DeadlineExceeded);
    }

    #[test]
    fn an_endpoint_that_is_no_uri_is_refused_by_name() {
        let error = connect(&GrpcClientConfig::new("not a uri")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "peer endpoint `not a uri`: not a URI such as http://host:50051"
        );
    }
}
