//! A service's own identity when it calls its peers: client credentials exchanged with identity
//! for a short-lived access token, kept until shortly before it expires.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use healthpoints_config::Secret;
use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_proto::identity::v1::{
    IssueClientTokenRequest, identity_service_client::IdentityServiceClient,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tonic::Request;

use crate::client::PeerChannel;

/// The client id and secret a service was deployed with (provisioned in identity's
/// `service_clients`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceCredentials {
    pub client_id: String,
    pub client_secret: Secret<String>,
}

/// A token is renewed this long before it expires, so a call never leaves with one that lapses
/// on the way.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// Obtains and caches this service's access token; cheap to clone.
#[derive(Clone, Debug)]
pub struct ServiceToken {
    identity: IdentityServiceClient<PeerChannel>,
    credentials: Arc<ServiceCredentials>,
    cached: Arc<Mutex<Option<(String, Instant)>>>,
}

impl ServiceToken {
    pub fn new(identity: PeerChannel, credentials: ServiceCredentials) -> Self {
        Self {
            identity: IdentityServiceClient::new(identity),
            credentials: Arc::new(credentials),
            cached: Arc::new(Mutex::new(None)),
        }
    }

    /// The current token, fetched from identity when there is none or it is about to expire.
    pub async fn token(&self) -> Result<String, ApiError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let response = self
            .identity
            .clone()
            .issue_client_token(IssueClientTokenRequest {
                client_id: self.credentials.client_id.clone(),
                client_secret: self.credentials.client_secret.expose().clone(),
                client_address: String::new(),
                scopes: Vec::new(),
            })
            .await
            .map_err(|s| ApiError::from_status(&s))?
            .into_inner();
        let pair = response.tokens.ok_or_else(|| {
            ApiError::new(ErrorCode::Unavailable, "identity answered without a token")
        })?;
        let lifetime = Duration::from_secs(u64::from(pair.expires_in));
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE).max(lifetime / 2);
        *cached = Some((pair.access_token.clone(), renew_at));
        Ok(pair.access_token)
    }

    /// Forgets the cached token (after a peer refused it), so the next call fetches a new one.
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    /// Calls `peer` with this service's token: `rpc` gets a clone of `client` and the request.
    /// A peer that refuses the token (UNAUTHENTICATED) makes it forgotten, so the next call
    /// fetches a fresh one. A failure to get a token at all is reported as [`TOKEN_PEER`]'s.
    pub async fn call<C: Clone, T, R>(
        &self,
        peer: &'static str,
        client: &C,
        message: T,
        rpc: impl AsyncFnOnce(C, Request<T>) -> Result<tonic::Response<R>, tonic::Status>,
    ) -> Result<R, PeerError> {
        let request = self.request(message).await.map_err(|error| PeerError {
            peer: TOKEN_PEER,
            error,
        })?;
        match rpc(client.clone(), request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => {
                let error = ApiError::from_status(&status);
                if error.code == ErrorCode::Unauthenticated {
                    self.forget().await;
                }
                Err(PeerError { peer, error })
            }
        }
    }

    /// A request carrying this service's token.
    pub async fn request<T>(&self, message: T) -> Result<Request<T>, ApiError> {
        let token = self.token().await?;
        let mut request = Request::new(message);
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| ApiError::internal())?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

/// The peer named when no token could be had (identity's `IssueClientToken`).
pub const TOKEN_PEER: &str = "identity (service token)";

/// A call to a peer that failed: which peer, and its answer.
#[derive(Debug, Clone)]
pub struct PeerError {
    pub peer: &'static str,
    pub error: ApiError,
}

impl PeerError {
    /// Whether the same call may succeed later without a change on the caller's side: the peer
    /// was silent or busy, or refused the caller's credentials (an operator's fix).
    pub fn retryable(&self) -> bool {
        matches!(
            self.error.code,
            ErrorCode::Unavailable
                | ErrorCode::DeadlineExceeded
                | ErrorCode::RateLimited
                | ErrorCode::Unauthenticated
                | ErrorCode::InvalidCredentials
        )
    }

    /// A sentence for the caller's error and logs; `caller` names the calling service.
    pub fn describe(&self, caller: &str) -> String {
        let peer = self.peer;
        match self.error.code {
            ErrorCode::Unavailable | ErrorCode::DeadlineExceeded | ErrorCode::RateLimited => {
                format!("{peer} did not answer")
            }
            ErrorCode::Unauthenticated | ErrorCode::InvalidCredentials => {
                format!("{peer} refused {caller}'s credentials (check credentials.client_secret)")
            }
            _ => format!("{peer} refused a call: {}", self.error.message),
        }
    }
}
