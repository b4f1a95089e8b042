//! Closing the database file while the app is suspended, and opening it again.
//!
//! iOS kills a suspended app that holds a lock on a file in a shared container, and a
//! SQLite connection may hold one at any time. [`Store::pause`] closes the file; while
//! paused, the store works on an empty in-memory stand-in that has no tables, so every
//! call fails with [`Error::Storage`] and nothing is written anywhere.

use std::sync::atomic::Ordering;

use rusqlite::Connection;

use super::{Store, schema};
use crate::error::{Error, Result};

impl Store {
    /// Closes the database file after the call in progress, if any, finishes. Calls made
    /// before [`Store::resume`] fail and write nothing. Pausing twice is harmless.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if SQLite cannot create the in-memory stand-in; the file then
    /// stays open.
    pub fn pause(&self) -> Result<()> {
        let mut connection = self.lock();
        if self.is_paused() {
            return Ok(());
        }

        let stand_in = Connection::open_in_memory()?;
        let file = std::mem::replace(&mut *connection, stand_in);
        self.paused.store(true, Ordering::SeqCst);
        // Closing the last connection checkpoints the WAL into the database file.
        if let Err((_, error)) = file.close() {
            tracing::warn!(%error, "closing the database reported an error; it is closed anyway");
        }
        tracing::info!("paused the device store");
        Ok(())
    }

    /// Opens the database file again after [`Store::pause`]. Resuming a store that is not
    /// paused is harmless.
    ///
    /// # Errors
    ///
    /// As [`Store::open_with_key`]; the store then stays paused and `resume` may be called again.
    pub fn resume(&self) -> Result<()> {
        let mut connection = self.lock();
        self.ensure_not_wiped()?;
        if !self.is_paused() {
            return Ok(());
        }

        let mut file = Connection::open(&self.path)?;
        schema::apply_pragmas(&file)?;
        schema::migrate(&mut file)?;
        *connection = file;
        self.paused.store(false, Ordering::SeqCst);
        tracing::info!("resumed the device store");
        Ok(())
    }

    /// Returns whether the store is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Checks that the store is not paused, for callers that want a clear error rather
    /// than the stand-in's "no such table".
    ///
    /// # Errors
    ///
    /// [`Error::Wiped`] after [`Store::wipe`]; [`Error::InvalidState`] while paused.
    pub fn ensure_open(&self) -> Result<()> {
        self.ensure_not_wiped()?;
        if self.is_paused() {
            return Err(Error::InvalidState(
                "the device store is paused while the app is in the background; call resume \
                 first"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_store_releases_file_and_resumes() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.db");
        let store = Store::open(&path).unwrap();
        store.set_setting("before", "1").unwrap();

        store.pause().unwrap();
        store.pause().unwrap();

        assert!(store.is_paused());
        assert!(!folder.path().join("device.db-wal").exists(), "the WAL was checkpointed");
        // Another connection can take an exclusive lock, so the store holds none.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE; COMMIT;").unwrap();
        drop(other);
        assert!(store.set_setting("while", "paused").is_err(), "writes fail while paused");
        assert!(matches!(store.ensure_open(), Err(Error::InvalidState(_))));

        store.resume().unwrap();
        store.resume().unwrap();

        assert!(!store.is_paused());
        assert_eq!(store.setting("before").unwrap().as_deref(), Some("1"));
        assert_eq!(store.setting("while").unwrap(), None, "nothing was written while paused");
        store.set_setting("after", "2").unwrap();
        assert_eq!(store.setting("after").unwrap().as_deref(), Some("2"));
    }
}
