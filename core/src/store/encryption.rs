//! Encryption at rest: unlocking the data key, sealing and opening stored values, key
//! rotation, and the one-time upgrade of a database written before encryption.
//!
//! The data key lives in the `data_key` table, wrapped by the key-encryption key (KEK)
//! that the platform holds. Every value that describes a person, a place or an event is
//! stored as an envelope (see [`crate::crypto::DataKey::seal`]) whose associated data names
//! its table, column and row, so a ciphertext copied to another row fails to open.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::records::NEXT_SEQ;
use super::sites::ASSIGNMENTS_CURSOR;
use super::{Store, schema};
use crate::crypto::{CryptoError, DataKey, KeyEncryptionKey, WrappedDataKey};
use crate::error::{Error, Result};

/// The place of an encrypted column: its table and column, as bound into the envelope.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    table: &'static str,
    column: &'static str,
}

/// A record's canonical JSON.
pub(crate) const RECORD_BODY: Column = Column { table: "records", column: "body" };
/// A site's JSON, with its checkpoints' coordinates and tags.
pub(crate) const SITE_BODY: Column = Column { table: "sites", column: "body" };
/// A setting's value.
pub(crate) const SETTING_VALUE: Column = Column { table: "settings", column: "value" };

/// Settings the store itself reads and writes in SQL, kept in the clear: they hold only
/// counters and the hash of the newest record.
const CLEAR_SETTINGS: &[&str] = &[NEXT_SEQ, ASSIGNMENTS_CURSOR, super::evidence::CHAIN_HEAD];

impl Column {
    fn context(self, row_id: &str) -> Vec<u8> {
        format!("vigil/{}/{}/{row_id}", self.table, self.column).into_bytes()
    }

    /// Encrypts the value of this column in row `row_id`.
    pub(crate) fn seal(self, key: &DataKey, row_id: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        key.seal(plaintext, &self.context(row_id)).map_err(|error| {
            Error::InvalidState(format!(
                "failed to encrypt {}.{}: {error}",
                self.table, self.column
            ))
        })
    }

    /// Reads the value of this column in row `row_id`: the envelope when there is one,
    /// otherwise the clear text of a row written before encryption.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] naming the row when the envelope fails to open, which means that
    /// it was changed on disk or copied from another row, or when its text is not UTF-8.
    pub(crate) fn open_text(
        self,
        key: &DataKey,
        row_id: &str,
        clear: String,
        envelope: Option<Vec<u8>>,
    ) -> Result<String> {
        let Some(envelope) = envelope else {
            return Ok(clear);
        };
        let plaintext = key.open(&envelope, &self.context(row_id)).map_err(|error| {
            Error::Corrupt(format!(
                "{}.{} of row {row_id} cannot be decrypted ({error}); the stored ciphertext \
                 was changed or moved; the other rows are unaffected",
                self.table, self.column
            ))
        })?;
        String::from_utf8(plaintext.to_vec()).map_err(|_| {
            Error::Corrupt(format!("{}.{} of row {row_id} is not UTF-8", self.table, self.column))
        })
    }
}

/// Unlocks the data key of the database on `connection`, creating it on first open, and
/// brings the schema up to date.
///
/// An existing data key is unwrapped before anything is written, so a wrong or missing KEK
/// returns [`Error::Locked`] and leaves the file as it was. A database without a data key
/// (new, or written before encryption) gets a new one, and its clear values are encrypted
/// in the transaction that stores the wrapped key.
pub(super) fn unlock(connection: &mut Connection, kek: &dyn KeyEncryptionKey) -> Result<DataKey> {
    if let Some(wrapped) = stored_wrapped_key(connection)? {
        let key = wrapped.unwrap(kek).map_err(|error| locked(kek, &wrapped, &error))?;
        schema::migrate(connection)?;
        return Ok(key);
    }

    schema::check_version(connection)?;
    let (key, wrapped) = WrappedDataKey::generate(kek).map_err(|error| match error {
        CryptoError::Random => {
            Error::InvalidState(format!("failed to create the data key: {error}"))
        }
        other => Error::Locked(format!(
            "the key-encryption key {:?} failed to wrap a new data key: {other}",
            kek.id()
        )),
    })?;
    schema::migrate(connection)?;

    let transaction = connection.transaction()?;
    transaction.execute(
        "INSERT INTO data_key (id, kek_id, wrapped) VALUES (1, ?1, ?2)",
        params![wrapped.kek_id, wrapped.wrapped],
    )?;
    let upgraded = encrypt_clear_rows(&transaction, &key)?;
    transaction.commit()?;
    if upgraded > 0 {
        // Free pages of the file and old frames of the WAL may still hold the clear values:
        // VACUUM rewrites the file without them, and the checkpoint truncates the WAL.
        connection.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?;
        tracing::info!(rows = upgraded, "encrypted the values stored before encryption at rest");
    }
    tracing::info!(kek_id = %wrapped.kek_id, "created the data key");
    Ok(key)
}

fn locked(kek: &dyn KeyEncryptionKey, wrapped: &WrappedDataKey, error: &CryptoError) -> Error {
    Error::Locked(format!(
        "the key-encryption key {:?} cannot unwrap the data key wrapped by {:?}: {error}",
        kek.id(),
        wrapped.kek_id
    ))
}

/// Reads the wrapped data key, or `None` when the database has none yet.
fn stored_wrapped_key(connection: &Connection) -> Result<Option<WrappedDataKey>> {
    let has_table: bool = connection.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'data_key'",
        [],
        |row| row.get(0),
    )?;
    if !has_table {
        return Ok(None);
    }
    let row = connection
        .query_row("SELECT kek_id, wrapped FROM data_key WHERE id = 1", [], |row| {
            Ok(WrappedDataKey { kek_id: row.get(0)?, wrapped: row.get(1)? })
        })
        .optional()?;
    Ok(row)
}

/// Encrypts every value stored in the clear by a version without encryption at rest, and
/// replaces checkpoint tag payloads by their keyed hashes. Returns the number of rows
/// changed. Runs once, in the transaction that stores a new data key.
fn encrypt_clear_rows(transaction: &Transaction<'_>, key: &DataKey) -> Result<usize> {
    let mut changed = 0;

    let records =
        clear_rows(transaction, "SELECT id, body FROM records WHERE body_envelope IS NULL")?;
    for (id, body) in records {
        let envelope = RECORD_BODY.seal(key, &id, body.as_bytes())?;
        transaction.execute(
            "UPDATE records SET body = '', body_envelope = ?2 WHERE id = ?1",
            params![id, envelope],
        )?;
        changed += 1;
    }

    let sites = clear_rows(transaction, "SELECT id, body FROM sites WHERE body_envelope IS NULL")?;
    for (id, body) in sites {
        let envelope = SITE_BODY.seal(key, &id, body.as_bytes())?;
        transaction.execute(
            "UPDATE sites SET body = '', body_envelope = ?2 WHERE id = ?1",
            params![id, envelope],
        )?;
        changed += 1;
    }

    let settings =
        clear_rows(transaction, "SELECT key, value FROM settings WHERE value_envelope IS NULL")?;
    for (name, value) in settings {
        if CLEAR_SETTINGS.contains(&name.as_str()) {
            continue;
        }
        let envelope = SETTING_VALUE.seal(key, &name, value.as_bytes())?;
        transaction.execute(
            "UPDATE settings SET value = '', value_envelope = ?2 WHERE key = ?1",
            params![name, envelope],
        )?;
        changed += 1;
    }

    let tags = clear_rows(transaction, "SELECT rowid, value FROM checkpoint_tags")?;
    for (rowid, value) in tags {
        transaction.execute(
            "UPDATE checkpoint_tags SET value = ?2 WHERE rowid = ?1",
            params![rowid, key.lookup_hash(value.as_bytes())],
        )?;
        changed += 1;
    }

    Ok(changed)
}

/// Reads pairs of a row id and a text column.
fn clear_rows(transaction: &Transaction<'_>, sql: &str) -> Result<Vec<(String, String)>> {
    let mut statement = transaction.prepare(sql)?;
    let rows = statement
        .query_map([], |row| {
            let id = match row.get_ref(0)? {
                rusqlite::types::ValueRef::Integer(rowid) => rowid.to_string(),
                _ => row.get::<_, String>(0)?,
            };
            Ok((id, row.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

impl Store {
    /// Re-wraps the data key with `next`, a new key-encryption key, in one durable
    /// transaction. No record is rewritten: the data key itself stays the same. After the
    /// rotation only `next` opens the store.
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] if the current KEK no longer unwraps the data key or `next`
    /// rejects the wrap. The store then stays wrapped by the current KEK. Storage errors.
    pub fn rotate_key(&self, next: Arc<dyn KeyEncryptionKey>) -> Result<()> {
        let mut current = self.kek.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut connection = self.lock();
        let transaction = connection.transaction()?;

        let wrapped = stored_wrapped_key(&transaction)?
            .ok_or_else(|| Error::Corrupt("the data key row is missing".into()))?;
        let rotated = wrapped
            .rewrap(current.as_ref(), next.as_ref())
            .map_err(|error| locked(next.as_ref(), &wrapped, &error))?;
        transaction.execute(
            "UPDATE data_key SET kek_id = ?1, wrapped = ?2 WHERE id = 1",
            params![rotated.kek_id, rotated.wrapped],
        )?;
        transaction.commit()?;

        tracing::info!(from = %wrapped.kek_id, to = %rotated.kek_id, "rotated the key-encryption key");
        *current = next;
        Ok(())
    }
}
