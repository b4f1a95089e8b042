//! TLS for the reference server: a certificate chain and key from PEM files, served with
//! rustls and its `ring` provider.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::ServerError;

/// Maximum time a client may take to finish the TLS handshake before its connection is
/// dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate and key the server presents.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<tokio_rustls::rustls::ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Loads a PEM certificate chain (the server's certificate first) and a PEM private key
    /// (PKCS #8, PKCS #1 or SEC1).
    ///
    /// # Errors
    ///
    /// [`ServerError::InvalidConfig`] if a file cannot be read or contains no usable
    /// certificate or key, or if the key does not match the certificate.
    pub fn from_pem_files(certificate: &Path, key: &Path) -> Result<Self, ServerError> {
        let chain = read(certificate)?;
        let key = read(key)?;
        Self::from_pem(&chain, &key)
    }

    /// Works as [`ServerTls::from_pem_files`] on PEM text already in memory.
    ///
    /// # Errors
    ///
    /// As [`ServerTls::from_pem_files`].
    pub fn from_pem(certificate_chain: &[u8], key: &[u8]) -> Result<Self, ServerError> {
        let chain = CertificateDer::pem_slice_iter(certificate_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| invalid(format!("unreadable TLS certificate PEM: {error}")))?;
        if chain.is_empty() {
            return Err(invalid("the TLS certificate file contains no CERTIFICATE block"));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|error| invalid(format!("unreadable TLS private key PEM: {error}")))?;

        // NOTE: rustls 0.23.48 deprecates the ring provider because it lacks the
        // post-quantum X25519MLKEM768 key exchange; ring is kept because aws-lc-rs needs a
        // C/CMake build.
        #[allow(deprecated)]
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| invalid(format!("TLS setup failed: {error}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|error| invalid(format!("the TLS certificate or key is invalid: {error}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];

        Ok(Self { config: Arc::new(config) })
    }
}

/// A listener that accepts TCP connections and completes their TLS handshakes on separate
/// tasks, so that one slow client does not hold up the others.
pub(crate) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, tls: &ServerTls) -> Self {
        Self { tcp, acceptor: TlsAcceptor::from(tls.config.clone()), handshakes: JoinSet::new() }
    }

    fn start_handshake(&mut self, stream: TcpStream, peer: SocketAddr) {
        let acceptor = self.acceptor.clone();
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => Some((stream, peer)),
                Ok(Err(error)) => {
                    tracing::info!(%error, "a TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::info!("a TLS handshake timed out");
                    None
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, peer)) => self.start_handshake(stream, peer),
                    Err(error) => {
                        // As axum's own TCP listener does: errors such as too many open
                        // files pass, so wait a little instead of spinning.
                        tracing::error!(%error, "failed to accept a connection");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|error| {
        invalid(format!("failed to read {}: {error}", PathBuf::from(path).display()))
    })
}

fn invalid(message: impl Into<String>) -> ServerError {
    ServerError::InvalidConfig(message.into())
}
