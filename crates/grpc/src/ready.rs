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
