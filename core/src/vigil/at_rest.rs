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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::ManualClock;
    use crate::crypto::PassphraseKek;
    use crate::model::{Incident, Severity};
    use crate::{Config, Vigil};

    const T0: i64 = 1_764_806_400_000;
    const DAY_MS: i64 = 24 * 60 * 60 * 1_000;

    fn config() -> Config {
        let mut config = Config::new("device-1", "guard-1", "http://127.0.0.1:9", "code");
        config.key_encryption_key = Some(Arc::new(PassphraseKek::with_iterations("p", 1_000)));
        config.retention_ms = 7 * DAY_MS as u64;
        config
    }

    fn incident(text: &str) -> Incident {
        Incident { category: "door".into(), severity: Severity::Low, text: text.into() }
    }

    #[test]
    fn acknowledged_records_expire_after_retention() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.db");
        let clock = ManualClock::new(T0);
        let device = Vigil::open_with_clock(&path, config(), Arc::new(clock.clone())).unwrap();
        let acknowledged = device.log_incident(incident("synced")).unwrap();
        let queued = device.log_incident(incident("not synced")).unwrap();
        device.store().mark_acknowledged(&[acknowledged.id], T0).unwrap();

        clock.advance(6 * DAY_MS);
        assert_eq!(device.purge_expired_records().unwrap(), 0, "still within retention");
        clock.advance(2 * DAY_MS);
        assert_eq!(device.purge_expired_records().unwrap(), 1);

        assert!(device.store().record(acknowledged.id).is_err());
        assert!(device.store().record(queued.id).is_ok(), "an unacknowledged record stays");
    }

    #[test]
    fn open_purges_expired_records() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.db");
        let clock = ManualClock::new(T0);
        let device = Vigil::open_with_clock(&path, config(), Arc::new(clock.clone())).unwrap();
        let record = device.log_incident(incident("synced")).unwrap();
        device.store().mark_acknowledged(&[record.id], T0).unwrap();
        drop(device);

        clock.advance(8 * DAY_MS);
        let reopened = Vigil::open_with_clock(&path, config(), Arc::new(clock.clone())).unwrap();

        assert_eq!(reopened.store().sync_counts().unwrap().captured, 0);
    }

    #[test]
    fn wrong_key_is_locked_and_rotation_moves_it() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.db");
        let clock = Arc::new(ManualClock::new(T0));
        let device = Vigil::open_with_clock(&path, config(), clock.clone()).unwrap();
        device.log_incident(incident("kept")).unwrap();
        device.rotate_key(Arc::new(PassphraseKek::with_iterations("next", 1_000))).unwrap();
        drop(device);

        let error = Vigil::open_with_clock(&path, config(), clock.clone()).unwrap_err();
        assert!(matches!(error, crate::Error::Locked(_)), "{error:?}");

        let mut rotated = config();
        rotated.key_encryption_key = Some(Arc::new(PassphraseKek::with_iterations("next", 1_000)));
        let reopened = Vigil::open_with_clock(&path, rotated, clock).unwrap();
        assert_eq!(reopened.store().sync_counts().unwrap().captured, 1);
    }
}
