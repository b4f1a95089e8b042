//! Suspending and resuming with the app.

use super::Vigil;
use crate::error::Result;

impl Vigil {
    /// Closes the database file before the app is suspended, so iOS does not kill the app
    /// for holding a file lock. Blocks until the store call in progress, if any, finishes
    /// (one transaction).
    ///
    /// Until [`Vigil::resume`], calls fail and write nothing: sync and the bindings'
    /// methods with [`crate::Error::InvalidState`], direct store calls with
    /// [`crate::Error::Storage`]. A sync in flight stops at its next store step, and
    /// records it sent but could not mark acknowledged stay queued; the resend is
    /// harmless. Pausing twice is harmless.
    ///
    /// # Errors
    ///
    /// As [`crate::store::Store::pause`].
    pub fn pause(&self) -> Result<()> {
        self.store().pause()
    }

    /// Opens the database file again after [`Vigil::pause`]. Resuming when not paused is
    /// harmless.
    ///
    /// # Errors
    ///
    /// As [`crate::store::Store::resume`]; Vigil then stays paused.
    pub fn resume(&self) -> Result<()> {
        self.store().resume()
    }

    /// Returns whether Vigil is paused.
    pub fn is_paused(&self) -> bool {
        self.store().is_paused()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::ManualClock;
    use crate::error::Error;
    use crate::model::{Incident, Severity};
    use crate::{Config, Vigil};

    fn incident() -> Incident {
        Incident { category: "door".into(), severity: Severity::Low, text: "Open".into() }
    }

    #[tokio::test]
    async fn paused_device_refuses_sync_and_resumes() {
        let folder = tempfile::tempdir().unwrap();
        let config = Config::new("device-1", "guard-1", "http://127.0.0.1:9", "code");
        let clock = Arc::new(ManualClock::new(1_764_806_400_000));
        let device =
            Vigil::open_with_clock(folder.path().join("device.db"), config, clock).unwrap();
        device.log_incident(incident()).unwrap();

        device.pause().unwrap();

        let error = device.sync_now().await.unwrap_err();
        assert!(matches!(error, Error::InvalidState(_)), "{error:?}");
        assert!(device.log_incident(incident()).is_err(), "capture fails while paused");

        device.resume().unwrap();
        device.log_incident(incident()).unwrap();
        assert_eq!(device.store().sync_counts().unwrap().captured, 2);
    }
}
