//! Readiness the same way in every service: serve at once with health `NOT_SERVING`, prepare the
//! domain in the background (connect, migrate — retrying while the database is unreachable),
//! report `SERVING`, then keep health in step with a dependency check.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::OnceCell;

use crate::{Health, Shutdown};

/// Fills `cell` with what `prepare` builds (retrying every 2 s while it fails), reports SERVING,
/// then every 5 s asks `check` and flips health when the answer changes. Ends at shutdown.
pub async fn become_ready<T, P, PF, C, CF>(
    service: &'static str,
    cell: Arc<OnceCell<Arc<T>>>,
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
    let ready = loop {
        match prepare().await {
            Ok(ready) => break ready,
            Err(e) => {
                tracing::warn!(service, error = %e, "not ready; retrying in 2s");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                    () = shutdown.wait() => return,
                }
            }
        }
    };
    let _ = cell.set(ready.clone());
    health.set_serving().await;
    tracing::info!(service, "ready");
    let mut serving = true;
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            () = shutdown.wait() => return,
        }
        let up = check(ready.clone()).await;
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
        let cell = Arc::new(OnceCell::new());
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
        assert!(cell.get().is_none());
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(attempts.load(Ordering::SeqCst), 3, "retried every 2 s");
        assert_eq!(status(&service).await, serving);
        assert_eq!(cell.get().map(|v| **v), Some(2));

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
