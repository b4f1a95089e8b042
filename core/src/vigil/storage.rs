//! Reports on the health of the device store for the app.

use std::path::PathBuf;

use super::Vigil;
use crate::error::Result;
use crate::store::{QuarantinedDatabase, Store};

impl Vigil {
    /// Returns the corrupt database that opening this device moved aside, if any. The
    /// app should tell the guard that earlier records stay on the device but were not
    /// synced, and offer to send the file to support.
    pub fn quarantined_at_open(&self) -> Option<&QuarantinedDatabase> {
        self.inner.quarantined.as_ref()
    }

    /// Lists every corrupt database moved aside next to this device's store, oldest
    /// first. They are kept until the app deletes them.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] if the folder cannot be read.
    pub fn quarantined_files(&self) -> Result<Vec<PathBuf>> {
        Store::quarantined_files(self.store().path())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::ManualClock;
    use crate::model::{Incident, Severity};
    use crate::{Config, Vigil};

    #[test]
    fn corrupt_store_is_replaced_and_reported() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.db");
        std::fs::write(&path, vec![0x5A; 64 * 1024]).unwrap();
        let config = Config::new("device-1", "guard-1", "http://127.0.0.1:9", "code");
        let clock = Arc::new(ManualClock::new(1_764_806_400_000));

        let device = Vigil::open_with_clock(&path, config.clone(), clock.clone()).unwrap();

        let quarantined = device.quarantined_at_open().expect("the app must be told").clone();
        assert!(quarantined.path.ends_with("device.db.corrupt-1764806400000"));
        assert_eq!(std::fs::read(&quarantined.path).unwrap(), vec![0x5A; 64 * 1024]);
        let incident =
            Incident { category: "door".into(), severity: Severity::Low, text: "Open".into() };
        device.log_incident(incident).expect("capture continues in the fresh store");
        drop(device);

        let reopened = Vigil::open_with_clock(&path, config, clock).unwrap();
        assert_eq!(reopened.quarantined_at_open(), None, "the fresh store is healthy");
        assert_eq!(reopened.quarantined_files().unwrap(), vec![quarantined.path]);
        assert_eq!(reopened.store().sync_counts().unwrap().captured, 1);
    }
}
