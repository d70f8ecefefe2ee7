//! One way to run a service. A service says what it is ([`Service`]: its names, how it is
//! prepared and checked, its routes and chores); [`Host`] does the rest the same way for every
//! one: bind (port 0 works), serve at once with health `NOT_SERVING`, prepare the domain in the
//! background and report `SERVING`, run the chores, and drain at shutdown. The binaries, the
//! `healthpoints up` mesh and the tests all start services through it.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use futures::future::BoxFuture;
use healthpoints_auth::{Principal, Verifier, VerifierConfig};
use tonic::{Request, Status, service::Routes};

use crate::{
    GrpcServer, GrpcServerConfig, RemoteJwks, Shutdown,
    client::{self, GrpcClientConfig},
    ready::{Ready, become_ready},
};

/// Background work of a service, ending at shutdown (see [`every`]).
pub type Chore = BoxFuture<'static, ()>;

/// What a service brings to its [`Host`]. Implemented by the type its handlers work on (the
/// service struct with its store and peers), in the service's `lib.rs`.
pub trait Service: Send + Sync + Sized + 'static {
    /// The short name in logs and span names (`ledger`).
    const NAME: &'static str;
    /// How callers are told what is still starting ("the ledger").
    const TITLE: &'static str;
    /// The fully-qualified gRPC service (the generated `SERVICE_NAME`): its health is reported
    /// and reflection lists it.
    const GRPC_SERVICE: &'static str;
    /// The service's configuration.
    type Config: Clone + Send + Sync + serde::Serialize + 'static;

    /// Where it listens.
    fn listen(config: &Self::Config) -> &GrpcServerConfig;

    /// Its logs and traces.
    fn telemetry(config: &Self::Config) -> &healthpoints_telemetry::TelemetryConfig;

    /// Checks what must be right before binding (secrets, bootstrap accounts) and settles what
    /// is read once (a key file): an error here stops the start instead of retrying for ever.
    /// The configuration it returns is the one the service runs with.
    fn resolve(config: Self::Config) -> anyhow::Result<Self::Config> {
        Ok(config)
    }

    /// How bearer tokens on incoming calls are verified (a peer of identity uses identity's
    /// published keys: [`identity_keys`]).
    fn verifier(config: &Self::Config, ready: &Ready<Self>) -> anyhow::Result<Verifier>;

    /// Connects (and migrates) the database and the peers. Retried every 2 s while it fails.
    fn prepare(config: Self::Config) -> impl Future<Output = Result<Arc<Self>, String>> + Send;

    /// Whether its dependencies answer; asked every 5 s once ready, and health follows.
    fn healthy(self: Arc<Self>) -> impl Future<Output = bool> + Send;

    /// Its gRPC routes; handlers answer UNAVAILABLE until `ready` is filled. Messages up to
    /// `max_message_bytes` both ways (the generated server owns message decoding).
    fn routes(ready: Ready<Self>, max_message_bytes: usize) -> Routes;

    /// Background work that runs while serving (sweepers), ending at shutdown. None by default.
    fn chores(_ready: Ready<Self>, _config: &Self::Config, _shutdown: Shutdown) -> Vec<Chore> {
        Vec::new()
    }
}

/// Tokens verified against identity's published keys, fetched over gRPC and cached.
pub fn identity_keys(
    identity: &GrpcClientConfig,
    config: VerifierConfig,
) -> anyhow::Result<Verifier> {
    Ok(Verifier::new(
        config,
        RemoteJwks::new(client::connect(identity)?),
    ))
}

/// The caller's principal, or UNAUTHENTICATED when the call carried no valid token.
pub fn caller<T>(request: &Request<T>) -> Result<Principal, Status> {
    healthpoints_auth::principal(request).map_err(Status::from)
}

/// A chore for [`Service::chores`]: `tick` every `period` once the service is ready (a tick
/// before that is skipped), until shutdown. A tick that overruns delays the next one.
pub fn every<S, F, Fut>(ready: Ready<S>, period: Duration, mut shutdown: Shutdown, tick: F) -> Chore
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    Box::pin(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {
                    if let Some(service) = ready.peek() {
                        tick(service.clone()).await;
                    }
                }
                () = shutdown.wait() => return,
            }
        }
    })
}

/// A service as its own process, after its binary has loaded the configuration: with
/// `--dump-config` (`dump`) prints it, secrets redacted; otherwise starts telemetry, binds and
/// serves until SIGINT or SIGTERM, then drains.
pub async fn run_process<S: Service>(config: S::Config, dump: bool) -> anyhow::Result<()> {
    if dump {
        println!("{}", healthpoints_config::dump(&config));
        return Ok(());
    }
    let _telemetry = healthpoints_telemetry::init(S::NAME, S::telemetry(&config))?;
    let app = Host::<S>::build(config).await?;
    tracing::info!(service = S::NAME, addr = %app.local_addr(), "listening");
    app.run_until_stopped(Shutdown::on_signals()).await
}

/// A bound service, not yet serving.
pub struct Host<S: Service> {
    server: GrpcServer,
    config: S::Config,
    ready: Ready<S>,
}

impl<S: Service> std::fmt::Debug for Host<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("service", &S::NAME)
            .field("addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl<S: Service> Host<S> {
    /// Checks the configuration and binds the listener; the database is connected when serving
    /// starts.
    pub async fn build(config: S::Config) -> anyhow::Result<Self> {
        let config = S::resolve(config)?;
        let listen = S::listen(&config);
        let server = GrpcServer::bind(S::NAME, S::GRPC_SERVICE, listen)
            .await
            .with_context(|| format!("binding {} gRPC on {}", S::NAME, listen.addr))?;
        Ok(Self {
            server,
            config,
            ready: Ready::new(S::TITLE),
        })
    }

    /// The address actually bound (the real port when the configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Serves until `shutdown` fires, then drains.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let verifier = S::verifier(&self.config, &self.ready)?;
        let config = self.config.clone();
        let mut tasks = vec![tokio::spawn(become_ready(
            S::NAME,
            self.ready.clone(),
            self.server.health(),
            shutdown.clone(),
            move || S::prepare(config.clone()),
            S::healthy,
        ))];
        for chore in S::chores(self.ready.clone(), &self.config, shutdown.clone()) {
            tasks.push(tokio::spawn(chore));
        }
        let routes = S::routes(self.ready, self.server.max_message_bytes());
        let result = self.server.serve(routes, verifier, shutdown).await;
        for task in tasks {
            task.abort();
        }
        result.with_context(|| format!("{} gRPC server failed", S::NAME))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Ticks wait for readiness, then come every period; shutdown ends the chore. Paused time.
    #[tokio::test(start_paused = true)]
    async fn a_chore_waits_for_readiness_and_ends_at_shutdown() {
        let ticks = Arc::new(AtomicU32::new(0));
        let shutdown = Shutdown::new();
        let ready: Ready<u32> = Ready::new("svc");
        let counted = ticks.clone();
        let chore = tokio::spawn(every(
            ready.clone(),
            Duration::from_secs(10),
            shutdown.clone(),
            move |v: Arc<u32>| {
                let counted = counted.clone();
                async move {
                    assert_eq!(*v, 7);
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            },
        ));
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 0, "not ready: ticks skipped");
        ready.fill(Arc::new(7));
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 2, "at 30 and 40 s");
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(1), chore)
            .await
            .expect("the chore ends at shutdown")
            .unwrap();
    }
}
