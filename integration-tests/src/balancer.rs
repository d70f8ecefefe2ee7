//! A TCP load balancer on loopback, as a Kubernetes Service or a cloud load balancer stands in
//! front of the gateway's replicas: each new connection goes to the next replica in turn, or,
//! when that one refuses it (killed), to the one after. A connection to a replica that dies is
//! cut, as a real balancer's would be; the client's retry opens a new one. The backends can be
//! replaced while it runs ([`Balancer::route_to`]): what a failover manager does to the
//! address of a PostgreSQL primary when it promotes the standby.

use std::{
    net::SocketAddr,
    sync::{
        Arc, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::net::{TcpListener, TcpStream};

/// A running balancer; it stops when dropped. It runs on a thread of its own, so it keeps
/// serving while the test's runtime is busy or blocked (a database dropped at the end of a
/// test connects through it).
#[derive(Debug)]
pub struct Balancer {
    /// Where clients connect.
    pub addr: SocketAddr,
    backends: Arc<RwLock<Vec<SocketAddr>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Accepts connections and relays each to a backend.
async fn relay(listener: TcpListener, backends: Arc<RwLock<Vec<SocketAddr>>>) {
    let next = AtomicUsize::new(0);
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            // Out of file handles, say: wait rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let backends = backends.read().expect("never poisoned").clone();
        let first = next.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            for i in 0..backends.len() {
                let backend = backends[(first + i) % backends.len()];
                if let Ok(mut outbound) = TcpStream::connect(backend).await {
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    return;
                }
            }
        });
    }
}

impl Balancer {
    /// Listens on a free loopback port and spreads connections over `backends`.
    pub async fn start(backends: Vec<SocketAddr>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        listener
            .set_nonblocking(true)
            .expect("the listener can be non-blocking");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let backends = Arc::new(RwLock::new(backends));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = backends.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the balancer");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("a tokio listener");
                tokio::select! {
                    _ = stopped => {}
                    () = relay(listener, shared) => {}
                }
            });
        });
        Self {
            addr,
            backends,
            stop: Some(stop),
        }
    }

    /// New connections go to `backends` from now on.
    pub fn route_to(&self, backends: Vec<SocketAddr>) {
        *self.backends.write().expect("never poisoned") = backends;
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
