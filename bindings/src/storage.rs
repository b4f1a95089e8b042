//! The health of the device store: corrupt databases moved aside.

use crate::{Vigil, VigilError};

/// A corrupt database file that Vigil moved aside and kept, after which it started a
/// fresh store.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QuarantinedDatabase {
    /// The path the corrupt file was moved to, in the same folder as the store.
    pub path: String,
    /// SQLite's description of the damage.
    pub reason: String,
}

impl From<&vigil_core::store::QuarantinedDatabase> for QuarantinedDatabase {
    fn from(quarantined: &vigil_core::store::QuarantinedDatabase) -> Self {
        Self { path: quarantined.path.display().to_string(), reason: quarantined.reason.clone() }
    }
}

#[uniffi::export]
impl Vigil {
    /// Returns the corrupt database that `open` moved aside, or null when the store was
    /// healthy. When it is set, tell the guard that earlier records stay on the device
    /// but were not synced, and offer to send the file to support.
    pub fn quarantined_at_open(&self) -> Option<QuarantinedDatabase> {
        self.core.quarantined_at_open().map(QuarantinedDatabase::from)
    }

    /// Lists the paths of every corrupt database moved aside next to the store, oldest
    /// first. Vigil never deletes them; the app may, once they are sent to support.
    ///
    /// # Errors
    ///
    /// `Storage` if the folder cannot be read.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only reads the folder.
    pub async fn quarantined_files(&self) -> Result<Vec<String>, VigilError> {
        self.blocking(|core| {
            let files = core.quarantined_files()?;
            Ok(files.iter().map(|path| path.display().to_string()).collect())
        })
        .await
    }
}
