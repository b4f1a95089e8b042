//! Keys and retention of the data at rest: the fallback key file, key rotation, and the
//! purge of records the SOC has had for longer than the retention time.

use std::path::Path;
use std::sync::Arc;

use super::{Config, Vigil};
use crate::crypto::{KeyEncryptionKey, KeyFileKek};
use crate::error::{Error, Result};
use crate::store::Store;

/// Opens the key file `<database>.key`, creating it on first use.
pub(super) fn key_file_kek(database: &Path) -> Result<Arc<dyn KeyEncryptionKey>> {
    let mut name = database.as_os_str().to_owned();
    name.push(".key");
    let kek = KeyFileKek::open_or_create(&name)
        .map_err(|error| Error::Locked(format!("the key file cannot be used: {error}")))?;
    Ok(Arc::new(kek))
}

/// Purges expired records when the device opens. A failure is logged and left for the
/// next purge: it must not keep the device from opening.
pub(super) fn purge_at_open(store: &Store, config: &Config, now_ms: i64) {
    if let Err(error) = store.purge_acknowledged(cutoff_ms(config, now_ms)) {
        tracing::warn!(%error, "failed to purge expired records at open; will retry later");
    }
}

fn cutoff_ms(config: &Config, now_ms: i64) -> i64 {
    let retention = i64::try_from(config.retention_ms).unwrap_or(i64::MAX);
    now_ms.saturating_sub(retention)
}

impl Vigil {
    /// Deletes the records the SOC acknowledged longer ago than `Config::retention_ms`,
    /// and returns how many were deleted. Records the SOC does not have are never deleted.
    /// The device also purges at every open.
    ///
    /// # Errors
    ///
    /// Storage errors; then nothing was deleted.
    pub fn purge_expired_records(&self) -> Result<u64> {
        self.store().ensure_open()?;
        self.store().purge_acknowledged(cutoff_ms(self.config(), self.now_ms()))
    }

    /// Re-wraps the store's data key with a new key-encryption key, without rewriting any
    /// record. From then on only `next` opens the store; pass it in the configuration of
    /// the next open.
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] if the current key no longer unwraps the data key or `next` fails
    /// to wrap it; the store then keeps its current key. Storage errors.
    pub fn rotate_key(&self, next: Arc<dyn KeyEncryptionKey>) -> Result<()> {
        self.store().ensure_open()?;
        self.store().rotate_key(next)
    }
}
