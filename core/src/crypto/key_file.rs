//! A key-encryption key kept in a file, for devices opened without a platform keystore.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::envelope::DATA_KEY_LEN;
use super::{CryptoError, DataKey, KeyEncryptionKey, fill_random};

const WRAP_CONTEXT: &[u8] = b"vigil/key-file-wrap/v1";

/// A random key-encryption key stored in a file of its own.
///
/// NOTE: a key file next to the database protects a copy of the database file alone
/// (a backup, a file sent to support), not a stolen phone whose whole data folder can be
/// read. Apps pass the platform keystore's KEK instead.
pub struct KeyFileKek {
    path: PathBuf,
    key: DataKey,
}

impl std::fmt::Debug for KeyFileKek {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("KeyFileKek").field("path", &self.path).finish_non_exhaustive()
    }
}

impl KeyFileKek {
    /// Reads the key at `path`, or creates it there (readable by the owner only on Unix)
    /// when the file does not exist.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Io`] if the file cannot be read or written, and
    /// [`CryptoError::Malformed`] if it does not hold a 32-byte key.
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Self, CryptoError> {
        let path = path.as_ref().to_path_buf();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => create(&path)?,
            Err(error) => return Err(error.into()),
        };
        if bytes.len() != DATA_KEY_LEN {
            return Err(CryptoError::Malformed(format!(
                "invalid key file {}: {} bytes, expected {DATA_KEY_LEN}; restore it from a backup or wipe the store",
                path.display(),
                bytes.len()
            )));
        }
        Ok(Self { key: DataKey::from_bytes(&bytes)?, path })
    }
}

/// Writes a new random key to `path`, failing if the file appeared meanwhile.
fn create(path: &Path) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut bytes = Zeroizing::new(vec![0u8; DATA_KEY_LEN]);
    fill_random(&mut bytes)?;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    Ok(bytes)
}

impl KeyEncryptionKey for KeyFileKek {
    fn id(&self) -> String {
        "key-file".to_string()
    }

    fn wrap(&self, data_key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.key.seal(data_key, WRAP_CONTEXT)
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.key.open(wrapped, WRAP_CONTEXT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::WrappedDataKey;

    #[test]
    fn key_file_is_created_once_and_reused() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.key");
        let first = KeyFileKek::open_or_create(&path).unwrap();
        let (_, wrapped) = WrappedDataKey::generate(&first).unwrap();

        let again = KeyFileKek::open_or_create(&path).unwrap();
        assert!(wrapped.unwrap(&again).is_ok());

        std::fs::write(&path, [0u8; 5]).unwrap();
        assert!(matches!(KeyFileKek::open_or_create(&path), Err(CryptoError::Malformed(_))));
    }
}
