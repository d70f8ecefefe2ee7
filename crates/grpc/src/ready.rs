//! Readiness the same way in every service: serve at once with health `NOT_SERVING`, prepare the
//! domain in the background (connect, migrate — retrying while the database is unreachable),
//! report `SERVING`, then keep health in step with a dependency check.

use std::{future::Future, sync::Arc, time::Duration};

use healthpoints_errors::{ApiError, ErrorCode};
use tokio::sync::OnceCell;
use tonic::Status;

use crate::{Health, Shutdown};

/// A service's domain once it is ready: empty while the database is being connected and
/// migrated. Handlers call [`Ready::get`], which answers UNAVAILABLE until then.
#[derive(Debug)]
pub struct Ready<T> {
    cell: Arc<OnceCell<Arc<T>>>,
    /// How callers are told what is not ready yet ("the ledger").
    title: &'static str,
}

impl<T> Clone for Ready<T> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
            title: self.title,
        }
    }
}

impl<T> Ready<T> {
    /// Empty; `title` names the service in the UNAVAILABLE message ("the ledger").
    pub fn new(title: &'static str) -> Self {
        Self {
            cell: Arc::new(OnceCell::new()),
            title,
        }
    }

    /// The domain, or UNAVAILABLE while the service is starting.
    pub fn get(&self) -> Result<&T, Status> {
        self.cell.get().map(AsRef::as_ref).ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unavailable,
                format!("{} is starting up; retry shortly", self.title),
            )
            .into()
        })
    }

    /// Fills the cell once; later calls change nothing.
    pub(crate) fn fill(&self, value: Arc<T>) {
        let _ = self.cell.set(value);
    }

    /// The domain if it is ready (background chores skip a tick until then).
    pub fn peek(&self) -> Option<&Arc<T>> {
        self.cell.get()
    }
}

/// Fills `ready` with what `prepare` builds (retrying every 2 s while it fails), reports SERVING,
/// then every 5 s asks `check` and flips health when the answer changes. Ends at shutdown.
pub async fn become_ready<T, P, PF, C, CF>(
    service: &'static str,
    ready: Ready<T>,
    health: Health,
    mut shutdown: Shutdown,
    prepare: P,
    check: C,
) where
    P: Fn() -> PF,
    PF: Future<Output = Result<Arc<T>, String>>,
    C: Fn(Arc<T>) -> CF,
    CF: Future<Output = bool>,
{
    let value = loop {
        match prepare().await {
            Ok(value) => break value,
            Err(e) => {
                tracing::warn!(service, error = %e, "not ready; retrying in 2s");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                    () = shutdown.wait() => return,
                }
            }
        }
    };
    ready.fill(value.clone());
    health.set_serving().await;
    tracing::info!(service, "ready");
    let mut serving = true;
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            () = shutdown.wait() => return,
        }
        let up = check(value.clone()).await;
        if up != serving {
            serving = up;
            if up {
                tracing::info!(service, "dependencies reachable again; SERVING");
                health.set_serving().await;
            } else {
                tracing::warn!(service, "a dependency is unreachable; NOT_SERVING");
                health.set_not_serving().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    };

    use tonic_health::{
        pb::{
            HealthCheckRequest, health_check_response::ServingStatus, health_server::Health as _,
        },
        server::{HealthReporter, HealthService},
    };

    use super::*;

    async fn status(health: &HealthService) -> i32 {
        health
            .check(tonic::Request::new(HealthCheckRequest {
                service: "svc".into(),
            }))
            .await
            .map_or(-1, |r| r.into_inner().status)
    }

    /// Preparation retries until it succeeds, then health is SERVING and follows the dependency
    /// check both ways; shutdown ends the task. Paused time: the 2 s and 5 s waits pass at once.
    #[tokio::test(start_paused = true)]
    async fn serving_after_preparation_then_in_step_with_dependencies() {
        let reporter = HealthReporter::new();
        let service = HealthService::from_health_reporter(reporter.clone());
        let health = Health {
            reporter,
            service: "svc",
        };
        health.set_not_serving().await;
        let cell = Ready::new("svc");
        let attempts = Arc::new(AtomicU32::new(0));
        let up = Arc::new(AtomicBool::new(true));
        let shutdown = Shutdown::new();
        let task = tokio::spawn(become_ready(
            "svc",
            cell.clone(),
            health,
            shutdown.clone(),
            {
                let attempts = attempts.clone();
                move || {
                    let n = attempts.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if n < 2 {
                            Err("the database is unreachable".to_owned())
                        } else {
                            Ok(Arc::new(n))
                        }
                    }
                }
            },
            {
                let up = up.clone();
                move |_: Arc<u32>| {
                    let up = up.load(Ordering::SeqCst);
                    async move { up }
                }
            },
        ));
        let serving = ServingStatus::Serving as i32;
        let not_serving = ServingStatus::NotServing as i32;

        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        assert_eq!(status(&service).await, not_serving, "not ready yet");
        assert!(cell.peek().is_none());
        assert_eq!(
            cell.get().map(|_| ()).unwrap_err().code(),
            tonic::Code::Unavailable
        );
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(attempts.load(Ordering::SeqCst), 3, "retried every 2 s");
        assert_eq!(status(&service).await, serving);
        assert_eq!(cell.get().ok().copied(), Some(2));

        up.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(status(&service).await, not_serving, "a dependency is down");
        up.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(status(&service).await, serving, "and back");

        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("the task ends at shutdown")
            .unwrap();
    }
}
