//! The local SQLite store: records, the outbox, assignments and device settings.
//!
//! One connection, behind a mutex, does all the work. Every write is one transaction that
//! is durable when the call returns (see [`schema::apply_pragmas`]).

mod adopted;
mod alerts;
mod attachments;
mod commands;
mod encryption;
mod evidence;
mod lifecycle;
mod outbox;
mod quarantine;
mod records;
mod retention;
pub(crate) mod schema;
mod settings;
mod sites;
mod tag_keys;
mod tours;
mod wipe;

pub(crate) use sites::ASSIGNMENTS_CURSOR;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

use crate::crypto::{DataKey, KeyEncryptionKey};
use crate::error::{Error, Result};

pub use adopted::AdoptedCounts;
pub use alerts::AlertTransition;
pub use attachments::{NewAttachment, StoredAttachment, UploadState};
pub use evidence::{SOC_PUBLIC_KEY, decode_soc_public_key};
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
    /// The data key that encrypts every value at rest; see the `encryption` module.
    key: DataKey,
    /// The key-encryption key that wraps `key` on disk.
    kek: Mutex<Arc<dyn KeyEncryptionKey>>,
    /// Signs every record in its insert transaction, once the `Vigil` facade set it.
    signing_key: Mutex<Option<std::sync::Arc<crate::crypto::DeviceSigningKey>>>,
    /// Set once [`Store::wipe`] has removed the files; the store never opens again.
    wiped: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database at `path`, creating it if needed, unlocks its data key with
    /// `kek` and upgrades its schema. A new database gets a new data key, wrapped by `kek`;
    /// a database written before encryption at rest has its values encrypted in place.
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] if `kek` cannot unwrap the stored data key (a wrong or missing
    /// key); nothing on disk is changed then. [`Error::Corrupt`] if the file is not a
    /// Vigil database or was written by a newer version; [`Error::Storage`] or
    /// [`Error::StorageFull`] if SQLite fails.
    pub fn open_with_key(path: impl AsRef<Path>, kek: Arc<dyn KeyEncryptionKey>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut connection = Connection::open(&path)?;

        schema::apply_pragmas(&connection)?;
        let key = encryption::unlock(&mut connection, kek.as_ref())?;

        Ok(Self {
            connection: Mutex::new(connection),
            path,
            paused: Default::default(),
            key,
            kek: Mutex::new(kek),
            signing_key: Default::default(),
            wiped: Default::default(),
        })
    }

    /// Opens the database at `path` with a fixed passphrase KEK, for tests.
    #[cfg(test)]
    pub(crate) fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_key(path, test_kek())
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

/// Returns a passphrase KEK with few PBKDF2 iterations, so tests stay fast.
#[cfg(test)]
pub(crate) fn test_kek() -> Arc<dyn KeyEncryptionKey> {
    Arc::new(crate::crypto::PassphraseKek::with_iterations("test passphrase", 1_000))
}

#[cfg(test)]
mod encryption_tests;
#[cfg(test)]
mod evidence_tests;
#[cfg(test)]
mod faults;
#[cfg(test)]
mod tests;
