//! Suspending and resuming with the app.

use crate::{Vigil, VigilError};

#[uniffi::export]
impl Vigil {
    /// Closes the database file; call it when the app goes to the background, before iOS
    /// suspends it (a suspended app holding a SQLite lock is killed). Blocks until the
    /// store call in progress, if any, finishes: one transaction, usually milliseconds.
    ///
    /// Until `resume`, every method fails with `InvalidState` and writes nothing, and a
    /// sync in flight stops; records it had not marked acknowledged stay queued.
    ///
    /// # Errors
    ///
    /// `Storage` if SQLite fails; the file then stays open.
    pub fn pause(&self) -> Result<(), VigilError> {
        Ok(self.core.pause()?)
    }

    /// Opens the database file again; call it when the app returns to the foreground.
    ///
    /// # Errors
    ///
    /// `Storage` if the file cannot be opened; Vigil stays paused and `resume` may be
    /// called again.
    pub fn resume(&self) -> Result<(), VigilError> {
        Ok(self.core.resume()?)
    }
}
