//! `vigil tls`: development certificates for `vigil serve --tls-cert --tls-key`, and the
//! SPKI pins that devices are configured with.

use std::io::Write as _;
use std::path::Path;

use crate::error::CliError;

/// The files `vigil tls dev-cert` writes into its folder.
pub const CA_FILE: &str = "ca.pem";
/// The server certificate chain, for `--tls-cert`.
pub const CHAIN_FILE: &str = "server-chain.pem";
/// The server's private key, for `--tls-key`.
pub const KEY_FILE: &str = "server-key.pem";

/// Generates a development CA and a server certificate for `names`, writes them to
/// [`CA_FILE`], [`CHAIN_FILE`] and [`KEY_FILE`] in `folder` (never overwriting a file)
/// and returns the SPKI pins of the server certificate and of the CA.
///
/// # Errors
///
/// [`CliError::Input`] when a file exists or cannot be written; [`CliError::Server`] for a
/// name that is not a host name or IP address.
pub fn dev_cert(folder: &Path, names: &[String]) -> Result<Vec<String>, CliError> {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let certificate = vigil_server::generate_dev_certificate(&names).map_err(|source| {
        CliError::Server { context: "generating the certificate".into(), source }
    })?;

    write_new(&folder.join(CA_FILE), &certificate.ca_pem, 0o644)?;
    write_new(&folder.join(CHAIN_FILE), &certificate.chain_pem, 0o644)?;
    write_new(&folder.join(KEY_FILE), &certificate.key_pem, 0o600)?;
    pins(&folder.join(CHAIN_FILE))
}

/// Returns the SPKI pins of the certificates in a PEM file, in file order.
///
/// # Errors
///
/// [`CliError::Input`] when the file cannot be read or contains no valid certificate.
pub fn pins(path: &Path) -> Result<Vec<String>, CliError> {
    let pem = std::fs::read_to_string(path)
        .map_err(|error| CliError::input(path, format!("cannot be read: {error}")))?;
    vigil_core::sync::spki_pins_from_pem(&pem)
        .map_err(|error| CliError::input(path, error.to_string()))
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|error| {
        CliError::input(path, format!("cannot be created ({error}); choose an empty folder"))
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|error| CliError::input(path, format!("could not be written: {error}")))
}
