//! A clonable shutdown signal, fed by SIGINT/SIGTERM or by a test.

use tokio::sync::watch;

/// Resolves [`Shutdown::wait`] on every clone once shutdown starts.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
    tx: std::sync::Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal that fires only when [`Shutdown::trigger`] is called.
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            rx,
            tx: std::sync::Arc::new(tx),
        }
    }

    /// A signal that fires on the first SIGINT or SIGTERM; a second one exits the process at once.
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested; draining (signal again to exit at once)");
            trigger.trigger();
            wait_for_signal().await;
            tracing::warn!("second signal; exiting now");
            std::process::exit(130);
        });
        shutdown
    }

    /// Starts shutdown.
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    /// Whether shutdown has started.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits until shutdown starts.
    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|stopped| *stopped).await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger() {
        let shutdown = Shutdown::new();
        let mut a = shutdown.clone();
        let mut b = shutdown.clone();
        assert!(!shutdown.is_triggered());
        shutdown.trigger();
        a.wait().await;
        b.wait().await;
        assert!(b.is_triggered());
    }
}
