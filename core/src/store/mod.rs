//! The local SQLite store: records, the outbox, assignments and device settings.
//!
//! One connection, behind a mutex, does all the work. Every write is one transaction that
//! is durable when the call returns (see [`schema::apply_pragmas`]).

mod alerts;
mod lifecycle;
mod outbox;
mod quarantine;
mod records;
pub(crate) mod schema;
mod settings;
mod sites;
mod tag_keys;
mod tours;

pub(crate) use sites::ASSIGNMENTS_CURSOR;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::{Error, Result};

pub use alerts::AlertTransition;
pub use outbox::{QueuedRecord, SyncCounts};
pub use quarantine::QuarantinedDatabase;
pub use records::NewRecord;

/// The sync state of a stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Stored on the device and waiting in the outbox.
    Stored,
    /// Sent at least once; no acknowledgement seen yet.
    Sent,
    /// The server acknowledged it; it has left the outbox.
    Acknowledged,
    /// The server refused it for good; it is kept on the device and has left the outbox.
    Rejected,
}

impl SyncState {
    fn to_sql(self) -> i64 {
        match self {
            SyncState::Stored => 0,
            SyncState::Sent => 1,
            SyncState::Acknowledged => 2,
            SyncState::Rejected => 3,
        }
    }

    fn from_sql(value: i64) -> Result<Self> {
        match value {
            0 => Ok(SyncState::Stored),
            1 => Ok(SyncState::Sent),
            2 => Ok(SyncState::Acknowledged),
            3 => Ok(SyncState::Rejected),
            other => Err(Error::Corrupt(format!("unknown sync state {other}"))),
        }
    }
}

/// The device's local database.
pub struct Store {
    connection: Mutex<Connection>,
    path: PathBuf,
    paused: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database at `path`, creating it if needed, and upgrades its schema.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if the file is not a Vigil database or was written by a newer
    /// version; [`Error::Storage`] or [`Error::StorageFull`] if SQLite fails.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut connection = Connection::open(&path)?;

        schema::apply_pragmas(&connection)?;
        schema::migrate(&mut connection)?;

        Ok(Self { connection: Mutex::new(connection), path, paused: Default::default() })
    }

    /// Returns the path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Locks the connection. A panic in another thread while it held the lock leaves no
    /// half-written transaction behind (SQLite rolls it back), so the poisoned lock is reused.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod faults;
#[cfg(test)]
mod tests;
