//! The passphrase that protects the device store a command creates.

use std::path::Path;
use std::sync::Arc;

use vigil_core::crypto::{KeyEncryptionKey, PassphraseKek};
use zeroize::Zeroizing;

use crate::error::CliError;

/// Builds the key-encryption key of a device store: from the first line of
/// `passphrase_file` when given, otherwise from a random passphrase that lives only as long
/// as the command, which suits the throw-away stores of `demo` and `replay`.
///
/// # Errors
///
/// [`CliError::Input`] if the file cannot be read or its first line is empty.
pub fn key_encryption_key(
    passphrase_file: Option<&Path>,
) -> Result<Arc<dyn KeyEncryptionKey>, CliError> {
    let passphrase = match passphrase_file {
        Some(path) => read(path)?,
        None => Zeroizing::new(format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4())),
    };
    Ok(Arc::new(PassphraseKek::new(&passphrase)))
}

fn read(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|error| {
            CliError::input(path, format!("cannot read the passphrase: {error}"))
        })?);
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(CliError::input(path, "the first line, the passphrase, is empty"));
    }
    Ok(Zeroizing::new(line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrase_file_first_line_is_used() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("passphrase.txt");
        std::fs::write(&path, "correct horse\nignored second line\n").unwrap();
        let (_, wrapped) = vigil_core::crypto::WrappedDataKey::generate(
            key_encryption_key(Some(&path)).unwrap().as_ref(),
        )
        .unwrap();

        let same = PassphraseKek::new("correct horse");
        assert!(wrapped.unwrap(&same).is_ok(), "the first line alone is the passphrase");
    }

    #[test]
    fn empty_passphrase_file_is_rejected() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("passphrase.txt");
        std::fs::write(&path, "\nsecond line\n").unwrap();

        let error = key_encryption_key(Some(&path)).unwrap_err();

        assert!(matches!(error, CliError::Input { .. }), "{error:?}");
    }

    #[test]
    fn missing_passphrase_file_is_rejected() {
        let folder = tempfile::tempdir().unwrap();

        let error = key_encryption_key(Some(&folder.path().join("missing.txt"))).unwrap_err();

        assert!(matches!(error, CliError::Input { .. }), "{error:?}");
    }
}
