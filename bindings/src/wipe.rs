//! Wiping the device's local data.

use crate::{Vigil, VigilError};

#[uniffi::export]
impl Vigil {
    /// Deletes the device's local data: every record, the outbox, the sync token, the
    /// device's signing key, the database's WAL, databases moved aside as corrupt, and the
    /// `attachments` folder next to the database. Unsent records are lost. Afterwards every
    /// method of this object fails with `Wiped`. Opening the path again starts a fresh
    /// installation, which must enroll under a new device id. The key in the platform keystore is the app's to delete.
    ///
    /// A panic alert the SOC has not confirmed makes the wipe fail unless `force` is true.
    ///
    /// # Errors
    ///
    /// `InvalidState` if an alert is undelivered and `force` is false. `InvalidState` also
    /// if a file could not be deleted, and then calling again retries. `Wiped` if the data
    /// is already gone.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe in effect: the wipe runs on the library's runtime, and once started
    /// it finishes even if the call is cancelled.
    pub async fn wipe(&self, force: bool) -> Result<(), VigilError> {
        // Not through `blocking`, which refuses a paused store: a forced wipe works paused.
        let core = self.core.clone();
        crate::runtime().spawn_blocking(move || core.wipe(force)).await??;
        Ok(())
    }
}
