//! The SOC's sealing key on disk: 32 secret bytes in a file readable only by the server's
//! user.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use vigil_core::crypto::SocSealingKey;

use crate::error::ServerError;

/// Returns the path of the sealing key file beside a database: `server.db` keeps its key
/// in `server.db.sealing-key`.
pub fn sealing_key_path(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push(".sealing-key");
    database.with_file_name(name)
}

/// Loads the sealing key from `path`, or creates one there (permissions 0600 on Unix) if
/// the file does not exist.
///
/// # Errors
///
/// [`ServerError::InvalidConfig`] if the file cannot be read or written, or is not 32
/// bytes long.
pub fn load_or_create_sealing_key(path: &Path) -> Result<SocSealingKey, ServerError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = zeroize::Zeroizing::new(bytes);
            let secret: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                ServerError::InvalidConfig(format!(
                    "the sealing key file {} is {} bytes long, not 32; restore it from a \
                     backup, because a new key cannot open the records devices sealed to \
                     the old one",
                    path.display(),
                    bytes.len()
                ))
            })?;
            Ok(SocSealingKey::from_bytes(secret))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(error) => Err(ServerError::InvalidConfig(format!(
            "failed to read the sealing key file {}: {error}",
            path.display()
        ))),
    }
}

fn create(path: &Path) -> Result<SocSealingKey, ServerError> {
    let failed = |error: std::io::Error| {
        ServerError::InvalidConfig(format!(
            "failed to create the sealing key file {}: {error}",
            path.display()
        ))
    };
    let key = SocSealingKey::generate()
        .map_err(|error| ServerError::InvalidConfig(format!("sealing key: {error}")))?;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(key.to_bytes().as_ref()).map_err(failed)?;
    file.sync_all().map_err(failed)?;

    tracing::info!(path = %path.display(), "created the SOC sealing key");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_then_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = sealing_key_path(&dir.path().join("server.db"));
        assert_eq!(path, dir.path().join("server.db.sealing-key"));

        let created = load_or_create_sealing_key(&path).unwrap();
        let reloaded = load_or_create_sealing_key(&path).unwrap();
        assert_eq!(created.public_key(), reloaded.public_key());

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn short_key_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, [1u8; 31]).unwrap();
        assert!(matches!(load_or_create_sealing_key(&path), Err(ServerError::InvalidConfig(_))));
    }
}
