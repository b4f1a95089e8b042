//! Wiping the device's local data: the database file, its WAL and shared-memory files,
//! and the files next to it that hold record data.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use rusqlite::Connection;

use super::Store;
use crate::error::{Error, Result};

/// A folder named `attachments` next to the database, which apps may use for files of
/// their own; a wipe removes it along with the store's own attachment folder
/// ([`Store::attachments_dir`]).
pub const ATTACHMENTS_FOLDER: &str = "attachments";

impl Store {
    /// Closes the database and deletes it with its `-wal`, `-shm` and `-journal` files,
    /// its `.key` file, the files of databases moved aside as corrupt, and the
    /// attachment folder ([`Store::attachments_dir`]) and the [`ATTACHMENTS_FOLDER`] next to it. Every later call fails with [`Error::Wiped`]. Wiping twice is harmless.
    ///
    /// The device's signing key and every other secret the store keeps go with the file.
    ///
    /// NOTE: deleting a file does not overwrite its blocks. On a phone the app sandbox and
    /// the platform's file-based encryption protect what remains on the flash.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if SQLite cannot create the in-memory stand-in, and
    /// [`Error::InvalidState`] naming the file that could not be deleted. A failed wipe can
    /// be retried: the store is already unusable.
    pub fn wipe(&self) -> Result<()> {
        let mut connection = self.lock();

        if !self.wiped.load(Ordering::SeqCst) {
            let stand_in = Connection::open_in_memory()?;
            let file = std::mem::replace(&mut *connection, stand_in);
            self.wiped.store(true, Ordering::SeqCst);
            if let Err((_, error)) = file.close() {
                tracing::warn!(%error, "closing the database before the wipe reported an error");
            }
        }

        for path in files_to_wipe(&self.path)? {
            remove(&path)?;
        }
        tracing::warn!("wiped the device's local data");
        Ok(())
    }

    /// Returns whether [`Store::wipe`] ran.
    pub fn is_wiped(&self) -> bool {
        self.wiped.load(Ordering::SeqCst)
    }

    /// Checks that the store was not wiped.
    ///
    /// # Errors
    ///
    /// [`Error::Wiped`] after [`Store::wipe`].
    pub fn ensure_not_wiped(&self) -> Result<()> {
        if self.is_wiped() {
            return Err(Error::Wiped);
        }
        Ok(())
    }

    /// Counts panic alerts the SOC has not confirmed: neither delivered on the alert lane
    /// nor acknowledged in a push.
    pub fn undelivered_alerts(&self) -> Result<u64> {
        let connection = self.lock();
        let count = connection.query_row(
            "SELECT count(*) FROM alerts JOIN records ON records.id = alerts.record_id
             WHERE alerts.delivered_at_ms IS NULL AND records.sync_state != 2",
            [],
            |row| row.get(0),
        )?;
        Ok(count)
    }
}

/// Lists the files and folders a wipe removes, whether or not they exist.
fn files_to_wipe(database: &Path) -> Result<Vec<PathBuf>> {
    let folder = match database.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };

    let mut databases = vec![database.to_path_buf()];
    databases.extend(Store::quarantined_files(database)?);

    let mut paths = Vec::new();
    for database in databases {
        // `.key` is the key file of `Vigil::open` when the app supplies no platform key.
        for suffix in ["-wal", "-shm", "-journal", ".key"] {
            let mut name = database.as_os_str().to_owned();
            name.push(suffix);
            paths.push(PathBuf::from(name));
        }
        paths.push(database);
    }
    paths.push(database.with_extension("attachments"));
    paths.push(folder.join(ATTACHMENTS_FOLDER));
    Ok(paths)
}

fn remove(path: &Path) -> Result<()> {
    let removed =
        if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    match removed {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Error::InvalidState(format!(
            "failed to delete {} during the wipe: {error}; call wipe again",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_removes_files_and_locks_store() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.db");
        let store = Store::open(&path).unwrap();
        store.set_setting("device_token", "secret").unwrap();
        let attachments = folder.path().join(ATTACHMENTS_FOLDER);
        std::fs::create_dir(&attachments).unwrap();
        std::fs::write(attachments.join("photo.bin"), b"photo").unwrap();
        let corrupt = folder.path().join("device.db.corrupt-1700000000000");
        std::fs::write(&corrupt, b"old data").unwrap();
        let key_file = folder.path().join("device.db.key");
        std::fs::write(&key_file, b"wrapped key").unwrap();
        let stored = store.attachments_dir();
        std::fs::create_dir(&stored).unwrap();
        std::fs::write(stored.join("a.vgs"), b"sealed photo").unwrap();
        let unrelated = folder.path().join("settings.json");
        std::fs::write(&unrelated, b"{}").unwrap();

        store.wipe().unwrap();
        store.wipe().unwrap();

        for gone in [&path, &attachments, &stored, &corrupt, &key_file] {
            assert!(!gone.exists(), "{} is still there", gone.display());
        }
        assert!(!folder.path().join("device.db-wal").exists());
        assert!(!folder.path().join("device.db-shm").exists());
        assert!(unrelated.exists(), "files Vigil does not own are kept");
        assert!(matches!(store.ensure_open(), Err(Error::Wiped)));
        assert!(matches!(store.resume(), Err(Error::Wiped)));
        assert!(store.setting("device_token").is_err());
    }
}
