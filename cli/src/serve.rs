//! `vigil serve`: the reference SOC server as a process, until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use vigil_core::checkin::TagKey;
use vigil_server::ServerConfig;

use crate::error::{CliError, Context as _};

/// Options of the server process.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The SQLite database file; it is created if missing.
    pub database: PathBuf,
    /// The code devices must send to enroll.
    pub enrollment_code: String,
    /// A GeoJSON file with the site to assign to every device.
    pub site: Option<PathBuf>,
    /// The id of the GeoJSON polygon feature to use as the perimeter.
    pub perimeter_id: Option<String>,
    /// The public keys of the SOC's checkpoint tag signers.
    pub tag_keys: Vec<TagKey>,
    /// The operator endpoints' bearer token; `None` turns them off.
    pub operator_token: Option<String>,
    /// The PEM certificate chain and private key files to serve HTTPS with; `None` serves
    /// plain HTTP on loopback only.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Runs the server until Ctrl-C.
///
/// # Errors
///
/// [`CliError::Input`] for an invalid site file; [`CliError::Server`] for an unusable TLS
/// certificate or key, and when the server cannot start (for example the address is in
/// use) or fails while running.
pub async fn run(options: ServeOptions) -> Result<(), CliError> {
    let sites = match &options.site {
        Some(path) => vec![crate::site::load(path, options.perimeter_id.as_deref())?],
        None => {
            tracing::warn!("no --site given; enrolled devices get no site assignment");
            Vec::new()
        }
    };
    for site in &sites {
        tracing::info!(site = %site.id, checkpoints = site.checkpoints.len(), "assigning a site to every device");
    }

    let key_path = vigil_server::sealing_key_path(&options.database);
    let sealing_key = vigil_server::load_or_create_sealing_key(&key_path)
        .context("loading the SOC sealing key")?;
    let config = ServerConfig {
        sealing_key: std::sync::Arc::new(sealing_key),
        database: options.database,
        enrollment_code: options.enrollment_code,
        sites,
        tag_keys: options.tag_keys,
        operator_token: options.operator_token,
    };
    let tls = match &options.tls {
        Some((certificate, key)) => Some(
            vigil_server::ServerTls::from_pem_files(certificate, key)
                .context("loading the TLS certificate")?,
        ),
        None => None,
    };
    vigil_server::serve_with_tls(config, options.listen, tls).await.context("running the server")
}
