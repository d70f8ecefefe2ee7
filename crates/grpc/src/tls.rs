//! gRPC over TLS between services (rustls), mutual TLS optional: a district mall on its own
//! network calls the city's identity and ledger this way, and the city's gateway calls the
//! district mall. Certificates and keys are PEM files (a Kubernetes Secret mounted as files);
//! they are read when the server binds or the client is built, so a bad path stops start-up
//! with the key that names it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// TLS of a gRPC server (`grpc.tls.*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// PEM certificate chain the server presents.
    pub cert_file: PathBuf,
    /// PEM private key of that certificate.
    pub key_file: PathBuf,
    /// PEM CA bundle: when set, every client must present a certificate it signed (mutual
    /// TLS), and a connection without one is refused.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// TLS of calls to one peer (`<peer>.tls.*`), used when its endpoint is `https://`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// PEM CA bundle the peer's certificate must chain to; absent: the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM certificate presented to the peer (mutual TLS), with `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The name the peer's certificate must carry, when it is not the endpoint's host.
    #[serde(default)]
    pub domain: Option<String>,
}

/// Makes aws-lc-rs the process's rustls provider unless one is installed. When the workspace's
/// crates enable both of rustls's providers (sea-orm's driver brings ring), rustls cannot pick
/// one by itself and would panic at the first handshake.
fn ensure_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn read(what: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

impl ServerTls {
    /// The server's TLS configuration, its files read.
    pub fn load(&self) -> Result<ServerTlsConfig, String> {
        ensure_provider();
        let identity = Identity::from_pem(
            read("grpc.tls.cert_file", &self.cert_file)?,
            read("grpc.tls.key_file", &self.key_file)?,
        );
        let mut config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.client_ca_file {
            config =
                config.client_ca_root(Certificate::from_pem(read("grpc.tls.client_ca_file", ca)?));
        }
        Ok(config)
    }
}

impl ClientTls {
    /// The client's TLS configuration for a peer whose host is `host`, its files read.
    pub fn load(&self, host: &str) -> Result<ClientTlsConfig, String> {
        ensure_provider();
        let mut config = ClientTlsConfig::new()
            .domain_name(self.domain.clone().unwrap_or_else(|| host.to_owned()))
            .assume_http2(true);
        match &self.ca_file {
            Some(ca) => {
                config = config.ca_certificate(Certificate::from_pem(read("tls.ca_file", ca)?));
            }
            None => config = config.with_native_roots(),
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                config = config.identity(Identity::from_pem(
                    read("tls.cert_file", cert)?,
                    read("tls.key_file", key)?,
                ));
            }
            (None, None) => {}
            _ => return Err("tls.cert_file and tls.key_file go together".to_owned()),
        }
        Ok(config)
    }
}
