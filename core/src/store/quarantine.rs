//! Moving a corrupt database aside, so the device can keep capturing into a fresh one.
//!
//! A corrupt file is never deleted: it is renamed to `<name>.corrupt-<unix ms>`, with its
//! `-wal` and `-shm` files renamed to match, so SQLite can still open it for recovery.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::ffi::ErrorCode;
use rusqlite::{Connection, OpenFlags};

use super::Store;
use crate::crypto::KeyEncryptionKey;
use crate::error::{Error, Result};

/// A database file that SQLite found corrupt and that was moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedDatabase {
    /// The path the corrupt file was moved to.
    pub path: PathBuf,
    /// SQLite's description of the damage.
    pub reason: String,
}

impl Store {
    /// Opens the database at `path` as [`Store::open_with_key`] does, but first checks it with
    /// `PRAGMA quick_check`. A corrupt file is moved aside (see the module documentation)
    /// and a fresh database is created in its place; the returned
    /// [`QuarantinedDatabase`] gives the old file's new path.
    ///
    /// Only damage that SQLite reports (`SQLITE_CORRUPT`, `SQLITE_NOTADB`, or a failed
    /// quick check) moves a file. Any other failure, such as a schema from a newer app
    /// version or a locked file, is returned as an error and leaves the file in place.
    ///
    /// NOTE: the quick check reads the whole file, so opening a large store takes longer.
    /// Records in a quarantined file are not recovered automatically.
    ///
    /// # Errors
    ///
    /// As [`Store::open_with_key`], and [`Error::Storage`] if the corrupt file cannot be renamed.
    pub fn open_or_quarantine(
        path: impl AsRef<Path>,
        kek: Arc<dyn KeyEncryptionKey>,
        now_ms: i64,
    ) -> Result<(Self, Option<QuarantinedDatabase>)> {
        let path = path.as_ref();
        let Some(reason) = damage(path) else {
            return Ok((Self::open_with_key(path, kek)?, None));
        };

        let moved_to = quarantine_files(path, now_ms)?;
        tracing::error!(moved_to = %moved_to.display(), %reason, "the database is corrupt; moved it aside and started a fresh one");
        let store = Self::open_with_key(path, kek)?;
        Ok((store, Some(QuarantinedDatabase { path: moved_to, reason })))
    }

    /// Lists the database files moved aside next to the database at `path`, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if the folder cannot be read.
    pub fn quarantined_files(path: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        let path = path.as_ref();
        let prefix = quarantine_prefix(path);
        let folder = folder_of(path);

        let mut found = Vec::new();
        for entry in std::fs::read_dir(folder).map_err(io_error)? {
            let name = entry.map_err(io_error)?.file_name();
            let name = name.to_string_lossy();
            let companion = name.ends_with("-wal") || name.ends_with("-shm");
            if name.starts_with(&prefix) && !companion {
                found.push(folder.join(name.as_ref()));
            }
        }
        // The names end in the same number of digits until the year 2286, so sorting the
        // names sorts by time.
        found.sort();
        Ok(found)
    }
}

/// Returns SQLite's description of the damage of the file at `path`, or `None` if it is
/// missing, empty, healthy, or fails for a reason other than damage.
fn damage(path: &Path) -> Option<String> {
    let length = std::fs::metadata(path).map(|metadata| metadata.len()).unwrap_or(0);
    if length == 0 {
        return None;
    }

    // Read-only, so that closing this connection neither checkpoints nor deletes a
    // journal that belongs to a damaged file.
    let connection = match Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY) {
        Ok(connection) => connection,
        Err(error) => return is_damage(&error).then(|| error.to_string()),
    };
    match connection.query_row("PRAGMA quick_check", [], |row| row.get::<_, String>(0)) {
        Ok(result) if result == "ok" => None,
        Ok(result) => Some(result),
        Err(error) => is_damage(&error).then(|| error.to_string()),
    }
}

fn is_damage(error: &rusqlite::Error) -> bool {
    matches!(error.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase))
}

/// Renames the database and its `-wal` and `-shm` files; returns the database's new path.
fn quarantine_files(path: &Path, now_ms: i64) -> Result<PathBuf> {
    let moved_to = folder_of(path).join(format!("{}{now_ms}", quarantine_prefix(path)));

    // The companions go first: a crash in between leaves the database in place with
    // its journal moved, which the next open checks again, rather than a fresh database
    // that would pick up the old journal.
    for suffix in ["-wal", "-shm"] {
        let companion = with_suffix(path, suffix);
        if companion.exists() {
            std::fs::rename(&companion, with_suffix(&moved_to, suffix)).map_err(io_error)?;
        }
    }
    std::fs::rename(path, &moved_to).map_err(io_error)?;
    Ok(moved_to)
}

fn quarantine_prefix(path: &Path) -> String {
    let name = path.file_name().map(|name| name.to_string_lossy()).unwrap_or_default();
    format!("{name}.corrupt-")
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn io_error(error: std::io::Error) -> Error {
    Error::Storage(rusqlite::Error::ToSqlConversionFailure(Box::new(error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_806_400_000;

    #[test]
    fn garbage_file_is_moved_aside() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.db");
        std::fs::write(&path, b"this is not a database, just text that is long enough".repeat(100))
            .unwrap();
        std::fs::write(with_suffix(&path, "-wal"), b"old journal").unwrap();

        let (store, quarantined) =
            Store::open_or_quarantine(&path, crate::store::test_kek(), NOW).unwrap();

        let quarantined = quarantined.expect("the garbage file must be reported");
        assert_eq!(quarantined.path, folder.path().join(format!("device.db.corrupt-{NOW}")));
        assert!(std::fs::read(&quarantined.path).unwrap().starts_with(b"this is not"));
        assert_eq!(std::fs::read(with_suffix(&quarantined.path, "-wal")).unwrap(), b"old journal");
        assert_eq!(store.sync_counts().unwrap().captured, 0, "a fresh database");
        assert_eq!(Store::quarantined_files(&path).unwrap(), vec![quarantined.path]);
    }

    #[test]
    fn damaged_page_is_moved_aside() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.db");
        {
            let store = Store::open(&path).unwrap();
            let connection = store.lock();
            connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
            connection
                .execute_batch(
                    "CREATE TABLE filler (value TEXT);
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                     INSERT INTO filler SELECT printf('%0100d', i) FROM n;
                     PRAGMA wal_checkpoint(TRUNCATE);",
                )
                .unwrap();
        }
        // Overwrite pages in the middle of the file, past the schema page.
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle..middle + 8192].fill(0xA5);
        std::fs::write(&path, bytes).unwrap();

        let (store, quarantined) =
            Store::open_or_quarantine(&path, crate::store::test_kek(), NOW).unwrap();

        assert!(quarantined.is_some(), "the damaged file must be reported");
        assert_eq!(store.sync_counts().unwrap().captured, 0);
        assert_eq!(Store::quarantined_files(&path).unwrap().len(), 1);
    }

    #[test]
    fn healthy_file_is_left_in_place() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.db");
        Store::open(&path).unwrap().set_setting("kept", "yes").unwrap();

        let (store, quarantined) =
            Store::open_or_quarantine(&path, crate::store::test_kek(), NOW).unwrap();

        assert_eq!(quarantined, None);
        assert_eq!(store.setting("kept").unwrap().as_deref(), Some("yes"));
        assert!(Store::quarantined_files(&path).unwrap().is_empty());
    }

    #[test]
    fn newer_schema_is_an_error_not_damage() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.db");
        Store::open(&path).unwrap().lock().pragma_update(None, "user_version", 999).unwrap();

        let error = Store::open_or_quarantine(&path, crate::store::test_kek(), NOW).unwrap_err();

        assert!(matches!(error, Error::Corrupt(_)), "{error:?}");
        assert!(path.exists(), "the file stays in place for a newer app version");
        assert!(Store::quarantined_files(&path).unwrap().is_empty());
    }
}
