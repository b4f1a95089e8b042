//! Starting and stopping the server.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vigil_core::model::Site;

use crate::ServerConfig;
use crate::api::{self, AppState};
use crate::db::{Database, sites};
use crate::error::ServerError;
use crate::store::ServerStore;
use crate::tls::{ServerTls, TlsListener};

/// The time [`RunningServer::shutdown`] waits for open requests before it drops their
/// connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A server running on a tokio runtime.
///
/// Dropping the handle also stops the server, but without waiting for it. Call
/// [`RunningServer::shutdown`] to wait.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    database: PathBuf,
    /// Whether the server speaks TLS, which makes its URL `https`.
    tls: bool,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Returns the address the server listens on, with the real port when 0 was requested.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the base URL of the server, such as `http://127.0.0.1:8080` or
    /// `https://127.0.0.1:8443`, without a trailing slash.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Returns the path of the database file.
    pub fn database(&self) -> &Path {
        &self.database
    }

    /// Returns the path of an attachment's stored encrypted stream; the file exists once
    /// the first piece arrived.
    pub fn attachment_path(&self, id: uuid::Uuid) -> PathBuf {
        api::attachments::attachment_file(&attachments_dir(&self.database), id)
    }

    /// Opens a read-only connection to the server's database. See [`ServerStore`].
    pub fn store(&self) -> Result<ServerStore, ServerError> {
        ServerStore::open(&self.database)
    }

    /// Stops accepting connections, waits for the requests in progress to finish, and
    /// returns once the listening socket is closed, so a new server can bind the same
    /// address at once. Connections still open after [`SHUTDOWN_GRACE`] are dropped.
    ///
    /// # Errors
    ///
    /// [`ServerError::Serve`] if the server had stopped with an I/O error, and
    /// [`ServerError::Task`] if its task panicked.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.shutdown_within(SHUTDOWN_GRACE).await
    }

    /// Works as [`RunningServer::shutdown`], but drops the connections still open after
    /// `grace`.
    ///
    /// # Errors
    ///
    /// As for [`RunningServer::shutdown`].
    pub async fn shutdown_within(mut self, grace: Duration) -> Result<(), ServerError> {
        // The receiver is gone only if the server task already ended, which `task` reports.
        let _ = self.stop.send(());

        let result = match tokio::time::timeout(grace, &mut self.task).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                    "connections were still open after the grace period; dropping them"
                );
                self.task.abort();
                Ok((&mut self.task).await.unwrap_or(Ok(())))
            }
        };
        tracing::info!(addr = %self.addr, "vigil-server stopped");

        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(ServerError::Serve(error)),
            Err(error) => Err(ServerError::Task(error.to_string())),
        }
    }
}

/// Opens the database, stores the configured sites, binds `addr` (port 0 picks a free
/// port) and serves requests on a task of the current tokio runtime.
///
/// # Errors
///
/// [`ServerError::InvalidConfig`] for an empty enrollment code or an invalid site list,
/// [`ServerError::Bind`] if the address cannot be bound, and the database errors of
/// [`ServerError`] if the database cannot be opened or upgraded.
pub async fn start(config: ServerConfig, addr: SocketAddr) -> Result<RunningServer, ServerError> {
    start_with_tls(config, addr, None).await
}

/// Works as [`start`], and serves HTTPS with `tls` when it is set. Without TLS the server
/// only listens on a loopback address, because device tokens would otherwise cross the
/// network in clear.
///
/// # Errors
///
/// As [`start`], and [`ServerError::InvalidConfig`] for plain HTTP on an address that is
/// not loopback.
pub async fn start_with_tls(
    config: ServerConfig,
    addr: SocketAddr,
    tls: Option<ServerTls>,
) -> Result<RunningServer, ServerError> {
    validate(&config)?;
    check_plain_http(addr, tls.is_some())?;

    let database = open_database(config.database.clone(), config.sites).await?;
    let listener =
        TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind { addr, source })?;

    let state = AppState {
        db: database,
        enrollment_code: Arc::from(config.enrollment_code),
        tag_keys: Arc::from(config.tag_keys),
        operator_token: config.operator_token.map(Arc::from),
        sealing_key: config.sealing_key,
        nonces: Default::default(),
        attachments_dir: Arc::from(attachments_dir(&config.database)),
        attachment_writes: Default::default(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    // A dropped sender also stops the server.
    let stopped = async {
        let _ = stopped.await;
    };
    let router = api::router(state);
    let task = match &tls {
        Some(tls) => {
            let listener = TlsListener::new(listener, tls);
            let server = axum::serve(listener, router).with_graceful_shutdown(stopped);
            tokio::spawn(async move { server.await })
        }
        None => {
            let server = axum::serve(listener, router).with_graceful_shutdown(stopped);
            tokio::spawn(async move { server.await })
        }
    };

    let tls = tls.is_some();
    tracing::info!(%addr, tls, database = %config.database.display(), "vigil-server started");
    Ok(RunningServer { addr, database: config.database, tls, stop, task })
}

/// Rejects plain HTTP on an address other hosts can reach, and warns about it on loopback.
fn check_plain_http(addr: SocketAddr, tls: bool) -> Result<(), ServerError> {
    if tls {
        return Ok(());
    }
    if !addr.ip().is_loopback() {
        return Err(ServerError::InvalidConfig(format!(
            "plain HTTP on {addr} would send device tokens in clear; give a TLS certificate \
             and key (vigil serve --tls-cert --tls-key) or listen on 127.0.0.1"
        )));
    }
    tracing::warn!(%addr, "serving plain HTTP without TLS; use it only for local tests");
    Ok(())
}

/// Returns the folder of the attachments' encrypted streams: next to the database file,
/// with the extension `attachments`.
pub(crate) fn attachments_dir(database: &Path) -> PathBuf {
    database.with_extension("attachments")
}

/// Runs the server until Ctrl-C or, on Unix, SIGTERM (what service managers and
/// `Process.destroy()` send), then shuts it down gracefully.
///
/// # Errors
///
/// The errors of [`start`] and [`RunningServer::shutdown`], and [`ServerError::Signal`] if
/// the signal handlers cannot be installed (the server is then stopped at once).
pub async fn serve(config: ServerConfig, addr: SocketAddr) -> Result<(), ServerError> {
    serve_with_tls(config, addr, None).await
}

/// Works as [`serve`], and serves HTTPS with `tls` when it is set.
///
/// # Errors
///
/// As [`serve`] and [`start_with_tls`].
pub async fn serve_with_tls(
    config: ServerConfig,
    addr: SocketAddr,
    tls: Option<ServerTls>,
) -> Result<(), ServerError> {
    let server = start_with_tls(config, addr, tls).await?;
    tracing::info!(url = server.url(), "serving; press Ctrl-C to stop");

    let signal = stop_signal().await;
    match &signal {
        Ok(name) => tracing::info!(signal = name, "received a stop signal; shutting down"),
        Err(error) => tracing::error!(%error, "failed to listen for stop signals; shutting down"),
    }

    server.shutdown().await?;
    signal.map(|_| ()).map_err(ServerError::Signal)
}

/// Waits for Ctrl-C or SIGTERM and returns the signal's name.
#[cfg(unix)]
async fn stop_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};

    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        interrupt = tokio::signal::ctrl_c() => interrupt.map(|()| "SIGINT"),
        _ = terminate.recv() => Ok("SIGTERM"),
    }
}

/// Waits for Ctrl-C and returns the signal's name.
#[cfg(not(unix))]
async fn stop_signal() -> std::io::Result<&'static str> {
    tokio::signal::ctrl_c().await.map(|()| "Ctrl-C")
}

/// Checks what SQLite and the protocol cannot check later.
fn validate(config: &ServerConfig) -> Result<(), ServerError> {
    if config.enrollment_code.is_empty() {
        return Err(ServerError::InvalidConfig(
            "enrollment_code is empty, which would let anyone enroll; set a code".to_owned(),
        ));
    }

    let mut ids = HashSet::new();
    for site in &config.sites {
        if site.id.is_empty() {
            return Err(ServerError::InvalidConfig("a site has an empty id".to_owned()));
        }
        if !ids.insert(site.id.as_str()) {
            return Err(ServerError::InvalidConfig(format!("site id {:?} is repeated", site.id)));
        }
        check_finite(site)?;
    }
    Ok(())
}

/// Rejects NaN and infinite numbers, which JSON cannot carry to a device.
fn check_finite(site: &Site) -> Result<(), ServerError> {
    let points = site.perimeter.iter().chain(site.checkpoints.iter().map(|c| &c.position));
    let coordinates = points.flat_map(|point| [point.latitude, point.longitude]);
    let radii = site.checkpoints.iter().map(|checkpoint| checkpoint.radius_m);

    if coordinates.chain(radii).all(f64::is_finite) {
        Ok(())
    } else {
        Err(ServerError::InvalidConfig(format!(
            "site {:?} has a coordinate or radius that is not a finite number",
            site.id
        )))
    }
}

/// Opens the database and stores the sites on the blocking thread pool.
async fn open_database(path: PathBuf, sites: Vec<Site>) -> Result<Arc<Database>, ServerError> {
    let task = tokio::task::spawn_blocking(move || {
        let database = Database::open(&path)?;
        let changed = sites::upsert_all(&mut database.lock(), &sites)?;

        tracing::info!(configured = sites.len(), changed, "stored the configured sites");
        Ok::<_, ServerError>(database)
    });

    let database = task.await.map_err(|error| ServerError::Task(error.to_string()))??;
    Ok(Arc::new(database))
}
