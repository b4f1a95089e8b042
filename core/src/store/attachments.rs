//! Attachments: the keys and upload state of the encrypted files that records refer to.
//!
//! The encrypted files live in [`Store::attachments_dir`]; this table contains their keys
//! and upload state. A record with attachments reaches [`SyncState::Acknowledged`] only once the
//! server has acknowledged the record and stored every one of its attachments.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, params};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::records::{NewRecord, insert_records, parse_uuid};
use super::{Store, SyncState};
use crate::error::{Error, Result};
use crate::model::{AttachmentRef, Record};

/// The upload state of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    /// Waiting to be uploaded, or partly uploaded.
    Pending,
    /// The server stored it whole and checked its digest.
    Uploaded,
    /// The local file failed its integrity check (truncated or changed); it is kept but
    /// not uploaded.
    Damaged,
    /// The server refused it for good.
    Rejected,
}

impl UploadState {
    fn to_sql(self) -> i64 {
        match self {
            UploadState::Pending => 0,
            UploadState::Uploaded => 1,
            UploadState::Damaged => 2,
            UploadState::Rejected => 3,
        }
    }

    fn from_sql(value: i64) -> Result<Self> {
        match value {
            0 => Ok(UploadState::Pending),
            1 => Ok(UploadState::Uploaded),
            2 => Ok(UploadState::Damaged),
            3 => Ok(UploadState::Rejected),
            other => Err(Error::Corrupt(format!("unknown attachment upload state {other}"))),
        }
    }
}

/// An attachment whose encrypted file is written and synced, ready to be stored with its
/// record.
pub struct NewAttachment {
    /// The reference the record carries.
    pub reference: AttachmentRef,
    /// The attachment's 32-byte AES-256-GCM key.
    pub key: Zeroizing<Vec<u8>>,
}

/// An attachment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    /// The reference its record carries.
    pub reference: AttachmentRef,
    /// The record that refers to it.
    pub record_id: Uuid,
    /// The state of its upload.
    pub state: UploadState,
    /// The reason it is damaged or rejected, or `None`.
    pub problem: Option<String>,
}

impl Store {
    /// Returns the folder of the encrypted attachment files: next to the database file,
    /// with the extension `attachments`.
    pub fn attachments_dir(&self) -> PathBuf {
        self.path.with_extension("attachments")
    }

    /// Stores a record and its attachments' keys, and queues the record for sync, in one
    /// durable transaction. The attachments' files must already be durable.
    ///
    /// # Errors
    ///
    /// As [`Store::append`]; then neither the record nor the attachments were stored.
    pub fn append_with_attachments(
        &self,
        mut record: NewRecord,
        attachments: Vec<NewAttachment>,
    ) -> Result<Record> {
        record.attachments = attachments.iter().map(|new| new.reference.clone()).collect();
        let mut connection = self.lock();
        let transaction = connection.transaction()?;

        let stored =
            insert_records(&transaction, Some(&self.key), self.signing_key(), vec![record])?
                .remove(0);
        {
            // Each attachment key is stored in an envelope under the store's data key.
            let mut insert = transaction.prepare_cached(
                "INSERT INTO attachments (id, record_id, digest, size_bytes, media_type, key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for new in &attachments {
                let reference = &new.reference;
                let sealed_key =
                    self.key.seal(&new.key, &key_context(reference.id)).map_err(|error| {
                        Error::InvalidState(format!("failed to encrypt an attachment key: {error}"))
                    })?;
                insert.execute(params![
                    reference.id.to_string(),
                    stored.id.to_string(),
                    reference.digest,
                    i64::try_from(reference.size_bytes).unwrap_or(i64::MAX),
                    reference.media_type,
                    sealed_key,
                ])?;
            }
        }

        transaction.commit()?;
        Ok(stored)
    }

    /// Returns a stored attachment.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if no attachment has this id; storage errors.
    pub fn attachment(&self, id: Uuid) -> Result<StoredAttachment> {
        let connection = self.lock();
        let row = connection
            .query_row(
                "SELECT id, record_id, digest, size_bytes, media_type, upload_state, problem
                 FROM attachments WHERE id = ?1",
                [id.to_string()],
                read_attachment,
            )
            .optional()?;
        row.ok_or_else(|| Error::NotFound { what: "attachment", id: id.to_string() })?
    }

    /// Returns the attachment's key.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if no attachment has this id; storage errors.
    pub(crate) fn attachment_key(&self, id: Uuid) -> Result<Zeroizing<Vec<u8>>> {
        let connection = self.lock();
        let key = connection
            .query_row("SELECT key FROM attachments WHERE id = ?1", [id.to_string()], |row| {
                row.get::<_, Vec<u8>>(0)
            })
            .optional()?;
        let Some(envelope) = key else {
            return Err(Error::NotFound { what: "attachment", id: id.to_string() });
        };
        self.key.open(&envelope, &key_context(id)).map_err(|error| {
            Error::Corrupt(format!(
                "the key of attachment {id} cannot be decrypted ({error}); the stored envelope \
                 was changed or moved"
            ))
        })
    }

    /// Returns up to `limit` attachments waiting for upload, in the order their records
    /// were captured.
    pub fn pending_attachments(&self, limit: usize) -> Result<Vec<StoredAttachment>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT attachments.id, record_id, digest, size_bytes, media_type, upload_state,
                    problem
             FROM attachments JOIN records ON records.id = attachments.record_id
             WHERE upload_state = ?1 ORDER BY records.seq, attachments.rowid LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statement
            .query_map(params![UploadState::Pending.to_sql(), limit], read_attachment)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().collect()
    }

    /// Marks an attachment as stored by the server. Its record becomes
    /// [`SyncState::Acknowledged`] if the server acknowledged the record and this was its
    /// last attachment outstanding. Marking it twice is harmless.
    pub fn mark_attachment_uploaded(&self, id: Uuid, uploaded_at_ms: i64) -> Result<()> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;

        transaction.execute(
            "UPDATE attachments SET upload_state = ?2, uploaded_at_ms = ?3, problem = NULL
             WHERE id = ?1",
            params![id.to_string(), UploadState::Uploaded.to_sql(), uploaded_at_ms],
        )?;
        transaction.execute(
            "UPDATE records SET sync_state = ?2, acked_at_ms = ?3
             WHERE id = (SELECT record_id FROM attachments WHERE id = ?1)
               AND sync_state = ?4
               AND id NOT IN (SELECT record_id FROM outbox)
               AND NOT EXISTS (SELECT 1 FROM attachments AS other
                               WHERE other.record_id = records.id AND other.upload_state != ?5)",
            params![
                id.to_string(),
                SyncState::Acknowledged.to_sql(),
                uploaded_at_ms,
                SyncState::Sent.to_sql(),
                UploadState::Uploaded.to_sql()
            ],
        )?;

        transaction.commit()?;
        Ok(())
    }

    /// Marks an attachment as damaged or rejected, with the reason, so that sync stops
    /// trying it. The file and its record stay stored, and the record stays
    /// [`SyncState::Sent`].
    pub fn mark_attachment_failed(&self, id: Uuid, state: UploadState, reason: &str) -> Result<()> {
        let connection = self.lock();
        connection.execute(
            "UPDATE attachments SET upload_state = ?2, problem = ?3 WHERE id = ?1",
            params![id.to_string(), state.to_sql(), reason],
        )?;
        Ok(())
    }
}

/// Returns the associated data of an attachment key's envelope, which binds it to its row.
fn key_context(id: Uuid) -> Vec<u8> {
    format!("vigil/attachments/key/{id}").into_bytes()
}

/// Deletes the rows of the attachments of the records in `temp.purge`, and returns their
/// ids so that their files can be removed once the transaction commits.
pub(super) fn purge_attachment_rows(transaction: &rusqlite::Transaction<'_>) -> Result<Vec<Uuid>> {
    let ids = {
        let mut statement = transaction
            .prepare("SELECT id FROM attachments WHERE record_id IN (SELECT id FROM temp.purge)")?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        rows.iter().map(|id| parse_uuid(id)).collect::<Result<Vec<Uuid>>>()?
    };
    transaction
        .execute("DELETE FROM attachments WHERE record_id IN (SELECT id FROM temp.purge)", [])?;
    Ok(ids)
}

impl Store {
    /// Removes the encrypted files of purged attachments. A file that cannot be removed is
    /// logged and left behind; its key is already gone with its row.
    pub(super) fn remove_attachment_files(&self, ids: &[Uuid]) {
        let folder = self.attachments_dir();
        for id in ids {
            let path = folder.join(format!("{id}.vgs"));
            if let Err(error) = std::fs::remove_file(&path) {
                if error.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(attachment = %id, %error, "failed to remove a purged attachment file");
                }
            }
        }
    }
}

fn read_attachment(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<StoredAttachment>> {
    let id: String = row.get(0)?;
    let record_id: String = row.get(1)?;
    let size_bytes: i64 = row.get(3)?;
    let state: i64 = row.get(5)?;
    let digest: String = row.get(2)?;
    let media_type: String = row.get(4)?;
    let problem: Option<String> = row.get(6)?;

    Ok((|| {
        Ok(StoredAttachment {
            reference: AttachmentRef {
                id: parse_uuid(&id)?,
                digest,
                size_bytes: u64::try_from(size_bytes)
                    .map_err(|_| Error::Corrupt(format!("attachment size {size_bytes}")))?,
                media_type,
            },
            record_id: parse_uuid(&record_id)?,
            state: UploadState::from_sql(state)?,
            problem,
        })
    })())
}
